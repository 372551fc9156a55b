// The pipeline's capabilities through the real server, each with a .so strategy AND a Lua
// strategy: rewrite the request, choose the target model, answer directly, change each stream
// event, and act at the end of the response. Two extra channels tell which model answered:
// echo_model (.so, echoes the user text) and echo_system (test Lua model, echoes the target
// model and the system prompt it received).
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;
using Catch::StartsWith;

namespace {

std::string chain(const std::string& id, const std::string& model, const std::string& routing,
                  const std::string& stages) {
    return R"({"id":")" + id + R"(","tiers":["*"],"models":[")" + model + R"("],"routing":)" +
           routing + (stages.empty() ? "" : "," + stages) + "}";
}

const std::string kPassthrough = R"({"mode":"passthrough"})";
const std::string kToSysEcho = R"({"mode":"managed","model":"sys-echo"})";

enum class Via { anthropic, anthropic_stream, openai, openai_stream };

struct Answer {
    int status = 0;
    std::string text;
    std::vector<SseEvent> events;
};

Answer ask(int port, const std::string& key, Via via, const std::string& model,
           const std::string& text, const std::string& system = {}) {
    Answer a;
    switch (via) {
        case Via::anthropic: {
            auto r = post_json(port, "/v1/messages", anthropic_auth(key),
                               anthropic_body(model, text, false, system));
            a.status = r.status;
            a.text = r.status == 200 ? anthropic_text(r.json()) : r.body;
            break;
        }
        case Via::anthropic_stream:
            a.events = stream_all(port, "/v1/messages", anthropic_auth(key),
                                  anthropic_body(model, text, true, system), &a.status);
            a.text = anthropic_stream_text(a.events);
            break;
        case Via::openai: {
            Json b = Json::parse(openai_body(model, text));
            if (!system.empty())
                b["messages"].insert(b["messages"].begin(),
                                     Json{{"role", "system"}, {"content", system}});
            auto r = post_json(port, "/v1/chat/completions", openai_auth(key), b.dump());
            a.status = r.status;
            a.text = r.status == 200 ? openai_text(r.json()) : r.body;
            break;
        }
        case Via::openai_stream:
            a.events = stream_all(port, "/v1/chat/completions", openai_auth(key),
                                  openai_body(model, text, true), &a.status);
            a.text = openai_stream_text(a.events);
            break;
    }
    return a;
}

bool has_lowercase_letter(const std::string& s) {
    for (char c : s)
        if (c >= 'a' && c <= 'z') return true;
    return false;
}

}  // namespace

TEST_CASE("pipeline capabilities with .so and Lua strategies through the real server",
          "[integration][pipeline]") {
    TempDir tmp("pipeline");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(
        tmp / "plugins",
        {"system_prompt", "canned_answer", "rewrite_request", "upper_stream", "echo_model"});
    o.scripts_dir = make_scripts_dir(
        tmp / "scripts",
        {"models/demo.lua", "models/echo_system.lua", "strategies/tag_request.lua",
         "strategies/keyword_router.lua", "strategies/lua_answer.lua", "strategies/lua_post.lua"});
    const std::string data = o.data_dir.string();
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"channel", "add", "--name", "echo", "--type", "echo_model", "--models", "echo-a"},
             {"channel", "add", "--name", "sysecho", "--type", "echo_system", "--models",
              "sys-echo"}}) {
        auto full = args;
        full.insert(full.end(), {"--data", data, "--plugins-dir", o.plugins_dir.string(),
                                 "--scripts-dir", o.scripts_dir.string()});
        auto r = run_cli(full);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    const std::vector<std::string> chains{
        chain("so-rewrite", "t-so-rewrite", kToSysEcho,
              R"("pre":[{"plugin":"system_prompt","config":{"prepend":"HOUSE RULES"}}])"),
        chain(
            "lua-rewrite", "t-lua-rewrite", kToSysEcho,
            R"("pre":[{"plugin":"tag_request","config":{"note":"LUA NOTE","position":"start"}}])"),
        chain("so-route", "t-so-route", kPassthrough,
              R"("pre":[{"plugin":"rewrite_request","config":{"model":"echo-a"}}])"),
        chain(
            "lua-route", "t-lua-route", kPassthrough,
            R"("pre":[{"plugin":"keyword_router","config":{"routes":[{"keywords":["sql"],"model":"echo-a"},{"keywords":["system"],"model":"sys-echo"}]}}])"),
        chain(
            "so-answer", "t-so-answer", kPassthrough,
            R"("pre":[{"plugin":"canned_answer","config":{"match":"capital","answer":"Paris, from the .so"}}])"),
        chain(
            "lua-answer", "t-lua-answer", kPassthrough,
            R"("pre":[{"plugin":"lua_answer","config":{"match":"capital","answer":"Paris, from Lua"}}])"),
        chain("so-stream", "t-so-stream", kPassthrough, R"("post":[{"plugin":"upper_stream"}])"),
        chain("lua-stream", "t-lua-stream", kPassthrough, R"("post":[{"plugin":"lua_post"}])"),
    };
    for (size_t i = 0; i < chains.size(); ++i) {
        auto file = tmp / ("chain" + std::to_string(i) + ".json");
        write_file(file, chains[i]);
        auto r = run_cli({"chain", "import", file.string(), "--data", data, "--plugins-dir",
                          o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
        INFO(chains[i] << "\n" << r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();
    // No channel or chain was left out.
    CHECK(count_logs(gw.log_lines(),
                     [](const Json& l) { return l.value("level", "") == "error"; }) == 0);

    auto last_request = [&]() {
        Json line;
        eventually(
            [&] {
                auto lines = request_logs(gw);
                if (lines.empty()) return false;
                line = lines.back();
                return true;
            },
            2s);
        return line;
    };

    SECTION("rewrite the request: system_prompt (.so) and tag_request (Lua)") {
        for (Via via : {Via::anthropic, Via::openai}) {
            auto so = ask(port, key, via, "t-so-rewrite", "hi", "client system");
            INFO(so.text);
            CHECK(so.status == 200);
            CHECK(so.text == "model=sys-echo system=[HOUSE RULES\n\nclient system] user=[hi]");
            auto lua = ask(port, key, via, "t-lua-rewrite", "hi", "client system");
            INFO(lua.text);
            CHECK(lua.status == 200);
            CHECK(lua.text == "model=sys-echo system=[LUA NOTE\n\nclient system] user=[hi]");
        }
        auto streamed = ask(port, key, Via::anthropic_stream, "t-lua-rewrite", "hi");
        CHECK(streamed.text == "model=sys-echo system=[LUA NOTE] user=[hi]");
        CHECK(last_request().value("channel", "") == "sysecho");
    }

    SECTION("choose the target model: rewrite_request (.so) and keyword_router (Lua)") {
        auto so = ask(port, key, Via::anthropic, "t-so-route", "route me please");
        INFO(so.text);
        CHECK(so.status == 200);
        CHECK(so.text == "route me please");  // echo_model answered, not the demo model
        Json line = last_request();
        CHECK(line.value("channel", "") == "echo");
        CHECK(line.value("upstream_model", "") == "echo-a");
        CHECK(line.value("requested_model", "") == "t-so-route");
        auto so_stream = ask(port, key, Via::openai_stream, "t-so-route", "route me please");
        CHECK(so_stream.text == "route me please");

        auto lua = ask(port, key, Via::openai, "t-lua-route", "write SQL for me");
        INFO(lua.text);
        CHECK(lua.text == "write SQL for me");
        CHECK(last_request().value("channel", "") == "echo");
        auto lua_sys = ask(port, key, Via::anthropic_stream, "t-lua-route", "show the system");
        CHECK_THAT(lua_sys.text, StartsWith("model=sys-echo "));
        auto lua_default = ask(port, key, Via::anthropic, "t-lua-route", "hello there");
        CHECK_THAT(lua_default.text, Contains("demo model"));  // no keyword: model unchanged
        CHECK(last_request().value("channel", "") == "demo");
    }

    SECTION("answer directly: canned_answer (.so) and a Lua strategy calling tianshu.answer") {
        for (Via via : {Via::anthropic, Via::anthropic_stream, Via::openai, Via::openai_stream}) {
            auto so = ask(port, key, via, "t-so-answer", "what is the capital of France?");
            INFO(so.text);
            CHECK(so.status == 200);
            CHECK(so.text == "Paris, from the .so");
            auto lua = ask(port, key, via, "t-lua-answer", "what is the capital of France?");
            INFO(lua.text);
            CHECK(lua.status == 200);
            CHECK(lua.text == "Paris, from Lua");
            if (via == Via::anthropic_stream) {
                REQUIRE_FALSE(lua.events.empty());
                CHECK(lua.events.front().event == "message_start");
                CHECK(lua.events.back().event == "message_stop");
            }
            if (via == Via::openai_stream) {
                REQUIRE_FALSE(lua.events.empty());
                CHECK(lua.events.back().data == "[DONE]");
            }
        }
        // Without the phrase the model answers.
        CHECK_THAT(ask(port, key, Via::anthropic, "t-lua-answer", "hello").text,
                   Contains("demo model"));
        CHECK_THAT(ask(port, key, Via::anthropic, "t-so-answer", "hello").text,
                   Contains("demo model"));
    }

    SECTION("per stream event and end of response: upper_stream (.so) and lua_post (Lua)") {
        for (const std::string model : {"t-so-stream", "t-lua-stream"}) {
            for (Via via :
                 {Via::anthropic_stream, Via::openai_stream, Via::anthropic, Via::openai}) {
                auto a = ask(port, key, via, model, "hello");
                INFO(model << ": " << a.text);
                CHECK(a.status == 200);
                CHECK_THAT(a.text, Contains("DEMO MODEL"));
                CHECK_FALSE(has_lowercase_letter(a.text));
            }
        }
        // End-of-response hooks log through the host: the .so names its plugin, Lua its script.
        auto so_line = gw.wait_for_log([](const Json& l) {
            return l.value("plugin", "") == "upper_stream" &&
                   l.value("msg", "").rfind("response_end text=", 0) == 0;
        });
        REQUIRE(so_line);
        CHECK_THAT(so_line->value("msg", ""), Contains("DEMO MODEL"));
        auto lua_line = gw.wait_for_log([](const Json& l) {
            return l.value("msg", "").rfind("lua_post saw the end: ", 0) == 0;
        });
        REQUIRE(lua_line);
        CHECK_THAT(lua_line->value("script", ""), Contains("lua_post.lua"));
        CHECK(lua_line->value("level", "") == "info");
        CHECK_FALSE(lua_line->value("request_id", "").empty());
        // One end-of-response line per request: 4 requests through lua_post.
        CHECK(count_logs(gw.log_lines(), [](const Json& l) {
                  return l.value("msg", "").rfind("lua_post saw the end: ", 0) == 0;
              }) == 4);
    }

    CHECK(gw.terminate() == 0);
}
