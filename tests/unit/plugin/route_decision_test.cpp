// The route decision (one per request, one writer, rank precedence), decision notes and the
// client's headers, through request_access.hpp and through the ts_host_api table as a C
// plugin calls it (ABI 1.4).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <catch2/catch.hpp>

#include "core/request_json.hpp"
#include "plugin/host_api.hpp"
#include "plugin/request_access.hpp"
#include "plugin_test_support.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using tianshu::plugin::testing::s;
using tianshu::plugin::testing::take;

namespace {

class FakeHeaders final : public ClientHeaders {
  public:
    std::vector<std::pair<std::string, std::string>> headers;
    std::optional<std::string_view> find(std::string_view name) const override {
        for (const auto& [k, v] : headers) {
            if (k.size() != name.size()) continue;
            bool same = true;
            for (size_t i = 0; i < k.size(); ++i)
                same = same && std::tolower(static_cast<unsigned char>(k[i])) ==
                                   std::tolower(static_cast<unsigned char>(name[i]));
            if (same) return std::string_view(v);
        }
        return std::nullopt;
    }
};
}  // namespace

TEST_CASE("a higher rank stands; an equal or lower one is replaced", "[route]") {
    RequestContext ctx;
    ctx.request.model = "claude-sonnet";
    ctx.requested_model = "claude-sonnet";

    auto scene = route_decide(ctx, TS_ROUTE_SCENE, "main", "coder", "scene code", "router");
    REQUIRE(scene.ok());
    CHECK(scene.value() == RouteOutcome::decided);
    CHECK(ctx.request.model == "coder");

    // Lower: outranked, nothing changes.
    auto lower = route_decide(ctx, TS_ROUTE_DEFAULT, "main", "small", "default", "other");
    REQUIRE(lower.ok());
    CHECK(lower.value() == RouteOutcome::outranked);
    CHECK(ctx.request.model == "coder");
    CHECK(ctx.route->by == "router");

    // Equal: replaced.
    auto equal = route_decide(ctx, TS_ROUTE_SCENE, "main", "strong", "scene rework", "router2");
    REQUIRE(equal.ok());
    CHECK(equal.value() == RouteOutcome::decided);
    CHECK(ctx.route->model == "strong");

    // Higher: replaced; then an agent's model cannot undo the escalation.
    REQUIRE(route_decide(ctx, TS_ROUTE_ESCALATION, "long_context", "big-window", "overflow", "r")
                .value() == RouteOutcome::decided);
    CHECK(route_decide(ctx, TS_ROUTE_AGENT, "subagent", "agent-model", "", "r").value() ==
          RouteOutcome::outranked);
    // An operator's pin wins over everything.
    CHECK(route_decide(ctx, TS_ROUTE_PIN, "main", "pinned", "operator", "ops").value() ==
          RouteOutcome::decided);
    CHECK(ctx.request.model == "pinned");
    CHECK(route_json(*ctx.route) == core::Json{{"rank", 5},
                                               {"scenario", "main"},
                                               {"model", "pinned"},
                                               {"reason", "operator"},
                                               {"by", "ops"}});
}

TEST_CASE("set_model is a default-rank decision keeping the scenario so far", "[route]") {
    RequestContext ctx;
    ctx.request.model = ctx.requested_model = "m0";
    REQUIRE(set_model_decision(ctx, "m1", "legacy").value() == RouteOutcome::decided);
    CHECK(ctx.route->scenario == "default");
    CHECK(ctx.route->rank == TS_ROUTE_DEFAULT);
    CHECK(ctx.route->reason == "set_model");
    REQUIRE(route_decide(ctx, TS_ROUTE_SCENE, "background", "small", "title", "router").ok());
    CHECK(set_model_decision(ctx, "m2", "legacy").value() == RouteOutcome::outranked);
    CHECK(ctx.request.model == "small");

    RequestContext after_default;
    after_default.request.model = "m0";
    REQUIRE(route_decide(after_default, TS_ROUTE_DEFAULT, "compact", "c", "", "r").ok());
    REQUIRE(set_model_decision(after_default, "m3", "legacy").value() == RouteOutcome::decided);
    CHECK(after_default.route->scenario == "compact");
}

TEST_CASE("setting /model through request_set is a default-rank decision too (one writer)",
          "[route]") {
    RequestContext ctx;
    auto request = core::request_from_json(core::Json::parse(
        R"({"model":"m0","max_tokens":16,"messages":[{"role":"user","content":"hi"}]})"));
    REQUIRE(request.ok());
    ctx.request = std::move(request).value();
    ctx.requested_model = "m0";

    // Another field: no decision.
    REQUIRE(request_set(ctx, "/max_tokens", 32, "p").value() == RouteOutcome::decided);
    CHECK_FALSE(ctx.route);
    // The model: a DEFAULT decision by the setter, visible like set_model's.
    REQUIRE(request_set(ctx, "/model", "m1", "p").value() == RouteOutcome::decided);
    REQUIRE(ctx.route);
    CHECK(ctx.route->rank == TS_ROUTE_DEFAULT);
    CHECK(ctx.route->model == "m1");
    CHECK(ctx.route->by == "p");
    CHECK(ctx.route->reason == "set /model");
    CHECK(ctx.request.model == "m1");

    // A scene decision stands: neither "/model" nor the whole request may move the model, and
    // nothing else of that change is applied.
    REQUIRE(route_decide(ctx, TS_ROUTE_SCENE, "main", "coder", "scene", "router").ok());
    CHECK(request_set(ctx, "/model", "m2", "p").value() == RouteOutcome::outranked);
    core::Json whole = core::to_json(ctx.request);
    whole["model"] = "m3";
    whole["max_tokens"] = 64;
    CHECK(request_set(ctx, "", whole, "p").value() == RouteOutcome::outranked);
    CHECK(ctx.request.model == "coder");
    CHECK(ctx.request.max_tokens == std::optional<int64_t>(32));
    // The same whole request keeping the model is applied.
    whole["model"] = "coder";
    CHECK(request_set(ctx, "", whole, "p").value() == RouteOutcome::decided);
    CHECK(ctx.request.max_tokens == std::optional<int64_t>(64));
    CHECK(ctx.route->by == "router");
}

TEST_CASE("route_decide refuses what it cannot record and changes nothing", "[route]") {
    RequestContext ctx;
    ctx.request.model = "m0";
    CHECK_FALSE(route_decide(ctx, 0, "main", "m", "", "p").ok());
    CHECK_FALSE(route_decide(ctx, 6, "main", "m", "", "p").ok());
    CHECK_FALSE(route_decide(ctx, 1, "main", "", "", "p").ok());
    CHECK_FALSE(route_decide(ctx, 1, "Main Turn", "m", "", "p").ok());
    CHECK_FALSE(route_decide(ctx, 1, "", "m", "", "p").ok());
    CHECK_FALSE(ctx.route);
    CHECK(ctx.request.model == "m0");
    // A long reason is kept to 200 bytes, never cut inside a UTF-8 character.
    std::string reason;
    for (int i = 0; i < 100; ++i) reason += "路";
    REQUIRE(route_decide(ctx, 1, "main", "m", reason, "p").ok());
    CHECK(ctx.route->reason.size() <= 200);
    CHECK(ctx.route->reason.size() % 3 == 0);
}

TEST_CASE("the route header: the decision, or what happened without one", "[route]") {
    RequestContext ctx;
    ctx.request.model = ctx.requested_model = "claude-x";
    CHECK(route_header_value(effective_route(ctx)) ==
          "passthrough; model=claude-x; reason=requested");
    REQUIRE(route_decide(ctx, TS_ROUTE_SCENE, "main", "qwen", "写代码, fast\r\n", "r").ok());
    // Non-ASCII, ',' and control characters never reach the header raw.
    CHECK(route_header_value(effective_route(ctx)) ==
          "main; model=qwen; reason=%E5%86%99%E4%BB%A3%E7%A0%81%2C fast  ");
    DecisionNote n{"tool_repair", "repair", "100% fixed"};
    CHECK(decision_header_value(n) == "tool_repair; kind=repair; reason=100%25 fixed");
}

TEST_CASE("decision notes: a short kind, bounded in number", "[route]") {
    RequestContext ctx;
    CHECK_FALSE(decision_note(ctx, "p", "Bad Kind", "x").ok());
    CHECK_FALSE(decision_note(ctx, "p", "", "x").ok());
    for (size_t i = 0; i < kMaxDecisionNotes; ++i)
        REQUIRE(decision_note(ctx, "p", "repair", "r").value() == NoteOutcome::noted);
    CHECK(decision_note(ctx, "p", "repair", "r").value() == NoteOutcome::limit);
    CHECK(ctx.decisions.size() == kMaxDecisionNotes);
}

TEST_CASE("request headers: case-insensitive, credentials never", "[route]") {
    FakeHeaders h;
    h.headers = {{"X-Claude-Code-Agent-Id", "agent-7"},
                 {"Authorization", "Bearer sk-secret"},
                 {"x-api-key", "sk-secret"},
                 {"Cookie", "a=b"},
                 {"Proxy-Authorization", "Basic x"}};
    RequestContext ctx;
    CHECK_FALSE(request_header(ctx, "x-claude-code-agent-id"));  // no client headers at all
    ctx.client_headers = &h;
    CHECK(request_header(ctx, "x-claude-code-agent-id") == std::string_view("agent-7"));
    CHECK(request_header(ctx, "X-CLAUDE-CODE-AGENT-ID") == std::string_view("agent-7"));
    for (const char* secret :
         {"authorization", "AUTHORIZATION", "X-Api-Key", "cookie", "proxy-authorization"})
        CHECK_FALSE(request_header(ctx, secret));
    CHECK_FALSE(request_header(ctx, "x-absent"));
}

TEST_CASE("the host table: route_decide, route_current, decision_note, request_header",
          "[route][host_api]") {
    const ts_host_api* api = host_api();
    REQUIRE(TS_HOST_HAS(api, route_decide));
    REQUIRE(TS_HOST_HAS(api, route_current));
    REQUIRE(TS_HOST_HAS(api, decision_note));
    REQUIRE(TS_HOST_HAS(api, request_header));
    REQUIRE(TS_HOST_HAS(api, model_capabilities));
    FakeHeaders h;
    h.headers = {{"X-Probe", "yes"}, {"x-api-key", "sk"}};
    RequestContext ctx;
    ctx.request.model = ctx.requested_model = "m0";
    ctx.client_headers = &h;
    ts_request* r = to_handle(ctx);
    const std::string plugin = "router";

    ts_buf out{nullptr, 0};
    CHECK(api->route_current(r, &out) == TS_ERR_NOT_FOUND);
    // Outside on_request: refused.
    CHECK(api->route_decide(r, TS_ROUTE_SCENE, s("main"), s("m1"), s("x")) == TS_ERR_WRONG_PHASE);
    ts_str value{nullptr, 0};
    CHECK(api->request_header(r, s("x-probe"), &value) == TS_ERR_WRONG_PHASE);
    {
        HookScope scope(plugin, HookPhase::on_request);
        CHECK(api->route_decide(r, TS_ROUTE_SCENE, s("main"), s("m1"), s("scene")) == TS_OK);
        CHECK(api->route_decide(r, TS_ROUTE_DEFAULT, s("main"), s("m2"), s("")) ==
              TS_ERR_OUTRANKED);
        CHECK(api->request_set_model(r, s("m3")) == TS_ERR_OUTRANKED);
        CHECK(api->route_decide(r, 9, s("main"), s("m2"), s("")) == TS_ERR_INVALID);
        CHECK(api->request_header(r, s("X-PROBE"), &value) == TS_OK);
        CHECK(std::string_view(value.ptr, value.len) == "yes");
        CHECK(api->request_header(r, s("x-api-key"), &value) == TS_ERR_NOT_FOUND);
        CHECK(api->decision_note(r, s("elide"), s("dropped 3 tools")) == TS_OK);
        CHECK(api->decision_note(r, s("no good"), s("")) == TS_ERR_INVALID);
    }
    CHECK(ctx.request.model == "m1");
    REQUIRE(api->route_current(r, &out) == TS_OK);
    CHECK(core::Json::parse(take(out)) == core::Json{{"rank", 2},
                                                     {"scenario", "main"},
                                                     {"model", "m1"},
                                                     {"reason", "scene"},
                                                     {"by", "router"}});
    REQUIRE(ctx.decisions.size() == 1);
    CHECK(ctx.decisions[0].plugin == "router");
    CHECK(ctx.decisions[0].kind == "elide");
    // No capability table: nothing is known.
    CHECK(api->model_capabilities(r, s(""), &out) == TS_ERR_NOT_FOUND);
}
