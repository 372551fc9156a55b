// The route decision and the decisions behind it, visible (ABI 1.4): a Lua strategy decides at
// two ranks (the higher stands), notes what it did and reads the client's headers (never its
// credentials); the client sees x-tianshu-route / x-tianshu-decision in both protocols,
// streamed and not; the request log line, `tianshu logs --request-id ID --json` and /metrics
// say the same; a tier can hide the headers. The capability table: a --capabilities file and
// a channel's options, read through tianshu.capabilities, and both refused with the field
// named when wrong; tianshu.model_serving turning false once the host's breaker rests the
// only channel of a model. Runs on SQLite, and on MariaDB when TIANSHU_TEST_DB_URL is set
// (it_route_decision_mariadb).
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "test_store.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

std::string chain(const std::string& id, const std::string& model, const std::string& stages) {
    return R"({"id":")" + id + R"(","tiers":["*"],"models":[")" + model +
           R"("],"routing":{"mode":"passthrough"})" + (stages.empty() ? "" : "," + stages) + "}";
}

std::string probe(const std::string& config) {
    return R"("pre":[{"plugin":"route_probe","config":)" + config + "}]";
}

//! One call in one of the four shapes; the response's headers and the answer's text.
struct Call {
    int status = 0;
    Headers headers;
    std::string text;
};

Call call(int port, const std::string& key, bool openai, bool stream, const std::string& model,
          const std::string& text, Headers extra = {}) {
    Headers h = openai ? openai_auth(key) : anthropic_auth(key);
    h.insert(extra.begin(), extra.end());
    const std::string path = openai ? "/v1/chat/completions" : "/v1/messages";
    const std::string body =
        openai ? openai_body(model, text, stream) : anthropic_body(model, text, stream);
    Call c;
    if (stream) {
        SseStream s(port, path, h, body);
        c.status = s.status();
        c.headers = s.headers();
        auto events = s.rest();
        c.text = openai ? openai_stream_text(events) : anthropic_stream_text(events);
    } else {
        auto r = post_json(port, path, h, body);
        c.status = r.status;
        c.headers = r.headers;
        c.text =
            r.status == 200 ? (openai ? openai_text(r.json()) : anthropic_text(r.json())) : r.body;
    }
    return c;
}

std::string header(const Call& c, const std::string& name) {
    auto it = c.headers.find(name);
    return it == c.headers.end() ? std::string("<absent>") : it->second;
}

}  // namespace

TEST_CASE("route decisions, decision notes and request headers are visible end to end",
          "[integration][route]") {
    Store s("route");
    auto o = s.serve_options();
    o.plugins_dir = make_plugins_dir(s.tmp / "plugins", {"echo_model", "openai_compat"});
    o.scripts_dir = make_scripts_dir(
        s.tmp / "scripts",
        {"models/demo.lua", "models/echo_system.lua", "strategies/route_probe.lua"});
    const std::vector<std::string> dirs{"--plugins-dir", o.plugins_dir.string(), "--scripts-dir",
                                        o.scripts_dir.string()};
    // The gateway keeps its secret key under --data on either store; channel add seals the
    // upstream key with the same one.
    auto with_dirs = [&](std::vector<std::string> args) {
        args.insert(args.end(), dirs.begin(), dirs.end());
        if (args[0] == "channel")
            args.insert(args.end(), {"--secret-key-file", (s.data / "secret.key").string()});
        return args;
    };
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"channel", "add", "--name", "echo", "--type", "echo_model", "--models", "echo-a"},
             {"channel", "add", "--name", "sysecho", "--type", "echo_system", "--models",
              "sys-echo"},
             // Never called: its capability options are read by the table only.
             {"channel", "add", "--name", "up", "--type", "openai_compat", "--base-url",
              "http://127.0.0.1:9/v1", "--key", "sk-up", "--models", "up-model", "--config",
              R"({"options":{"vision":false,"context_window":777}})"}}) {
        auto r = s.cli(with_dirs(args));
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    const std::vector<std::string> chains{
        chain("probe", "t-probe",
              probe(R"({"mode":"route","model":"echo-a","lower_model":"sys-echo"})")),
        chain("legacy", "t-legacy", probe(R"({"mode":"set_model","model":"echo-a"})")),
        chain("plain", "t-plain", ""),
        chain("caps-echo", "t-caps-echo", probe(R"({"mode":"caps","model":"echo-a"})")),
        chain("caps-up", "t-caps-up", probe(R"({"mode":"caps","model":"up-model"})")),
        chain("caps-none", "t-caps-none", probe(R"({"mode":"caps","model":"sys-echo"})")),
        chain("serving-up", "t-serving-up", probe(R"({"mode":"serving","model":"up-model"})")),
        chain("serving-echo", "t-serving-echo", probe(R"({"mode":"serving","model":"echo-a"})")),
    };
    for (size_t i = 0; i < chains.size(); ++i) {
        auto file = s.tmp / ("chain" + std::to_string(i) + ".json");
        write_file(file, chains[i]);
        auto r = s.cli(with_dirs({"chain", "import", file.string()}));
        INFO(chains[i] << "\n" << r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    const auto caps_file = s.tmp / "caps.json";
    write_file(caps_file, R"({"models":{"echo-*":{"vision":true,"max_tools":8},
                              "up-*":{"vision":true,"max_tools":64,"context_window":1000}}})");
    o.extra_args.insert(o.extra_args.end(), {"--capabilities", caps_file.string()});

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();
    CHECK(count_logs(gw.log_lines(),
                     [](const Json& l) { return l.value("level", "") == "error"; }) == 0);

    //! The request line of `model` whose route reason contains `tag` (any, when empty).
    auto request_line = [&](const std::string& model, const std::string& tag = {}) {
        auto line = gw.wait_for_log(
            [&](const Json& l) {
                return l.value("msg", "") == "request" && l.value("requested_model", "") == model &&
                       l.value("route_reason", "").find(tag) != std::string::npos;
            },
            3s);
        return line.value_or(Json::object());
    };

    SECTION("two ranks: the higher stands; notes, headers and log agree in every shape") {
        int n = 0;
        for (bool openai : {false, true})
            for (bool stream : {false, true}) {
                const std::string tag = "p" + std::to_string(++n);
                auto c = call(port, key, openai, stream, "t-probe", "echo me " + tag,
                              {{"X-Route-Probe", tag}, {"Cookie", "session=secret"}});
                INFO("openai=" << openai << " stream=" << stream << " " << c.text);
                CHECK(c.status == 200);
                CHECK(c.text == "echo me " + tag);  // echo-a answered, not sys-echo
                CHECK(header(c, "x-tianshu-route") ==
                      "subagent; model=echo-a; reason=agent asked with probe " + tag);
                CHECK(header(c, "x-tianshu-decision") ==
                      "route_probe; kind=ranks; reason=agent true / default false / current "
                      "echo-a by route_probe, route_probe; kind=headers; reason=credentials "
                      "hidden true");
                Json line = request_line("t-probe", tag);
                CHECK(line.value("route_scenario", "") == "subagent");
                CHECK(line.value("route_model", "") == "echo-a");
                CHECK(line.value("route_rank", "") == "agent");
                CHECK(line.value("route_by", "") == "route_probe");
                CHECK(line.value("route_reason", "") == "agent asked with probe " + tag);
                REQUIRE(line.contains("decisions"));
                REQUIRE(line["decisions"].size() == 2);
                CHECK(line["decisions"][0].value("kind", "") == "ranks");
                CHECK(line["decisions"][1].value("reason", "") == "credentials hidden true");
                CHECK(line.value("upstream_model", "") == "echo-a");
            }

        // The stored row says the same, through the CLI.
        const std::string id = request_line("t-probe", "p4").value("request_id", "");
        REQUIRE_FALSE(id.empty());
        Json rows;
        CHECK(eventually(
            [&] {
                rows = s.json({"logs", "--request-id", id})["rows"];
                return rows.size() == 1;
            },
            5s));
        REQUIRE(rows.size() == 1);
        CHECK(rows[0].value("request_id", "") == id);
        CHECK(rows[0]["route"].value("scenario", "") == "subagent");
        CHECK(rows[0]["route"].value("model", "") == "echo-a");
        CHECK(rows[0]["route"].value("rank", 0) == 3);
        CHECK(rows[0]["route"].value("by", "") == "route_probe");
        CHECK(rows[0]["route"].value("reason", "") == "agent asked with probe p4");
        REQUIRE(rows[0]["decisions"].size() == 2);
        CHECK(rows[0]["decisions"][0].value("plugin", "") == "route_probe");
        CHECK(rows[0]["decisions"][0].value("kind", "") == "ranks");

        auto metrics = http_request(port, "GET", "/metrics").body;
        CHECK_THAT(metrics, Contains("tianshu_route_decisions_total{scenario=\"subagent\","
                                     "rank=\"agent\",model=\"echo-a\"} 4"));
        CHECK_THAT(metrics, Contains("tianshu_decision_notes_total{plugin=\"route_probe\","
                                     "kind=\"ranks\",model=\"echo-a\"} 4"));
    }

    SECTION("an older strategy's set_model is a default-rank decision; no decision says so") {
        auto legacy = call(port, key, false, false, "t-legacy", "old way");
        CHECK(legacy.text == "old way");
        CHECK(header(legacy, "x-tianshu-route") == "default; model=echo-a; reason=set_model");
        CHECK(request_line("t-legacy").value("route_by", "") == "route_probe");

        auto plain = call(port, key, true, true, "t-plain", "hello");
        CHECK(plain.status == 200);
        CHECK(header(plain, "x-tianshu-route") == "passthrough; model=t-plain; reason=requested");
        CHECK(header(plain, "x-tianshu-decision") == "<absent>");
        Json line = request_line("t-plain");
        CHECK(line.value("route_scenario", "") == "passthrough");
        CHECK(line.value("route_rank", "") == "none");
        CHECK_FALSE(line.contains("decisions"));
    }

    SECTION("a tier that hides the headers: its clients see none, the log keeps the decision") {
        auto hide = s.cli({"tier", "route-header", "--name", "default", "--show", "off"});
        INFO(hide.out << hide.err);
        REQUIRE(hide.exit_code == 0);
        Call c;
        CHECK(eventually(
            [&] {
                c = call(port, key, false, true, "t-probe", "quiet");
                return header(c, "x-tianshu-route") == "<absent>";
            },
            5s));
        CHECK(header(c, "x-tianshu-decision") == "<absent>");
        CHECK(c.text == "quiet");
        CHECK(request_line("t-probe").value("route_scenario", "") == "subagent");
        s.refused({"tier", "route-header", "--name", "default", "--show", "maybe"},
                  {"--show 'maybe'", "on", "off"});
    }

    SECTION("capabilities: channel option > --capabilities file > unknown") {
        auto up = call(port, key, false, false, "t-caps-up", "caps");
        CHECK(up.text == "context_window=777,max_tools=64,vision=false");
        auto echo = call(port, key, false, false, "t-caps-echo", "caps");
        CHECK(echo.text == "max_tools=8,vision=true");
        auto none = call(port, key, false, false, "t-caps-none", "caps");
        CHECK(none.text == "nil");
    }

    // (nil, for a model no channel serves, is unit-tested: the demo store's channel maps every
    // name, so here each one is served.)
    SECTION("model_serving: true until every channel of the model fails") {
        CHECK(call(port, key, false, false, "t-serving-up", "s").text == "true");
        // "up" has one key, its upstream refuses connections: each call fails, and its circuit
        // breaker opens after a few (the host's own failure count, not the plugin's).
        int calls = 0;
        while (calls < 12 && call(port, key, false, false, "t-serving-up", "s").text == "true") {
            auto failed = call(port, key, false, false, "up-model", "hello");
            CHECK(failed.status >= 500);
            ++calls;
        }
        INFO("failed calls to up-model: " << calls);
        CHECK(call(port, key, false, false, "t-serving-up", "s").text == "false");
        CHECK(calls >= 1);
        // Another model's channels are not affected.
        CHECK(call(port, key, false, false, "t-serving-echo", "s").text == "true");
    }
}

TEST_CASE("capability options and files are refused with the field named", "[integration][route]") {
    Store s("route-caps");
    const auto plugins = make_plugins_dir(s.tmp / "plugins", {"openai_compat"});
    auto bad =
        s.cli({"channel", "add", "--name", "up", "--type", "openai_compat", "--base-url",
               "http://127.0.0.1:9/v1", "--key", "sk-up", "--models", "up-model", "--config",
               R"({"options":{"thinking":"sometimes"}})", "--plugins-dir", plugins.string()});
    INFO(bad.out << bad.err);
    CHECK(bad.exit_code != 0);
    CHECK_THAT(bad.err, Contains("thinking"));

    const auto file = s.tmp / "caps.json";
    write_file(file, R"({"models":{"glm-*":{"vision":"yes","context":5}}})");
    auto serve = s.cli({"serve", "--listen", "127.0.0.1:0", "--capabilities", file.string()});
    INFO(serve.out << serve.err);
    CHECK(serve.exit_code == 2);
    CHECK_THAT(serve.err, Contains("--capabilities " + file.string()));
    CHECK_THAT(serve.err, Contains("/models/glm-*/vision"));
    CHECK_THAT(serve.err, Contains("/models/glm-*"));
    CHECK_THAT(serve.err, Contains("docs/capabilities.md"));
}
