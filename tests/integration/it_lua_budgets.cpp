// Lua budgets end to end: a strategy that loops forever ("loop") or allocates without bound
// ("alloc") is stopped by the instruction / memory budget; the client gets a clean 5xx in its
// protocol's shape, the operator exactly one error log line naming the script, and the next
// request through the same script succeeds.
#include <set>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

TEST_CASE("runaway Lua strategies fail cleanly and the script keeps working",
          "[integration][lua]") {
    TempDir tmp("lua-budgets");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
    o.scripts_dir =
        make_scripts_dir(tmp / "scripts", {"models/demo.lua", "strategies/budget_buster.lua"});
    write_file(tmp / "chain.json", R"({
      "id": "budgets", "priority": 10, "tiers": ["*"], "models": ["*"], "routing": {"mode": "passthrough"},
      "pre": [{"plugin": "budget_buster"}]
    })");
    write_file(tmp / "post.json", R"({
      "id": "budgets-post", "priority": 20, "tiers": ["*"], "models": ["post-*"], "routing": {"mode": "passthrough"},
      "post": [{"plugin": "budget_buster"}]
    })");
    auto imported =
        run_cli({"chain", "import", (tmp / "chain.json").string(), "--data", o.data_dir.string(),
                 "--plugins-dir", o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
    INFO(imported.out << imported.err);
    REQUIRE(imported.exit_code == 0);
    imported =
        run_cli({"chain", "import", (tmp / "post.json").string(), "--data", o.data_dir.string(),
                 "--plugins-dir", o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
    INFO(imported.out << imported.err);
    REQUIRE(imported.exit_code == 0);

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();

    // The failing request's own log line carries its id; exactly one error line with "script"
    // shares that id. Each failure is checked once.
    std::set<std::string> checked;
    auto check_one_error_line = [&](const std::string& budget) {
        Json request_line;
        REQUIRE(eventually(
            [&] {
                for (const auto& l : request_logs(gw))
                    if (l.value("error_kind", "") == "script_failure" &&
                        !checked.count(l.value("request_id", ""))) {
                        request_line = l;
                        return true;
                    }
                return false;
            },
            3s));
        INFO(request_line.dump());
        const std::string id = request_line.value("request_id", "");
        REQUIRE_FALSE(id.empty());
        checked.insert(id);
        CHECK_THAT(request_line.value("source", ""), Contains("budget_buster.lua"));
        auto all = gw.log_lines();
        size_t n = count_logs(all, [&](const Json& l) {
            return l.value("level", "") == "error" && l.contains("script") &&
                   l.value("request_id", "") == id;
        });
        CHECK(n == 1);
        for (const auto& l : all)
            if (l.value("level", "") == "error" && l.value("request_id", "") == id) {
                INFO(l.dump());
                CHECK_THAT(l.value("script", ""), Contains("budget_buster.lua"));
                CHECK_THAT(l.value("msg", ""), Contains(budget));
            }
    };

    for (const std::string& trigger : {std::string("loop"), std::string("alloc")}) {
        const std::string budget = trigger == "loop" ? "instruction budget" : "memory budget";
        INFO("trigger: " << trigger);

        auto a = post_json(port, "/v1/messages", anthropic_auth(key),
                           anthropic_body("claude-x", "please " + trigger));
        INFO(a.body);
        CHECK(a.status >= 500);
        CHECK(a.status < 600);
        REQUIRE(is_anthropic_error(a.json()));
        CHECK_THAT(a.json()["error"].value("message", ""),
                   Contains("budget_buster") && Contains(budget));
        check_one_error_line(budget);

        auto ok = post_json(port, "/v1/messages", anthropic_auth(key),
                            anthropic_body("claude-x", "hello"));
        CHECK(ok.status == 200);
        CHECK_THAT(anthropic_text(ok.json()), Contains("demo model"));

        auto c = post_json(port, "/v1/chat/completions", openai_auth(key),
                           openai_body("gpt-x", "please " + trigger));
        INFO(c.body);
        CHECK(c.status >= 500);
        CHECK(c.status < 600);
        REQUIRE(is_openai_error(c.json()));
        CHECK_THAT(c.json()["error"].value("message", ""), Contains("budget_buster"));
        check_one_error_line(budget);

        auto ok2 = post_json(port, "/v1/chat/completions", openai_auth(key),
                             openai_body("gpt-x", "hello"));
        CHECK(ok2.status == 200);
        CHECK_THAT(openai_text(ok2.json()), Contains("demo model"));

        // Streamed requests fail in the pre stage, before the first byte: a plain 5xx error body.
        auto as = post_json(port, "/v1/messages", anthropic_auth(key),
                            anthropic_body("claude-x", "please " + trigger, true));
        CHECK(as.status >= 500);
        CHECK(is_anthropic_error(as.json()));
        check_one_error_line(budget);
        auto os = post_json(port, "/v1/chat/completions", openai_auth(key),
                            openai_body("gpt-x", "please " + trigger, true));
        CHECK(os.status >= 500);
        CHECK(is_openai_error(os.json()));
        check_one_error_line(budget);
    }

    // A post stage that runs away mid-stream: the status line has gone out as 200, so the
    // stream ends with an error event in the protocol's grammar; the next stream is complete.
    {
        int status = 0;
        auto events = stream_all(port, "/v1/messages", anthropic_auth(key),
                                 anthropic_body("post-1", "spin now", true), &status);
        CHECK(status == 200);
        REQUIRE_FALSE(events.empty());
        CHECK(events.front().event == "message_start");
        CHECK(events.back().event == "error");
        CHECK(is_anthropic_error(events.back().json()));
        CHECK_THAT(events.back().data, Contains("budget_buster") && Contains("instruction budget"));
        check_one_error_line("instruction budget");

        auto chunks = stream_all(port, "/v1/chat/completions", openai_auth(key),
                                 openai_body("post-1", "spin now", true), &status);
        CHECK(status == 200);
        REQUIRE(chunks.size() >= 2);
        CHECK(chunks.back().data == "[DONE]");
        CHECK(is_openai_error(chunks[chunks.size() - 2].json()));

        auto fine = stream_all(port, "/v1/messages", anthropic_auth(key),
                               anthropic_body("post-1", "calm", true), &status);
        CHECK(status == 200);
        REQUIRE_FALSE(fine.empty());
        CHECK(fine.back().event == "message_stop");
    }
    CHECK(gw.terminate() == 0);
}
