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

}  // namespace

TEST_CASE(".so plugin failures become a 500 in the client's shape and the server keeps serving",
          "[integration][plugins]") {
    TempDir tmp("plugin-failures");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {"thrower", "fails_status"});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    const std::vector<std::string> where{"--data",        o.data_dir.string(),
                                         "--plugins-dir", o.plugins_dir.string(),
                                         "--scripts-dir", o.scripts_dir.string()};
    for (const auto& [name, text] :
         {std::pair{"throwing.json", kThrowingChain}, std::pair{"failing.json", kFailingChain}}) {
        write_file(tmp / name, text);
        std::vector<std::string> args{"chain", "import", (tmp / name).string()};
        args.insert(args.end(), where.begin(), where.end());
        auto r = run_cli(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }

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
