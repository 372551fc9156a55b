// The chain editor's server side driven in process: GET /plugins, chain versions, rollback,
// validate and the dry run, through the admin API (a recording ResponseWriter) over a real store
// (a fresh SQLite file per test case, or the MariaDB named by TIANSHU_TEST_DB_URL under
// with_mariadb.sh) and a real plugin catalog: built test .so plugins and Lua scripts.

#include "../unit/store/test_database.hpp"
#include "app/runtime_loader.hpp"
#include "core/slow_work_pool.hpp"
#include "hub/credentials.hpp"
#include "hub/login_throttle.hpp"
#include "hub/password_hasher.hpp"
#include "plugin/catalog.hpp"
#include "server/admin_api.hpp"
#include "service/chains.hpp"
#include "store/chains.hpp"
#include "store/settings.hpp"
#include "store/users.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>

using namespace tianshu;
using core::Json;
using store::testing::TestDatabase;
namespace fs = std::filesystem;

namespace {

struct RecordingWriter : server::ResponseWriter {
    int status = 0;
    std::string body;
    void set_header(std::string_view, std::string_view) override {}
    void send(int s, std::string_view, std::string_view b) override {
        status = s;
        body = std::string(b);
    }
    bool begin_stream() override { return false; }
    bool write(std::string_view) override { return false; }
    Json json() const {
        Json j = Json::parse(body, nullptr, false);
        INFO(body);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    }
};

#define REQUIRE_STATUS(expr, expected)               \
    do {                                             \
        const RecordingWriter& status_out_ = (expr); \
        INFO(status_out_.body);                      \
        REQUIRE(status_out_.status == (expected));   \
    } while (0)

//! A store with an admin ("ada"), a catalog of real plugins (rewrite_request, noop_strategy and
//! upper_stream .so; tag_request and side_asker Lua) and the admin API over both.
struct ChainsFixture {
    TestDatabase t;
    fs::path dir;
    plugin::PluginCatalog catalog;
    std::atomic<int> changes{0};
    core::SlowWorkPool pool{core::SlowWorkPool::Options{1, 64, true}};
    hub::PasswordHasher passwords{pool, 1000};
    hub::LoginThrottle logins{hub::LoginLimits{}};
    std::unique_ptr<server::AdminApi> api;
    std::string token;

    ChainsFixture() {
        dir =
            fs::temp_directory_path() / ("tianshu-chains-test-" + store::testing::unique_suffix());
        fs::create_directories(dir / "plugins");
        fs::create_directories(dir / "scripts" / "strategies");
        fs::create_directories(dir / "scripts" / "models");
        for (const char* so : {"rewrite_request", "noop_strategy", "upper_stream"})
            fs::copy_file(fs::path(TIANSHU_BINARY_DIR) / "test-plugins" / (std::string(so) + ".so"),
                          dir / "plugins" / (std::string(so) + ".so"));
        fs::copy_file(fs::path(TIANSHU_SOURCE_DIR) / "scripts/strategies/tag_request.lua",
                      dir / "scripts/strategies/tag_request.lua");
        for (const char* lua : {"side_asker", "session_counter"})
            fs::copy_file(fs::path(TIANSHU_SOURCE_DIR) / "tests/integration/scripts/strategies" /
                              (std::string(lua) + ".lua"),
                          dir / "scripts/strategies" / (std::string(lua) + ".lua"));
        auto problems = app::load_catalog(catalog, {dir / "plugins", dir / "scripts"});
        for (const auto& p : problems) INFO(p.message);
        REQUIRE(problems.empty());

        server::AdminApiOptions options;
        options.plugins = [this](const std::string& n) { return catalog.find(n); };
        options.plugin_infos = [this] { return catalog.list(); };
        options.passwords = &passwords;
        options.logins = &logins;
        api = std::make_unique<server::AdminApi>(
            db(), nullptr, [this] { ++changes; }, options);
        auto u = store::users::create(
            db(), {"ada", "admin", "default", hub::hash_password("admin-password-1", 1000)});
        REQUIRE(u.ok());
        auto out = call("POST", "/login", Json{{"name", "ada"}, {"password", "admin-password-1"}});
        REQUIRE_STATUS(out, 201);
        token = out.json()["token"].get<std::string>();
    }
    ~ChainsFixture() {
        std::error_code ec;
        fs::remove_all(dir, ec);
    }
    store::Database& db() { return *t.db; }
    service::Env env() {
        return service::Env{db(), nullptr, options_lookup(), nullptr, service::Actor{}, 0};
    }
    pipeline::PluginLookup options_lookup() {
        return [this](const std::string& n) { return catalog.find(n); };
    }

    RecordingWriter call(const std::string& method, const std::string& target,
                         const Json& body = nullptr) {
        auto c = server::make_admin_call(method, "/admin/api" + target,
                                         token.empty() ? "" : "Bearer " + token,
                                         body.is_null() ? "" : body.dump(), "127.0.0.1");
        REQUIRE(c.ok());
        RecordingWriter out;
        api->handle(c.value(), out);
        return out;
    }
};

Json a_chain(const std::string& id, const std::string& note) {
    return Json{{"id", id},
                {"tiers", {"default"}},
                {"models", {"claude-*"}},
                {"routing", {{"mode", "passthrough"}}},
                {"pre", {{{"plugin", "tag_request"}, {"config", {{"note", note}}}}}}};
}

Json a_request() {
    return Json{{"model", "claude-sonnet-4"},
                {"max_tokens", 64},
                {"system", "You help."},
                {"messages", {{{"role", "user"}, {"content", "hello"}}}}};
}

const Json* stage_named(const Json& report, const std::string& where) {
    for (const auto& s : report["stages"])
        if (s["where"] == where) return &s;
    return nullptr;
}

}  // namespace

TEST_CASE("GET /plugins lists every loaded .so and Lua block with its schema") {
    ChainsFixture f;
    auto out = f.call("GET", "/plugins");
    REQUIRE_STATUS(out, 200);
    std::map<std::string, Json> by_name;
    const Json listed = out.json();  // range-for over a temporary's member would dangle
    for (const auto& p : listed["plugins"]) by_name[p["name"].get<std::string>()] = p;
    REQUIRE(by_name.count("rewrite_request"));
    REQUIRE(by_name.count("tag_request"));
    const Json& so = by_name["rewrite_request"];
    CHECK(so["origin"] == "so");
    CHECK(so["kind"] == "strategy");
    CHECK(so["version"] == "1.0.0");
    CHECK(so["description"] == "Rewrites requests (test).");
    CHECK(so["config_schema"].is_null());  // it declares none: any object
    const Json& lua = by_name["tag_request"];
    CHECK(lua["origin"] == "lua");
    CHECK(lua["version"] == "1.0.0");
    CHECK_FALSE(lua["description"].get<std::string>().empty());
    REQUIRE(lua["config_schema"].is_object());
    CHECK(lua["config_schema"]["properties"].contains("note"));
    CHECK(f.call("POST", "/plugins").status == 405);
}

TEST_CASE("chain versions: every save is listed; each version reads back as saved") {
    ChainsFixture f;
    for (const char* note : {"one", "two", "three"})
        REQUIRE_STATUS(f.call("POST", "/chains", a_chain("c1", note)), 201);
    auto versions = f.call("GET", "/chains/c1/versions");
    REQUIRE_STATUS(versions, 200);
    REQUIRE(versions.json()["versions"].size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(versions.json()["versions"][i]["version"] == i + 1);
        CHECK(versions.json()["versions"][i]["created_at"].get<long long>() > 0);
    }
    auto v2 = f.call("GET", "/chains/c1/versions/2");
    REQUIRE_STATUS(v2, 200);
    CHECK(v2.json()["chain"]["pre"][0]["config"]["note"] == "two");
    CHECK(f.call("GET", "/chains/c1/versions/9").status == 404);
    CHECK(f.call("GET", "/chains/c1/versions/x").status == 400);
    CHECK(f.call("GET", "/chains/nope/versions").status == 404);
    CHECK(f.call("GET", "/chains/c1").json()["chain"]["pre"][0]["config"]["note"] == "three");
}

TEST_CASE("rollback saves version k again as version N+1 and bumps the revision gateways poll") {
    ChainsFixture f;
    for (const char* note : {"one", "two", "three"})
        REQUIRE_STATUS(f.call("POST", "/chains", a_chain("c1", note)), 201);
    const long long revision = store::config_revision(f.db()).value();
    const int changes = f.changes;
    auto back = f.call("POST", "/chains/c1/rollback", Json{{"version", 1}});
    REQUIRE_STATUS(back, 201);
    CHECK(back.json()["id"] == "c1");
    CHECK(back.json()["version"] == 4);
    CHECK(store::config_revision(f.db()).value() > revision);
    CHECK(f.changes == changes + 1);
    auto all = store::chains::versions(f.db(), "c1").value();
    REQUIRE(all.size() == 4);
    CHECK(all[3].body == all[0].body);
    CHECK(f.call("GET", "/chains/c1").json()["chain"]["pre"][0]["config"]["note"] == "one");

    CHECK(f.call("POST", "/chains/c1/rollback", Json{{"version", 7}}).status == 404);
    CHECK(f.call("POST", "/chains/c1/rollback", Json::object()).status == 400);
    CHECK(f.call("POST", "/chains/ghost/rollback", Json{{"version", 1}}).status == 404);
    CHECK(store::chains::versions(f.db(), "c1").value().size() == 4);
}

TEST_CASE("validate: ok for a good chain; every problem with its JSON path otherwise") {
    ChainsFixture f;
    auto good = f.call("POST", "/chains/validate", Json{{"chain", a_chain("c1", "x")}});
    REQUIRE_STATUS(good, 200);
    CHECK(good.json()["ok"] == true);

    Json bad = a_chain("c1", "x");
    bad["pre"][0]["config"]["note"] = 5;
    bad["pre"].push_back({{"plugin", "ghost"}});
    auto out = f.call("POST", "/chains/validate", Json{{"chain", bad}});
    REQUIRE_STATUS(out, 400);
    CHECK(out.json()["ok"] == false);
    std::set<std::string> paths;
    const Json answer = out.json();
    for (const auto& p : answer["problems"]) {
        paths.insert(p["path"].get<std::string>());
        CHECK_FALSE(p["reason"].get<std::string>().empty());
    }
    INFO(out.body);
    CHECK(paths.count("/pre/1/plugin"));
    bool config_path = false;
    for (const auto& p : paths) config_path = config_path || p.rfind("/pre/0/config", 0) == 0;
    CHECK(config_path);
    CHECK(out.json()["error"]["message"].get<std::string>().find("ghost") != std::string::npos);
    // Validation saves nothing.
    CHECK_FALSE(store::chains::latest(f.db(), "c1").value().has_value());
    CHECK(f.call("POST", "/chains/validate", Json{{"nochain", 1}}).status == 400);
}

TEST_CASE("dry run: a stage that edits the request shows its diff; a no-op shows no change") {
    ChainsFixture f;
    Json chain = a_chain("dry", "house");
    chain["pre"] = {{{"plugin", "rewrite_request"}, {"config", {{"model", "small-model"}}}},
                    {{"plugin", "noop_strategy"}},
                    {{"plugin", "side_asker"}, {"config", {{"model", "big"}, {"times", 1}}}}};
    chain["post"] = {{{"plugin", "upper_stream"}}};
    auto out = f.call("POST", "/chains/dry-run", Json{{"chain", chain}, {"request", a_request()}});
    REQUIRE_STATUS(out, 200);
    const Json report = out.json();
    INFO(report.dump(2));
    REQUIRE(report["stages"].size() == 4);

    const Json* rewrite = stage_named(report, "/pre/0");
    REQUIRE(rewrite);
    CHECK((*rewrite)["name"] == "rewrite_request");
    CHECK((*rewrite)["kind"] == "pre");
    CHECK((*rewrite)["changed"] == true);
    CHECK((*rewrite)["elapsed_us"].is_number_integer());
    bool model_changed = false;
    for (const auto& d : (*rewrite)["diff"])
        if (d["path"] == "/model") {
            model_changed = true;
            CHECK(d["op"] == "replace");
            CHECK(d["before"] == "claude-sonnet-4");
            CHECK(d["after"] == "small-model");
        }
    CHECK(model_changed);

    const Json* noop = stage_named(report, "/pre/1");
    REQUIRE(noop);
    CHECK((*noop)["changed"] == false);
    CHECK((*noop)["diff"].empty());

    // call_model never reaches an upstream: refused and shown.
    const Json* asker = stage_named(report, "/pre/2");
    REQUIRE(asker);
    CHECK((*asker)["side_calls_refused"] == Json::array({"big"}));

    const Json* upper = stage_named(report, "/post/0");
    REQUIRE(upper);
    CHECK((*upper)["kind"] == "post");
    CHECK((*upper)["changed"] == true);
    CHECK(report["final_request"]["model"] == "small-model");
    CHECK(report["final_answer"]["content"][0]["text"] ==
          "THIS IS THE DRY RUN'S CANNED ANSWER: NO MODEL WAS CALLED.");
    // Nothing was saved.
    CHECK_FALSE(store::chains::latest(f.db(), "dry").value().has_value());
}

TEST_CASE("dry run: bad input names the field; the service op is the route's") {
    ChainsFixture f;
    CHECK(f.call("POST", "/chains/dry-run", Json{{"chain", a_chain("d", "x")}}).status == 400);
    auto bad_request = f.call("POST", "/chains/dry-run",
                              Json{{"chain", a_chain("d", "x")}, {"request", {{"model", "m"}}}});
    REQUIRE_STATUS(bad_request, 400);
    CHECK(bad_request.json()["error"]["message"].get<std::string>().find("request") !=
          std::string::npos);
    Json ghost = a_chain("d", "x");
    ghost["pre"][0]["plugin"] = "ghost";
    CHECK(f.call("POST", "/chains/dry-run", Json{{"chain", ghost}, {"request", a_request()}})
              .status == 400);

    auto report = service::chains::dry_run(f.options_lookup(), a_chain("d", "note"), a_request());
    REQUIRE(report.ok());
    REQUIRE(report->stages.size() == 1);
    CHECK(report->stages[0].changed);
    CHECK(report->stages[0].diff[0].path.rfind("/system", 0) == 0);
}

TEST_CASE("dry run: session state is a throwaway; an answering stage skips the rest") {
    ChainsFixture f;
    Json chain = a_chain("sess", "x");
    chain["pre"] = {{{"plugin", "session_counter"}}, {{"plugin", "noop_strategy"}}};
    chain["post"] = {{{"plugin", "upper_stream"}}};
    for (int run = 0; run < 2; ++run) {
        // The same conversation twice: each dry run starts from an empty session of its own.
        auto out =
            f.call("POST", "/chains/dry-run", Json{{"chain", chain}, {"request", a_request()}});
        REQUIRE_STATUS(out, 200);
        const Json report = out.json();
        INFO(report.dump(2));
        CHECK(report["stages"][0]["outcome"] == "answered");
        CHECK(report["stages"][1]["outcome"] == "skipped");
        CHECK(report["stages"][2]["outcome"] == "ran");
        CHECK(report["final_answer"]["content"][0]["text"].get<std::string>().rfind("TURN=1 ", 0) ==
              0);
    }
}

TEST_CASE("json_diff names added, removed and replaced paths") {
    auto d = service::chains::json_diff(Json{{"a", 1}, {"b", {1, 2}}, {"c/d", 1}},
                                        Json{{"a", 2}, {"b", {1}}, {"e", true}});
    std::map<std::string, std::string> ops;
    for (const auto& c : d) ops[c.path] = c.op;
    CHECK(ops == std::map<std::string, std::string>{
                     {"/a", "replace"}, {"/b/1", "remove"}, {"/c~1d", "remove"}, {"/e", "add"}});
    CHECK(service::chains::json_diff(Json{{"a", 1}}, Json{{"a", 1}}).empty());
}
