// Post stages that rewrite the stream (ABI 1.4), stage failure policies, and the grammar check
// of what leaves a chain: with in-process strategies for each rule, and with the test-only
// .so plugin stream_chaos driven at random over many seeds.
#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

#include "../protocol/stream_grammar.hpp"
#include "fake_plugins.hpp"
#include "pipeline/runner.hpp"
#include "plugin/request_access.hpp"
#include "plugin/so_plugin.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using core::Json;
using core::StreamEvent;
using plugin::HookOutcome;
using plugin::RequestContext;
using T = StreamEvent::Type;

namespace {

StreamEvent event_from(const std::string& json) {
    auto e = plugin::event_from_json(json);
    REQUIRE(e.ok());
    return e.value();
}

//! A model that emits a fixed, well-formed stream: thinking, text in several deltas, a tool call.
struct ScriptedModel : plugin::Model {
    std::string name_ = "scripted";
    std::vector<StreamEvent> events;
    ScriptedModel() {
        for (
            const char* json :
            {R"({"type":"message_start","message":{"id":"m1","model":"x","usage":{"input_tokens":5}}})",
             R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})",
             R"({"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"hmm"}})",
             R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}})",
             R"({"type":"content_block_stop","index":0})",
             R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})",
             R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"one "}})",
             R"({"type":"ping"})",
             R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"two "}})",
             R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"three"}})",
             R"({"type":"content_block_stop","index":1})",
             R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_1","name":"write","input":{}}})",
             R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"path\":"}})",
             R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"\"a.txt\"}"}})",
             R"({"type":"content_block_stop","index":2})",
             R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}})",
             R"({"type":"message_stop"})"})
            events.push_back(event_from(json));
    }
    //! The deadline of the last call_model request it answered.
    std::chrono::steady_clock::time_point seen_deadline;
    const std::string& name() const override { return name_; }
    core::Result<void> generate(RequestContext& ctx) override {
        if (ctx.call_depth > 0) seen_deadline = ctx.deadline;
        ctx.started = true;
        for (const auto& e : events)
            if (!ctx.emit(e)) break;
        ctx.finished = true;
        return {};
    }
};

struct ScriptedResolver : pipeline::ModelResolver {
    std::shared_ptr<ScriptedModel> model = std::make_shared<ScriptedModel>();
    core::Result<pipeline::ResolvedModel> resolve(const std::string& name) const override {
        return pipeline::ResolvedModel{model, name, "test"};
    }
};

RequestContext request() {
    RequestContext ctx;
    ctx.request_id = "r1";
    ctx.request.model = "m";
    core::Message m;
    m.content.push_back(core::ContentBlock::make_text("hello"));
    ctx.request.messages.push_back(m);
    return ctx;
}

std::shared_ptr<const pipeline::Chain> build(const pipeline::PluginLookup& lookup,
                                             const Json& body) {
    auto spec = pipeline::parse_chain(body, lookup);
    if (!spec) FAIL(spec.error().message);
    auto chain = pipeline::Chain::build(spec.value(), lookup);
    if (!chain) FAIL(chain.error().message);
    return chain.value();
}

Json chain_body(Json pre, Json post) {
    return Json{{"id", "c"},
                {"tiers", {"*"}},
                {"models", {"*"}},
                {"routing", {{"mode", "passthrough"}}},
                {"pre", std::move(pre)},
                {"post", std::move(post)}};
}

struct Client {
    std::vector<StreamEvent> events;
    plugin::EventSink sink() {
        return [this](const StreamEvent& e) {
            events.push_back(e);
            return true;
        };
    }
    std::vector<std::string> json() const {
        std::vector<std::string> out;
        for (const auto& e : events) out.push_back(plugin::event_json(e));
        return out;
    }
};

struct Counter : pipeline::StageFailureCounter {
    std::vector<std::string> seen;
    void count_stage_failure(std::string_view chain, std::string_view stage,
                             std::string_view outcome) override {
        seen.push_back(std::string(chain) + "/" + std::string(stage) + "/" + std::string(outcome));
    }
};

std::vector<std::string> json_of(const std::vector<StreamEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(plugin::event_json(e));
    return out;
}

}  // namespace

TEST_CASE("a post stage turns held text deltas into a tool_use block") {
    // The motivating case: hold the text block, then replace it by a tool call.
    FakeCatalog cat;
    cat.add("to_tool", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "to_tool";
        s->event = [](RequestContext& c, StreamEvent& e) -> core::Result<void> {
            plugin::EventHandle h{&e, c.stream_stage};
            const bool text_block = e.index == 1 && (e.type == T::content_block_start ||
                                                     e.type == T::content_block_delta);
            if (text_block) return plugin::event_hold(h);
            if (e.type == T::content_block_stop && e.index == 1) {
                REQUIRE(plugin::held_count(c) == 4);  // the start and 3 deltas, not the ping
                REQUIRE(plugin::held_discard(c).ok());
                for (
                    const char* json :
                    {R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_t","name":"say","input":{}}})",
                     R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"text\":\"one two three\"}"}})"})
                    REQUIRE(plugin::stream_emit(c, json).ok());
            }
            return {};
        };
        return s;
    };
    auto chain = build(cat.lookup(), chain_body(Json::array(), {{{"plugin", "to_tool"}}}));
    ScriptedResolver resolver;
    auto ctx = request();
    Client client;
    REQUIRE(pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink()).ok());
    INFO(Json(client.json()).dump(1));
    CHECK(stream_grammar_problem(client.events, true) == "");
    // The ping was not held: it went on at once, before the rewritten block.
    REQUIRE(client.events.size() == 17 - 4 + 2);
    CHECK(client.events[5].type == T::ping);
    CHECK(client.events[6].block.type == core::ContentBlock::Type::tool_use);
    CHECK(client.events[6].block.name == "say");
    CHECK(client.events[7].text == R"({"text":"one two three"})");
    CHECK(client.events[8].type == T::content_block_stop);
    CHECK(ctx.response.content.at(1).input == Json{{"text", "one two three"}});
}

TEST_CASE("inserted and released events pass the later stages in order, before the current one") {
    FakeCatalog cat;
    std::vector<std::string> seen_by_second;
    cat.add("first", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "first";
        s->event = [](RequestContext& c, StreamEvent& e) -> core::Result<void> {
            plugin::EventHandle h{&e, c.stream_stage};
            if (e.type == T::content_block_delta && e.text == "one ") return plugin::event_hold(h);
            if (e.type == T::content_block_delta && e.text == "two ") {
                REQUIRE(plugin::stream_emit(c, R"({"type":"ping"})").ok());
                REQUIRE(plugin::held_release(c).ok());
            }
            return {};
        };
        return s;
    };
    cat.add("second", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "second";
        s->event = [&](RequestContext&, StreamEvent& e) -> core::Result<void> {
            seen_by_second.push_back(std::string(core::to_string(e.type)) + ":" + e.text);
            return {};
        };
        return s;
    };
    auto chain = build(cat.lookup(),
                       chain_body(Json::array(), {{{"plugin", "first"}}, {{"plugin", "second"}}}));
    ScriptedResolver resolver;
    auto ctx = request();
    Client client;
    REQUIRE(pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink()).ok());
    // At "two ": the emitted ping, then the released "one ", then "two " itself.
    const std::vector<std::string> around{"ping:", "content_block_delta:one ",
                                          "content_block_delta:two "};
    auto at =
        std::search(seen_by_second.begin(), seen_by_second.end(), around.begin(), around.end());
    CHECK(at != seen_by_second.end());
    CHECK(stream_grammar_problem(client.events, true) == "");
    CHECK(ctx.response.text() == "one two three");
}

TEST_CASE("events still held at the end of the stream are released before it ends") {
    FakeCatalog cat;
    cat.add("hoarder", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "hoarder";
        s->event = [](RequestContext& c, StreamEvent& e) -> core::Result<void> {
            plugin::EventHandle h{&e, c.stream_stage};
            if (e.type == T::message_start) return {};
            return plugin::event_hold(h);  // everything, message_stop included
        };
        return s;
    };
    auto chain = build(cat.lookup(), chain_body(Json::array(), {{{"plugin", "hoarder"}}}));
    ScriptedResolver resolver;
    auto ctx = request();
    Client client;
    REQUIRE(pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink()).ok());
    CHECK(client.json() == json_of(resolver.model->events));
}

TEST_CASE("a stage that breaks the grammar ends the stream with an error naming it") {
    FakeCatalog cat;
    cat.add("breaker", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "breaker";
        s->event = [](RequestContext& c, StreamEvent& e) -> core::Result<void> {
            plugin::EventHandle h{&e, c.stream_stage};
            if (e.type == T::content_block_stop && e.index == 1) return plugin::event_drop(h);
            return {};
        };
        return s;
    };
    auto chain = build(cat.lookup(), chain_body(Json::array(), {{{"plugin", "breaker"}}}));
    ScriptedResolver resolver;
    auto ctx = request();
    Client client;
    auto r = pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == core::ErrorKind::plugin_failure);
    CHECK_THAT(r.error().message, Catch::Contains("'breaker'") && Catch::Contains("/post/0") &&
                                      Catch::Contains("still open"));
    REQUIRE_FALSE(client.events.empty());
    CHECK(client.events.back().type == T::error);
    std::vector<StreamEvent> before(client.events.begin(), client.events.end() - 1);
    CHECK(stream_grammar_problem(before, false) == "");
}

TEST_CASE("a post stage failing under on_error continue gives back what it holds and is bypassed") {
    FakeCatalog cat;
    int calls = 0;
    bool ended = false;
    auto& f = cat.add("flaky", plugin::PluginKind::strategy);
    f->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "flaky";
        s->event = [&](RequestContext& c, StreamEvent& e) -> core::Result<void> {
            ++calls;
            plugin::EventHandle h{&e, c.stream_stage};
            // Holds the text block's start and first delta (so nothing overtakes them), then
            // fails at the next event (the ping) after changing it and inserting one.
            const bool text_start = e.type == T::content_block_start && e.index == 1;
            if (!text_start && plugin::held_count(c) == 0) return {};
            if (plugin::held_count(c) < 2) return plugin::event_hold(h);
            REQUIRE(plugin::event_set_json(h, R"({"type":"message_stop"})").ok());
            REQUIRE(plugin::stream_emit(c, R"({"type":"ping"})").ok());
            return core::Error{core::ErrorKind::plugin_failure, "flaky failed", "flaky"};
        };
        s->end = [&](RequestContext&) -> core::Result<void> {
            ended = true;
            return {};
        };
        return s;
    };
    ScriptedResolver resolver;
    Counter counter;
    SECTION("continue") {
        auto chain =
            build(cat.lookup(),
                  chain_body(Json::array(), {{{"plugin", "flaky"}, {"on_error", "continue"}}}));
        auto ctx = request();
        Client client;
        REQUIRE(pipeline::PipelineRunner(resolver, &counter).run(ctx, *chain, client.sink()).ok());
        CHECK(client.json() == json_of(resolver.model->events));
        CHECK(calls == 8);  // up to the ping, never again
        CHECK_FALSE(ended);
        CHECK(counter.seen == std::vector<std::string>{"c/flaky/continued"});
    }
    SECTION("an advisory plugin continues by default") {
        f->info_.advisory = true;
        auto chain = build(cat.lookup(), chain_body(Json::array(), {{{"plugin", "flaky"}}}));
        auto ctx = request();
        Client client;
        REQUIRE(pipeline::PipelineRunner(resolver, &counter).run(ctx, *chain, client.sink()).ok());
        CHECK(client.json() == json_of(resolver.model->events));
    }
    SECTION("fail (the default otherwise)") {
        auto chain = build(cat.lookup(), chain_body(Json::array(), {{{"plugin", "flaky"}}}));
        auto ctx = request();
        Client client;
        auto r = pipeline::PipelineRunner(resolver, &counter).run(ctx, *chain, client.sink());
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().message == "flaky failed");
        CHECK(client.events.back().type == T::error);
        CHECK(counter.seen == std::vector<std::string>{"c/flaky/failed"});
    }
}

TEST_CASE("a pre stage failing under on_error continue is undone; a read-only one copies nothing") {
    FakeCatalog cat;
    bool saved_while_reading = true;
    cat.add("reader", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "reader";
        s->pre = [&](RequestContext& c) -> core::Result<HookOutcome> {
            (void)plugin::request_get(c, "/messages/0");
            saved_while_reading = c.undo && c.undo->saved;
            return core::Error{core::ErrorKind::plugin_failure, "reader failed", "reader"};
        };
        return s;
    };
    cat.add("mutator", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "mutator";
        s->pre = [&](RequestContext& c) -> core::Result<HookOutcome> {
            REQUIRE(c.undo);
            plugin::set_model(c, "other");
            CHECK(c.undo->saved);
            REQUIRE(plugin::request_set(c, "/max_tokens", 7, "test").ok());
            plugin::set_system_text(c, "changed");
            return core::Error{core::ErrorKind::plugin_failure, "mutator failed", "mutator"};
        };
        return s;
    };
    auto chain = build(cat.lookup(), chain_body({{{"plugin", "reader"}, {"on_error", "continue"}},
                                                 {{"plugin", "mutator"}, {"on_error", "continue"}}},
                                                Json::array()));
    ScriptedResolver resolver;
    Counter counter;
    auto ctx = request();
    ctx.request.max_tokens = 100;
    Client client;
    auto r = pipeline::PipelineRunner(resolver, &counter).run(ctx, *chain, client.sink());
    REQUIRE(r.ok());
    CHECK_FALSE(saved_while_reading);
    CHECK(r->upstream_model == "m");
    CHECK(ctx.request.max_tokens == 100);
    CHECK(ctx.request.system.empty());
    CHECK(counter.seen == std::vector<std::string>{"c/reader/continued", "c/mutator/continued"});
}

TEST_CASE("a route decision by a pre stage failing under on_error continue is undone with it") {
    FakeCatalog cat;
    cat.add("router", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "router";
        s->pre = [&](RequestContext& c) -> core::Result<HookOutcome> {
            REQUIRE(
                plugin::route_decide(c, TS_ROUTE_ESCALATION, "main", "bigger", "overflow", "router")
                    .ok());
            REQUIRE(c.route);
            return core::Error{core::ErrorKind::plugin_failure, "router failed", "router"};
        };
        return s;
    };
    auto chain = build(cat.lookup(), chain_body({{{"plugin", "router"}, {"on_error", "continue"}}},
                                                Json::array()));
    ScriptedResolver resolver;
    auto ctx = request();
    Client client;
    auto r = pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink());
    REQUIRE(r.ok());
    CHECK_FALSE(ctx.route);
    CHECK(r->upstream_model == "m");
}

TEST_CASE("a stage's deadline fails it when overrun and bounds call_model inside it") {
    FakeCatalog cat;
    auto observed = std::chrono::steady_clock::time_point::max();
    cat.add("slow", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "slow";
        s->pre = [&](RequestContext& c) -> core::Result<HookOutcome> {
            observed = c.deadline;
            REQUIRE(c.models->call(c, "helper", "a question").ok());
            std::this_thread::sleep_until(c.deadline);
            return HookOutcome::proceed;
        };
        return s;
    };
    ScriptedResolver resolver;
    for (const char* policy : {"continue", "fail"}) {
        INFO(policy);
        auto chain =
            build(cat.lookup(),
                  chain_body({{{"plugin", "slow"}, {"on_error", policy}, {"deadline_ms", 20}}},
                             Json::array()));
        auto ctx = request();
        const auto before = std::chrono::steady_clock::now();
        Client client;
        Counter counter;
        auto r = pipeline::PipelineRunner(resolver, &counter).run(ctx, *chain, client.sink());
        // The stage runs under its own deadline, and so does call_model's child request.
        CHECK(observed <= before + std::chrono::milliseconds(20) + std::chrono::seconds(1));
        CHECK(observed > before);
        CHECK(resolver.model->seen_deadline == observed);
        CHECK(ctx.deadline == std::chrono::steady_clock::time_point::max());  // restored
        if (std::string(policy) == "continue") {
            CHECK(r.ok());
            CHECK(counter.seen == std::vector<std::string>{"c/slow/continued"});
        } else {
            REQUIRE_FALSE(r.ok());
            CHECK(r.error().kind == core::ErrorKind::timeout);
            CHECK_THAT(r.error().message, Catch::Contains("deadline of 20 ms"));
        }
    }
}

// ---- the randomized test: the test-only plugin stream_chaos, three stages, many seeds ----

namespace {
std::shared_ptr<plugin::PluginFactory> chaos_factory() {
    static auto factory = [] {
        auto f = plugin::SoPluginFactory::load(std::string(TIANSHU_TEST_PLUGIN_DIR) +
                                               "/stream_chaos.so");
        if (!f) FAIL(f.error().message);
        return f.value();
    }();
    return factory;
}
pipeline::PluginLookup chaos_lookup() {
    return [](const std::string& name) -> std::shared_ptr<plugin::PluginFactory> {
        return name == "stream_chaos" ? chaos_factory() : nullptr;
    };
}
}  // namespace

TEST_CASE(
    "random holding, inserting, dropping and rewriting: the client's stream is always "
    "grammatical or ends in a clean error event",
    "[randomized]") {
    ScriptedResolver resolver;
    int completed = 0, ended_in_error = 0, refused_before_start = 0;
    for (uint32_t seed = 1; seed <= 400; ++seed) {
        INFO("seed " << seed);
        Json post = Json::array();
        for (uint32_t k = 0; k < 3; ++k)
            post.push_back(
                {{"plugin", "stream_chaos"},
                 {"on_error", seed % 2 ? "continue" : "fail"},
                 {"config", {{"mode", "chaos"}, {"seed", seed * 3 + k}, {"throw_permille", 15}}}});
        auto chain = build(chaos_lookup(), chain_body(Json::array(), post));
        auto ctx = request();
        Client client;
        auto r = pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink());
        INFO(Json(client.json()).dump(1));
        if (r.ok()) {
            ++completed;
            CHECK(stream_grammar_problem(client.events, true) == "");
            continue;
        }
        if (client.events.empty()) {
            ++refused_before_start;  // the caller answers with an HTTP error in its protocol
            continue;
        }
        ++ended_in_error;
        CHECK(client.events.back().type == T::error);
        CHECK(client.events.back().error.message == r.error().message);
        std::vector<StreamEvent> before(client.events.begin(), client.events.end() - 1);
        CHECK(stream_grammar_problem(before, false) == "");
        if (r.error().kind == core::ErrorKind::plugin_failure)
            CHECK_THAT(r.error().message, Catch::Contains("stream_chaos"));
    }
    // The seeds reach every outcome (so the test is not vacuous).
    CHECK(completed > 0);
    CHECK(ended_in_error > 0);
    INFO("completed " << completed << ", error event " << ended_in_error << ", before start "
                      << refused_before_start);
    SUCCEED();
}

TEST_CASE("random holding and releasing never reorders or loses an event", "[randomized]") {
    ScriptedResolver resolver;
    for (uint32_t seed = 1; seed <= 200; ++seed) {
        INFO("seed " << seed);
        Json post = Json::array();
        for (uint32_t k = 0; k < 3; ++k)
            post.push_back({{"plugin", "stream_chaos"},
                            {"config", {{"mode", "lossless"}, {"seed", seed * 3 + k}}}});
        auto chain = build(chaos_lookup(), chain_body(Json::array(), post));
        auto ctx = request();
        Client client;
        REQUIRE(pipeline::PipelineRunner(resolver).run(ctx, *chain, client.sink()).ok());
        CHECK(client.json() == json_of(resolver.model->events));
    }
}
