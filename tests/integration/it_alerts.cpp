// The alert outbox through a real gateway: a channel of two upstream keys, one the provider
// refuses with a 401. The gateway disables that key and raises one open alert, which
// `tianshu alerts list` and GET /admin/api/alerts both show; the same refusal again (the key put
// back in rotation and refused once more) bumps that row instead of adding one; resolving it
// (admin API) closes it, and a later refusal opens a new row.
#include <catch2/catch.hpp>

#include "fake_upstream_process.hpp"
#include "harness.hpp"
#include "store/channels.hpp"
#include "store/database.hpp"

using namespace tianshu::it;
using Catch::Contains;
namespace store = tianshu::store;

namespace {

//! `tianshu alerts list --state STATE --json`, parsed.
Json alerts_cli(const fs::path& data, const std::string& state) {
    auto r = run_cli({"alerts", "list", "--state", state, "--data", data.string(), "--json"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return Json::parse(r.out);
}

}  // namespace

TEST_CASE("alerts: a refused upstream key raises one open alert; a repeat bumps it; resolve",
          "[integration][alerts]") {
    TempDir tmp("alerts");
    const fs::path data = tmp / "data";
    fs::create_directories(data);
    const fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat"});
    const fs::path scripts = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    write_file(tmp / "scenario.json",
               Json{{"api_key", "sk-up"},
                    {"models", {"up-model"}},
                    {"key_errors",
                     {{"sk-revoked-0001", {{"status", 401}, {"message", "invalid api key"}}}}},
                    {"turns", {{{"text", "pong"}, {"times", 0}}}}}
                   .dump());
    FakeUpstream up(tmp / "scenario.json", tmp / "upstream.log");
    auto added = run_cli({"channel",       "add",
                          "--data",        data.string(),
                          "--name",        "duo",
                          "--type",        "openai_compat",
                          "--base-url",    up.base_url(),
                          "--key",         "sk-up",
                          "--key",         "sk-revoked-0001",
                          "--models",      "up-model",
                          "--map",         "claude-*=up-model",
                          "--plugins-dir", plugins.string(),
                          "--scripts-dir", scripts.string()});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    auto listed = run_cli({"channel", "list", "--data", data.string(), "--json"});
    REQUIRE(listed.exit_code == 0);
    const long long bad = Json::parse(listed.out).at(0).at("keys").at(1).at("id");
    const std::string dedup = "upstream_key_disabled:duo#" + std::to_string(bad);

    ServeOptions o;
    o.data_dir = data;
    o.plugins_dir = plugins;
    o.scripts_dir = scripts;
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    REQUIRE(gw.admin_password());
    auto ask = [&](int i) {
        auto r = post_json(gw.port(), "/v1/messages", anthropic_auth(*gw.demo_key()),
                           anthropic_body("claude-sonnet-4-5", "q" + std::to_string(i)));
        INFO(r.body);
        CHECK(r.status == 200);  // the other key answers every time
    };

    // Keys take turns: within a few requests the revoked one is refused and disabled.
    for (int i = 0; i < 4; ++i) ask(i);
    Json open;
    REQUIRE(eventually(
        [&] {
            open = alerts_cli(data, "open");
            return open.size() == 1;
        },
        10s));
    INFO(open.dump());
    const long long id = open[0]["id"];
    CHECK(open[0]["kind"] == "upstream_key_disabled");
    CHECK(open[0]["severity"] == "critical");
    CHECK(open[0]["subject"] == "duo");
    CHECK(open[0]["state"] == "open");
    CHECK(open[0]["count"] == 1);
    CHECK(open[0]["dedup_key"] == dedup);
    CHECK(open[0]["resolved_at"].is_null());
    CHECK(open[0]["delivered_at"].is_null());
    CHECK_THAT(open[0]["message"].get<std::string>(), Contains("401") && Contains("duo"));
    // The upstream key itself is never in the alert.
    CHECK(open.dump().find("sk-revoked") == std::string::npos);

    auto login =
        http_request(gw.port(), "POST", "/admin/api/login", {{"Content-Type", "application/json"}},
                     Json{{"name", "admin"}, {"password", *gw.admin_password()}}.dump());
    REQUIRE(login.status == 201);
    const Headers admin{{"Authorization", "Bearer " + login.json()["token"].get<std::string>()}};
    auto api = http_request(gw.port(), "GET", "/admin/api/alerts", admin);
    INFO(api.body);
    REQUIRE(api.status == 200);
    REQUIRE(api.json()["data"].size() == 1);
    CHECK(api.json()["data"][0]["id"] == id);
    CHECK(api.json()["data"][0]["dedup_key"] == dedup);

    // The same refusal again: the key back in rotation (the gateway reloads on the revision
    // bump), refused and disabled once more. Still one row, counted twice.
    {
        auto db = store::Database::open("sqlite://" + (data / "tianshu.db").string());
        REQUIRE(store::channels::set_key_enabled(*db.value(), bad, true).ok());
    }
    int i = 10;
    REQUIRE(eventually(
        [&] {
            ask(i++);
            auto all = alerts_cli(data, "all");
            return all.size() == 1 && all[0]["count"] == 2;
        },
        15s));
    auto all = alerts_cli(data, "all");
    REQUIRE(all.size() == 1);
    CHECK(all[0]["id"] == id);
    CHECK(all[0]["state"] == "open");
    CHECK(all[0]["last_seen_at"].get<long long>() >= all[0]["created_at"].get<long long>());

    // Resolve through the admin API; the CLI sees it resolved.
    auto resolved = http_request(gw.port(), "POST",
                                 "/admin/api/alerts/" + std::to_string(id) + "/resolve", admin);
    INFO(resolved.body);
    REQUIRE(resolved.status == 200);
    CHECK(resolved.json()["state"] == "resolved");
    CHECK(resolved.json()["resolved_at"].is_number());
    CHECK(alerts_cli(data, "open").empty());
    auto after = alerts_cli(data, "resolved");
    REQUIRE(after.size() == 1);
    CHECK(after[0]["id"] == id);
    // Resolving again is harmless; an unknown id is refused by both front ends.
    auto again = run_cli({"alerts", "resolve", std::to_string(id), "--data", data.string()});
    CHECK(again.exit_code == 0);
    CHECK_THAT(again.out, Contains("resolved"));
    auto unknown = run_cli({"alerts", "resolve", "999999", "--data", data.string()});
    CHECK(unknown.exit_code == 1);
    CHECK_THAT(unknown.err, Contains("no alert with id 999999"));
    CHECK(http_request(gw.port(), "POST", "/admin/api/alerts/999999/resolve", admin).status == 404);
    CHECK(http_request(gw.port(), "POST", "/admin/api/alerts/x/resolve", admin).status == 404);
    auto bad_state = run_cli({"alerts", "list", "--state", "closed", "--data", data.string()});
    CHECK(bad_state.exit_code == 2);
    CHECK_THAT(bad_state.err, Contains("--state 'closed'"));

    // Once resolved, the next refusal of the same key opens a new row.
    {
        auto db = store::Database::open("sqlite://" + (data / "tianshu.db").string());
        REQUIRE(store::channels::set_key_enabled(*db.value(), bad, true).ok());
    }
    REQUIRE(eventually(
        [&] {
            ask(i++);
            return alerts_cli(data, "open").size() == 1;
        },
        15s));
    all = alerts_cli(data, "all");
    REQUIRE(all.size() == 2);
    CHECK(all[0]["state"] == "open");  // newest first
    CHECK(all[0]["id"] != id);
    CHECK(all[0]["count"] == 1);
    CHECK(all[1]["state"] == "resolved");
}
