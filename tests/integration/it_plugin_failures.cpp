// A .so plugin that throws (thrower) or returns a failure status (fails_status) inside its
// pre-request hook, in chains imported with the CLI: the client gets a 500 in its own
// protocol's shape, the operator gets a log line naming the plugin, and the server keeps
// serving — the next request and a concurrent burst of 50 are answered correctly.
#include <atomic>
#include <thread>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

const char* kThrowingChain = R"({
  "id": "throwing", "tiers": ["*"], "models": ["boom-*"], "routing": {"mode": "passthrough"},
  "pre": [{"plugin": "thrower"}]
})";
const char* kFailingChain = R"({
  "id": "failing", "tiers": ["*"], "models": ["fail-*"], "routing": {"mode": "passthrough"},
  "pre": [{"plugin": "fails_status"}]
})";

std::string error_message(const Json& body) {
    return body["error"].value("message", "");
}

//! Serve options over `tmp` with the demo model and `plugins`, and `chains` (file name, JSON)
//! imported with the CLI.
ServeOptions serve_with_chains(const TempDir& tmp, const std::vector<std::string>& plugins,
                               const std::vector<std::pair<std::string, std::string>>& chains) {
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", plugins);
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    const std::vector<std::string> where{"--data",        o.data_dir.string(),
                                         "--plugins-dir", o.plugins_dir.string(),
                                         "--scripts-dir", o.scripts_dir.string()};
    for (const auto& [name, text] : chains) {
        write_file(tmp / name, text);
        std::vector<std::string> args{"chain", "import", (tmp / name).string()};
        args.insert(args.end(), where.begin(), where.end());
        auto r = run_cli(args);
        INFO(name << ": " << r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    return o;
}

}  // namespace

TEST_CASE(".so plugin failures become a 500 in the client's shape and the server keeps serving",
          "[integration][plugins]") {
    TempDir tmp("plugin-failures");
    ServeOptions o =
        serve_with_chains(tmp, {"thrower", "fails_status"},
                          {{"throwing.json", kThrowingChain}, {"failing.json", kFailingChain}});

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();

    auto last_request_log = [&](size_t before) -> Json {
        Json found;
        eventually(
            [&] {
                auto lines = request_logs(gw);
                if (lines.size() <= before) return false;
                found = lines.back();
                return true;
            },
            3s);
        return found;
    };

    // thrower: std::runtime_error ("boom") and a non-std exception ("int"), both protocols.
    for (const std::string text : {"boom please", "an int please"}) {
        INFO("text: " << text);
        size_t before = request_logs(gw).size();
        auto a =
            post_json(port, "/v1/messages", anthropic_auth(key), anthropic_body("boom-1", text));
        INFO(a.body);
        CHECK(a.status == 500);
        REQUIRE(is_anthropic_error(a.json()));
        CHECK(a.json()["error"].value("type", "") == "api_error");
        CHECK_THAT(error_message(a.json()), Contains("thrower"));
        Json line = last_request_log(before);
        INFO(line.dump());
        CHECK(line.value("status", 0) == 500);
        CHECK(line.value("source", "") == "thrower");
        CHECK(line.value("error_kind", "") == "plugin_failure");

        auto c =
            post_json(port, "/v1/chat/completions", openai_auth(key), openai_body("boom-1", text));
        INFO(c.body);
        CHECK(c.status == 500);
        REQUIRE(is_openai_error(c.json()));
        CHECK_THAT(error_message(c.json()), Contains("thrower"));

        // Streamed requests fail before the first byte: still a plain 500 in the right shape.
        auto s = post_json(port, "/v1/messages", anthropic_auth(key),
                           anthropic_body("boom-1", text, true));
        CHECK(s.status == 500);
        CHECK(is_anthropic_error(s.json()));
        auto so = post_json(port, "/v1/chat/completions", openai_auth(key),
                            openai_body("boom-1", text, true));
        CHECK(so.status == 500);
        CHECK(is_openai_error(so.json()));

        // The very next request through the same chain is served.
        auto ok =
            post_json(port, "/v1/messages", anthropic_auth(key), anthropic_body("boom-1", "hello"));
        CHECK(ok.status == 200);
        CHECK_THAT(anthropic_text(ok.json()), Contains("demo model"));
    }

    // fails_status: TS_HOOK_FAIL with a message.
    {
        size_t before = request_logs(gw).size();
        auto a =
            post_json(port, "/v1/messages", anthropic_auth(key), anthropic_body("fail-1", "hello"));
        INFO(a.body);
        CHECK(a.status == 500);
        REQUIRE(is_anthropic_error(a.json()));
        CHECK_THAT(
            error_message(a.json()),
            Contains("fails_status") && Contains("quota service unreachable for model fail-1"));
        Json line = last_request_log(before);
        INFO(line.dump());
        CHECK(line.value("source", "") == "fails_status");
        CHECK_THAT(line.value("error", ""), Contains("fails_status"));

        auto c = post_json(port, "/v1/chat/completions", openai_auth(key),
                           openai_body("fail-1", "hello"));
        INFO(c.body);
        CHECK(c.status == 500);
        REQUIRE(is_openai_error(c.json()));
        CHECK_THAT(error_message(c.json()), Contains("fails_status"));
    }

    // A concurrent burst of 50 mixing failures and good requests: each gets the right answer.
    std::atomic<int> wrong{0}, served{0}, failed{0};
    std::vector<std::thread> threads;
    std::atomic<int> next{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = next++; i < 50; i = next++) {
                try {
                    const bool anthropic = i % 2 == 0;
                    const int kind = i % 3;  // 0: good, 1: thrower, 2: fails_status
                    std::string model = kind == 2 ? "fail-x" : "boom-x";
                    std::string text = kind == 1 ? "boom" : "hello there";
                    auto r = anthropic ? post_json(port, "/v1/messages", anthropic_auth(key),
                                                   anthropic_body(model, text))
                                       : post_json(port, "/v1/chat/completions", openai_auth(key),
                                                   openai_body(model, text));
                    const bool shape =
                        anthropic ? (kind == 0 ? r.json().value("type", "") == "message"
                                               : is_anthropic_error(r.json()))
                                  : (kind == 0 ? r.json().value("object", "") == "chat.completion"
                                               : is_openai_error(r.json()));
                    if (r.status != (kind == 0 ? 200 : 500) || !shape) ++wrong;
                    (kind == 0 ? served : failed)++;
                } catch (const std::exception&) {
                    ++wrong;
                }
            }
        });
    for (auto& t : threads) t.join();
    CHECK(wrong == 0);
    CHECK(served + failed == 50);

    CHECK(http_request(port, "GET", "/healthz").status == 200);
    auto after =
        post_json(port, "/v1/chat/completions", openai_auth(key), openai_body("boom-1", "hello"));
    CHECK(after.status == 200);
    CHECK(gw.terminate() == 0);
}

namespace {
// A chain with one stage; `stage` is the stage's JSON object.
std::string one_stage_chain(const std::string& id, const std::string& list,
                            const std::string& stage) {
    return R"({"id": ")" + id + R"(", "tiers": ["*"], "models": [")" + id +
           R"(-*"], "routing": {"mode": "passthrough"}, ")" + list + R"(": [)" + stage + "]}";
}
}  // namespace

TEST_CASE(
    "a stage's on_error and deadline_ms: continue leaves the request as if the stage were "
    "not there, fail is a clean error; both logged and counted",
    "[integration][plugins]") {
    TempDir tmp("stage-policy");
    const std::string hold_then_throw =
        R"({"plugin": "stream_chaos", "config": {"mode": "hold_then_throw"})";
    const std::string mutate_then_throw =
        R"({"plugin": "stream_chaos", "config": {"pre": "mutate_then_throw"})";
    const std::string sleeper =
        R"({"plugin": "stream_chaos", "deadline_ms": 50, "config": {"pre": "sleep", "sleep_ms": 400})";
    const std::vector<std::pair<std::string, std::string>> chains{
        // stream_chaos is advisory: its failures continue unless the stage says "fail".
        {"postcont", one_stage_chain("postcont", "post", hold_then_throw + "}")},
        {"postfail",
         one_stage_chain("postfail", "post", hold_then_throw + R"(, "on_error": "fail"})")},
        // thrower is not advisory: it fails unless the stage says "continue".
        {"precont",
         one_stage_chain("precont", "pre", R"({"plugin": "thrower", "on_error": "continue"})")},
        {"preundo", one_stage_chain("preundo", "pre", mutate_then_throw + "}")},
        {"preundofail",
         one_stage_chain("preundofail", "pre", mutate_then_throw + R"(, "on_error": "fail"})")},
        {"latecont", one_stage_chain("latecont", "pre", sleeper + "}")},
        {"latefail", one_stage_chain("latefail", "pre", sleeper + R"(, "on_error": "fail"})")}};
    std::vector<std::pair<std::string, std::string>> files;
    for (const auto& [id, text] : chains) files.emplace_back(id + ".json", text);
    ServeOptions o = serve_with_chains(tmp, {"thrower", "stream_chaos"}, files);

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();
    const std::string question = "boom goes the question";  // thrower throws on "boom"

    // The answer without any stage, to compare with.
    auto plain =
        post_json(port, "/v1/messages", anthropic_auth(key), anthropic_body("demo", question));
    REQUIRE(plain.status == 200);
    const std::string expected = anthropic_text(plain.json());
    REQUIRE_THAT(expected, Contains(question));
    // The tianshu_stage_failures_total series the section's requests must have counted.
    std::vector<std::string> counted;
    auto series = [](const std::string& chain, const std::string& stage,
                     const std::string& outcome) {
        return "tianshu_stage_failures_total{chain=\"" + chain + "\",stage=\"" + stage +
               "\",outcome=\"" + outcome + "\"}";
    };

    SECTION("post stage, continue: what it held is released and the answer is whole") {
        int status = 0;
        auto events = stream_all(port, "/v1/messages", anthropic_auth(key),
                                 anthropic_body("postcont-1", question, true), &status);
        CHECK(status == 200);
        CHECK(anthropic_stream_text(events) == expected);
        REQUIRE_FALSE(events.empty());
        CHECK(events.back().event == "message_stop");
        auto whole = post_json(port, "/v1/chat/completions", openai_auth(key),
                               openai_body("postcont-1", question));
        CHECK(whole.status == 200);
        CHECK(openai_text(whole.json()) == expected);
        counted.push_back(series("postcont", "stream_chaos", "continued") + " 2");
    }
    SECTION("post stage, fail: an error event in the client's stream, or a 500") {
        int status = 0;
        auto events = stream_all(port, "/v1/messages", anthropic_auth(key),
                                 anthropic_body("postfail-1", question, true), &status);
        CHECK(status == 200);
        REQUIRE_FALSE(events.empty());
        CHECK(events.back().event == "error");
        CHECK_THAT(events.back().data, Contains("stream_chaos"));
        auto whole = post_json(port, "/v1/chat/completions", openai_auth(key),
                               openai_body("postfail-1", question));
        CHECK(whole.status == 500);
        REQUIRE(is_openai_error(whole.json()));
        CHECK_THAT(error_message(whole.json()), Contains("stream_chaos"));
        counted.push_back(series("postfail", "stream_chaos", "failed") + " 2");
    }
    SECTION("pre stage, continue: a throwing stage is skipped") {
        auto a = post_json(port, "/v1/messages", anthropic_auth(key),
                           anthropic_body("precont-1", question));
        CHECK(a.status == 200);
        CHECK(anthropic_text(a.json()) == expected);
        counted.push_back(series("precont", "thrower", "continued") + " 1");
    }
    // The chain `cont` answers as if its stage were not there; `fail` answers `status` naming
    // `needle`; each counted once.
    auto continue_and_fail = [&](const std::string& cont, const std::string& fail, int status,
                                 const std::string& needle) {
        auto a = post_json(port, "/v1/messages", anthropic_auth(key),
                           anthropic_body(cont + "-1", question));
        INFO(a.body);
        CHECK(a.status == 200);
        CHECK(anthropic_text(a.json()) == expected);
        auto f = post_json(port, "/v1/messages", anthropic_auth(key),
                           anthropic_body(fail + "-1", question));
        CHECK(f.status == status);
        REQUIRE(is_anthropic_error(f.json()));
        CHECK_THAT(error_message(f.json()), Contains(needle));
        counted.push_back(series(cont, "stream_chaos", "continued") + " 1");
        counted.push_back(series(fail, "stream_chaos", "failed") + " 1");
    };
    SECTION("pre stage, continue: what the stage changed before failing is undone") {
        continue_and_fail("preundo", "preundofail", 500, "stream_chaos");
    }
    SECTION("a stage that overruns deadline_ms has failed") {
        continue_and_fail("latecont", "latefail", 504, "deadline of 50 ms");
    }

    // Every failure is counted by chain, stage and outcome.
    auto metrics = http_request(port, "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    REQUIRE_FALSE(counted.empty());
    for (const auto& line : counted) CHECK_THAT(metrics.body, Contains(line + "\n"));
    CHECK(gw.terminate() == 0);
}
