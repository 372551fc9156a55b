// Graceful shutdown: SIGTERM while a slow stream is in flight. The stream still completes
// (message_stop), new connections are refused or answered 503 meanwhile, and the process
// exits 0 without cutting anyone off.
#include <catch2/catch.hpp>

#include <atomic>
#include <csignal>
#include <thread>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;
using Clock = std::chrono::steady_clock;

namespace {
//! True when a fresh connection is refused, reset, or answered 503.
bool new_connection_turned_away(int port, const std::string& key) {
    try {
        auto r = http_request(port, "POST", "/v1/messages", anthropic_auth(key),
                              anthropic_body("claude-x", "late"), 2s);
        return r.status == 503;
    } catch (const std::exception&) {
        return true;
    }
}
}  // namespace

TEST_CASE("SIGTERM drains an in-flight stream, turns new connections away, exits 0",
          "[integration][shutdown]") {
    TempDir tmp("shutdown");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    // ~65 words at 60 ms each: a stream of about 4 s.
    auto added =
        run_cli({"channel", "add", "--name", "slow", "--type", "demo", "--models", "slow-model",
                 "--config", R"({"delay_ms": 60})", "--data", o.data_dir.string(), "--plugins-dir",
                 o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    o.extra_args = {"--drain-seconds", "30"};

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();

    SseStream stream(port, "/v1/messages", anthropic_auth(key),
                     anthropic_body("slow-model", "take your time", true));
    REQUIRE(stream.status() == 200);
    std::vector<SseEvent> events;
    // First bytes: wait for the first text delta so the model is really mid-stream.
    while (auto e = stream.next()) {
        events.push_back(*e);
        if (e->event == "content_block_delta") break;
    }
    REQUIRE_FALSE(events.empty());
    REQUIRE(events.back().event == "content_block_delta");

    const auto sigterm_at = Clock::now();
    gw.send_signal(SIGTERM);

    // Read the stream event by event; between events, probe with a new connection until one is
    // turned away. The probe must succeed before the stream has finished.
    bool turned_away = false;
    bool stopped = false;
    while (auto e = stream.next()) {
        events.push_back(*e);
        if (e->event == "message_stop") {
            stopped = true;
            break;
        }
        if (!turned_away) turned_away = new_connection_turned_away(port, key);
    }
    const auto finished_at = Clock::now();
    INFO("stream events: " << events.size());
    CHECK(turned_away);
    REQUIRE(stopped);
    CHECK(events.back().event == "message_stop");
    std::string text = anthropic_stream_text(events);
    CHECK_THAT(text, Contains("take your time") && Contains("instead of"));
    CHECK(finished_at - sigterm_at > 1s);  // the stream really went on after SIGTERM

    CHECK(gw.wait_exit(20s) == 0);
    auto lines = gw.log_lines();
    CHECK(count_logs(lines, [](const Json& l) {
              return l.value("msg", "").rfind("shutting down", 0) == 0;
          }) == 1);
    auto stopped_line =
        gw.wait_for_log([](const Json& l) { return l.value("msg", "") == "stopped"; }, 1s);
    REQUIRE(stopped_line);
    CHECK(stopped_line->value("requests_cut_off", -1) == 0);
    // The drained stream was logged as a normal, complete request.
    CHECK(count_logs(lines, [](const Json& l) {
              return l.value("msg", "") == "request" &&
                     l.value("requested_model", "") == "slow-model" && l.value("status", 0) == 200;
          }) == 1);
}

// After a burst of concurrent connections the server has many idle connection threads; with
// nothing in flight, SIGTERM should still exit promptly (not wait for idle threads to time out).
TEST_CASE("SIGTERM with nothing in flight exits promptly after a concurrent burst",
          "[integration][shutdown]") {
    TempDir tmp("shutdown-idle");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    auto added =
        run_cli({"channel", "add", "--name", "paced", "--type", "demo", "--models", "paced-model",
                 "--config", R"({"delay_ms": 5})", "--data", o.data_dir.string(), "--plugins-dir",
                 o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
    REQUIRE(added.exit_code == 0);
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();

    // 16 streams at once (each ~0.3 s), then a burst of 50 connections at once.
    std::vector<std::thread> threads;
    std::atomic<int> complete{0};
    for (int i = 0; i < 16; ++i)
        threads.emplace_back([&] {
            try {
                auto events = stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                         anthropic_body("paced-model", "hello", true));
                if (!events.empty() && events.back().event == "message_stop") ++complete;
            } catch (const std::exception&) {
            }
        });
    for (auto& t : threads) t.join();
    REQUIRE(complete == 16);
    // Then 50 clients at once, one short request each.
    threads.clear();
    std::atomic<int> answered{0};
    for (int t = 0; t < 50; ++t)
        threads.emplace_back([&] {
            try {
                if (post_json(gw.port(), "/v1/messages", anthropic_auth(key),
                              anthropic_body("claude-x", "hello"))
                        .status == 200)
                    ++answered;
            } catch (const std::exception&) {
            }
        });
    for (auto& t : threads) t.join();
    CHECK(answered == 50);
    REQUIRE(eventually([&] { return request_logs(gw).size() == 66; }, 3s));

    const auto at = Clock::now();
    gw.send_signal(SIGTERM);
    const int code = gw.wait_exit(20s);
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - at);
    INFO("exit took " << took.count() << " ms");
    CHECK(code == 0);
    CHECK(took < 3s);
}
