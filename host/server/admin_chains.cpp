// Admin routes for chains and the building blocks they are made of: GET /plugins, the chains
// and their versions, rollback, validate and the dry run. Every rule lives in service/chains;
// these functions only read the call and shape the answer.
#include "server/admin_routes.hpp"
#include "server/admin_support.hpp"
#include "service/chains.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

namespace {

namespace chains = service::chains;

service::Env env_of(const Context& ctx) {
    return service_env(ctx);
}

//! The body's "chain" (an object), required.
core::Result<Json> chain_field(const Json& body) {
    if (!body.contains("chain"))
        return Error::invalid(
            "body: field 'chain' is required: the chain document to check, "
            "as POST /admin/api/chains takes it");
    if (!body["chain"].is_object())
        return Error::invalid("body: field 'chain' must be a JSON object (a chain document)");
    return body["chain"];
}

Outcome plugins_route(Context& ctx) {
    if (ctx.segments.size() != 1)
        return Outcome(not_found("GET /admin/api/plugins has no sub-routes"));
    if (ctx.call.method != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
    if (!ctx.options.plugin_infos)
        return Outcome(Error{ErrorKind::unavailable,
                             "this server has no plugin catalog: `tianshu plugins list` shows "
                             "the plugins a folder holds",
                             {}});
    Json list = Json::array();
    for (const auto& info : ctx.options.plugin_infos()) list.push_back(chains::plugin_json(info));
    return Outcome(Reply{200, Json{{"plugins", std::move(list)}}});
}

Outcome validate_route(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return Outcome(body.take_error());
    if (auto ok = only_fields(body.value(), {"chain"}); !ok) return Outcome(ok.take_error());
    auto chain = chain_field(body.value());
    if (!chain) return Outcome(chain.take_error());
    auto problems = chains::validate(env_of(ctx), chain.value());
    if (!problems) return Outcome(problems.take_error());
    if (problems->empty()) return Outcome(Reply{200, Json{{"ok", true}}});
    Json list = Json::array();
    std::string message = "chain is invalid (" + std::to_string(problems->size()) + " problem" +
                          (problems->size() == 1 ? "" : "s") + "):";
    for (const auto& p : problems.value()) {
        list.push_back(Json{{"path", p.path.empty() ? "/" : p.path}, {"reason", p.reason}});
        message += "\n  " + p.to_string();
    }
    return Outcome(
        Reply{400, Json{{"ok", false},
                        {"error", {{"type", "invalid_request_error"}, {"message", message}}},
                        {"problems", std::move(list)}}});
}

Outcome dry_run_route(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return Outcome(body.take_error());
    if (auto ok = only_fields(body.value(), {"chain", "request", "tier"}); !ok)
        return Outcome(ok.take_error());
    auto chain = chain_field(body.value());
    if (!chain) return Outcome(chain.take_error());
    if (!body->contains("request"))
        return Outcome(
            Error::invalid("body: field 'request' is required: an Anthropic Messages "
                           "body ({\"model\", \"max_tokens\", \"messages\"})"));
    auto tier = string_field(body.value(), "tier");
    if (!tier) return Outcome(tier.take_error());
    auto report =
        chains::dry_run(ctx.options.plugins, chain.value(), body.value()["request"], tier.value());
    if (!report) return Outcome(report.take_error());
    return Outcome(Reply{200, chains::to_json(report.value())});
}

Outcome one_chain_route(Context& ctx) {
    const std::string& id = ctx.segments[1];
    const std::string& m = ctx.call.method;
    const service::Env env = env_of(ctx);
    if (ctx.segments.size() == 2) {
        if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
        auto found = chains::get(env, id);
        if (!found) return Outcome(found.take_error());
        return Outcome(Reply{200, chains::version_json(found.value())});
    }
    const std::string& what = ctx.segments[2];
    if (what == "versions" && ctx.segments.size() == 3) {
        if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
        auto all = chains::versions(env, id);
        if (!all) return Outcome(all.take_error());
        Json list = Json::array();
        for (const auto& c : all.value())
            list.push_back(Json{{"version", c.version}, {"created_at", c.created_at}});
        return Outcome(Reply{200, Json{{"id", id}, {"versions", std::move(list)}}});
    }
    if (what == "versions" && ctx.segments.size() == 4) {
        if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
        int version = 0;
        try {
            size_t used = 0;
            version = std::stoi(ctx.segments[3], &used);
            if (used != ctx.segments[3].size() || version < 1) throw std::invalid_argument("");
        } catch (const std::exception&) {
            return Outcome(Error::invalid("version '" + ctx.segments[3] +
                                          "' is not a version number: use 1, 2, ... as GET "
                                          "/admin/api/chains/" +
                                          id + "/versions lists them"));
        }
        auto found = chains::get(env, id, version);
        if (!found) return Outcome(found.take_error());
        return Outcome(Reply{200, chains::version_json(found.value())});
    }
    if (what == "rollback" && ctx.segments.size() == 3) {
        if (m != "POST") return Outcome(method_not_allowed(ctx.call, "POST"));
        auto body = object_body(ctx.call);
        if (!body) return Outcome(body.take_error());
        if (auto ok = only_fields(body.value(), {"version"}); !ok) return Outcome(ok.take_error());
        auto version = integer_field(body.value(), "version", 1, 1'000'000'000);
        if (!version) return Outcome(version.take_error());
        if (!version.value())
            return Outcome(
                Error::invalid("body: field 'version' is required: the version to "
                               "restore, as GET /admin/api/chains/" +
                               id + "/versions lists them"));
        auto saved = chains::rollback(env, id, static_cast<int>(*version.value()));
        if (!saved) return Outcome(saved.take_error());
        return Outcome(Reply{201, Json{{"id", saved->id},
                                       {"version", saved->version},
                                       {"restored_from", *version.value()}}});
    }
    return Outcome(not_found("there is no chain route " + m + " " + ctx.call.path +
                             ": see docs/admin-api.md (Chains)"));
}

}  // namespace

std::optional<Outcome> route_chains(Context& ctx) {
    if (ctx.segments.front() == "plugins") return plugins_route(ctx);
    if (ctx.segments.front() != "chains") return std::nullopt;
    const std::string& m = ctx.call.method;
    if (ctx.segments.size() == 1) {
        if (m == "GET") {
            const service::Env env = env_of(ctx);
            return list_reply(
                ctx.call, [&] { return chains::list(env); }, false,
                [](const store::ChainVersion& c) { return c.chain_id; }, chains::version_json);
        }
        if (m != "POST") return Outcome(method_not_allowed(ctx.call, "GET or POST"));
        // The same validation as `tianshu chain import`: schema, plugins, plugin configs.
        auto saved = chains::save_text(env_of(ctx), ctx.call.body);
        if (!saved) return Outcome(saved.take_error());
        return Outcome(Reply{201, Json{{"id", saved->id}, {"version", saved->version}}});
    }
    if (ctx.segments.size() == 2 && m == "POST") {
        if (ctx.segments[1] == "validate") return validate_route(ctx);
        if (ctx.segments[1] == "dry-run") return dry_run_route(ctx);
    }
    return one_chain_route(ctx);
}

}  // namespace tianshu::server::admin
