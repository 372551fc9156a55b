// Strategy and model hooks through LuaPluginFactory, as the pipeline will call them.

#include <catch2/catch.hpp>
#include <chrono>

#include "lua_test_support.hpp"
#include "plugin/request_access.hpp"

using namespace tianshu;
using namespace tianshu::test;

namespace {
std::shared_ptr<plugin::Strategy> strategy(const std::string& file,
                                           const core::Json& config = core::Json::object()) {
    auto f = plugin::load_lua_script(fixture(file));
    if (!f) FAIL(f.error().message);
    auto s = f.value()->create_strategy(config);
    if (!s) FAIL(s.error().message);
    return s.value();
}

std::shared_ptr<plugin::Model> model(const std::string& path,
                                     const core::Json& config = core::Json::object()) {
    auto f = plugin::load_lua_script(path);
    if (!f) FAIL(f.error().message);
    auto m = f.value()->create_model(config);
    if (!m) FAIL(m.error().message);
    return m.value();
}

//! Runs a model and folds its events; checks the grammar on the way.
struct Generated {
    core::ResponseAssembler assembler;
    std::vector<core::StreamEvent> events;
    core::Result<void> result;
};

Generated generate(plugin::Model& m, plugin::RequestContext& ctx) {
    Generated g{{}, {}, {}};
    ctx.emit = [&](const core::StreamEvent& e) {
        g.events.push_back(e);
        auto added = g.assembler.add(e);
        if (e.type == core::StreamEvent::Type::content_block_delta)
            ctx.response = g.assembler.response();
        return added.ok();
    };
    g.result = m.generate(ctx);
    ctx.emit = nullptr;
    return g;
}
}  // namespace

TEST_CASE("factory info comes from the plugin table, with defaults from the file") {
    auto f = plugin::load_lua_script(fixture("rewrite.lua"));
    REQUIRE(f.ok());
    const auto& info = f.value()->info();
    CHECK(info.name == "rewrite");
    CHECK(info.version == "2.1.0");
    CHECK(info.kind == plugin::PluginKind::strategy);
    CHECK(info.abi_version == "lua");
    CHECK(info.description == "rewrites the request");
    CHECK(info.path == fixture("rewrite.lua"));

    auto g = plugin::load_lua_script(fixture("answer.lua"));
    REQUIRE(g.ok());
    CHECK(g.value()->info().name == "answer");
    CHECK(g.value()->info().version == "0.0.0");
    CHECK_FALSE(g.value()->create_model(core::Json::object()).ok());
    auto s = g.value()->create_strategy(core::Json::object());
    REQUIRE(s.ok());
    CHECK_FALSE(s.value()->wants_stream_events());
    CHECK(strategy("stream_upper.lua")->wants_stream_events());
}

TEST_CASE("a strategy rewrites the request: system prompt, JSON pointer fields and model") {
    auto s = strategy("rewrite.lua", {{"suffix", "Be brief."}, {"target", "deepseek-chat"}});
    auto ctx = make_context("route me");
    ctx.request.set_system_text("sys");
    auto r = s->on_request(ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == plugin::HookOutcome::proceed);
    CHECK(ctx.request.system_text() == "[sys] Be brief.");
    CHECK(ctx.request.max_tokens == 77);
    CHECK(ctx.request.temperature == 0.25);
    CHECK(ctx.request.metadata == core::Json{{"user_id", "u-req_1"}});
    CHECK(ctx.request.model == "deepseek-chat");

    auto other = make_context("leave the model");
    REQUIRE(s->on_request(other).ok());
    CHECK(other.request.model == "claude-sonnet");
}

TEST_CASE("JSON values keep arrays, objects, integers and floats apart") {
    auto ctx = make_context("hi");
    auto r = run_hook(read_script(fixture("json_roundtrip.lua")), plugin::LuaHook::on_request, ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == "ok");
    const auto& m = ctx.request.metadata;
    CHECK(m["int"].is_number_integer());
    CHECK(m["float"].is_number_float());
    CHECK(m["whole_float"].is_number_float());
    CHECK(m["list"] == core::Json::array({1, 2, 3}));
    CHECK(m["empty_object"] == core::Json::object());
    CHECK(m["empty_list"] == core::Json::array());
    CHECK(m["nested"]["a"]["b"] == core::Json::array({nullptr, "x"}));
}

TEST_CASE("a strategy answers directly") {
    auto s = strategy("answer.lua");
    auto ctx = make_context("ping?");
    auto r = s->on_request(ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == plugin::HookOutcome::answered);
    REQUIRE(ctx.answer.has_value());
    CHECK(ctx.answer->text() == "pong from claude-sonnet");

    auto other = make_context("hello");
    auto r2 = s->on_request(other);
    REQUIRE(r2.ok());
    CHECK(r2.value() == plugin::HookOutcome::proceed);
    CHECK_FALSE(other.answer.has_value());
}

TEST_CASE("on_stream_event changes text deltas; on_response_end sees the whole answer") {
    auto s = strategy("stream_upper.lua");
    auto ctx = make_context("hi");
    auto delta = core::StreamEvent::text_delta(0, "hello there");
    REQUIRE(s->on_stream_event(ctx, delta).ok());
    CHECK(delta.text == "HELLO THERE");
    core::StreamEvent stop;
    stop.type = core::StreamEvent::Type::content_block_stop;
    REQUIRE(s->on_stream_event(ctx, stop).ok());

    ctx.response.content.push_back(core::ContentBlock::make_text("the full answer"));
    CapturedLog log;
    REQUIRE(s->on_response_end(ctx).ok());
    CHECK(log.lines_with("response was: the full answer").size() == 1);
}

TEST_CASE("a model script produces a well-formed event sequence") {
    auto m = model(fixture("echo_model.lua"));
    auto ctx = make_context("hello model");
    auto g = generate(*m, ctx);
    REQUIRE(g.result.ok());
    CHECK(g.assembler.finished());
    CHECK(g.assembler.response().text() == "you said: hello model");
    CHECK(g.assembler.response().stop_reason == core::StopReason::end_turn);
    REQUIRE(g.events.size() >= 5);
    CHECK(g.events.front().type == core::StreamEvent::Type::message_start);
    CHECK(g.events[1].type == core::StreamEvent::Type::content_block_start);
    CHECK(g.events.back().type == core::StreamEvent::Type::message_stop);
}

TEST_CASE("host functions refuse the wrong hook") {
    auto ctx = make_context("hi");
    plugin::LuaScript s;
    s.path = "inline/emit_in_request.lua";
    s.chunkname = "@" + s.path;
    s.source = "function on_request(req) tianshu.emit('x') end";
    s.content_hash = 7;
    CapturedLog log;
    auto r = run_hook(s, plugin::LuaHook::on_request, ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("tianshu.emit is only allowed in generate") != std::string::npos);

    s.path = "inline/host_call_at_load.lua";
    s.chunkname = "@" + s.path;
    s.source = "local m = tianshu.model()\nfunction on_request(req) end";
    auto f = plugin::LuaVm().inspect(s);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().message.find("not at load") != std::string::npos);
}

namespace {
class FakeCaller : public plugin::ModelCaller {
  public:
    core::Result<std::string> call(plugin::RequestContext& parent, const std::string& model,
                                   const std::string& prompt) override {
        deadline_seen = parent.deadline;
        last_model = model;
        last_prompt = prompt;
        if (fail) return core::Error{core::ErrorKind::upstream, "classifier is down", {}};
        return std::string("qwen-max");
    }
    std::string last_model, last_prompt;
    bool fail = false;
    std::chrono::steady_clock::time_point deadline_seen;
};
}  // namespace

TEST_CASE("call_model goes through the host's ModelCaller") {
    auto s = strategy("ask_model.lua");
    FakeCaller caller;
    auto ctx = make_context("what is 2+2");
    ctx.models = &caller;
    REQUIRE(s->on_request(ctx).ok());
    CHECK(caller.last_model == "classifier");
    CHECK(caller.last_prompt == "classify: what is 2+2");
    CHECK(ctx.request.model == "qwen-max");

    caller.fail = true;
    auto failed = make_context("x");
    failed.models = &caller;
    REQUIRE(s->on_request(failed).ok());
    CHECK(failed.request.model == "claude-sonnet");
    CHECK(failed.request.system_text() == "call_model failed: classifier is down");
}

namespace {
//! Runs a Lua model on the same thread from inside call_model (re-entrant VM use).
class LuaCaller : public plugin::ModelCaller {
  public:
    explicit LuaCaller(std::shared_ptr<plugin::Model> m) : model_(std::move(m)) {}
    core::Result<std::string> call(plugin::RequestContext& parent, const std::string&,
                                   const std::string& prompt) override {
        auto child = make_context(prompt);
        child.request_id = parent.request_id + ".1";
        std::string text;
        child.emit = [&](const core::StreamEvent& e) {
            if (e.type == core::StreamEvent::Type::content_block_delta) text += e.text;
            return true;
        };
        auto r = model_->generate(child);
        if (!r) return r.take_error();
        return text;
    }

  private:
    std::shared_ptr<plugin::Model> model_;
};
}  // namespace

TEST_CASE("call_model's timeout_ms narrows the deadline for that call only") {
    auto s = strategy("ask_model_boxed.lua");
    FakeCaller caller;
    auto ctx = make_context("x");
    ctx.models = &caller;
    const auto before = std::chrono::steady_clock::now();
    REQUIRE(s->on_request(ctx).ok());
    CHECK(ctx.request.model == "qwen-max");
    CHECK(caller.deadline_seen >= before + std::chrono::milliseconds(250));
    CHECK(caller.deadline_seen <=
          std::chrono::steady_clock::now() + std::chrono::milliseconds(250));
    CHECK(ctx.deadline == std::chrono::steady_clock::time_point::max());
}

TEST_CASE("call_model can run another script on the same thread's VM") {
    auto s = strategy("ask_model.lua");
    LuaCaller caller(model(fixture("echo_model.lua")));
    auto ctx = make_context("nested");
    ctx.models = &caller;
    REQUIRE(s->on_request(ctx).ok());
    CHECK(ctx.request.model == "you said: classify: nested");
}

TEST_CASE("stream rewriting from Lua: drop, hold, release, insert, replace (ABI 1.4)") {
    auto f = plugin::load_lua_script(fixture("stream_rewrite.lua"));
    REQUIRE(f.ok());
    CHECK(f.value()->info().advisory);
    auto s = f.value()->create_strategy(core::Json::object());
    REQUIRE(s.ok());
    auto ctx = make_context("hi");
    plugin::StageStream stage;
    ctx.stream_stage = &stage;
    auto run = [&](const char* text) {
        stage = plugin::StageStream{};
        stage.held.push_back(core::StreamEvent::text_delta(0, "hold"));
        auto e = core::StreamEvent::text_delta(0, text);
        auto r = s.value()->on_stream_event(ctx, e);
        return std::pair{r, e};
    };
    auto [dropped, e1] = run("secret");
    REQUIRE(dropped.ok());
    CHECK(stage.fate == plugin::StageStream::Fate::drop);

    auto [held, e2] = run("hold");
    REQUIRE(held.ok());
    CHECK(stage.fate == plugin::StageStream::Fate::hold);

    auto [flushed, e3] = run("flush");
    REQUIRE(flushed.ok());
    REQUIRE(stage.out.size() == 2);
    CHECK(stage.out[0].event.type == core::StreamEvent::Type::ping);
    CHECK(stage.out[1].event.text == "hold");
    CHECK(stage.out[1].released);
    CHECK(stage.held.empty());

    auto [replaced, e4] = run("replace");
    REQUIRE(replaced.ok());
    CHECK(e4.text == "replaced");  // not overwritten by ev.text on the way out

    auto [forgot, e5] = run("forget");
    REQUIRE(forgot.ok());
    CHECK(stage.held.empty());
    CHECK(stage.discarded.size() == 1);

    auto [bad, e6] = run("bad");
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("tianshu.emit_event") &&
                                        Catch::Contains("not an Anthropic streaming event"));
    CHECK(stage.out.empty());

    // Outside a chain's post stage the functions refuse.
    ctx.stream_stage = nullptr;
    auto e = core::StreamEvent::text_delta(0, "secret");
    auto outside = s.value()->on_stream_event(ctx, e);
    REQUIRE_FALSE(outside.ok());
    CHECK_THAT(outside.error().message, Catch::Contains("post stage"));
}
