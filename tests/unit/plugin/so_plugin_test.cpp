// Loading .so plugins through the C ABI: refusals, old minors, failures, every hook kind.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "core/log.hpp"
#include "plugin/so_plugin.hpp"
#include "plugin_test_support.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using namespace tianshu::plugin::testing;
using Catch::Matchers::Contains;

namespace {
std::string load_error(const std::string& path) {
    auto factory = SoPluginFactory::load(path);
    REQUIRE_FALSE(factory.ok());
    CHECK(factory.error().kind == core::ErrorKind::plugin_failure);
    return factory.error().message;
}
}  // namespace

TEST_CASE("a plugin built for another ABI major is refused, naming both versions", "[so]") {
    auto path = test_plugin("abi_major2");
    auto message = load_error(path);
    CHECK_THAT(message, Contains("plugin 'abi_major2'"));
    CHECK_THAT(message, Contains(path));
    CHECK_THAT(message,
               Contains("was built for plugin ABI 2.0 but this host speaks ABI " +
                        std::to_string(TS_ABI_MAJOR) + "." + std::to_string(TS_ABI_MINOR)));
    CHECK_THAT(message, Contains("rebuild it against a 1.x SDK"));
}

TEST_CASE("a model without generate is refused, naming the hook", "[so]") {
    auto path = test_plugin("missing_generate");
    auto message = load_error(path);
    CHECK_THAT(message, Contains("plugin 'missing_generate' (" + path + ")"));
    CHECK_THAT(message,
               Contains("does not provide the required hook 'generate' (required for kind model)"));
}

TEST_CASE("a shared object without the entry point is not a plugin", "[so]") {
    auto path = test_plugin("not_a_plugin");
    auto message = load_error(path);
    CHECK_THAT(
        message,
        Contains(
            "not_a_plugin.so is not a Tianshu plugin: it does not export tianshu_plugin_entry"));
    CHECK_THAT(message, Contains(path));
}

TEST_CASE("a missing file is reported with its path", "[so]") {
    auto message = load_error("/nonexistent/dir/ghost.so");
    CHECK_THAT(message, Contains("cannot load plugin library /nonexistent/dir/ghost.so"));
}

TEST_CASE("a plugin built against ABI 1.0 loads and its 1.1 fields read as zero", "[so]") {
    auto factory = load(test_plugin("old_minor"));
    CHECK(factory->info().name == "old_minor");
    CHECK(factory->info().version == "0.9.0");
    CHECK(factory->info().abi_version == "1.0");
    CHECK(
        factory->info().description.empty());  // the poisoned bytes past struct_size are never read
    CHECK(factory->descriptor().description == nullptr);
    auto made = factory->create_strategy(core::Json::object());
    REQUIRE(made.ok());
    auto ctx = make_context("hello");
    auto r = made.value()->on_request(ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == HookOutcome::proceed);
    CHECK_FALSE(made.value()->wants_stream_events());
}

TEST_CASE("info() describes a plugin built with plugin.hpp", "[so]") {
    auto factory = load(test_plugin("upper_stream"));
    const auto& info = factory->info();
    CHECK(info.name == "upper_stream");
    CHECK(info.version == "1.0.0");
    CHECK(info.kind == PluginKind::strategy);
    CHECK(info.abi_version == std::to_string(TS_ABI_MAJOR) + "." + std::to_string(TS_ABI_MINOR));
    CHECK(info.description == "Uppercases streamed text (test).");
    CHECK(info.path == test_plugin("upper_stream"));
    // plugin.hpp fills only the hooks the class defines
    CHECK(factory->descriptor().on_request == nullptr);
    CHECK(factory->descriptor().on_stream_event != nullptr);
    CHECK(factory->descriptor().on_response_end != nullptr);
    CHECK(factory->descriptor().generate == nullptr);
}

TEST_CASE("an exception in a hook becomes a plugin_failure and the instance keeps working",
          "[so]") {
    auto thrower = strategy(test_plugin("thrower"));

    auto boom = make_context("please boom now");
    auto r = thrower->on_request(boom);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == core::ErrorKind::plugin_failure);
    CHECK(r.error().message == "plugin 'thrower' failed in on_request: boom: the plugin blew up");
    CHECK(r.error().source == "thrower");

    auto fine = make_context("all good");
    auto ok = thrower->on_request(fine);
    REQUIRE(ok.ok());
    CHECK(ok.value() == HookOutcome::proceed);

    auto odd = make_context("throw an int");
    auto r2 = thrower->on_request(odd);
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.error().message == "plugin 'thrower' failed in on_request: unknown exception");

    auto long_message = make_context("a long one");
    auto r3 = thrower->on_request(long_message);
    REQUIRE_FALSE(r3.ok());
    CHECK_THAT(r3.error().message, Contains(std::string(511, 'x')));
    CHECK_THAT(r3.error().message, !Contains(std::string(512, 'x')));

    auto again = make_context("all good again");
    CHECK(thrower->on_request(again).ok());
}

TEST_CASE("a C plugin returning TS_HOOK_FAIL is reported with its message, every time", "[so]") {
    auto fails = strategy(test_plugin("fails_status"));
    for (int i = 0; i < 3; ++i) {
        auto ctx = make_context("hi");
        auto r = fails->on_request(ctx);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == core::ErrorKind::plugin_failure);
        CHECK(r.error().message ==
              "plugin 'fails_status' failed in on_request: quota service unreachable for model "
              "claude-sonnet");
        CHECK(r.error().source == "fails_status");
    }
}

TEST_CASE("a constructor exception refuses the config with its message", "[so]") {
    auto made = load(test_plugin("thrower"))->create_strategy(core::Json{{"refuse", true}});
    REQUIRE_FALSE(made.ok());
    CHECK(made.error().kind == core::ErrorKind::plugin_failure);
    CHECK(made.error().message ==
          "plugin 'thrower' refused its config: thrower: this config is refused on purpose");
}

TEST_CASE("a strategy cannot be made a model and vice versa", "[so]") {
    auto as_model = load(test_plugin("thrower"))->create_model(core::Json::object());
    REQUIRE_FALSE(as_model.ok());
    CHECK_THAT(as_model.error().message, Contains("is a strategy, not a model"));
    auto as_strategy = load(test_plugin("echo_model"))->create_strategy(core::Json::object());
    REQUIRE_FALSE(as_strategy.ok());
    CHECK_THAT(as_strategy.error().message, Contains("is a model, not a strategy"));
}

TEST_CASE("on_request rewrites the request and chooses the model", "[so]") {
    auto rewrite = strategy(test_plugin("rewrite_request"), core::Json{{"model", "deepseek-chat"}});
    CHECK(rewrite->name() == "rewrite_request");
    CHECK_FALSE(rewrite->wants_stream_events());
    auto ctx = make_context("hello");
    auto r = rewrite->on_request(ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == HookOutcome::proceed);
    CHECK(ctx.request.model == "deepseek-chat");
    CHECK(ctx.request.system_text() == "[gold] be nice");
    CHECK(ctx.requested_model == "claude-sonnet");
}

TEST_CASE("on_stream_event rewrites text deltas; on_response_end sees the response", "[so]") {
    auto upper = strategy(test_plugin("upper_stream"));
    REQUIRE(upper->wants_stream_events());
    auto ctx = make_context("hello");

    auto delta = core::StreamEvent::text_delta(0, "hello, world");
    REQUIRE(upper->on_stream_event(ctx, delta).ok());
    CHECK(delta.text == "HELLO, WORLD");

    core::StreamEvent stop;
    stop.type = core::StreamEvent::Type::message_stop;
    REQUIRE(upper->on_stream_event(ctx, stop).ok());
    CHECK(stop.type == core::StreamEvent::Type::message_stop);

    ctx.response.content.push_back(core::ContentBlock::make_text("HELLO, WORLD"));
    ctx.response.usage.output_tokens = 4;
    LogCapture logs;
    REQUIRE(upper->on_response_end(ctx).ok());
    auto lines = logs.lines();
    REQUIRE(lines.size() == 1);
    auto line = core::Json::parse(lines[0]);
    CHECK(line["msg"] == "response_end text=HELLO, WORLD output_tokens=4");
    CHECK(line["plugin"] == "upper_stream");
    CHECK(line["request_id"] == "req-1");
    CHECK(line["level"] == "info");
}

TEST_CASE("a .so model emits a well-formed event sequence", "[so]") {
    auto echo = model(test_plugin("echo_model"));
    CHECK(echo->name() == "echo_model");
    auto ctx = make_context("abcdefghi");
    core::ResponseAssembler assembler;
    std::vector<core::StreamEvent> events;
    ctx.emit = [&](const core::StreamEvent& e) {
        events.push_back(e);
        REQUIRE(assembler.add(e).ok());
        return true;
    };
    REQUIRE(echo->generate(ctx).ok());
    CHECK(assembler.finished());
    CHECK(ctx.finished);
    const auto& response = assembler.response();
    CHECK(response.text() == "abcdefghi");
    CHECK(response.stop_reason == core::StopReason::end_turn);
    CHECK(response.usage.output_tokens == 3);
    CHECK(response.id == "msg_req-1");
    using T = core::StreamEvent::Type;
    std::vector<T> types;
    for (const auto& e : events) types.push_back(e.type);
    CHECK(types == std::vector<T>{T::message_start, T::content_block_start, T::content_block_delta,
                                  T::content_block_delta, T::content_block_delta,
                                  T::content_block_stop, T::message_delta, T::message_stop});
}

TEST_CASE("a .so model stops when the client has gone, and the host still ends the message",
          "[so]") {
    auto echo = model(test_plugin("echo_model"));
    auto ctx = make_context("abcdefghi");
    int deltas = 0;
    ctx.emit = [&](const core::StreamEvent& e) {
        if (e.type == core::StreamEvent::Type::content_block_delta) ++deltas;
        return deltas == 0;  // gone after the first delta
    };
    REQUIRE(echo->generate(ctx).ok());
    CHECK(deltas == 1);
    CHECK(ctx.finished);
}

TEST_CASE("8 threads x 1000 calls into one instance", "[so][concurrency]") {
    auto rewrite = strategy(test_plugin("rewrite_request"), core::Json{{"model", "qwen-max"}});
    auto serial = strategy(test_plugin("single_threaded"));
    auto upper = strategy(test_plugin("upper_stream"));
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 1000; ++i) {
                auto ctx = make_context("thread " + std::to_string(t));
                if (!rewrite->on_request(ctx).ok() || ctx.request.model != "qwen-max" ||
                    ctx.request.system_text() != "[gold] be nice")
                    ++failures;
                if (!serial->on_request(ctx).ok()) ++failures;
                auto delta = core::StreamEvent::text_delta(0, "t" + std::to_string(t));
                if (!upper->on_stream_event(ctx, delta).ok() ||
                    delta.text != "T" + std::to_string(t))
                    ++failures;
            }
        });
    }
    for (auto& th : threads) th.join();
    CHECK(failures.load() == 0);
    auto ctx = make_context("last");
    REQUIRE(serial->on_request(ctx).ok());
    CHECK(ctx.request.system_text() == "call 8001");
}

TEST_CASE("the library stays loaded while an instance lives", "[so]") {
    std::shared_ptr<Strategy> upper;
    {
        auto factory = load(test_plugin("upper_stream"));
        upper = factory->create_strategy(core::Json::object()).value();
    }
    auto ctx = make_context("x");
    auto delta = core::StreamEvent::text_delta(0, "still here");
    REQUIRE(upper->on_stream_event(ctx, delta).ok());
    CHECK(delta.text == "STILL HERE");
}
