#include "service/billing.hpp"

#include <algorithm>

#include "hub/credentials.hpp"
#include "hub/money.hpp"
#include "service/users.hpp"
#include "store/database.hpp"
#include "store/settings.hpp"

namespace tianshu::service {

using core::Error;
using core::ErrorKind;

// ---- tiers ---------------------------------------------------------------------------------

namespace tiers {

core::Result<store::Tier> named(store::Database& db, const std::string& name) {
    auto tier = store::tiers::find(db, name);
    if (!tier) return tier.take_error();
    if (!tier.value())
        return Error{ErrorKind::not_found, "there is no tier named '" + name + "'", {}};
    return *tier.value();
}

core::Result<store::Tier> create(const Env& env, const store::Tier& tier) {
    return store::tiers::create(env.db, tier);
}

core::Result<store::Tier> set_ratio(const Env& env, const std::string& name, long long ratio_ppm) {
    if (auto done = store::tiers::set_ratio(env.db, name, ratio_ppm); !done)
        return done.take_error();
    return named(env.db, name);
}

core::Result<store::Tier> set_route_header(const Env& env, const std::string& name, bool shown) {
    if (auto done = store::tiers::set_route_header(env.db, name, shown); !done)
        return done.take_error();
    return named(env.db, name);
}

core::Result<void> remove(const Env& env, const std::string& name) {
    if (name == "default")
        return Error::invalid(
            "tier 'default' is the tier new users start in: it cannot be removed (change its "
            "ratio instead)");
    return store::tiers::remove(env.db, name);
}

core::Result<std::vector<store::Tier>> list(const Env& env) {
    return store::tiers::list(env.db);
}

Json tier_json(const store::Tier& t) {
    // A ratio has six decimals like money: 1.000000 is the list price.
    return Json{{"name", t.name},
                {"price_ratio", hub::format_money(t.price_ratio_ppm)},
                {"description", t.description},
                {"route_header", t.route_header},
                {"created_at", t.created_at}};
}

}  // namespace tiers

// ---- prices --------------------------------------------------------------------------------

namespace prices {

core::Result<store::Price> set(const Env& env, const std::string& model, const Change& change,
                               bool replace) {
    const std::pair<const std::optional<long long>*, long long store::Price::*> fields[] = {
        {&change.input_per_m, &store::Price::input_per_m},
        {&change.output_per_m, &store::Price::output_per_m},
        {&change.cache_read_per_m, &store::Price::cache_read_per_m},
        {&change.cache_write_per_m, &store::Price::cache_write_per_m},
        {&change.reasoning_per_m, &store::Price::reasoning_per_m},
        {&change.per_call, &store::Price::per_call}};
    // Read and write in one transaction: two partial changes at once both land.
    return env.db.with_transaction("set the price of '" + model + "'", [&](soci::session& s) {
        store::bump_config_revision(s);
        store::Price price;
        if (!replace)
            if (auto stored = store::prices::find(s, model)) price = *stored;
        price.model = model;
        for (const auto& field : fields)
            if (*field.first) price.*(field.second) = **field.first;
        return store::prices::upsert(s, price);
    });
}

core::Result<void> remove(const Env& env, const std::string& model) {
    return store::prices::remove(env.db, model);
}

core::Result<std::vector<store::Price>> list(const Env& env) {
    return store::prices::list(env.db);
}

Json price_json(const store::Price& p) {
    return Json{{"model", p.model},
                {"input_per_m", hub::format_money(p.input_per_m)},
                {"output_per_m", hub::format_money(p.output_per_m)},
                {"cache_read_per_m", hub::format_money(p.cache_read_per_m)},
                {"cache_write_per_m", hub::format_money(p.cache_write_per_m)},
                {"reasoning_per_m", hub::format_money(p.reasoning_per_m)},
                {"per_call", hub::format_money(p.per_call)},
                {"updated_at", p.updated_at}};
}

}  // namespace prices

// ---- redemption codes ----------------------------------------------------------------------

namespace redemption {

namespace {
constexpr std::size_t kCodePrefixLength = 8;  // "TSR-" + 4: enough to tell codes apart
constexpr long long kMaxCodesPerBatch = 100'000;
}  // namespace

std::string new_code() {
    return "TSR-" + hub::random_password();
}

core::Result<Batch> generate(const Env& env, const std::string& batch, long long amount,
                             long long count, const Progress& progress) {
    if (count < 1 || count > kMaxCodesPerBatch)
        return Error::invalid("the count of codes is " + std::to_string(count) + ": give 1 to " +
                              std::to_string(kMaxCodesPerBatch));
    if (amount <= 0) return Error::invalid("the amount of each code must be more than 0, e.g. 5.0");
    if (batch.empty() || batch.size() > 64)
        return Error::invalid("batch '" + batch + "' must be 1 to 64 characters");
    Batch out{batch, amount, {}};
    std::vector<store::NewRedemptionCode> hashed;
    out.codes.reserve(static_cast<std::size_t>(count));
    hashed.reserve(static_cast<std::size_t>(count));
    for (long long i = 0; i < count; ++i) {
        out.codes.push_back(new_code());
        hashed.push_back(
            {hub::api_key_hash(out.codes.back()), out.codes.back().substr(0, kCodePrefixLength)});
        if (progress && ((i + 1) % 1000 == 0 || i + 1 == count)) progress(i + 1, count);
    }
    auto stored = store::redemption_codes::generate(env.db, batch, amount, hashed);
    if (!stored) return stored.take_error();
    return out;
}

core::Result<store::Redemption> redeem(const Env& env, const store::User& user,
                                       const std::string& code) {
    if (auto ok = users::may_change(env.actor, user); !ok) return ok.take_error();
    const std::string shown = code.substr(0, kCodePrefixLength) + "...";
    if (code.empty()) return Error::invalid("the redemption code is empty: give the code");
    const std::string hash = hub::api_key_hash(code);
    auto done = store::redemption_codes::redeem(env.db, hash, user.id);
    if (done) return done;
    const Error& e = done.error();
    if (e.kind == ErrorKind::not_found)
        return Error{
            ErrorKind::not_found,
            "code '" + shown + "' is not a redemption code: check it was typed exactly as given",
            {}};
    if (e.kind != ErrorKind::invalid_request) return done;
    // Used already: say by whom and when, searching the batches for the code.
    std::string who_when;
    if (auto batches = store::redemption_codes::list_batches(env.db))
        for (const auto& b : batches.value()) {
            auto codes = store::redemption_codes::list(env.db, b.batch);
            if (!codes) continue;
            for (const auto& c : codes.value())
                if (c.code_hash == hash && c.redeemed_by) {
                    auto by = store::users::find_by_id(env.db, *c.redeemed_by);
                    who_when = " by '" +
                               (by && by.value() ? by.value()->name
                                                 : "user " + std::to_string(*c.redeemed_by)) +
                               "'";
                }
        }
    return Error::invalid("code '" + shown + "' was already redeemed" + who_when +
                          ": nothing was credited");
}

core::Result<store::Redemption> redeem_own(const Env& env, const std::string& code) {
    auto me = store::users::find_by_id(env.db, env.actor.user_id);
    if (!me) return me.take_error();
    if (!me.value())
        return Error{ErrorKind::permission,
                     "redeeming credits your own account, and '" + env.actor.name +
                         "' has none: log in as a user",
                     {}};
    return redeem(env, *me.value(), code);
}

Json batch_json(const store::RedemptionBatch& b) {
    return Json{{"batch", b.batch},
                {"codes", b.codes},
                {"redeemed", b.redeemed},
                {"amount", hub::format_money(b.amount)},
                {"redeemed_amount", hub::format_money(b.redeemed_amount)},
                {"created_at", b.created_at}};
}

Json code_json(const store::RedemptionCode& c) {
    return Json{{"id", c.id},
                {"prefix", c.code_prefix},
                {"amount", hub::format_money(c.amount)},
                {"batch", c.batch},
                {"created_at", c.created_at},
                {"redeemed_by", c.redeemed_by ? Json(*c.redeemed_by) : Json(nullptr)},
                {"redeemed_at", c.redeemed_at ? Json(*c.redeemed_at) : Json(nullptr)}};
}

}  // namespace redemption

// ---- ledger --------------------------------------------------------------------------------

namespace ledger {

namespace {
constexpr const char* kInviteRebateSetting = "invite_rebate_ppm";
}

core::Result<std::vector<store::LedgerEntry>> list(const Env& env, long long user_id, int limit,
                                                   std::optional<long long> before_id) {
    if (limit < 1 || limit > 1000)
        return Error::invalid("limit " + std::to_string(limit) + " must be from 1 to 1000");
    return store::ledger::list_by_user(env.db, user_id, limit, before_id);
}

core::Result<std::vector<store::LedgerEntry>> list_own(const Env& env, int limit,
                                                       std::optional<long long> before_id) {
    return list(env, env.actor.user_id, limit, before_id);
}

core::Result<long long> invite_rebate_ppm(const Env& env) {
    auto text = store::settings::get(env.db, kInviteRebateSetting);
    if (!text) return text.take_error();
    if (!text.value()) return env.invite_rebate_ppm;
    try {
        std::size_t used = 0;
        long long ppm = std::stoll(*text.value(), &used);
        if (used == text.value()->size() && ppm >= 0 && ppm <= store::ppm_one) return ppm;
    } catch (const std::exception&) {
    }
    return Error::internal_error("setting " + std::string(kInviteRebateSetting) + " is '" +
                                 *text.value() +
                                 "', not a share in ppm: fix it with `tianshu invite set-rebate "
                                 "--percent 5`");
}

core::Result<void> set_invite_rebate(const Env& env, long long ppm) {
    if (ppm < 0 || ppm > store::ppm_one)
        return Error::invalid("the invite rebate must be from 0 to 100%");
    return store::settings::set(env.db, kInviteRebateSetting, std::to_string(ppm));
}

Json entry_json(const store::LedgerEntry& e) {
    return Json{{"id", e.id},     {"amount", hub::format_money(e.amount)},
                {"kind", e.kind}, {"ref", e.ref ? Json(*e.ref) : Json(nullptr)},
                {"note", e.note}, {"created_at", e.created_at}};
}

}  // namespace ledger

}  // namespace tianshu::service
