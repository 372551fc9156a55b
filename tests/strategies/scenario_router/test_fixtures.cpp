// The requests the real, pinned Claude Code CLI sent (captured/, written by
// tests/e2e/scenario_capture.test.mjs) route to the scenario and model expected.json gives them,
// and whole captured sessions replayed with session state switch models exactly on their hard
// triggers.
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "fixture_store.hpp"
#include "router.hpp"

using Catch::Matchers::StartsWith;
using nlohmann::json;
using namespace tianshu::scenario_router;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(TIANSHU_SOURCE_DIR) / "tests/strategies/scenario_router";

const std::map<std::string, testing::Fixture>& fixtures() {
    static const auto all = testing::load_fixtures(kDir / "captured");
    return all;
}

const RouterConfig& config() {
    static const RouterConfig c = parse_config(testing::read_text(kDir / "router_config.json"));
    return c;
}

const testing::Fixture& fixture(const std::string& name) {
    auto it = fixtures().find(name);
    if (it == fixtures().end()) FAIL("no captured request " << name);
    return it->second;
}

//! Replays `names` as one session: the route state each decision stores is given to the next.
struct Session {
    CapsLookup caps;
    std::optional<SessionRoute> state;
    std::vector<std::string> models;  //!< the model each request went to
    int switches = 0;

    RouteDecision send(const std::string& name) {
        const testing::Fixture& f = fixture(name);
        RouteResult r = route(config(), f.body, f.headers, state, nullptr, caps);
        if (!r.decision) FAIL(name << ": no decision");
        std::string before = state ? state->model : "";
        if (r.decision->session) state = r.decision->session;
        if (!before.empty() && state && state->model != before) ++switches;
        models.push_back(r.decision->model);
        return *r.decision;
    }
};

CapsLookup caps(std::map<std::string, ModelCaps> t) {
    return [t = std::move(t)](const std::string& m) -> std::optional<ModelCaps> {
        auto it = t.find(m);
        if (it == t.end()) return std::nullopt;
        return it->second;
    };
}

}  // namespace

TEST_CASE("every captured Claude Code request routes to its expected scenario and model") {
    json expected = json::parse(testing::read_text(kDir / "expected.json"));
    REQUIRE(fixtures().size() >= 40);
    std::set<std::string> scenarios;
    for (const auto& [name, f] : fixtures()) {
        INFO(name);
        REQUIRE(expected.contains(name));
        const json& want = expected[name];
        RouteResult r = route(config(), f.body, f.headers, std::nullopt, nullptr, nullptr);
        CHECK(to_string(r.classification.scenario) == want["scenario"].get<std::string>());
        REQUIRE(r.decision);
        CHECK(r.decision->model == want["model"].get<std::string>());
        scenarios.insert(std::string(to_string(r.classification.scenario)));
    }
    for (const auto& [name, want] : expected.items()) {
        INFO(name);
        CHECK(fixtures().count(name) == 1);
    }
    // The capture covers every scenario the pinned CLI can produce (see README: Warmup and
    // header-less subagents come from older versions and are covered in test_classifier.cpp).
    CHECK(scenarios == std::set<std::string>{"background", "compact", "image", "long_context",
                                             "main", "subagent", "think", "tool_continuation",
                                             "web_search"});
}

TEST_CASE("the <tianshu-model> tag routes with the agent rank and is removed") {
    for (const char* name : {"agenttag-agent", "usertag-main"}) {
        INFO(name);
        const testing::Fixture& f = fixture(name);
        RouteResult r = route(config(), f.body, f.headers, std::nullopt, nullptr, nullptr);
        REQUIRE(r.classification.agent_tag);
        REQUIRE(r.decision);
        CHECK(r.decision->rank == TS_ROUTE_AGENT);
        json stripped = f.body;
        for (const auto& edit : r.classification.agent_tag->edits)
            stripped[json::json_pointer(edit.pointer)] = edit.text;
        CHECK(stripped.dump().find("tianshu-model") == std::string::npos);
        CHECK_FALSE(find_agent_tag(stripped));
    }
}

TEST_CASE("the captured stall escalates exactly once, at the third failure") {
    Session s;
    for (const char* name : {"stall-main", "stall-fail", "stall-fail-2"}) s.send(name);
    CHECK(s.models == std::vector<std::string>{"m-main", "m-main", "m-main"});
    RouteDecision d = s.send("stall-fail-3");
    CHECK(d.model == "m-think");  // the next model up the ladder
    CHECK(d.rank == TS_ROUTE_ESCALATION);
    CHECK_THAT(d.reason, StartsWith("stall: Bash failed 3 times in the last 6 tool calls"));
    // The fourth failure of the same call is not a new stall; a retry of the same request neither.
    CHECK(s.send("stall-fail-4").model == "m-think");
    CHECK(s.send("stall-fail-3").model == "m-think");
    CHECK(s.switches == 1);
    CHECK(s.state->switches == 1);
}

TEST_CASE("a captured session keeps its model when a later turn asks for max effort") {
    Session s;
    CHECK(s.send("sticky-first").model == "m-main");
    RouteDecision d = s.send("sticky-think");  // alone it would go to m-think
    CHECK(d.model == "m-main");
    CHECK(d.reason == "session keeps m-main");
    CHECK(s.switches == 0);
}

TEST_CASE("a captured session never switches more often than its hard triggers") {
    // Every conversation request the CLI sent, in one session, replayed twice (as retries would):
    // scenarios change (main, tool_continuation, think, long_context, compact…) but with roomy
    // windows and vision everywhere no hard trigger appears, so the model never moves.
    const std::vector<std::string> mixed = {
        "plain-main",       "toolloop-main", "toolloop-result", "effort-main",
        "effort-main-4",    "compact-main",  "compact-result",  "compact-second",
        "compact-summary",  "compact-after", "websearch-main",  "websearch-search",
        "websearch-result", "subagent-main", "subagent-agent",  "subagent-result",
        "long-main",        "image-main",    "image-result",    "plain-title"};
    Session roomy;
    for (int pass = 0; pass < 2; ++pass)
        for (const auto& name : mixed) roomy.send(name);
    CHECK(roomy.switches == 0);
    CHECK(roomy.state->model == "m-main");

    // Now with a text-only first model of a 64k window: the image is one trigger, the long paste
    // another; replaying everything again adds none.
    Session tight;
    tight.caps = caps({{"m-main", {64000, false}},
                       {"m-think", {64000, false}},
                       {"m-vision", {64000, true}},
                       {"m-long", {200000, true}}});
    for (const char* name : {"image-main", "toolloop-result", "effort-main-4"}) tight.send(name);
    CHECK(tight.switches == 0);
    CHECK(tight.send("image-result").model == "m-vision");
    CHECK(tight.switches == 1);
    CHECK(tight.send("long-main").model == "m-long");
    CHECK(tight.switches == 2);
    for (int pass = 0; pass < 2; ++pass)
        for (const auto& name : mixed) tight.send(name);
    CHECK(tight.switches == 2);
    CHECK(tight.state->switches == 2);
}
