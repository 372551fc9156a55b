#include "server/admin_routes.hpp"

namespace tianshu::server::admin {

const std::vector<Route>& routes() {
    static const std::vector<Route> all = {
        {"GET", "/channels", "channels.list"},
        {"POST", "/channels", "channels.create"},
        {"GET", "/channels/{name}", "channels.get"},
        {"PATCH", "/channels/{name}", "channels.edit"},
        {"DELETE", "/channels/{name}", "channels.remove"},
        {"POST", "/channels/{name}/enable", "channels.set_enabled"},
        {"POST", "/channels/{name}/disable", "channels.set_enabled"},
        {"POST", "/channels/{name}/keys", "channels.add_key"},
        {"DELETE", "/channels/{name}/keys/{id}", "channels.remove_key"},
        {"POST", "/channels/test", "channels.test"},
        {"POST", "/channels/{name}/test", "channels.test"},
        {"GET", "/channels/{name}/models", "channels.models"},
        {"POST", "/channels/{name}/models/sync", "channels.sync_models"},
        {"GET", "/channels/{name}/balance", "channels.balance"},
        {"GET", "/providers", "providers.list"},
        {"GET", "/tiers", "tiers.list"},
        {"POST", "/tiers", "tiers.create"},
        {"GET", "/tiers/{name}", "tiers.get"},
        {"PATCH", "/tiers/{name}", "tiers.set_ratio"},
        {"DELETE", "/tiers/{name}", "tiers.remove"},
        {"GET", "/prices", "prices.list"},
        {"GET", "/prices/{model...}", "prices.get"},
        {"PUT", "/prices/{model...}", "prices.set"},
        {"DELETE", "/prices/{model...}", "prices.remove"},
        {"GET", "/users", "users.list"},
        {"POST", "/users", "users.create"},
        {"GET", "/users/{name}", "users.get"},
        {"PATCH", "/users/{name}", "users.change"},
        {"POST", "/users/{name}/topup", "users.topup"},
        {"POST", "/users/{name}/invite-code", "users.invite_code"},
        {"GET", "/users/{name}/ledger", "ledger.list"},
        {"GET", "/users/{name}/keys", "keys.list"},
        {"POST", "/users/{name}/keys", "keys.create"},
        {"GET", "/keys/{id}", "keys.get"},
        {"PATCH", "/keys/{id}", "keys.set_limits"},
        {"DELETE", "/keys/{id}", "keys.revoke"},
        {"GET", "/redemption-codes", "redemption.list"},
        {"POST", "/redemption-codes", "redemption.generate"},
        {"POST", "/redeem", "redemption.redeem"},
        {"GET", "/invitations", "invitations.list"},
        {"PUT", "/invitations/rebate", "ledger.set_invite_rebate"},
        {"GET", "/alerts", "alerts.list"},
        {"POST", "/alerts/{id}/resolve", "alerts.resolve"},
        {"GET", "/logs", "logs.list"},
        {"GET", "/logs.csv", "logs.export"},
        {"GET", "/stats", "stats.summary"},
        {"GET", "/me/keys", "keys.list_own"},
        {"POST", "/me/keys", "keys.create_own"},
        {"DELETE", "/me/keys/{id}", "keys.revoke_own"},
        {"GET", "/me/ledger", "ledger.list_own"},
        {"POST", "/me/redeem", "redemption.redeem_own"},
        // Dispatched by their own modules (admin_chains.cpp, admin_dashboard.cpp); listed so
        // that every route names its operation.
        {"GET", "/chains", "chains.list"},
        {"POST", "/chains", "chains.save"},
        {"GET", "/chains/{id}", "chains.get"},
        {"GET", "/chains/{id}/versions", "chains.versions"},
        {"GET", "/chains/{id}/versions/{v}", "chains.get"},
        {"POST", "/chains/{id}/rollback", "chains.rollback"},
        {"POST", "/chains/validate", "chains.validate"},
        {"POST", "/chains/dry-run", "chains.dry_run"},
        {"GET", "/plugins", "plugins.list"},
        {"GET", "/dashboard", "dashboard.summary"},
        {"GET", "/health", "health.summary"},
        {"GET", "/me/usage", "usage.own"},
        // Dispatched by admin_api.cpp (it leaves the database region to run the model).
        {"POST", "/playground", "playground.run"},
    };
    return all;
}

namespace {

bool matches(std::string_view pattern, const std::vector<std::string>& segments) {
    std::size_t i = 0;
    std::size_t pos = 1;  // after the leading '/'
    while (pos <= pattern.size()) {
        std::size_t end = pattern.find('/', pos);
        if (end == std::string_view::npos) end = pattern.size();
        std::string_view part = pattern.substr(pos, end - pos);
        pos = end + 1;
        if (part.size() > 5 && part.substr(part.size() - 4) == "...}")
            return i < segments.size();  // the rest of the path, at least one segment
        if (i >= segments.size()) return false;
        if (!(part.front() == '{' && part.back() == '}') && part != segments[i]) return false;
        ++i;
    }
    return i == segments.size();
}

}  // namespace

std::optional<Outcome> unrouted(const Context& ctx, const Route*& route) {
    route = nullptr;
    std::string allowed;
    for (const Route& r : routes()) {
        if (!matches(r.pattern, ctx.segments)) continue;
        if (r.method == ctx.call.method) {
            route = &r;
            return std::nullopt;
        }
        if (allowed.find(r.method) == std::string::npos)
            allowed += (allowed.empty() ? "" : ", ") + std::string(r.method);
    }
    if (allowed.empty()) return std::nullopt;
    auto last = allowed.rfind(", ");
    if (last != std::string::npos) allowed.replace(last, 2, " or ");
    return Outcome(method_not_allowed(ctx.call, allowed));
}

service::Env service_env(const Context& ctx) {
    return service::Env{ctx.db,
                        ctx.secrets,
                        ctx.options.plugins,
                        ctx.options.passwords,
                        service::Actor{ctx.caller.user_id, ctx.caller.name, ctx.caller.role},
                        ctx.options.invite_rebate_ppm,
                        ctx.options.presets};
}

}  // namespace tianshu::server::admin
