// The route decision: ranks, the session's sticky model, hard escalations up the ladder, scenes,
// and the config's errors.
#include <catch2/catch.hpp>

#include <map>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "route_config.hpp"
#include "route_policy.hpp"
#include "router.hpp"
#include "scenes.hpp"

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;
using nlohmann::json;
using namespace tianshu::scenario_router;

namespace {

const char* kConfig = R"({
  "scenarios": {"main": ["small", "big"], "background": "tiny", "think": "deep",
                "image": "eyes", "subagent": "agent"},
  "order": ["small", "deep", "eyes", "big"]
})";

std::map<std::string, ModelCaps> table() {
    return {{"small", {32000, false}},
            {"deep", {128000, false}},
            {"eyes", {128000, true}},
            {"big", {1000000, true}},
            {"tiny", {8000, false}}};
}

CapsLookup lookup(const std::map<std::string, ModelCaps>& t) {
    return [t](const std::string& m) -> std::optional<ModelCaps> {
        auto it = t.find(m);
        if (it == t.end()) return std::nullopt;
        return it->second;
    };
}

Classification make(Scenario s, int64_t tokens = 1000, bool image = false) {
    Classification c;
    c.scenario = s;
    c.estimated_tokens = tokens;
    c.has_image = image;
    c.user_turn = 1;
    c.newest_request = "do it";
    return c;
}

RouteDecision must(const std::optional<RouteDecision>& d) {
    REQUIRE(d);
    return *d;
}

struct Run {
    RouterConfig config = parse_config(kConfig);
    CapsLookup caps = lookup(table());
    std::optional<SessionRoute> session;
    int switches_seen = 0;

    //! One request of the session: decide, then store what the decision says to store.
    RouteDecision step(const Classification& c, std::optional<Stall> stall = std::nullopt,
                       bool failing = false) {
        RouteInputs in;
        in.classification = &c;
        in.session = session;
        in.stall = std::move(stall);
        in.channel_failing = failing;
        std::string before = session ? session->model : "";
        RouteDecision d = must(decide(config, in, caps));
        if (d.session) session = d.session;
        if (!before.empty() && session && session->model != before) ++switches_seen;
        return d;
    }
};

}  // namespace

TEST_CASE("a new session gets the scenario's first candidate with the default rank") {
    Run run;
    RouteDecision d = run.step(make(Scenario::main));
    CHECK(d.model == "small");
    CHECK(d.rank == TS_ROUTE_DEFAULT);
    CHECK(d.scenario == "main");
    CHECK(d.reason == "scenario default");
    REQUIRE(run.session);
    CHECK(run.session->model == "small");
}

TEST_CASE("a session keeps its model across scenarios without a hard reason") {
    Run run;
    run.step(make(Scenario::main));
    for (Scenario s :
         {Scenario::tool_continuation, Scenario::think, Scenario::main, Scenario::long_context}) {
        RouteDecision d = run.step(make(s, 20000));
        CHECK(d.model == "small");
        CHECK_THAT(d.reason, StartsWith("session keeps small"));
    }
    CHECK(run.switches_seen == 0);
    CHECK(run.session->switches == 0);
}

TEST_CASE("side calls are routed per request and leave the session's model alone") {
    Run run;
    run.step(make(Scenario::main));
    RouteDecision bg = run.step(make(Scenario::background));
    CHECK(bg.model == "tiny");
    CHECK_FALSE(bg.session);
    RouteDecision agent = run.step(make(Scenario::subagent));
    CHECK(agent.model == "agent");
    CHECK(run.session->model == "small");
    // A background call too big for its model goes to a candidate that fits, as an escalation.
    RouteDecision big_bg = run.step(make(Scenario::background, 9000));
    CHECK(big_bg.rank == TS_ROUTE_ESCALATION);
    CHECK_THAT(big_bg.reason, StartsWith("window overflow: about 9000 tokens > 8000 of tiny"));
    CHECK(big_bg.model == "small");
}

TEST_CASE("window overflow moves the session up the ladder, once, and never down") {
    Run run;
    run.step(make(Scenario::main));
    RouteDecision d = run.step(make(Scenario::main, 40000));
    CHECK(d.model == "deep");
    CHECK(d.rank == TS_ROUTE_ESCALATION);
    CHECK_THAT(d.reason, StartsWith("window overflow: about 40000 tokens > 32000 of small"));
    // The conversation shrinks again (compaction): the session stays where it is.
    d = run.step(make(Scenario::main, 1000));
    CHECK(d.model == "deep");
    CHECK(d.rank == TS_ROUTE_ESCALATION);
    CHECK(run.session->switches == 1);
    CHECK(run.switches_seen == 1);
}

TEST_CASE("an image for a text-only model escalates to the next model with vision") {
    Run run;
    run.step(make(Scenario::main));
    RouteDecision d = run.step(make(Scenario::image, 1000, true));
    CHECK(d.model == "eyes");  // deep is above small but text-only
    CHECK(d.reason == "image for text-only small");
    // The image stays in the history: no further switch.
    d = run.step(make(Scenario::tool_continuation, 1000, true));
    CHECK(d.model == "eyes");
    CHECK(run.switches_seen == 1);
}

TEST_CASE("a stall escalates once; failing channels escalate") {
    Run run;
    run.step(make(Scenario::main));
    Stall stall{"Bash", {"t1", "t2", "t3"}};
    RouteDecision d = run.step(make(Scenario::tool_continuation), stall);
    CHECK(d.model == "deep");
    CHECK(d.reason == "stall: Bash failed 3 times in the last 6 tool calls");
    CHECK(run.session->consumed == std::set<std::string>{"t1", "t2", "t3"});
    d = run.step(make(Scenario::tool_continuation), std::nullopt, true);
    CHECK(d.model == "eyes");
    CHECK(d.reason == "channels of deep failing");
    CHECK(run.switches_seen == 2);
    CHECK(run.session->switches == 2);
}

TEST_CASE("at the top of the ladder a hard reason keeps the model and says so") {
    Run run;
    run.session = SessionRoute{"big", TS_ROUTE_ESCALATION, 3, {}};
    RouteDecision d = run.step(make(Scenario::main, 2000000));
    CHECK(d.model == "big");
    CHECK_THAT(d.reason, Contains("no model above big fits"));
    CHECK(run.switches_seen == 0);
}

TEST_CASE("the agent tag routes with the agent rank; a scene with the scene rank") {
    Run run;
    Classification tagged = make(Scenario::subagent);
    tagged.agent_tag = AgentTag{"coder", true, {}};
    RouteDecision d = run.step(tagged);
    CHECK(d.model == "coder");
    CHECK(d.rank == TS_ROUTE_AGENT);

    run.config.honour_agent_tag = false;
    CHECK(run.step(tagged).model == "agent");

    Run scened;
    Scene scene{"code", "write new code", {"big"}};
    Classification c = make(Scenario::main);
    RouteInputs in;
    in.classification = &c;
    in.scene = &scene;
    d = must(decide(scened.config, in, scened.caps));
    CHECK(d.model == "big");
    CHECK(d.rank == TS_ROUTE_SCENE);
    CHECK(d.reason == "scene code");
}

TEST_CASE("scenes: asked only for a session's first main turn; the answer is read leniently") {
    RouterConfig config = parse_config(R"({
      "scenarios": {"main": "small"},
      "scenes": {"model": "router", "list": [
        {"name": "small talk", "description": "greetings", "models": "small"},
        {"name": "代码创建", "description": "write new code", "models": ["big"]},
        {"name": "code", "models": "big"}]}})");
    Classification c = make(Scenario::main);
    CHECK(wants_scene(config, c, std::nullopt));
    CHECK_FALSE(wants_scene(config, c, SessionRoute{"small", TS_ROUTE_SCENE, 0, {}}));
    CHECK_FALSE(wants_scene(config, make(Scenario::tool_continuation), std::nullopt));

    std::string prompt = scene_prompt(config.scenes, "  请写一个新的解析器  ");
    CHECK_THAT(prompt, Contains("- 代码创建: write new code\n"));
    CHECK_THAT(prompt, Contains("<request>\n请写一个新的解析器\n</request>"));
    config.scenes.max_request_chars = 4;  // cut on a UTF-8 boundary: one 3-byte character
    CHECK_THAT(scene_prompt(config.scenes, "请写"), Contains("<request>\n请\n</request>"));

    CHECK(parse_scene_answer(config.scenes, " \"small talk\".\n") == 0u);
    CHECK(parse_scene_answer(config.scenes, "代码创建") == 1u);
    CHECK(parse_scene_answer(config.scenes, "The scene is: code") == 2u);
    CHECK_FALSE(parse_scene_answer(config.scenes, "none of them"));

    // route() asks the chooser only when a scene is wanted; nullptr fails open to the default.
    int asked = 0;
    json body = {{"messages", json::array({{{"role", "user"}, {"content", "write a parser"}}})},
                 {"tools", json::array({{{"name", "Read"}}})}};
    RouteResult r = route(
        config, body, {}, std::nullopt,
        [&](const Classification&) -> const Scene* {
            ++asked;
            return nullptr;
        },
        nullptr);
    CHECK(asked == 1);
    REQUIRE(r.decision);
    CHECK(r.decision->model == "small");
    r = route(
        config, body, {}, SessionRoute{"small", TS_ROUTE_DEFAULT, 0, {}},
        [&](const Classification&) -> const Scene* {
            ++asked;
            return &config.scenes.scenes[1];
        },
        nullptr);
    CHECK(asked == 1);
    CHECK(r.decision->model == "small");
}

TEST_CASE("unconfigured scenarios fall back to main; a subagent keeps its own model") {
    RouterConfig config = parse_config(R"({"scenarios": {"main": "m"}})");
    CapsLookup none;
    Classification c = make(Scenario::compact);
    RouteInputs in;
    in.classification = &c;
    CHECK(must(decide(config, in, none)).model == "m");
    Classification agent = make(Scenario::subagent);
    in.classification = &agent;
    CHECK_FALSE(decide(config, in, none));
    CHECK(parse_config("{}").order.empty());
    CHECK_FALSE(decide(parse_config("{}"), in, none));
}

TEST_CASE("the config's errors name the field and the fix") {
    auto error_of = [](const char* text) {
        try {
            parse_config(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string();
    };
    CHECK_THAT(error_of(R"({"scenarios": {"mian": "m"}})"),
               StartsWith("scenarios.mian: unknown scenario; use one of main, subagent"));
    CHECK_THAT(error_of(R"({"scenarios": {"main": 3}})"),
               StartsWith("scenarios.main: give a model name or a list"));
    CHECK_THAT(error_of(R"({"think_min_effort": "none"})"), StartsWith("think_min_effort:"));
    CHECK_THAT(error_of(R"({"scenes": {"list": [{"name": "a", "models": "m"}]}})"),
               StartsWith("scenes.model: scenes need a routing model"));
    CHECK_THAT(error_of(R"({"stall": {"window": 2, "failures": 3}})"), StartsWith("stall:"));
    // The ladder defaults to main's candidates, then the other conversation scenarios'.
    RouterConfig c = parse_config(
        R"({"scenarios": {"main": ["a", "b"], "think": "c", "background": "z", "image": ["b", "d"]}})");
    CHECK(c.order == std::vector<std::string>{"a", "b", "c", "d"});
}

TEST_CASE("session state round-trips and rejects what is not a route") {
    SessionRoute s{"m", TS_ROUTE_ESCALATION, 2, {"t1"}};
    auto back = SessionRoute::from_json(s.to_json());
    REQUIRE(back);
    CHECK(back->model == "m");
    CHECK(back->rank == TS_ROUTE_ESCALATION);
    CHECK(back->switches == 2);
    CHECK(back->consumed == std::set<std::string>{"t1"});
    CHECK_FALSE(SessionRoute::from_json(json()));
    CHECK_FALSE(SessionRoute::from_json(json{{"model", ""}}));
    CHECK(caps_from_json(json{{"context_window", 5}, {"vision", false}}).context_window == 5);
}
