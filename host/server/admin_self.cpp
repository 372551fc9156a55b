// Self-service routes (/me/keys, /me/ledger, /me/redeem): any logged-in caller, a user of role
// `user` included, acting on their own account only. Each route reads its input, calls its
// service operation and formats the answer as the admin routes do.
#include "hub/money.hpp"
#include "server/admin_routes.hpp"
#include "server/admin_support.hpp"
#include "service/billing.hpp"
#include "service/keys.hpp"

namespace tianshu::server::admin {

using core::Error;

namespace {

//! The limits a user may put on their own key: all of them only narrow what it may do.
core::Result<store::KeyLimits> own_key_limits(const Json& body) {
    store::KeyLimits limits;
    auto quota = money_field(body, "quota");
    if (!quota) return quota.take_error();
    limits.quota_limit = quota.value();
    auto expires = integer_field(body, "expires_at", 0, 253'402'300'799);
    if (!expires) return expires.take_error();
    limits.expires_at = expires.value();
    for (auto [field, slot] :
         {std::pair{"ip_allow", &limits.ip_allow}, std::pair{"ip_deny", &limits.ip_deny},
          std::pair{"models", &limits.models}}) {
        auto list = string_list_field(body, field);
        if (!list) return list.take_error();
        *slot = list.value().value_or(std::vector<std::string>{});
    }
    for (auto [field, slot] : {std::pair{"rpm", &limits.rpm}, std::pair{"tpm", &limits.tpm}}) {
        auto n = integer_field(body, field, 1, 1'000'000'000);
        if (!n) return n.take_error();
        if (n.value()) *slot = static_cast<int>(*n.value());
    }
    return limits;
}

Outcome create_own_key(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"name", "quota", "expires_at", "ip_allow", "ip_deny",
                                             "models", "rpm", "tpm"});
        !ok)
        return ok.take_error();
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    auto limits = own_key_limits(body.value());
    if (!limits) return limits.take_error();
    auto made = service::keys::create_own(service_env(ctx), name.value(), limits.value());
    if (!made) return made.take_error();
    Json out = service::keys::key_json(made->key, ctx.caller.name);
    out["key"] = made->secret;  // shown once; only its hash is stored
    return Reply{201, out};
}

Outcome own_ledger(Context& ctx) {
    auto limit = query_integer(ctx.call, "limit");
    if (!limit) return limit.take_error();
    if (limit.value() && (*limit.value() < 1 || *limit.value() > 1000))
        return Error::invalid("query parameter 'limit' is " + std::to_string(*limit.value()) +
                              ": send 1 to 1000");
    auto after = query_integer(ctx.call, "after");
    if (!after) return after.take_error();
    const int n = static_cast<int>(limit.value().value_or(100));
    auto rows = service::ledger::list_own(service_env(ctx), n, after.value());
    if (!rows) return rows.take_error();
    Json items = Json::array();
    for (const auto& e : rows.value()) items.push_back(service::ledger::entry_json(e));
    std::optional<std::string> next;
    if (static_cast<int>(rows->size()) == n && !rows->empty())
        next = std::to_string(rows->back().id);
    return Reply{200, page_json(std::move(items), next)};
}

Outcome redeem_own(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"code"}); !ok) return ok.take_error();
    auto code = required_string(body.value(), "code");
    if (!code) return code.take_error();
    auto done = service::redemption::redeem_own(service_env(ctx), code.value());
    if (!done) return done.take_error();
    return Reply{200, Json{{"credited", money(done->amount)}, {"balance", money(done->balance)}}};
}

}  // namespace

Outcome route_self(Context& ctx) {
    if (ctx.segments.empty() || ctx.segments.front() != "me")
        return not_found("there is no route " + ctx.call.method + " " + ctx.call.path);
    const Route* route = nullptr;
    if (auto refused = unrouted(ctx, route)) return *refused;
    if (!route)
        return not_found("there is no route " + ctx.call.method + " " + ctx.call.path +
                         ": the /me routes are /me/keys, /me/ledger and /me/redeem");
    const std::string_view op = route->operation;
    if (op == "keys.list_own") {
        auto keys = service::keys::list_own(service_env(ctx));
        if (!keys) return keys.take_error();
        Json list = Json::array();
        for (const auto& k : keys.value())
            list.push_back(service::keys::key_json(k, ctx.caller.name));
        return Reply{200, Json{{"keys", list}}};
    }
    if (op == "keys.create_own") return create_own_key(ctx);
    if (op == "keys.revoke_own") {
        long long id = 0;
        try {
            std::size_t used = 0;
            id = std::stoll(ctx.segments[2], &used);
            if (used != ctx.segments[2].size()) id = 0;
        } catch (const std::exception&) {
        }
        auto revoked = service::keys::revoke_own(service_env(ctx), id);
        if (!revoked) return revoked.take_error();
        return Reply{204, nullptr};
    }
    if (op == "ledger.list_own") return own_ledger(ctx);
    return redeem_own(ctx);
}

}  // namespace tianshu::server::admin
