// The operator's CLI against a real store: chain import/list/export with versioning and
// validation that names every JSON path and changes nothing on failure; plugins list over
// good and deliberately broken plugins; version; usage errors; and a chain imported while
// the server runs taking effect within 2 s.
#include <set>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;
using Clock = std::chrono::steady_clock;

namespace {

struct Store {
    TempDir tmp{"cli"};
    fs::path data = tmp / "data";
    fs::path plugins = make_plugins_dir(tmp / "plugins", {"system_prompt", "canned_answer"});
    fs::path scripts =
        make_scripts_dir(tmp / "scripts", {"models/demo.lua", "strategies/tag_request.lua"});

    CliResult cli(std::vector<std::string> args) const {
        args.insert(args.end(), {"--data", data.string(), "--plugins-dir", plugins.string(),
                                 "--scripts-dir", scripts.string()});
        return run_cli(args);
    }
    CliResult store_cli(std::vector<std::string> args) const {  // commands without plugin options
        args.insert(args.end(), {"--data", data.string()});
        return run_cli(args);
    }
    fs::path file(const std::string& name, const std::string& text) const {
        write_file(tmp / name, text);
        return tmp / name;
    }
};

const char* kValidChain = R"({
  "id": "house-style",
  "description": "adds the house style to every request of the gold tier",
  "priority": 3,
  "tiers": ["gold"],
  "models": ["claude-*", "gpt-4o"],
  "routing": {"mode": "passthrough"},
  "pre": [
    {"plugin": "system_prompt", "config": {"prepend": "Be brief."}},
    {"plugin": "tag_request", "config": {"note": "house", "position": "end"}}
  ],
  "post": []
})";

}  // namespace

TEST_CASE(
    "chain import versions, validation names each path and changes nothing, export round-trips",
    "[integration][cli]") {
    Store s;
    auto file = s.file("valid.json", kValidChain);

    auto first = s.cli({"chain", "import", file.string(), "--json"});
    INFO(first.out << first.err);
    REQUIRE(first.exit_code == 0);
    CHECK(Json::parse(first.out) == Json{{"id", "house-style"}, {"version", 1}});
    auto second = s.cli({"chain", "import", file.string()});
    INFO(second.out << second.err);
    REQUIRE(second.exit_code == 0);
    CHECK_THAT(second.out, Contains("version 2"));

    auto list_before = s.store_cli({"chain", "list", "--json"});
    REQUIRE(list_before.exit_code == 0);
    Json listed = Json::parse(list_before.out);
    bool found = false;
    for (const auto& c : listed)
        if (c.value("id", "") == "house-style") {
            found = true;
            CHECK(c.value("version", 0) == 2);
            CHECK(c["tiers"] == Json::array({"gold"}));
        }
    CHECK(found);

    SECTION("invalid chains: exit 2, every JSON path named, the store unchanged") {
        struct Bad {
            std::string what;
            std::string text;
            std::vector<std::string> expected;  // substrings of stderr
        };
        const std::vector<Bad> bad{
            {"unknown plugin",
             R"({"id":"house-style","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},"pre":[{"plugin":"no_such_plugin"}]})",
             {"/pre/0/plugin", "no_such_plugin"}},
            {"config not matching the plugin's schema",
             R"({"id":"house-style","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},"pre":[{"plugin":"system_prompt","config":{"prepend":"x","shout":true}}]})",
             {"/pre/0/config", "system_prompt"}},
            {"wrong type for tiers",
             R"({"id":"house-style","tiers":"gold","models":["*"],"routing":{"mode":"passthrough"}})",
             {"/tiers"}},
            {"unknown field",
             R"({"id":"house-style","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},"colour":"blue"})",
             {"colour"}},
            {"all four at once",
             R"({"id":"house-style","tiers":7,"models":["*"],"routing":{"mode":"passthrough"},"colour":"blue",
                 "pre":[{"plugin":"no_such_plugin"},{"plugin":"system_prompt","config":{"shout":true}}]})",
             {"/tiers", "colour", "/pre/0/plugin", "/pre/1/config"}},
            {"not JSON", R"({"id": "house-style", )", {}},
        };
        for (const auto& b : bad) {
            INFO("case: " << b.what);
            auto r = s.cli({"chain", "import", s.file("bad.json", b.text).string()});
            INFO("stdout: " << r.out << "\nstderr: " << r.err);
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.err, Contains("nothing was imported"));
            for (const auto& e : b.expected) CHECK_THAT(r.err, Contains(e));
        }
        auto list_after = s.store_cli({"chain", "list", "--json"});
        CHECK(list_after.exit_code == 0);
        CHECK(list_after.out == list_before.out);
    }

    SECTION("export round-trips") {
        auto exported = s.store_cli({"chain", "export", "house-style"});
        INFO(exported.err);
        REQUIRE(exported.exit_code == 0);
        CHECK(Json::parse(exported.out) == Json::parse(kValidChain));
        auto v1 = s.store_cli({"chain", "export", "house-style", "--version", "1"});
        REQUIRE(v1.exit_code == 0);
        CHECK(Json::parse(v1.out) == Json::parse(kValidChain));
        // Re-importing the export makes version 3 with the same body.
        auto again =
            s.cli({"chain", "import", s.file("exported.json", exported.out).string(), "--json"});
        INFO(again.err);
        REQUIRE(again.exit_code == 0);
        CHECK(Json::parse(again.out)["version"] == 3);
        auto v3 = s.store_cli({"chain", "export", "house-style", "--version", "3"});
        CHECK(Json::parse(v3.out) == Json::parse(exported.out));
        // Unknown chain or version: bad input.
        CHECK(s.store_cli({"chain", "export", "house-style", "--version", "9"}).exit_code == 2);
        CHECK(s.store_cli({"chain", "export", "no-such-chain"}).exit_code == 2);
    }
}

TEST_CASE("plugins list reports good and broken plugins; version; usage errors",
          "[integration][cli]") {
    SECTION("built-in plugins and scripts: all load") {
        TempDir tmp("plugins-list");
        auto scripts =
            make_scripts_dir(tmp / "scripts", {"models/demo.lua", "strategies/keyword_router.lua"});
        auto r = run_cli({"plugins", "list", "--json", "--plugins-dir", builtin_plugins().string(),
                          "--scripts-dir", scripts.string()});
        INFO(r.out << r.err);
        CHECK(r.exit_code == 0);
        Json j = Json::parse(r.out);
        CHECK(j["problems"].empty());
        std::map<std::string, Json> by_name;
        for (const auto& p : j["plugins"]) by_name[p.value("name", "")] = p;
        for (const auto& name : {"system_prompt", "canned_answer", "demo", "keyword_router"}) {
            INFO(name);
            REQUIRE(by_name.count(name));
            for (const auto& field : {"name", "version", "kind", "abi", "path"}) {
                INFO(field);
                CHECK(by_name[name].contains(field));
                CHECK(by_name[name][field].is_string());
            }
        }
        CHECK(by_name["system_prompt"]["kind"] == "strategy");
        CHECK(by_name["system_prompt"]["abi"] == "1.4");
        CHECK_THAT(by_name["system_prompt"]["path"].get<std::string>(),
                   Contains("system_prompt.so"));
        CHECK(by_name["demo"]["kind"] == "model");
        CHECK_THAT(by_name["demo"]["path"].get<std::string>(), Contains("demo.lua"));
        CHECK(by_name["keyword_router"]["kind"] == "strategy");
        CHECK(by_name["keyword_router"]["version"] == "1.0.0");

        // The table form lists the same.
        auto table = run_cli({"plugins", "list", "--plugins-dir", builtin_plugins().string(),
                              "--scripts-dir", scripts.string()});
        CHECK(table.exit_code == 0);
        CHECK_THAT(table.out, Contains("NAME") && Contains("canned_answer"));
    }

    SECTION("the test plugins: broken ones reported with reasons, good ones still listed") {
        TempDir tmp("plugins-broken");
        auto scripts = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
        auto r = run_cli({"plugins", "list", "--json", "--plugins-dir", test_plugins().string(),
                          "--scripts-dir", scripts.string()});
        INFO(r.out << r.err);
        CHECK(r.exit_code == 1);  // problems → failed, but the listing is complete
        Json j = Json::parse(r.out);
        std::set<std::string> names;
        for (const auto& p : j["plugins"]) names.insert(p.value("name", ""));
        for (const auto& good : {"thrower", "fails_status", "upper_stream", "rewrite_request",
                                 "echo_model", "old_minor", "demo"})
            CHECK(names.count(good) == 1);
        for (const auto& broken : {"abi_major2", "missing_generate", "not_a_plugin"})
            CHECK(names.count(broken) == 0);
        std::string problems;
        for (const auto& p : j["problems"]) problems += p.get<std::string>() + "\n";
        INFO(problems);
        CHECK(j["problems"].size() == 3);
        auto problem_about = [&](const std::string& who) {
            for (const auto& p : j["problems"])
                if (p.get<std::string>().find(who) != std::string::npos)
                    return p.get<std::string>();
            return std::string();
        };
        CHECK_THAT(problem_about("abi_major2"), Contains("2.0") && Contains("1.4"));
        CHECK_THAT(problem_about("missing_generate"), Contains("generate"));
        CHECK_FALSE(problem_about("not_a_plugin").empty());
        for (const auto& p : j["plugins"])
            if (p["name"] == "old_minor") CHECK(p["abi"] == "1.0");
    }

    SECTION("version --json") {
        auto r = run_cli({"version", "--json"});
        INFO(r.out << r.err);
        CHECK(r.exit_code == 0);
        Json j = Json::parse(r.out);
        CHECK(j["version"].is_string());
        CHECK(j["plugin_abi"] == "1.4");
        CHECK(j.contains("schema_version"));
        auto plain = run_cli({"version"});
        CHECK(plain.exit_code == 0);
        CHECK_THAT(plain.out, Contains(j["version"].get<std::string>()));
    }

    SECTION("unknown options and commands: exit 2 with usage, nothing run") {
        for (const auto& args :
             std::vector<std::vector<std::string>>{{"chain", "list", "--frobnicate"},
                                                   {"version", "--verbose"},
                                                   {"serve", "--port", "80"},
                                                   {"plugins", "list", "--colour"}}) {
            auto r = run_cli(args);
            INFO(args[0] << " " << args.back() << ": " << r.err);
            CHECK(r.exit_code == 2);
            CHECK_THAT(r.err, Contains("unknown option") && Contains("usage:"));
        }
        auto r = run_cli({"frobnicate"});
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Contains("unknown command"));
    }
}

TEST_CASE("serve checks every flag before it opens anything: a bad value exits 2, no store made",
          "[integration][cli]") {
    TempDir dir("serve-flags");
    for (const auto& [flag, value] :
         std::vector<std::pair<std::string, std::string>>{{"--metering", "maybe"},
                                                          {"--journal-priority", "low"},
                                                          {"--log-retention-days", "-1"},
                                                          {"--drain-seconds", "soon"},
                                                          {"--max-threads", "2"},
                                                          {"--slow-work-threads", "0"},
                                                          {"--header-timeout-seconds", "0"},
                                                          {"--trusted-proxy", "10.0.0.0/99"},
                                                          {"--log-level", "chatty"}}) {
        const fs::path data = dir / ("data-" + flag.substr(2));
        auto r =
            run_cli({"serve", "--data", data.string(), "--listen", "127.0.0.1:0", flag, value});
        INFO(flag << " " << value << ": " << r.err);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Contains(flag));
        // Checked before the store is opened: not even a new store's first setup happened.
        CHECK_FALSE(fs::exists(data / "tianshu.db"));
    }
}

TEST_CASE(
    "channel add refuses an unknown type or a config failing the model's schema, changing nothing",
    "[integration][cli]") {
    Store s;
    auto ok = s.cli({"channel", "add", "--name", "slow", "--type", "demo", "--models", "slow-model",
                     "--config", R"({"delay_ms": 5})"});
    INFO(ok.out << ok.err);
    REQUIRE(ok.exit_code == 0);
    auto before = s.store_cli({"channel", "list", "--json"});
    REQUIRE(before.exit_code == 0);
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"channel", "add", "--name", "x", "--type", "no_such_model", "--models", "m"},
             {"channel", "add", "--name", "y", "--type", "demo", "--models", "m", "--config",
              R"({"delay_ms": -1})"},
             {"channel", "add", "--name", "z", "--type", "demo", "--models", "m", "--config",
              R"({"speed": 1})"},
             {"channel", "add", "--name", "w", "--type", "system_prompt", "--models", "m"},
             {"channel", "add", "--name", "v", "--type", "demo", "--models", "m", "--config",
              "[1,2]"}}) {
        auto r = s.cli(args);
        INFO(args[5] << " " << args.back() << ": " << r.err);
        CHECK(r.exit_code == 2);
        CHECK_FALSE(r.err.empty());
    }
    CHECK(s.store_cli({"channel", "list", "--json"}).out == before.out);
}

TEST_CASE("a chain imported while the server runs takes effect within 2 s",
          "[integration][cli][reload]") {
    Store s;
    ServeOptions o;
    o.data_dir = s.data;
    o.plugins_dir = s.plugins;
    o.scripts_dir = s.scripts;
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();

    auto before = post_json(gw.port(), "/v1/messages", anthropic_auth(key),
                            anthropic_body("claude-x", "ping?"));
    REQUIRE(before.status == 200);
    CHECK_THAT(anthropic_text(before.json()), Contains("demo model"));

    auto file = s.file("canned.json", R"({
      "id": "canned", "priority": 10, "tiers": ["*"], "models": ["*"], "routing": {"mode": "passthrough"},
      "pre": [{"plugin": "canned_answer", "config": {"match": "ping", "answer": "pong from the canned chain"}}]
    })");
    auto imported = s.cli({"chain", "import", file.string()});
    INFO(imported.out << imported.err);
    REQUIRE(imported.exit_code == 0);
    const auto at = Clock::now();
    std::string seen;
    bool changed = eventually(
        [&] {
            auto r = post_json(gw.port(), "/v1/messages", anthropic_auth(key),
                               anthropic_body("claude-x", "ping?"));
            seen = anthropic_text(r.json());
            return r.status == 200 && seen == "pong from the canned chain";
        },
        2s);
    INFO("last answer: " << seen);
    CHECK(changed);
    CHECK(Clock::now() - at < 2500ms);
    // Requests without the phrase still reach the model; the OpenAI side sees the same chain.
    auto other = post_json(gw.port(), "/v1/chat/completions", openai_auth(key),
                           openai_body("gpt-x", "ping"));
    CHECK(openai_text(other.json()) == "pong from the canned chain");
    auto plain = post_json(gw.port(), "/v1/chat/completions", openai_auth(key),
                           openai_body("gpt-x", "hello"));
    CHECK_THAT(openai_text(plain.json()), Contains("demo model"));
    CHECK(gw.wait_for_log(
        [](const Json& l) { return l.value("msg", "") == "configuration reloaded"; }, 1s));
    CHECK(gw.terminate() == 0);
}
