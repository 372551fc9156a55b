#pragma once
// Inside the admin API: the table of routes and the business operation each one runs (names
// from service::operations()), and the service Env a route works in. Not a public header.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/admin_support.hpp"
#include "service/env.hpp"

namespace tianshu::server::admin {

//! One route: `pattern` is the path after /admin/api with "{x}" for one segment and "{x...}"
//! (last only) for one or more.
struct Route {
    std::string_view method;
    std::string_view pattern;
    std::string_view operation;
};

//! Every route of route_catalog (channels, tiers, prices), route_accounts, route_reports and
//! route_self. (Sessions, chains, plugins and dashboards keep their own.)
const std::vector<Route>& routes();

//! Before a route group answers: nullopt when no route of the table has this path (the group
//! answers nothing, so the call is a 404), a 405 naming the methods when the path is known but
//! not with this method, else the route.
std::optional<Outcome> unrouted(const Context& ctx, const Route*& route);

//! The service Env for this call, acting as its caller.
service::Env service_env(const Context& ctx);

}  // namespace tianshu::server::admin
