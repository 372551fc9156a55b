// The admin Health page's data through a real gateway: a channel of two upstream keys behind an
// HTTP proxy (the fake upstream doubles as the proxy), one key the provider refuses with a 400
// ("API key sk-broken-k*** not valid", as Gemini answers, so no retry hides it: a probe keeps
// no trace of the key the upstream echoes). Each request's row names the
// key that served it, GET /admin/api/health shows one bar per key (they differ), the channel
// "failing" with its reason, the latest probe of each key (`tianshu channel test` records them),
// and the proxy without its credentials, which reach neither the database nor the API.
#include <catch2/catch.hpp>

#include <soci/soci.h>

#include "fake_upstream_process.hpp"
#include "harness.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"

using namespace tianshu::it;
using Catch::Contains;
namespace store = tianshu::store;

namespace {

constexpr const char* kProxySecret = "pr0xy-s3cret";

//! Every value of one text column, one per line.
std::string column_text(store::Database& db, const std::string& sql) {
    std::string all;
    auto read = db.with_session("read " + sql, [&](soci::session& s) {
        std::string v;
        soci::indicator ind = soci::i_ok;
        soci::statement st = (s.prepare << sql, soci::into(v, ind));
        st.execute(false);
        while (st.fetch()) all += (ind == soci::i_null ? std::string("NULL") : v) + "\n";
    });
    REQUIRE(read.ok());
    return all;
}

}  // namespace

TEST_CASE("health: per-key bars differ, the channel fails with a reason, probes and the proxy",
          "[integration][health]") {
    TempDir tmp("health");
    const fs::path data = tmp / "data";
    fs::create_directories(data);
    const fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat"});
    const fs::path scripts = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    write_file(
        tmp / "scenario.json",
        Json{{"api_key", "sk-up"},
             {"models", {"up-model"}},
             {"key_errors",
              {{"sk-broken-key-0001",
                {{"status", 400},
                 {"message", "API key sk-broken-k*** not valid. Please pass a valid API key."}}}}},
             {"turns", {{{"text", "pong"}, {"times", 0}}}}}
            .dump());
    FakeUpstream up(tmp / "scenario.json", tmp / "upstream.log");
    const std::string proxy_origin = "http://127.0.0.1:" + std::to_string(up.port());
    const std::string proxy =
        "http://proxyuser:" + std::string(kProxySecret) + "@127.0.0.1:" + std::to_string(up.port());
    auto added = run_cli({"channel",       "add",
                          "--data",        data.string(),
                          "--name",        "duo",
                          "--type",        "openai_compat",
                          "--base-url",    "http://upstream.invalid/v1",
                          "--proxy",       proxy,
                          "--key",         "sk-up",
                          "--key",         "sk-broken-key-0001",
                          "--models",      "up-model",
                          "--map",         "claude-*=up-model",
                          "--plugins-dir", plugins.string(),
                          "--scripts-dir", scripts.string()});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    auto listed = run_cli({"channel", "list", "--data", data.string(), "--json"});
    REQUIRE(listed.exit_code == 0);
    const Json keys = Json::parse(listed.out).at(0).at("keys");
    REQUIRE(keys.size() == 2);
    const long long good = keys[0]["id"], bad = keys[1]["id"];  // in the order added

    ServeOptions o;
    o.data_dir = data;
    o.plugins_dir = plugins;
    o.scripts_dir = scripts;
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    REQUIRE(gw.admin_password());

    // The keys take turns: every other request meets the refused key, and the client gets its
    // 400 (a final answer, not retried).
    int ok = 0, refused = 0;
    for (int i = 0; i < 6; ++i) {
        auto r = post_json(gw.port(), "/v1/messages", anthropic_auth(*gw.demo_key()),
                           anthropic_body("claude-sonnet-4-5", "q" + std::to_string(i)));
        INFO(r.body);
        ok += r.status == 200;
        refused += r.status == 400;
    }
    CHECK(ok == 3);
    CHECK(refused == 3);
    // Every upstream call went through the proxy with its credentials.
    for (const auto& rec : up.requests())
        CHECK_THAT(rec.value("path", ""), Catch::StartsWith("http://upstream.invalid"));

    auto login =
        http_request(gw.port(), "POST", "/admin/api/login", {{"Content-Type", "application/json"}},
                     Json{{"name", "admin"}, {"password", *gw.admin_password()}}.dump());
    REQUIRE(login.status == 201);
    const Headers admin{{"Authorization", "Bearer " + login.json()["token"].get<std::string>()}};
    // A probe of each key (the panel's batch test), recorded for the page.
    auto tested = http_request(gw.port(), "POST", "/admin/api/channels/duo/test", admin);
    INFO(tested.body);
    REQUIRE(tested.status == 200);
    CHECK(tested.json()["ok"] == 1);
    CHECK(tested.json()["failed"] == 1);
    CHECK_THAT(tested.body, !Contains("sk-broken"));
    Json health;
    // The journal writes the rows within its interval.
    REQUIRE(eventually(
        [&] {
            auto r = http_request(gw.port(), "GET", "/admin/api/health?range=24h", admin);
            if (r.status != 200) return false;
            health = r.json();
            for (const auto& c : health["channels"])
                if (c["name"] == "duo") return c["requests"] == 6;
            return false;
        },
        10s));
    const std::string body = health.dump();
    INFO(body);
    CHECK(body.find(kProxySecret) == std::string::npos);
    CHECK(body.find("proxyuser") == std::string::npos);
    CHECK(body.find("sk-broken") == std::string::npos);
    CHECK(body.find("sk-up") == std::string::npos);

    Json duo;  // the first start's demo channel is listed too
    for (const auto& c : health["channels"])
        if (c["name"] == "duo") duo = c;
    CHECK(duo["state"] == "failing");
    CHECK(duo["reason"]["code"] == "errors");
    CHECK(duo["reason"]["errors"] == 3);
    CHECK(duo["reason"]["requests"] == 6);
    CHECK_THAT(duo["reason"]["text"].get<std::string>(), Contains("3 of 6 requests"));
    CHECK(duo["proxy"] == proxy_origin);
    REQUIRE(duo["keys"].size() == 2);
    const Json& gk = duo["keys"][0];
    const Json& bk = duo["keys"][1];
    REQUIRE(gk["key_id"] == good);
    REQUIRE(bk["key_id"] == bad);
    const Json& g_now = gk["slots"].back();
    const Json& b_now = bk["slots"].back();
    CHECK(g_now["requests"] == 3);
    CHECK(g_now["errors"] == 0);
    CHECK(g_now["ok_share"] == 1.0);
    CHECK(b_now["requests"] == 3);
    CHECK(b_now["errors"] == 3);
    CHECK(b_now["ok_share"] == 0.0);
    CHECK(gk["state"] == "enabled");
    CHECK(bk["state"] == "failing");
    REQUIRE(gk["latest_probe"].is_object());
    CHECK(gk["latest_probe"]["ok"] == true);
    CHECK(gk["latest_probe"]["latency_ms"].is_number());
    REQUIRE(bk["latest_probe"].is_object());
    CHECK(bk["latest_probe"]["ok"] == false);
    CHECK(bk["latest_probe"]["error_kind"] == "invalid_request");

    REQUIRE(health["proxies"].size() == 1);
    CHECK(health["proxies"][0]["proxy"] == proxy_origin);
    CHECK(health["proxies"][0]["channels"] == Json::array({"duo"}));
    CHECK(health["proxies"][0]["requests"] == 6);
    CHECK(health["proxies"][0]["errors"] == 3);

    // The database: each row names its channel key and the proxy without credentials.
    auto db = store::Database::open("sqlite://" + (data / "tianshu.db").string());
    REQUIRE(db);
    const std::string served = column_text(
        *db.value(), "SELECT CAST(channel_key_id AS TEXT) FROM request_logs ORDER BY id");
    CHECK(served.find(std::to_string(good)) != std::string::npos);
    CHECK(served.find(std::to_string(bad)) != std::string::npos);
    CHECK(column_text(*db.value(), "SELECT upstream_proxy FROM request_logs") == [&] {
        std::string six;
        for (int i = 0; i < 6; ++i) six += proxy_origin + "\n";
        return six;
    }());
    std::string everything;
    for (const char* sql :
         {"SELECT upstream_proxy FROM request_logs", "SELECT error_kind FROM request_logs",
          "SELECT dim_key FROM usage_rollups", "SELECT error FROM channel_probes",
          "SELECT channel FROM channel_probes"})
        everything += column_text(*db.value(), sql);
    CHECK(everything.find(kProxySecret) == std::string::npos);
    CHECK(everything.find("sk-broken") == std::string::npos);
    CHECK(gw.log_text().find(kProxySecret) == std::string::npos);
}
