// `tianshu chain versions | rollback | dry-run` against a real store and real plugins, and a
// rollback that a running gateway serves within 2 s.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;
using Clock = std::chrono::steady_clock;

namespace {

struct Store {
    TempDir tmp{"chain-cli"};
    fs::path data = tmp / "data";
    fs::path plugins =
        make_plugins_dir(tmp / "plugins", {"canned_answer", "rewrite_request", "noop_strategy"});
    fs::path scripts =
        make_scripts_dir(tmp / "scripts", {"models/demo.lua", "strategies/tag_request.lua"});

    CliResult cli(std::vector<std::string> args) const {
        args.insert(args.end(), {"--data", data.string(), "--plugins-dir", plugins.string(),
                                 "--scripts-dir", scripts.string()});
        return run_cli(args);
    }
    CliResult plugin_cli(std::vector<std::string> args) const {  // no store: dry-run
        args.insert(args.end(),
                    {"--plugins-dir", plugins.string(), "--scripts-dir", scripts.string()});
        return run_cli(args);
    }
    CliResult store_cli(std::vector<std::string> args) const {
        args.insert(args.end(), {"--data", data.string()});
        return run_cli(args);
    }
    fs::path file(const std::string& name, const std::string& text) const {
        write_file(tmp / name, text);
        return tmp / name;
    }
    fs::path canned(const std::string& answer) const {
        return file("canned-" + answer + ".json",
                    R"({"id": "canned", "priority": 10, "tiers": ["*"], "models": ["*"],
                        "routing": {"mode": "passthrough"},
                        "pre": [{"plugin": "canned_answer",
                                 "config": {"match": "ping", "answer": "answer )" +
                        answer + R"("}}]})");
    }
};

}  // namespace

TEST_CASE("chain versions lists every import; rollback saves version k as N+1",
          "[integration][cli][chain]") {
    Store s;
    for (const char* a : {"one", "two", "three"}) {
        auto r = s.cli({"chain", "import", s.canned(a).string()});
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    auto versions = s.store_cli({"chain", "versions", "canned", "--json"});
    INFO(versions.out << versions.err);
    REQUIRE(versions.exit_code == 0);
    Json v = Json::parse(versions.out);
    REQUIRE(v["versions"].size() == 3);
    CHECK(v["versions"][2]["version"] == 3);
    auto table = s.store_cli({"chain", "versions", "canned"});
    CHECK_THAT(table.out, Contains("3 versions"));

    auto back = s.cli({"chain", "rollback", "canned", "1", "--json"});
    INFO(back.out << back.err);
    REQUIRE(back.exit_code == 0);
    CHECK(Json::parse(back.out)["version"] == 4);
    auto v1 = s.store_cli({"chain", "export", "canned", "--version", "1"});
    auto v4 = s.store_cli({"chain", "export", "canned"});
    CHECK(v4.out == v1.out);
    CHECK_THAT(v4.out, Contains("answer one"));

    CHECK(s.cli({"chain", "rollback", "canned", "9"}).exit_code == 2);
    CHECK(s.cli({"chain", "rollback", "canned", "x"}).exit_code == 2);
    CHECK(s.store_cli({"chain", "versions", "ghost"}).exit_code == 2);
    CHECK(Json::parse(s.store_cli({"chain", "versions", "canned", "--json"}).out)["versions"]
              .size() == 4);
    for (const char* sub : {"import", "list", "export", "versions", "rollback", "dry-run"}) {
        auto help = run_cli({"chain", sub, "--help"});
        INFO(sub);
        CHECK(help.exit_code == 0);
        CHECK_THAT(help.out, Contains(std::string("tianshu chain ") + sub));
    }
    CHECK(run_cli({"chain", "frobnicate"}).exit_code == 2);
}

TEST_CASE("chain dry-run shows what each stage changed, and no change for a no-op",
          "[integration][cli][chain]") {
    Store s;
    auto chain = s.file("dry.json", R"({"id": "dry", "tiers": ["default"], "models": ["*"],
        "routing": {"mode": "passthrough"},
        "pre": [{"plugin": "rewrite_request", "config": {"model": "small-model"}},
                {"plugin": "noop_strategy"}]})");
    auto request = s.file("request.json", R"({"model": "claude-x", "max_tokens": 32,
        "messages": [{"role": "user", "content": "hi"}]})");
    auto r =
        s.plugin_cli({"chain", "dry-run", chain.string(), "--request", request.string(), "--json"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    Json report = Json::parse(r.out);
    REQUIRE(report["stages"].size() == 2);
    CHECK(report["stages"][0]["changed"] == true);
    bool model = false;
    for (const auto& d : report["stages"][0]["diff"])
        model = model ||
                (d["path"] == "/model" && d["before"] == "claude-x" && d["after"] == "small-model");
    CHECK(model);
    CHECK(report["stages"][1]["changed"] == false);
    CHECK(report["final_request"]["model"] == "small-model");
    // Nothing is stored by a dry run (no store is even opened).
    CHECK_FALSE(fs::exists(s.data));

    auto text = s.plugin_cli({"chain", "dry-run", chain.string()});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Contains("/pre/1 noop_strategy: ran, no change"));
    CHECK_THAT(text.out, Contains("replace /model"));
    auto bad = s.plugin_cli({"chain", "dry-run", chain.string(), "--request", chain.string()});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Contains("request"));
}

TEST_CASE("a rollback takes effect on a running gateway within 2 s",
          "[integration][cli][chain][reload]") {
    Store s;
    REQUIRE(s.cli({"chain", "import", s.canned("one").string()}).exit_code == 0);
    ServeOptions o;
    o.data_dir = s.data;
    o.plugins_dir = s.plugins;
    o.scripts_dir = s.scripts;
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    auto ask = [&] {
        auto r = post_json(gw.port(), "/v1/messages", anthropic_auth(key),
                           anthropic_body("claude-x", "ping?"));
        return r.status == 200 ? anthropic_text(r.json()) : "status " + std::to_string(r.status);
    };
    CHECK(ask() == "answer one");
    REQUIRE(s.cli({"chain", "import", s.canned("two").string()}).exit_code == 0);
    CHECK(eventually([&] { return ask() == "answer two"; }, 2500ms));

    auto back = s.cli({"chain", "rollback", "canned", "1"});
    INFO(back.out << back.err);
    REQUIRE(back.exit_code == 0);
    const auto at = Clock::now();
    std::string seen;
    bool changed = eventually(
        [&] {
            seen = ask();
            return seen == "answer one";
        },
        2s);
    INFO("last answer: " << seen);
    CHECK(changed);
    CHECK(Clock::now() - at < 2500ms);
    CHECK(gw.terminate() == 0);
}
