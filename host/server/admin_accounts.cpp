// Admin routes for accounts and their money: users, their API keys, top-ups and the ledger,
// redemption codes.
#include "hub/credentials.hpp"
#include "hub/money.hpp"
#include "hub/password_hasher.hpp"
#include "server/admin_support.hpp"

#include <algorithm>
#include "store/api_keys.hpp"
#include "store/ledger.hpp"
#include "store/redemption_codes.hpp"
#include "store/settings.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

namespace {

constexpr std::size_t kMinPasswordLength = 8;

bool known_role(const std::string& role) {
    return role == "root" || role == "admin" || role == "user";
}

core::Result<void> check_role(const Caller& caller, const std::string& role) {
    if (!known_role(role))
        return Error::invalid("field 'role' is '" + role + "': send root, admin or user");
    if (role == "root" && caller.role != "root")
        return permission(
            "only a root user may create root users or make a user root; you "
            "are '" +
            caller.name + "' (role admin)");
    return {};
}

// ---- users ---------------------------------------------------------------------------------

Outcome create_user(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"name", "password", "role", "tier"}); !ok)
        return ok.take_error();
    store::NewUser user;
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    user.name = name.value();
    auto role = string_field(body.value(), "role");
    if (!role) return role.take_error();
    user.role = role.value().value_or("user");
    if (auto ok = check_role(ctx.caller, user.role); !ok) return ok.take_error();
    auto tier = string_field(body.value(), "tier");
    if (!tier) return tier.take_error();
    user.tier = tier.value().value_or("default");
    auto password = string_field(body.value(), "password");
    if (!password) return password.take_error();
    if (password.value()) {
        if (password.value()->size() < kMinPasswordLength)
            return Error::invalid("field 'password' is shorter than " +
                                  std::to_string(kMinPasswordLength) +
                                  " characters: choose a longer one");
        // On the password pool: this fiber parks meanwhile (inside the route's BlockingRegion,
        // which costs no carrier while it is parked).
        auto hashed = ctx.options.passwords->hash(*password.value());
        if (!hashed) return hashed.take_error();
        user.password_hash = std::move(hashed).value();
    }
    auto made = store::users::create(ctx.db, user);
    if (!made) return made.take_error();
    return Reply{201, user_json(made.value())};
}

Outcome update_user(Context& ctx, const store::User& target) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"tier", "role", "enabled"}); !ok)
        return ok.take_error();
    if (auto ok = may_change(ctx.caller, target); !ok) return ok.take_error();
    auto tier = string_field(body.value(), "tier");
    if (!tier) return tier.take_error();
    auto role = string_field(body.value(), "role");
    if (!role) return role.take_error();
    if (role.value())
        if (auto ok = check_role(ctx.caller, *role.value()); !ok) return ok.take_error();
    auto enabled = bool_field(body.value(), "enabled");
    if (!enabled) return enabled.take_error();
    // Locking oneself out needs a second administrator's hand.
    if (target.id == ctx.caller.user_id &&
        ((enabled.value() && !*enabled.value()) || (role.value() && *role.value() != target.role)))
        return permission(
            "you cannot disable yourself or change your own role: ask another "
            "root user");
    if (tier.value()) {
        auto done = store::users::set_tier(ctx.db, target.id, *tier.value());
        if (!done) return done.take_error();
    }
    if (role.value()) {
        auto done = store::users::set_role(ctx.db, target.id, *role.value());
        if (!done) return done.take_error();
    }
    if (enabled.value()) {
        auto done = store::users::set_enabled(ctx.db, target.id, *enabled.value());
        if (!done) return done.take_error();
    }
    auto fresh = user_named(ctx.db, target.name);
    if (!fresh) return fresh.take_error();
    return Reply{200, user_json(fresh.value())};
}

Outcome topup(Context& ctx, const store::User& target) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"amount", "ref", "note"}); !ok) return ok.take_error();
    if (auto ok = may_change(ctx.caller, target); !ok) return ok.take_error();
    auto amount = money_field(body.value(), "amount");
    if (!amount) return amount.take_error();
    if (!amount.value() || *amount.value() <= 0)
        return Error::invalid(
            "field 'amount' is required and must be more than 0: send a "
            "decimal string such as \"12.5\"");
    auto ref = string_field(body.value(), "ref");
    if (!ref) return ref.take_error();
    auto note = string_field(body.value(), "note");
    if (!note) return note.take_error();
    std::string written = note.value().value_or("top-up by " + ctx.caller.name);
    // The inviter's share: the `invite_rebate_ppm` setting (`tianshu invite set-rebate`) when it
    // is set, so the CLI and the API pay the same; else the server's option.
    long long rebate_ppm = ctx.options.invite_rebate_ppm;
    if (auto setting = store::settings::get(ctx.db, "invite_rebate_ppm");
        setting && setting.value()) {
        try {
            rebate_ppm = std::clamp(std::stoll(*setting.value()), 0LL, 1'000'000LL);
        } catch (...) {
        }
    }
    auto change =
        store::ledger::topup(ctx.db, target.id, *amount.value(), ref.value(), written, rebate_ppm);
    if (!change) return change.take_error();
    return Reply{200, Json{{"user", target.name},
                           {"applied", change->applied},
                           {"balance", money(change->balance)},
                           {"rebate", money(change->rebate)},
                           {"inviter", change->inviter ? Json(*change->inviter) : Json(nullptr)}}};
}

Json ledger_json(const store::LedgerEntry& e) {
    return Json{{"id", e.id},     {"amount", money(e.amount)},
                {"kind", e.kind}, {"ref", e.ref ? Json(*e.ref) : Json(nullptr)},
                {"note", e.note}, {"created_at", e.created_at}};
}

//! A page of a newest-first list whose store call takes `before_id`: a full page gets a
//! cursor (the next page may be empty), a short page is the last.
template <class Row>
Json newest_first_page(const std::vector<Row>& rows, int limit, Json (*to_json)(const Row&)) {
    Json items = Json::array();
    for (const auto& r : rows) items.push_back(to_json(r));
    std::optional<std::string> next;
    if (static_cast<int>(rows.size()) == limit && !rows.empty())
        next = std::to_string(rows.back().id);
    return page_json(std::move(items), next);
}

core::Result<std::optional<long long>> id_cursor(const PageRequest& page) {
    if (!page.cursor) return std::optional<long long>();
    try {
        std::size_t used = 0;
        long long id = std::stoll(*page.cursor, &used);
        if (used == page.cursor->size()) return std::optional<long long>(id);
    } catch (const std::exception&) {
    }
    return Error::invalid("cursor '" + *page.cursor +
                          "' is not a cursor of this list: pass the next_cursor of the previous "
                          "page, or omit it for the first page");
}

Outcome ledger_page(Context& ctx, const store::User& target) {
    auto page = page_request(ctx.call);
    if (!page) return page.take_error();
    auto before = id_cursor(page.value());
    if (!before) return before.take_error();
    auto rows = store::ledger::list_by_user(ctx.db, target.id, page->limit, before.value());
    if (!rows) return rows.take_error();
    return Reply{200, newest_first_page(rows.value(), page->limit, &ledger_json)};
}

// ---- API keys ------------------------------------------------------------------------------

Json key_json(const store::ApiKey& k, const std::string& user_name) {
    const store::KeyLimits& l = k.limits;
    // Neither the key nor its hash: the prefix is enough to tell keys apart.
    return Json{{"id", k.id},
                {"user", user_name},
                {"user_id", k.user_id},
                {"name", k.name},
                {"prefix", k.key_prefix},
                {"created_at", k.created_at},
                {"revoked_at", k.revoked_at ? Json(*k.revoked_at) : Json(nullptr)},
                {"quota_used", money(k.quota_used)},
                {"limits",
                 {{"quota", optional_money(l.quota_limit)},
                  {"expires_at", l.expires_at ? Json(*l.expires_at) : Json(nullptr)},
                  {"ip_allow", l.ip_allow},
                  {"ip_deny", l.ip_deny},
                  {"models", l.models},
                  {"rpm", l.rpm ? Json(*l.rpm) : Json(nullptr)},
                  {"tpm", l.tpm ? Json(*l.tpm) : Json(nullptr)}}}};
}

//! Applies the limit fields present in `body` to `limits`; JSON null clears a limit.
core::Result<void> read_limits(const Json& body, store::KeyLimits& limits) {
    auto quota = money_field(body, "quota");
    if (!quota) return quota.take_error();
    if (quota.value() || is_null_field(body, "quota")) limits.quota_limit = quota.value();
    auto expires = integer_field(body, "expires_at", 0, 253'402'300'799);  // year 9999
    if (!expires) return expires.take_error();
    if (expires.value() || is_null_field(body, "expires_at")) limits.expires_at = expires.value();
    for (auto [field, slot] :
         {std::pair{"ip_allow", &limits.ip_allow}, std::pair{"ip_deny", &limits.ip_deny},
          std::pair{"models", &limits.models}}) {
        auto list = string_list_field(body, field);
        if (!list) return list.take_error();
        if (list.value() || is_null_field(body, field))
            *slot = list.value().value_or(std::vector<std::string>{});
    }
    for (auto [field, slot] : {std::pair{"rpm", &limits.rpm}, std::pair{"tpm", &limits.tpm}}) {
        auto n = integer_field(body, field, 1, 1'000'000'000);
        if (!n) return n.take_error();
        if (n.value() || is_null_field(body, field))
            *slot = n.value() ? std::optional<int>(static_cast<int>(*n.value())) : std::nullopt;
    }
    return {};
}

const std::vector<std::string_view> kLimitFields = {"quota",  "expires_at", "ip_allow", "ip_deny",
                                                    "models", "rpm",        "tpm"};

Outcome create_key(Context& ctx, const store::User& owner) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"name", "quota", "expires_at", "ip_allow", "ip_deny",
                                             "models", "rpm", "tpm"});
        !ok)
        return ok.take_error();
    if (auto ok = may_change(ctx.caller, owner); !ok) return ok.take_error();
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    store::KeyLimits limits;
    if (auto ok = read_limits(body.value(), limits); !ok) return ok.take_error();
    const bool limited = !(limits == store::KeyLimits{});
    std::string key = hub::generate_api_key();
    auto made = store::api_keys::create(ctx.db, owner.id, name.value(), hub::api_key_prefix(key),
                                        hub::api_key_hash(key));
    if (!made) return made.take_error();
    if (limited) {
        auto set = store::api_keys::update_limits(ctx.db, made->id, limits);
        if (!set) {
            // A key without the limits asked for must not stay usable.
            (void)store::api_keys::revoke(ctx.db, made->id);
            return set.take_error();
        }
        made->limits = limits;
    }
    Json out = key_json(made.value(), owner.name);
    out["key"] = key;  // shown once; only its hash is stored
    return Reply{201, out};
}

core::Result<std::pair<store::ApiKey, store::User>> key_with_owner(Context& ctx,
                                                                   const std::string& id_text) {
    long long id = -1;
    try {
        std::size_t used = 0;
        id = std::stoll(id_text, &used);
        if (used != id_text.size()) id = -1;
    } catch (const std::exception&) {
    }
    auto key = id < 0 ? core::Result<std::optional<store::ApiKey>>(std::nullopt)
                      : store::api_keys::find(ctx.db, id);
    if (!key) return key.take_error();
    if (!key.value())
        return not_found("there is no API key with id '" + id_text +
                         "': GET /admin/api/users/{name}/keys lists a user's key ids");
    auto owner = store::users::find_by_id(ctx.db, key.value()->user_id);
    if (!owner) return owner.take_error();
    if (!owner.value())
        return not_found("API key " + id_text + " belongs to a user that no longer exists");
    return std::pair{*key.value(), *owner.value()};
}

std::optional<Outcome> route_keys(Context& ctx) {
    const auto& s = ctx.segments;
    if (s.size() != 2) return std::nullopt;
    const std::string& m = ctx.call.method;
    if (m != "GET" && m != "PATCH" && m != "DELETE")
        return Outcome(method_not_allowed(ctx.call, "GET, PATCH or DELETE"));
    auto found = key_with_owner(ctx, s[1]);
    if (!found) return Outcome(found.take_error());
    auto& [key, owner] = found.value();
    if (m == "GET") return Outcome(Reply{200, key_json(key, owner.name)});
    if (auto ok = may_change(ctx.caller, owner); !ok) return Outcome(ok.take_error());
    if (m == "DELETE") {
        auto revoked = store::api_keys::revoke(ctx.db, key.id);
        if (!revoked) return Outcome(revoked.take_error());
        return Outcome(Reply{204, nullptr});
    }
    auto body = object_body(ctx.call);
    if (!body) return Outcome(body.take_error());
    if (auto ok = only_fields(body.value(), kLimitFields); !ok) return Outcome(ok.take_error());
    if (key.revoked_at)
        return Outcome(Error::invalid("API key " + s[1] +
                                      " is revoked: create a new key instead of changing it"));
    store::KeyLimits limits = key.limits;
    if (auto ok = read_limits(body.value(), limits); !ok) return Outcome(ok.take_error());
    auto set = store::api_keys::update_limits(ctx.db, key.id, limits);
    if (!set) return Outcome(set.take_error());
    key.limits = limits;
    return Outcome(Reply{200, key_json(key, owner.name)});
}

std::optional<Outcome> route_users(Context& ctx) {
    const auto& s = ctx.segments;
    const std::string& m = ctx.call.method;
    if (s.size() == 1) {
        if (m == "POST") return create_user(ctx);
        if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET or POST"));
        return list_reply(
            ctx.call, [&] { return store::users::list(ctx.db); }, true,
            [](const store::User& u) { return std::to_string(u.id); }, user_json);
    }
    if (s.size() > 3) return std::nullopt;
    if (s.size() == 3 && s[2] != "topup" && s[2] != "ledger" && s[2] != "keys") return std::nullopt;
    auto target = user_named(ctx.db, s[1]);
    if (!target) return Outcome(target.take_error());
    if (s.size() == 2) {
        if (m == "GET") return Outcome(Reply{200, user_json(target.value())});
        if (m == "PATCH") return update_user(ctx, target.value());
        return Outcome(method_not_allowed(ctx.call, "GET or PATCH"));
    }
    if (s[2] == "topup") {
        if (m != "POST") return Outcome(method_not_allowed(ctx.call, "POST"));
        return topup(ctx, target.value());
    }
    if (s[2] == "ledger") {
        if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
        return ledger_page(ctx, target.value());
    }
    if (m == "POST") return create_key(ctx, target.value());
    if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET or POST"));
    const std::string owner = target->name;
    return list_reply(
        ctx.call, [&] { return store::api_keys::list(ctx.db, target->id); }, true,
        [](const store::ApiKey& k) { return std::to_string(k.id); },
        [&](const store::ApiKey& k) { return key_json(k, owner); });
}

// ---- redemption codes ----------------------------------------------------------------------

Json batch_json(const store::RedemptionBatch& b) {
    return Json{{"batch", b.batch},
                {"codes", b.codes},
                {"redeemed", b.redeemed},
                {"amount", money(b.amount)},
                {"redeemed_amount", money(b.redeemed_amount)},
                {"created_at", b.created_at}};
}

Json code_json(const store::RedemptionCode& c) {
    return Json{{"id", c.id},
                {"prefix", c.code_prefix},
                {"amount", money(c.amount)},
                {"batch", c.batch},
                {"created_at", c.created_at},
                {"redeemed_by", c.redeemed_by ? Json(*c.redeemed_by) : Json(nullptr)},
                {"redeemed_at", c.redeemed_at ? Json(*c.redeemed_at) : Json(nullptr)}};
}

Outcome generate_codes(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"count", "amount", "batch"}); !ok)
        return ok.take_error();
    auto count = integer_field(body.value(), "count", 1, 1000);
    if (!count) return count.take_error();
    if (!count.value())
        return Error::invalid(
            "field 'count' is required: send how many codes to make (1 to "
            "1000)");
    auto amount = money_field(body.value(), "amount");
    if (!amount) return amount.take_error();
    if (!amount.value() || *amount.value() <= 0)
        return Error::invalid(
            "field 'amount' is required and must be more than 0: send what "
            "each code is worth as a decimal string, e.g. \"10\"");
    auto batch = required_string(body.value(), "batch");
    if (!batch) return batch.take_error();
    std::vector<std::string> codes;
    std::vector<store::NewRedemptionCode> stored;
    for (long long i = 0; i < *count.value(); ++i) {
        // 24 base62 characters (~143 bits): guessing one is hopeless.
        std::string code = "tsr-" + hub::random_password();
        stored.push_back({hub::api_key_hash(code), code.substr(0, 8)});
        codes.push_back(std::move(code));
    }
    auto made = store::redemption_codes::generate(ctx.db, batch.value(), *amount.value(), stored);
    if (!made) return made.take_error();
    return Reply{
        201, Json{{"batch", batch.value()}, {"amount", money(*amount.value())}, {"codes", codes}}};
}

std::optional<Outcome> route_codes(Context& ctx) {
    if (ctx.segments.size() != 1) return std::nullopt;
    const std::string& m = ctx.call.method;
    if (m == "POST") return generate_codes(ctx);
    if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET or POST"));
    if (auto batch = query_param(ctx.call, "batch"))
        return list_reply(
            ctx.call, [&] { return store::redemption_codes::list(ctx.db, *batch); }, true,
            [](const store::RedemptionCode& c) { return std::to_string(c.id); }, code_json);
    return list_reply(
        ctx.call, [&] { return store::redemption_codes::list_batches(ctx.db); }, false,
        [](const store::RedemptionBatch& b) { return b.batch; }, batch_json);
}

Outcome redeem(Context& ctx) {
    if (ctx.segments.size() != 1 || ctx.call.method != "POST")
        return method_not_allowed(ctx.call, "POST");
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"user", "code"}); !ok) return ok.take_error();
    auto user_name = required_string(body.value(), "user");
    if (!user_name) return user_name.take_error();
    auto code = required_string(body.value(), "code");
    if (!code) return code.take_error();
    auto user = user_named(ctx.db, user_name.value());
    if (!user) return user.take_error();
    if (auto ok = may_change(ctx.caller, user.value()); !ok) return ok.take_error();
    auto done = store::redemption_codes::redeem(ctx.db, hub::api_key_hash(code.value()), user->id);
    if (!done) return done.take_error();
    return Reply{200, Json{{"user", user->name},
                           {"amount", money(done->amount)},
                           {"balance", money(done->balance)}}};
}

}  // namespace

std::optional<Outcome> route_accounts(Context& ctx) {
    const std::string& first = ctx.segments.front();
    if (first == "users") return route_users(ctx);
    if (first == "keys") return route_keys(ctx);
    if (first == "redemption-codes") return route_codes(ctx);
    if (first == "redeem") return redeem(ctx);
    return std::nullopt;
}

}  // namespace tianshu::server::admin
