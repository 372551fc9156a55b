// Admin routes for accounts and their money: users, their API keys, top-ups and the ledger,
// redemption codes, invitations. Each route reads its input, calls its service operation
// (host/service) and formats the answer; the rules (who may change whom, one transaction per
// change) live in the service.
#include "hub/credentials.hpp"
#include "hub/money.hpp"
#include "server/admin_routes.hpp"
#include "server/admin_support.hpp"
#include "service/billing.hpp"
#include "service/invitations.hpp"
#include "service/keys.hpp"
#include "service/users.hpp"
#include "store/api_keys.hpp"
#include "store/ledger.hpp"
#include "store/redemption_codes.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

namespace {

// ---- users ---------------------------------------------------------------------------------

Outcome create_user(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"name", "password", "role", "tier"}); !ok)
        return ok.take_error();
    service::users::NewAccount account;
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    account.name = name.value();
    auto role = string_field(body.value(), "role");
    if (!role) return role.take_error();
    account.role = role.value().value_or("user");
    auto tier = string_field(body.value(), "tier");
    if (!tier) return tier.take_error();
    account.tier = tier.value().value_or("default");
    auto password = string_field(body.value(), "password");
    if (!password) return password.take_error();
    if (password.value() && password.value()->size() < service::users::kMinPasswordLength)
        return Error::invalid("field 'password' is shorter than " +
                              std::to_string(service::users::kMinPasswordLength) +
                              " characters: choose a longer one");
    account.password = password.value();
    auto made = service::users::create(service_env(ctx), account);
    if (!made) {
        if (made.error().kind == ErrorKind::invalid_request &&
            made.error().message.rfind("role '", 0) == 0)
            return Error::invalid("field 'role': " + made.error().message);
        return made.take_error();
    }
    return Reply{201, user_json(made.value())};
}

Outcome update_user(Context& ctx, const store::User& target) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"tier", "role", "enabled"}); !ok)
        return ok.take_error();
    service::users::Changes changes;
    auto tier = string_field(body.value(), "tier");
    if (!tier) return tier.take_error();
    changes.tier = tier.value();
    auto role = string_field(body.value(), "role");
    if (!role) return role.take_error();
    changes.role = role.value();
    auto enabled = bool_field(body.value(), "enabled");
    if (!enabled) return enabled.take_error();
    changes.enabled = enabled.value();
    auto fresh = service::users::change(service_env(ctx), target, changes);
    if (!fresh) return fresh.take_error();
    return Reply{200, user_json(fresh.value())};
}

Outcome topup(Context& ctx, const store::User& target) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"amount", "ref", "note"}); !ok) return ok.take_error();
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
    auto done = service::users::topup(service_env(ctx), target,
                                      {*amount.value(), ref.value(), note.value()});
    if (!done) return done.take_error();
    const store::BalanceChange& change = done->change;
    return Reply{200, Json{{"user", target.name},
                           {"applied", change.applied},
                           {"balance", money(change.balance)},
                           {"rebate", money(change.rebate)},
                           {"inviter", change.inviter ? Json(*change.inviter) : Json(nullptr)}}};
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

// ---- API keys ------------------------------------------------------------------------------

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

//! The name and limits of a POST .../keys body.
core::Result<std::pair<std::string, store::KeyLimits>> new_key_body(const AdminCall& call) {
    auto body = object_body(call);
    if (!body) return body.take_error();
    std::vector<std::string_view> allowed = kLimitFields;
    allowed.push_back("name");
    if (auto ok = only_fields(body.value(), allowed); !ok) return ok.take_error();
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    store::KeyLimits limits;
    if (auto ok = read_limits(body.value(), limits); !ok) return ok.take_error();
    return std::pair{name.value(), limits};
}

Outcome create_key(Context& ctx, const store::User& owner) {
    auto request = new_key_body(ctx.call);
    if (!request) return request.take_error();
    auto made = service::keys::create(service_env(ctx), owner, request->first, request->second);
    if (!made) return made.take_error();
    Json out = service::keys::key_json(made->key, owner.name);
    out["key"] = made->secret;  // shown once; only its hash is stored
    return Reply{201, out};
}

core::Result<long long> key_id(const std::string& text) {
    try {
        std::size_t used = 0;
        long long id = std::stoll(text, &used);
        if (used == text.size() && id > 0) return id;
    } catch (const std::exception&) {
    }
    return not_found("there is no API key with id '" + text +
                     "': GET /admin/api/users/{name}/keys lists a user's key ids");
}

Outcome key_route(Context& ctx, std::string_view op) {
    auto id = key_id(ctx.segments[1]);
    if (!id) return id.take_error();
    const service::Env env = service_env(ctx);
    auto found = service::keys::with_owner(env, id.value());
    if (!found) return found.take_error();
    const store::ApiKey& key = found->first;
    const store::User& owner = found->second;
    if (op == "keys.get") return Reply{200, service::keys::key_json(key, owner.name)};
    if (op == "keys.revoke") {
        auto revoked = service::keys::revoke(env, key, owner);
        if (!revoked) return revoked.take_error();
        return Reply{204, nullptr};
    }
    // keys.set_limits
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), kLimitFields); !ok) return ok.take_error();
    store::KeyLimits limits = key.limits;
    if (auto ok = read_limits(body.value(), limits); !ok) return ok.take_error();
    auto changed = service::keys::set_limits(env, key, owner, limits);
    if (!changed) return changed.take_error();
    return Reply{200, service::keys::key_json(changed.value(), owner.name)};
}

Outcome user_route(Context& ctx, std::string_view op) {
    const service::Env env = service_env(ctx);
    if (op == "users.create") return create_user(ctx);
    if (op == "users.list")
        return list_reply(
            ctx.call, [&] { return store::users::list(ctx.db); }, true,
            [](const store::User& u) { return std::to_string(u.id); }, user_json);
    auto target = user_named(ctx.db, ctx.segments[1]);
    if (!target) return target.take_error();
    if (op == "users.get") return Reply{200, user_json(target.value())};
    if (op == "users.change") return update_user(ctx, target.value());
    if (op == "users.topup") return topup(ctx, target.value());
    if (op == "ledger.list") {
        auto page = page_request(ctx.call);
        if (!page) return page.take_error();
        auto before = id_cursor(page.value());
        if (!before) return before.take_error();
        auto rows = service::ledger::list(env, target->id, page->limit, before.value());
        if (!rows) return rows.take_error();
        return Reply{200,
                     newest_first_page(rows.value(), page->limit, &service::ledger::entry_json)};
    }
    if (op == "keys.create") return create_key(ctx, target.value());
    if (op == "users.invite_code") {
        auto made = service::users::invite_code(env, target.value());
        if (!made) return made.take_error();
        return Reply{
            made->created ? 201 : 200,
            Json{{"user", target->name}, {"invite_code", made->code}, {"created", made->created}}};
    }
    // keys.list
    const std::string owner = target->name;
    return list_reply(
        ctx.call, [&] { return service::keys::list(env, target->id); }, true,
        [](const store::ApiKey& k) { return std::to_string(k.id); },
        [&](const store::ApiKey& k) { return service::keys::key_json(k, owner); });
}

// ---- redemption codes ----------------------------------------------------------------------

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
    auto made = service::redemption::generate(service_env(ctx), batch.value(), *amount.value(),
                                              *count.value());
    if (!made) return made.take_error();
    return Reply{
        201, Json{{"batch", made->batch}, {"amount", money(made->amount)}, {"codes", made->codes}}};
}

Outcome code_route(Context& ctx, std::string_view op) {
    if (op == "redemption.generate") return generate_codes(ctx);
    if (auto batch = query_param(ctx.call, "batch"))
        return list_reply(
            ctx.call, [&] { return store::redemption_codes::list(ctx.db, *batch); }, true,
            [](const store::RedemptionCode& c) { return std::to_string(c.id); },
            service::redemption::code_json);
    return list_reply(
        ctx.call, [&] { return store::redemption_codes::list_batches(ctx.db); }, false,
        [](const store::RedemptionBatch& b) { return b.batch; }, service::redemption::batch_json);
}

Outcome redeem(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"user", "code"}); !ok) return ok.take_error();
    auto user_name = required_string(body.value(), "user");
    if (!user_name) return user_name.take_error();
    auto code = required_string(body.value(), "code");
    if (!code) return code.take_error();
    auto user = user_named(ctx.db, user_name.value());
    if (!user) return user.take_error();
    auto done = service::redemption::redeem(service_env(ctx), user.value(), code.value());
    if (!done) return done.take_error();
    return Reply{200, Json{{"user", user->name},
                           {"amount", money(done->amount)},
                           {"balance", money(done->balance)}}};
}

// ---- invitations ---------------------------------------------------------------------------

//! GET /invitations: the rebate share and a page of inviters; PUT /invitations/rebate sets the
//! share from {"ppm": N}.
Outcome invitation_route(Context& ctx, std::string_view op) {
    const service::Env env = service_env(ctx);
    if (op == "invitations.list") {
        auto page = page_request(ctx.call);
        if (!page) return page.take_error();
        auto after = id_cursor(page.value());
        if (!after) return after.take_error();
        auto listed = service::invitations::list(env, page->limit, after.value());
        if (!listed) return listed.take_error();
        Json items = Json::array();
        for (const auto& i : listed->page.inviters)
            items.push_back(service::invitations::inviter_json(i));
        Json out =
            page_json(std::move(items),
                      listed->page.next_after_id
                          ? std::optional<std::string>(std::to_string(*listed->page.next_after_id))
                          : std::nullopt);
        out.update(service::invitations::rebate_json(listed->rebate_ppm));
        out["invitees_shown"] = service::invitations::kInviteesShown;
        return Reply{200, std::move(out)};
    }
    // ledger.set_invite_rebate
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"ppm"}); !ok) return ok.take_error();
    auto ppm = integer_field(body.value(), "ppm", 0, 1'000'000);
    if (!ppm) return Error::invalid(ppm.error().message + " (ppm: 10000 is 1%, 50000 is 5%)");
    if (!ppm.value())
        return Error::invalid(
            "field 'ppm' is required: send the inviters' share of each top-up in ppm, from 0 to "
            "1000000 (50000 is 5%)");
    if (auto done = service::ledger::set_invite_rebate(env, *ppm.value()); !done)
        return done.take_error();
    return Reply{200, service::invitations::rebate_json(*ppm.value())};
}

}  // namespace

std::optional<Outcome> route_accounts(Context& ctx) {
    const std::string& first = ctx.segments.front();
    if (first != "users" && first != "keys" && first != "redemption-codes" && first != "redeem" &&
        first != "invitations")
        return std::nullopt;
    const Route* route = nullptr;
    if (auto refused = unrouted(ctx, route)) return refused;
    if (!route) return std::nullopt;
    if (first == "users") return user_route(ctx, route->operation);
    if (first == "keys") return key_route(ctx, route->operation);
    if (first == "redemption-codes") return code_route(ctx, route->operation);
    if (first == "invitations") return invitation_route(ctx, route->operation);
    return redeem(ctx);
}

}  // namespace tianshu::server::admin
