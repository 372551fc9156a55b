// The ts_host_api table itself, called the way a C plugin calls it.
#include <chrono>
#include <cstdlib>
#include <cstring>

#include <catch2/catch.hpp>

#include "plugin/host_api.hpp"
#include "plugin_test_support.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using namespace tianshu::plugin::testing;

namespace {

class FakeModels : public ModelCaller {
  public:
    core::Result<std::string> call(RequestContext& parent, const std::string& model,
                                   const std::string& prompt) override {
        depth_seen = parent.call_depth;
        deadline_seen = parent.deadline;
        if (model == "broken")
            return core::Error{core::ErrorKind::upstream, "upstream said no", {}};
        return model + " says: " + prompt;
    }
    int depth_seen = -1;
    std::chrono::steady_clock::time_point deadline_seen;
};
}  // namespace

TEST_CASE("the host table announces its version and size", "[host_api]") {
    const ts_host_api* api = host_api();
    CHECK(api->struct_size == sizeof(ts_host_api));
    CHECK(api->abi_major == TS_ABI_MAJOR);
    CHECK(api->abi_minor == TS_ABI_MINOR);
    CHECK(TS_HOST_HAS(api, request_attribute));
}

TEST_CASE("hot-field getters and setters", "[host_api]") {
    const ts_host_api* api = host_api();
    auto ctx = make_context("what is up");
    ts_request* r = to_handle(ctx);
    ts_str model = api->request_model(r);
    CHECK(std::string(model.ptr, model.len) == "claude-sonnet");
    CHECK(api->request_set_model(r, s("")) == TS_ERR_INVALID);
    CHECK(api->request_set_model(r, s("glm-4")) == TS_OK);
    CHECK(ctx.request.model == "glm-4");

    ts_buf out{};
    REQUIRE(api->request_system_text(r, &out) == TS_OK);
    CHECK(take(out) == "be nice");
    REQUIRE(api->request_last_user_text(r, &out) == TS_OK);
    CHECK(take(out) == "what is up");
    CHECK(api->request_set_system_text(r, s("")) == TS_OK);
    CHECK(ctx.request.system.empty());
}

TEST_CASE("attributes (ABI 1.1)", "[host_api]") {
    const ts_host_api* api = host_api();
    auto ctx = make_context("x");
    ts_str out{};
    REQUIRE(api->request_attribute(to_handle(ctx), s("tier"), &out) == TS_OK);
    CHECK(std::string(out.ptr, out.len) == "gold");
    REQUIRE(api->request_attribute(to_handle(ctx), s("client_protocol"), &out) == TS_OK);
    CHECK(std::string(out.ptr, out.len) == "anthropic");
    CHECK(api->request_attribute(to_handle(ctx), s("api_key"), &out) == TS_ERR_NOT_FOUND);
}

TEST_CASE("phase-bound functions refuse outside their hook", "[host_api]") {
    const ts_host_api* api = host_api();
    auto ctx = make_context("x");
    CHECK(api->request_answer_text(to_handle(ctx), s("no")) == TS_ERR_WRONG_PHASE);
    CHECK_FALSE(ctx.answer.has_value());
    CHECK(api->emit_text(to_handle(ctx), s("no")) == TS_ERR_WRONG_PHASE);
    CHECK(api->finish(to_handle(ctx), s("end_turn"), nullptr) == TS_ERR_WRONG_PHASE);
    auto stop_event = core::StreamEvent{};
    stop_event.type = core::StreamEvent::Type::message_stop;
    EventHandle stop{&stop_event, nullptr};
    CHECK(api->event_set_text(to_handle(stop), s("x")) == TS_ERR_WRONG_PHASE);
    CHECK(api->event_type(to_handle(stop)) == TS_EVENT_MESSAGE_STOP);
    CHECK(api->event_text(to_handle(stop)).len == 0);
    // Stream rewriting needs a post stage (the runner gives one); outside it, nothing changes.
    CHECK(api->event_drop(to_handle(stop)) == TS_ERR_WRONG_PHASE);
    CHECK(api->event_hold(to_handle(stop)) == TS_ERR_WRONG_PHASE);
    CHECK(api->stream_emit(to_handle(ctx), s(R"({"type":"ping"})")) == TS_ERR_WRONG_PHASE);
    CHECK(api->held_count(to_handle(ctx)) == 0);

    std::string plugin = "probe";
    HookScope scope(plugin, HookPhase::on_request);
    CHECK(api->request_answer_text(to_handle(ctx), s("yes")) == TS_OK);
    REQUIRE(ctx.answer.has_value());
    CHECK(ctx.answer->text() == "yes");
}

TEST_CASE("finish refuses an unknown stop reason", "[host_api]") {
    auto ctx = make_context("x");
    ctx.emit = [](const core::StreamEvent&) { return true; };
    CHECK(host_api()->finish(to_handle(ctx), s("because"), nullptr) == TS_ERR_INVALID);
    CHECK(host_api()->finish(to_handle(ctx), s("max_tokens"), nullptr) == TS_OK);
    CHECK(ctx.finished);
}

TEST_CASE("response_usage writes no more than the plugin's struct holds", "[host_api]") {
    auto ctx = make_context("x");
    ctx.response.usage.input_tokens = 11;
    ctx.response.usage.output_tokens = 22;
    ctx.response.usage.reasoning_tokens = 5;
    ts_usage full{};
    full.struct_size = sizeof full;
    REQUIRE(host_api()->response_usage(to_handle(ctx), &full) == TS_OK);
    CHECK(full.input_tokens == 11);
    CHECK(full.output_tokens == 22);
    CHECK(full.reasoning_tokens == 5);

    ts_usage small;
    std::memset(&small, 0x5A, sizeof small);
    small.struct_size = offsetof(ts_usage, output_tokens);  // an older plugin's shorter struct
    REQUIRE(host_api()->response_usage(to_handle(ctx), &small) == TS_OK);
    CHECK(small.input_tokens == 11);
    int64_t poison;
    std::memset(&poison, 0x5A, sizeof poison);
    CHECK(small.output_tokens == poison);
}

TEST_CASE("call_model goes through the request's ModelCaller", "[host_api]") {
    const ts_host_api* api = host_api();
    auto ctx = make_context("x");
    ts_buf out{};
    CHECK(api->call_model(to_handle(ctx), s("small"), s("classify"), &out) ==
          TS_ERR_FAILED);  // no models

    FakeModels models;
    ctx.models = &models;
    REQUIRE(api->call_model(to_handle(ctx), s("small"), s("classify"), &out) == TS_OK);
    CHECK(take(out) == "small says: classify");
    CHECK(models.depth_seen == 0);  // the ModelCaller (pipeline runner) owns the nesting bound
    CHECK(ctx.call_depth == 0);

    LogCapture logs;
    CHECK(api->call_model(to_handle(ctx), s("broken"), s("classify"), &out) == TS_ERR_FAILED);
    CHECK(out.ptr == nullptr);
    REQUIRE(logs.lines().size() == 1);
    CHECK(core::Json::parse(logs.lines()[0])["error"] == "upstream said no");
}

TEST_CASE("call_model_within narrows the request's deadline for that call only", "[host_api]") {
    const ts_host_api* api = host_api();
    REQUIRE(TS_HOST_HAS(api, call_model_within));
    auto ctx = make_context("x");
    FakeModels models;
    ctx.models = &models;
    ts_buf out{};
    const auto before = std::chrono::steady_clock::now();
    REQUIRE(api->call_model_within(to_handle(ctx), s("small"), s("q"), 250, &out) == TS_OK);
    CHECK(take(out) == "small says: q");
    CHECK(models.deadline_seen >= before + std::chrono::milliseconds(250));
    CHECK(models.deadline_seen <=
          std::chrono::steady_clock::now() + std::chrono::milliseconds(250));
    CHECK(ctx.deadline == std::chrono::steady_clock::time_point::max());  // restored

    // Never past the request's own deadline.
    const auto soon = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
    ctx.deadline = soon;
    REQUIRE(api->call_model_within(to_handle(ctx), s("small"), s("q"), 60000, &out) == TS_OK);
    (void)take(out);
    CHECK(models.deadline_seen == soon);
    CHECK(ctx.deadline == soon);
}

TEST_CASE("log lines carry the plugin and the request", "[host_api]") {
    auto ctx = make_context("x");
    LogCapture logs;
    std::string plugin = "probe";
    {
        HookScope scope(plugin, HookPhase::on_request);
        host_api()->log(to_handle(ctx), TS_LOG_WARN, s("careful"));
        host_api()->log(nullptr, 99, s("clamped"));
    }
    auto lines = logs.lines();
    REQUIRE(lines.size() == 2);
    auto first = core::Json::parse(lines[0]);
    CHECK(first["plugin"] == "probe");
    CHECK(first["request_id"] == "req-1");
    CHECK(first["level"] == "warn");
    auto second = core::Json::parse(lines[1]);
    CHECK(second["level"] == "error");
    CHECK_FALSE(second.contains("request_id"));
}

// JSON-pointer access depends on core/request_json (the Anthropic shape of the request).
TEST_CASE("request_get_json and request_set_json by JSON pointer", "[host_api][json]") {
    const ts_host_api* api = host_api();
    auto ctx = make_context("hello there");
    ts_request* r = to_handle(ctx);
    ts_buf out{};
    REQUIRE(api->request_get_json(r, s("/max_tokens"), &out) == TS_OK);
    CHECK(take(out) == "256");
    REQUIRE(api->request_get_json(r, s("/messages/0/content/0/text"), &out) == TS_OK);
    CHECK(take(out) == "\"hello there\"");
    CHECK(api->request_get_json(r, s("/no_such_field"), &out) == TS_ERR_NOT_FOUND);
    CHECK(api->request_get_json(r, s("bad pointer"), &out) == TS_ERR_INVALID);

    CHECK(api->request_set_json(r, s("/max_tokens"), s("1024")) == TS_OK);
    CHECK(ctx.request.max_tokens == 1024);
    CHECK(api->request_set_json(r, s("/max_tokens"), s("{not json")) == TS_ERR_INVALID);
    CHECK(ctx.request.max_tokens == 1024);
}

TEST_CASE("a plugin edits the request by JSON pointer through plugin.hpp", "[so][json]") {
    auto rewrite = strategy(
        test_plugin("rewrite_request"),
        core::Json{{"model", "kimi"}, {"set", {{"/max_tokens", 77}, {"/temperature", 0.5}}}});
    auto ctx = make_context("x");
    auto r = rewrite->on_request(ctx);
    INFO((r ? std::string() : r.error().message));
    REQUIRE(r.ok());
    CHECK(ctx.request.max_tokens == 77);
    CHECK(ctx.request.temperature == 0.5);
}

TEST_CASE("stream rewriting (ABI 1.4) acts on the stage's part of the stream", "[host_api]") {
    const ts_host_api* api = host_api();
    REQUIRE(TS_HOST_HAS(api, stream_emit));
    auto ctx = make_context("x");
    StageStream stage;
    ctx.stream_stage = &stage;
    core::StreamEvent delta = core::StreamEvent::text_delta(0, "hi");
    EventHandle h{&delta, &stage};
    ts_event* e = to_handle(h);

    ts_buf out{};
    REQUIRE(api->event_json(e, &out) == TS_OK);
    CHECK(take(out) ==
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"hi"}})");
    CHECK(api->event_set_json(e, s(R"({"type":"nonsense"})")) == TS_ERR_INVALID);
    CHECK(api->event_set_json(e, s("not json")) == TS_ERR_INVALID);
    CHECK(delta.text == "hi");
    REQUIRE(api->event_set_json(e, s(R"({"type":"content_block_delta","index":0,)"
                                     R"("delta":{"type":"text_delta","text":"yo"}})")) == TS_OK);
    CHECK(delta.text == "yo");
    CHECK(stage.replaced);

    REQUIRE(api->event_hold(e) == TS_OK);
    CHECK(stage.fate == StageStream::Fate::hold);
    REQUIRE(api->event_drop(e) == TS_OK);
    CHECK(stage.fate == StageStream::Fate::drop);

    stage.held.push_back(core::StreamEvent::text_delta(0, "a"));
    stage.held.push_back(core::StreamEvent::text_delta(0, "b"));
    ts_request* r = to_handle(ctx);
    CHECK(api->held_count(r) == 2);
    REQUIRE(api->held_event_json(r, 1, &out) == TS_OK);
    CHECK(take(out).find(R"("text":"b")") != std::string::npos);
    CHECK(api->held_event_json(r, 2, &out) == TS_ERR_NOT_FOUND);
    REQUIRE(api->stream_emit(r, s(R"({"type":"ping"})")) == TS_OK);
    REQUIRE(api->held_release(r) == TS_OK);
    CHECK(api->held_count(r) == 0);
    REQUIRE(stage.out.size() == 3);
    CHECK(stage.out[0].event.type == core::StreamEvent::Type::ping);
    CHECK_FALSE(stage.out[0].released);
    CHECK(stage.out[1].event.text == "a");
    CHECK(stage.out[2].released);
    CHECK(api->stream_emit(r, s("[]")) == TS_ERR_INVALID);
    CHECK(stage.out.size() == 3);

    // The cap: a stage never holds more than kMaxHeldEvents.
    stage.held.assign(kMaxHeldEvents, core::StreamEvent::text_delta(0, "z"));
    stage.fate = StageStream::Fate::pass;
    CHECK(api->event_hold(e) == TS_ERR_LIMIT);
    CHECK(stage.fate == StageStream::Fate::pass);
    REQUIRE(api->held_discard(r) == TS_OK);
    CHECK(stage.discarded.size() == kMaxHeldEvents);
    CHECK(api->held_count(r) == 0);
}
