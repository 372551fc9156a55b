// The admin REST API driven directly (no HTTP): a recording ResponseWriter, a real store
// (a fresh SQLite file per test case, or the MariaDB named by TIANSHU_TEST_DB_URL), a real
// SecretBox and an in-process plugin catalog.

#include "../unit/pipeline/fake_plugins.hpp"
#include "../unit/store/test_database.hpp"
#include "core/slow_work_pool.hpp"
#include "hub/credentials.hpp"
#include "hub/login_throttle.hpp"
#include "hub/password_hasher.hpp"
#include "hub/secret_box.hpp"
#include "server/admin_api.hpp"
#include "server/admin_routes.hpp"
#include "store/admin_sessions.hpp"
#include "store/api_keys.hpp"
#include "store/chains.hpp"
#include "store/channels.hpp"
#include "store/ledger.hpp"
#include "store/prices.hpp"
#include "store/request_logs.hpp"
#include "store/tiers.hpp"

#include <soci/soci.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

using namespace tianshu;
using core::Json;
using store::testing::TestDatabase;

namespace {

//! Keeps what AdminApi wrote, whole or streamed.
struct RecordingWriter : server::ResponseWriter {
    int status = 0;
    std::string content_type;
    std::string body;
    std::map<std::string, std::string> headers;
    std::vector<std::string> cookies;  //!< every Set-Cookie, in order
    bool streamed = false;
    int writes = 0;

    void set_header(std::string_view name, std::string_view value) override {
        std::string key(name);
        for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (key == "set-cookie") cookies.emplace_back(value);
        headers[key] = std::string(value);
    }
    //! The Set-Cookie line for cookie `name`; empty when none was set.
    std::string cookie(const std::string& name) const {
        for (const auto& c : cookies)
            if (c.rfind(name + "=", 0) == 0) return c;
        return {};
    }
    void send(int s, std::string_view type, std::string_view b) override {
        status = s;
        content_type = std::string(type);
        body = std::string(b);
    }
    bool begin_stream() override {
        status = 200;
        streamed = true;
        return true;
    }
    bool write(std::string_view frames) override {
        body += frames;
        ++writes;
        return true;
    }
    Json json() const {
        Json j = Json::parse(body, nullptr, false);
        INFO(body);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    }
    std::string error_type() const { return json()["error"]["type"].get<std::string>(); }
    std::string error_message() const { return json()["error"]["message"].get<std::string>(); }
};

constexpr const char* kRootPassword = "root-password-1";
constexpr const char* kAdminPassword = "admin-password-1";
constexpr const char* kUserPassword = "user-password-1";
//! Few KDF iterations keep the tests fast; the hasher's decoy uses the same count.
constexpr int kTestIterations = 1000;

//! One password check, as the hasher's seam saw it.
struct CheckSeen {
    std::string encoded;
    int iterations = 0;  //!< read from the encoded hash ("pbkdf2-sha256$N$salt$hash")
};

//! A store with a root ("root"), an admin ("ada") and a user ("bob"), a secret file, a
//! catalog with one model plugin ("echo_adapter") and one strategy ("prefix"), and the API.
struct AdminFixture {
    TestDatabase t;
    std::filesystem::path dir;
    std::unique_ptr<hub::SecretBox> box;
    testing::FakeCatalog catalog;
    std::atomic<int> changes{0};
    core::SlowWorkPool pool{core::SlowWorkPool::Options{1, 64, true}};
    std::mutex checks_mutex;
    std::vector<CheckSeen> checks;  //!< every password check the API asked the pool for
    hub::PasswordHasher passwords{
        pool, kTestIterations, [this](std::string_view plain, std::string_view encoded) {
            std::string e(encoded);
            auto first = e.find('$'), second = e.find('$', first + 1);
            {
                std::lock_guard lock(checks_mutex);
                checks.push_back({e, std::stoi(e.substr(first + 1, second - first - 1))});
            }
            return hub::verify_password(plain, encoded);
        }};
    hub::LoginThrottle logins{hub::LoginLimits{}};
    std::unique_ptr<server::AdminApi> api;
    std::string root_token, admin_token;

    AdminFixture() {
        dir = std::filesystem::temp_directory_path() /
              ("tianshu-admin-test-" + store::testing::unique_suffix());
        std::filesystem::create_directories(dir);
        auto opened = hub::SecretBox::open_or_create(dir / "secret.key");
        REQUIRE(opened.ok());
        box = std::make_unique<hub::SecretBox>(opened.value());
        catalog
            .add("echo_adapter", plugin::PluginKind::model,
                 R"({"type":"object","properties":{"base_url":{"type":"string"},
                        "api_key":{"type":"string"},"delay_ms":{"type":"integer"}},
                        "additionalProperties":false})")
            ->make_model = [](const Json&) { return std::make_shared<testing::EchoModel>(); };
        catalog
            .add("prefix", plugin::PluginKind::strategy,
                 R"({"type":"object","additionalProperties":false,"required":["text"],
                     "properties":{"text":{"type":"string"}}})")
            ->make_strategy = [](const Json&) { return std::make_shared<testing::FakeStrategy>(); };
        server::AdminApiOptions options;
        options.plugins = catalog.lookup();
        options.passwords = &passwords;
        options.logins = &logins;
        api = std::make_unique<server::AdminApi>(
            db(), box.get(), [this] { ++changes; }, options);
        add_user("root", "root", kRootPassword);
        add_user("ada", "admin", kAdminPassword);
        add_user("bob", "user", kUserPassword);
        root_token = login("root", kRootPassword);
        admin_token = login("ada", kAdminPassword);
    }
    ~AdminFixture() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    store::Database& db() { return *t.db; }

    store::User add_user(const std::string& name, const std::string& role,
                         const std::string& password) {
        // verify_password reads the iteration count from the hash.
        auto u = store::users::create(
            db(), {name, role, "default",
                   password.empty() ? "" : hub::hash_password(password, kTestIterations)});
        INFO((u.ok() ? "" : u.error().message));
        REQUIRE(u.ok());
        return u.value();
    }

    RecordingWriter call(const std::string& method, const std::string& target,
                         const std::string& token, const std::string& body = "",
                         const std::string& ip = "127.0.0.1") {
        auto c = server::make_admin_call(method, "/admin/api" + target,
                                         token.empty() ? "" : "Bearer " + token, body, ip);
        REQUIRE(c.ok());
        RecordingWriter out;
        api->handle(c.value(), out);
        return out;
    }
    //! A call the way the panel makes it: the session in the cookie, maybe a CSRF header.
    RecordingWriter by_cookie(const std::string& method, const std::string& target,
                              const std::string& session, const std::string& csrf,
                              const std::string& body = "", const std::string& proto = "") {
        auto c = server::make_admin_call(method, "/admin/api" + target, "", body, "127.0.0.1",
                                         "theme=dark; tianshu_session=" + session + "; x=1", csrf,
                                         proto);
        REQUIRE(c.ok());
        RecordingWriter out;
        api->handle(c.value(), out);
        return out;
    }
    RecordingWriter as_root(const std::string& method, const std::string& target,
                            const Json& body = nullptr) {
        return call(method, target, root_token, body.is_null() ? "" : body.dump());
    }
    RecordingWriter as_admin(const std::string& method, const std::string& target,
                             const Json& body = nullptr) {
        return call(method, target, admin_token, body.is_null() ? "" : body.dump());
    }

    std::string login(const std::string& name, const std::string& password) {
        auto out = call("POST", "/login", "", Json{{"name", name}, {"password", password}}.dump());
        INFO(out.body);
        REQUIRE(out.status == 201);
        return out.json()["token"].get<std::string>();
    }
};

// Evaluates `expr` once (it may be a call that changes the store) and shows the body on failure.
#define REQUIRE_STATUS(expr, expected)               \
    do {                                             \
        const RecordingWriter& status_out_ = (expr); \
        INFO(status_out_.body);                      \
        REQUIRE(status_out_.status == (expected));   \
    } while (0)

Json a_channel(const std::string& name) {
    return Json{{"name", name},
                {"type", "echo_adapter"},
                {"base_url", "https://up.example/v1"},
                {"models", {"m1", "m2"}},
                {"keys", {"upstream-secret-AAA", "upstream-secret-BBB"}}};
}

//! Every admin route (method, path) with sample ids.
const std::vector<std::pair<std::string, std::string>> kRoutes = {
    {"GET", "/me"},
    {"POST", "/logout"},
    {"GET", "/channels"},
    {"POST", "/channels"},
    {"GET", "/channels/x"},
    {"PATCH", "/channels/x"},
    {"DELETE", "/channels/x"},
    {"POST", "/channels/x/enable"},
    {"POST", "/channels/x/disable"},
    {"POST", "/channels/x/keys"},
    {"DELETE", "/channels/x/keys/1"},
    {"POST", "/channels/test"},
    {"POST", "/channels/x/test"},
    {"GET", "/users"},
    {"POST", "/users"},
    {"GET", "/users/bob"},
    {"PATCH", "/users/bob"},
    {"POST", "/users/bob/topup"},
    {"GET", "/users/bob/ledger"},
    {"GET", "/users/bob/keys"},
    {"POST", "/users/bob/keys"},
    {"GET", "/keys/1"},
    {"PATCH", "/keys/1"},
    {"DELETE", "/keys/1"},
    {"GET", "/tiers"},
    {"POST", "/tiers"},
    {"GET", "/tiers/default"},
    {"PATCH", "/tiers/default"},
    {"DELETE", "/tiers/default"},
    {"GET", "/prices"},
    {"GET", "/prices/m"},
    {"PUT", "/prices/m"},
    {"DELETE", "/prices/m"},
    {"POST", "/redemption-codes"},
    {"GET", "/redemption-codes"},
    {"POST", "/redeem"},
    {"GET", "/invitations"},
    {"PUT", "/invitations/rebate"},
    {"POST", "/users/bob/invite-code"},
    {"GET", "/logs"},
    {"GET", "/logs.csv"},
    {"GET", "/stats"},
    {"GET", "/chains"},
    {"POST", "/chains"},
    {"POST", "/playground"},
    {"GET", "/no-such-route"},
};

}  // namespace

// ---- login and authentication --------------------------------------------------------------

TEST_CASE("login: the right password of an admin gives a session token that works") {
    AdminFixture f;
    auto out =
        f.call("POST", "/login", "", Json{{"name", "ada"}, {"password", kAdminPassword}}.dump());
    REQUIRE_STATUS(out, 201);
    std::string token = out.json()["token"];
    CHECK(token.rfind("tsa_", 0) == 0);
    CHECK(out.json()["user"]["role"] == "admin");
    CHECK(out.json()["expires_at"].get<long long>() > store::now_seconds() + 11 * 3600);
    auto me = f.call("GET", "/me", token);
    REQUIRE_STATUS(me, 200);
    CHECK(me.json()["name"] == "ada");
    CHECK(me.json()["auth"] == "session");
    // Stored hashed: no row holds the token itself.
    auto hit = store::admin_sessions::find_live(f.db(), token, store::now_seconds());
    REQUIRE(hit.ok());
    CHECK_FALSE(hit.value().has_value());
    CHECK(store::admin_sessions::find_live(f.db(), hub::api_key_hash(token), store::now_seconds())
              .value()
              .has_value());
    CHECK(f.changes == 0);  // logging in changes no configuration
}

TEST_CASE("login: a wrong password, an unknown name, a user role or a disabled admin is refused") {
    AdminFixture f;
    auto wrong =
        f.call("POST", "/login", "", Json{{"name", "ada"}, {"password", "nope-nope"}}.dump());
    REQUIRE_STATUS(wrong, 401);
    CHECK(wrong.error_type() == "authentication");
    auto unknown =
        f.call("POST", "/login", "", Json{{"name", "nobody"}, {"password", "nope-nope"}}.dump());
    REQUIRE_STATUS(unknown, 401);
    // The same words either way: the answer does not tell whether the name exists.
    CHECK(unknown.error_message() == wrong.error_message());

    // A user logs in too (the panel's self-service pages), but reaches only the /me routes.
    auto user =
        f.call("POST", "/login", "", Json{{"name", "bob"}, {"password", kUserPassword}}.dump());
    REQUIRE_STATUS(user, 201);
    auto refused = f.call("GET", "/users", user.json()["token"].get<std::string>());
    REQUIRE_STATUS(refused, 403);
    CHECK(refused.error_message().find("role 'user'") != std::string::npos);

    auto eve = f.add_user("eve", "admin", "eve-password-1");
    REQUIRE(store::users::set_enabled(f.db(), eve.id, false).ok());
    auto disabled =
        f.call("POST", "/login", "", Json{{"name", "eve"}, {"password", "eve-password-1"}}.dump());
    REQUIRE_STATUS(disabled, 403);

    f.add_user("nopass", "admin", "");
    auto nopass = f.call("POST", "/login", "", Json{{"name", "nopass"}, {"password", ""}}.dump());
    REQUIRE_STATUS(nopass, 400);  // an empty password is not even a login attempt
    auto nopass2 =
        f.call("POST", "/login", "", Json{{"name", "nopass"}, {"password", "anything1"}}.dump());
    REQUIRE_STATUS(nopass2, 401);

    auto bad_body = f.call("POST", "/login", "", "{\"name\": \"ada\"}");
    REQUIRE_STATUS(bad_body, 400);
    CHECK(bad_body.error_message().find("'password'") != std::string::npos);
}

TEST_CASE("login: an unknown name costs exactly what a wrong password costs") {
    AdminFixture f;
    auto checks_of = [&](const std::string& name) {
        {
            std::lock_guard lock(f.checks_mutex);
            f.checks.clear();
        }
        auto out =
            f.call("POST", "/login", "", Json{{"name", name}, {"password", "wrong-pass"}}.dump());
        REQUIRE_STATUS(out, 401);
        std::lock_guard lock(f.checks_mutex);
        return f.checks;
    };
    const auto wrong = checks_of("ada");
    const auto unknown = checks_of("nobody-at-all");
    f.add_user("nopass", "admin", "");
    const auto no_password = checks_of("nopass");
    REQUIRE(wrong.size() == 1);
    REQUIRE(unknown.size() == 1);
    REQUIRE(no_password.size() == 1);
    CHECK(wrong[0].iterations == kTestIterations);
    CHECK(unknown[0].iterations == wrong[0].iterations);
    CHECK(no_password[0].iterations == wrong[0].iterations);
    CHECK(unknown[0].encoded != wrong[0].encoded);  // the decoy, not ada's hash
}

TEST_CASE("login: failures are limited per address and per account; success does not count") {
    AdminFixture f;  // default limits: 10 per address, 30 per account, in 600 s
    auto attempt = [&](const std::string& name, const std::string& password,
                       const std::string& ip) {
        return f.call("POST", "/login", "", Json{{"name", name}, {"password", password}}.dump(),
                      ip);
    };
    // Successful logins from 10.0.0.1 (the fixture's own, and these) never fill its window.
    for (int i = 0; i < 12; ++i) REQUIRE_STATUS(attempt("ada", kAdminPassword, "10.0.0.1"), 201);
    for (int i = 0; i < 10; ++i)
        REQUIRE_STATUS(attempt("guess-" + std::to_string(i), "wrong-pass", "10.0.0.1"), 401);
    {
        std::lock_guard lock(f.checks_mutex);
        f.checks.clear();
    }
    auto refused = attempt("ada", kAdminPassword, "10.0.0.1");
    REQUIRE_STATUS(refused, 429);
    CHECK(refused.error_type() == "rate_limited");
    CHECK(refused.error_message().find("too many failed logins from address 10.0.0.1") !=
          std::string::npos);
    CHECK(refused.error_message().find("try again in ") != std::string::npos);
    REQUIRE(refused.headers.count("retry-after"));
    CHECK(std::stoi(refused.headers["retry-after"]) > 0);
    CHECK(std::stoi(refused.headers["retry-after"]) <= 600);
    {
        std::lock_guard lock(f.checks_mutex);
        CHECK(f.checks.empty());  // refused before any password check
    }
    // Another address is not affected.
    REQUIRE_STATUS(attempt("ada", kAdminPassword, "10.0.0.2"), 201);

    // One account guessed from many addresses: 30 failures, then even the right password waits.
    for (int i = 0; i < 30; ++i)
        REQUIRE_STATUS(attempt("ada", "wrong-pass", "10.1.0." + std::to_string(i)), 401);
    auto account = attempt("ada", kAdminPassword, "10.2.0.1");
    REQUIRE_STATUS(account, 429);
    CHECK(account.error_message().find("too many failed logins for account 'ada'") !=
          std::string::npos);
    REQUIRE(account.headers.count("retry-after"));
    // Other accounts still log in.
    REQUIRE_STATUS(attempt("root", kRootPassword, "10.2.0.1"), 201);
}

TEST_CASE("logout ends the session; an expired session is refused") {
    AdminFixture f;
    REQUIRE_STATUS(f.call("POST", "/logout", f.admin_token), 204);
    auto after = f.call("GET", "/me", f.admin_token);
    REQUIRE_STATUS(after, 401);
    CHECK(after.error_message().find("log in again") != std::string::npos);

    auto ada = store::users::find_by_name(f.db(), "ada").value().value();
    const std::string token = "tsa_expired-token-for-test";
    REQUIRE(store::admin_sessions::create(f.db(), ada.id, hub::api_key_hash(token),
                                          store::now_seconds() - 1, "127.0.0.1")
                .ok());
    REQUIRE_STATUS(f.call("GET", "/me", token), 401);
}

TEST_CASE("every route refuses a call without a valid token (401) and a user's key (403)") {
    AdminFixture f;
    auto bob = store::users::find_by_name(f.db(), "bob").value().value();
    std::string bob_key = hub::generate_api_key();
    REQUIRE(store::api_keys::create(f.db(), bob.id, "k", hub::api_key_prefix(bob_key),
                                    hub::api_key_hash(bob_key))
                .ok());
    for (const auto& [method, path] : kRoutes) {
        INFO(method << " " << path);
        auto none = f.call(method, path, "", "{}");
        CHECK(none.status == 401);
        CHECK(none.error_type() == "authentication");
        auto garbage = f.call(method, path, "tsa_not-a-real-session", "{}");
        CHECK(garbage.status == 401);
        auto unknown_key = f.call(method, path, hub::generate_api_key(), "{}");
        CHECK(unknown_key.status == 401);
        auto user_key = f.call(method, path, bob_key, "{}");
        CHECK(user_key.status == 403);
    }
    CHECK(f.changes == 0);
}

TEST_CASE("an admin's API key works as a bearer token, within its IP lists and expiry") {
    AdminFixture f;
    auto made =
        f.as_root("POST", "/users/ada/keys", {{"name", "ops"}, {"ip_allow", {"10.0.0.0/8"}}});
    REQUIRE_STATUS(made, 201);
    std::string key = made.json()["key"];
    auto inside = f.call("GET", "/me", key, "", "10.1.2.3");
    REQUIRE_STATUS(inside, 200);
    CHECK(inside.json()["auth"] == "api_key");
    CHECK(f.call("GET", "/me", key, "", "192.168.1.1").status == 403);
    // Logout is for sessions: a key is revoked instead.
    CHECK(f.call("POST", "/logout", key, "", "10.1.2.3").status == 400);
    auto id = made.json()["id"].get<long long>();
    REQUIRE_STATUS(f.as_root("PATCH", "/keys/" + std::to_string(id),
                             {{"expires_at", store::now_seconds() - 10}}),
                   200);
    auto expired = f.call("GET", "/me", key, "", "10.1.2.3");
    REQUIRE_STATUS(expired, 401);
    CHECK(expired.error_message().find("expired") != std::string::npos);
}

// ---- roles ---------------------------------------------------------------------------------

TEST_CASE("role admin cannot create or change root users; root can") {
    AdminFixture f;
    auto made_root = f.as_admin("POST", "/users", {{"name", "r2"}, {"role", "root"}});
    REQUIRE_STATUS(made_root, 403);
    CHECK(made_root.error_type() == "permission");
    CHECK_FALSE(store::users::find_by_name(f.db(), "r2").value().has_value());

    CHECK(f.as_admin("PATCH", "/users/root", {{"tier", "default"}}).status == 403);
    CHECK(f.as_admin("PATCH", "/users/bob", {{"role", "root"}}).status == 403);
    CHECK(f.as_admin("POST", "/users/root/keys", {{"name", "mine now"}}).status == 403);
    CHECK(f.as_admin("POST", "/users/root/topup", {{"amount", "1"}}).status == 403);
    CHECK(store::api_keys::list(f.db()).value().empty());

    // An admin may manage users and other admins.
    REQUIRE_STATUS(f.as_admin("PATCH", "/users/bob", {{"role", "admin"}}), 200);
    // A root may create roots.
    auto by_root = f.as_root("POST", "/users", {{"name", "r2"}, {"role", "root"}});
    REQUIRE_STATUS(by_root, 201);
    CHECK(by_root.json()["role"] == "root");
}

TEST_CASE("an admin demoted to user loses a live session at once; nobody locks themselves out") {
    AdminFixture f;
    REQUIRE_STATUS(f.as_admin("PATCH", "/users/ada", {{"enabled", false}}), 403);
    REQUIRE_STATUS(f.as_root("PATCH", "/users/root", {{"role", "admin"}}), 403);
    REQUIRE_STATUS(f.as_root("PATCH", "/users/ada", {{"role", "user"}}), 200);
    auto after = f.as_admin("GET", "/channels");
    REQUIRE_STATUS(after, 403);
    CHECK(after.error_message().find("role 'user'") != std::string::npos);
}

// ---- channels ------------------------------------------------------------------------------

TEST_CASE("channels: create with sealed keys, read, page, patch, enable, disable, delete") {
    AdminFixture f;
    auto made = f.as_admin("POST", "/channels", a_channel("alpha"));
    REQUIRE_STATUS(made, 201);
    CHECK(f.changes == 1);
    // Neither the plaintext nor the sealed form of a key is ever in an answer.
    CHECK(made.body.find("upstream-secret") == std::string::npos);
    CHECK(made.body.find("v1:") == std::string::npos);
    CHECK(made.json()["keys"].size() == 2);
    CHECK_FALSE(made.json()["config"].contains("api_key"));

    auto stored = store::channels::find_by_name(f.db(), "alpha").value().value();
    REQUIRE(stored.keys.size() == 2);
    CHECK(f.box->open(stored.keys[0].sealed_key, "alpha").value() == "upstream-secret-AAA");
    CHECK(f.box->open(stored.keys[1].sealed_key, "alpha").value() == "upstream-secret-BBB");

    REQUIRE_STATUS(f.as_admin("POST", "/channels", a_channel("beta")), 201);
    REQUIRE_STATUS(f.as_admin("POST", "/channels", a_channel("gamma")), 201);
    auto page1 = f.as_admin("GET", "/channels?limit=2");
    REQUIRE_STATUS(page1, 200);
    REQUIRE(page1.json()["data"].size() == 2);
    CHECK(page1.json()["data"][0]["name"] == "alpha");
    CHECK(page1.body.find("upstream-secret") == std::string::npos);
    CHECK(page1.body.find("v1:") == std::string::npos);
    std::string cursor = page1.json()["next_cursor"];
    auto page2 = f.as_admin("GET", "/channels?limit=2&cursor=" + cursor);
    REQUIRE(page2.json()["data"].size() == 1);
    CHECK(page2.json()["data"][0]["name"] == "gamma");
    CHECK(page2.json()["next_cursor"].is_null());

    auto patched = f.as_admin("PATCH", "/channels/alpha",
                              {{"priority", 5},
                               {"weight", 3},
                               {"tags", {"cn"}},
                               {"proxy", "http://u:proxy-pass@proxy:3128"}});
    REQUIRE_STATUS(patched, 200);
    CHECK(patched.json()["priority"] == 5);
    CHECK(patched.json()["weight"] == 3);
    CHECK(patched.json()["proxy"] == "http://u:***@proxy:3128");

    auto off = f.as_admin("POST", "/channels/alpha/disable");
    REQUIRE_STATUS(off, 200);
    CHECK(off.json()["enabled"] == false);
    CHECK_FALSE(store::channels::find_by_name(f.db(), "alpha").value()->enabled);
    REQUIRE_STATUS(f.as_admin("POST", "/channels/alpha/enable"), 200);
    CHECK(store::channels::find_by_name(f.db(), "alpha").value()->enabled);

    auto got = f.as_admin("GET", "/channels/alpha");
    REQUIRE_STATUS(got, 200);
    CHECK(got.json()["models"] == Json({"m1", "m2"}));

    int before = f.changes;
    REQUIRE_STATUS(f.as_admin("DELETE", "/channels/beta"), 204);
    CHECK(f.changes == before + 1);
    CHECK_FALSE(store::channels::find_by_name(f.db(), "beta").value().has_value());
    auto gone = f.as_admin("GET", "/channels/beta");
    REQUIRE_STATUS(gone, 404);
    CHECK(gone.error_message().find("'beta'") != std::string::npos);
}

TEST_CASE("channels: bad bodies are refused naming the field, and nothing is stored") {
    AdminFixture f;
    Json unknown_type = a_channel("a");
    unknown_type["type"] = "no_such_adapter";
    auto r1 = f.as_admin("POST", "/channels", unknown_type);
    REQUIRE_STATUS(r1, 400);
    CHECK(r1.error_message().find("no_such_adapter") != std::string::npos);

    Json plain_key = a_channel("a");
    plain_key["config"] = {{"api_key", "sk-plain"}};
    auto r2 = f.as_admin("POST", "/channels", plain_key);
    REQUIRE_STATUS(r2, 400);
    CHECK(r2.error_message().find("config.api_key") != std::string::npos);

    Json typo = a_channel("a");
    typo["modles"] = {"x"};
    auto r3 = f.as_admin("POST", "/channels", typo);
    REQUIRE_STATUS(r3, 400);
    CHECK(r3.error_message().find("'modles'") != std::string::npos);

    Json no_models = a_channel("a");
    no_models.erase("models");
    CHECK(f.as_admin("POST", "/channels", no_models).status == 400);

    Json bad_config = a_channel("a");
    bad_config["config"] = {{"delay_ms", "slow"}};
    CHECK(f.as_admin("POST", "/channels", bad_config).status == 400);

    CHECK(f.as_admin("POST", "/channels",
                     {{"name", "a"}, {"type", "echo_adapter"}, {"models", {"m"}}, {"weight", 0}})
              .status == 400);
    CHECK(f.call("POST", "/channels", f.admin_token, "{not json").status == 400);
    CHECK(store::channels::list(f.db()).value().empty());
    CHECK(f.changes == 0);
}

TEST_CASE("channels: upstream keys are added sealed, removed by id, and re-sealed on rename") {
    AdminFixture f;
    REQUIRE_STATUS(f.as_admin("POST", "/channels", a_channel("alpha")), 201);
    REQUIRE_STATUS(f.as_admin("POST", "/channels", a_channel("beta")), 201);
    auto added = f.as_admin("POST", "/channels/alpha/keys", {{"key", "upstream-secret-CCC"}});
    REQUIRE_STATUS(added, 201);
    CHECK(added.body.find("upstream-secret") == std::string::npos);
    long long id = added.json()["id"];
    auto alpha = store::channels::find_by_name(f.db(), "alpha").value().value();
    REQUIRE(alpha.keys.size() == 3);
    CHECK(f.box->open(alpha.keys[2].sealed_key, "alpha").value() == "upstream-secret-CCC");

    // A key id of another channel is not this channel's to remove.
    auto beta = store::channels::find_by_name(f.db(), "beta").value().value();
    auto wrong = f.as_admin("DELETE", "/channels/alpha/keys/" + std::to_string(beta.keys[0].id));
    REQUIRE_STATUS(wrong, 404);
    REQUIRE_STATUS(f.as_admin("DELETE", "/channels/alpha/keys/" + std::to_string(id)), 204);
    CHECK(store::channels::find_by_name(f.db(), "alpha").value()->keys.size() == 2);

    auto renamed = f.as_admin("PATCH", "/channels/alpha", {{"name", "omega"}});
    REQUIRE_STATUS(renamed, 200);
    CHECK(renamed.json()["name"] == "omega");
    auto omega = store::channels::find_by_name(f.db(), "omega").value().value();
    REQUIRE(omega.keys.size() == 2);
    std::set<std::string> opened;
    for (const auto& k : omega.keys) {
        auto plain = f.box->open(k.sealed_key, "omega");
        INFO((plain.ok() ? "" : plain.error().message));
        REQUIRE(plain.ok());
        opened.insert(plain.value());
    }
    CHECK(opened == std::set<std::string>{"upstream-secret-AAA", "upstream-secret-BBB"});
}

//! A model whose upstream refuses every call.
struct RefusingModel : plugin::Model {
    std::string name_ = "refusing";
    const std::string& name() const override { return name_; }
    core::Result<void> generate(plugin::RequestContext&) override {
        return core::Error{
            core::ErrorKind::upstream, "upstream answered 401: the key was refused", {}};
    }
};

TEST_CASE("channels: a batch test probes every key of every channel, never showing a key") {
    AdminFixture f;
    f.catalog
        .add("refusing_adapter", plugin::PluginKind::model,
             R"({"type":"object","additionalProperties":true})")
        ->make_model = [](const Json&) { return std::make_shared<RefusingModel>(); };
    REQUIRE_STATUS(f.as_admin("POST", "/channels", a_channel("alpha")), 201);
    Json broken = a_channel("broken");
    broken["type"] = "refusing_adapter";
    broken["keys"] = {"upstream-secret-ZZZ"};
    REQUIRE_STATUS(f.as_admin("POST", "/channels", broken), 201);
    const int changes_before = f.changes;

    auto all = f.call("POST", "/channels/test", f.admin_token, "");  // no body: every channel
    REQUIRE_STATUS(all, 200);
    CHECK(all.body.find("upstream-secret") == std::string::npos);
    CHECK(all.body.find("sealed") == std::string::npos);
    Json body = all.json();
    CHECK(body["ok"] == 2);
    CHECK(body["failed"] == 1);
    REQUIRE(body["results"].size() == 3);
    std::map<std::string, int> per_channel;
    for (const auto& r : body["results"]) {
        INFO(r.dump());
        per_channel[r["channel"].get<std::string>()]++;
        CHECK(r["key_id"].is_number_integer());
        CHECK(r["latency_ms"].is_number_integer());
        CHECK(r["model"] == "m1");
        if (r["channel"] == "alpha") {
            CHECK(r["ok"] == true);
            CHECK(r["error"] == "");
        } else {
            CHECK(r["ok"] == false);
            CHECK(r["error"].get<std::string>().find("the key was refused") != std::string::npos);
        }
    }
    CHECK(per_channel == std::map<std::string, int>{{"alpha", 2}, {"broken", 1}});

    // The named channels only, from the body or the path.
    auto named = f.as_admin("POST", "/channels/test", {{"channels", {"broken"}}});
    REQUIRE_STATUS(named, 200);
    CHECK(named.json()["ok"] == 0);
    CHECK(named.json()["failed"] == 1);
    REQUIRE(named.json()["results"].size() == 1);
    CHECK(named.json()["results"][0]["channel"] == "broken");
    auto one = f.as_admin("POST", "/channels/alpha/test");
    REQUIRE_STATUS(one, 200);
    CHECK(one.json()["ok"] == 2);
    CHECK(one.json()["failed"] == 0);
    CHECK(one.body.find("upstream-secret") == std::string::npos);

    // Unknown channels and bad bodies name what to fix.
    auto missing = f.as_admin("POST", "/channels/nope/test");
    REQUIRE_STATUS(missing, 404);
    CHECK(missing.body.find("nope") != std::string::npos);
    REQUIRE_STATUS(f.as_admin("POST", "/channels/test", {{"channels", {"alpha", "nope"}}}), 404);
    auto typo = f.as_admin("POST", "/channels/test", {{"channel", {"alpha"}}});
    REQUIRE_STATUS(typo, 400);
    CHECK(typo.body.find("channel") != std::string::npos);
    REQUIRE_STATUS(f.as_admin("POST", "/channels/test", {{"channels", "alpha"}}), 400);

    // Probes change nothing: no reload, keys stay as they were.
    CHECK(f.changes == changes_before);
    auto stored = store::channels::list(f.db());
    REQUIRE(stored.ok());
    REQUIRE(stored.value().size() == 2);
    for (const auto& c : stored.value())
        for (const auto& k : c.keys) CHECK(k.enabled);
}

TEST_CASE("channels: without a secret file keys are refused, not stored in the clear") {
    AdminFixture f;
    server::AdminApiOptions options;
    options.plugins = f.catalog.lookup();
    options.passwords = &f.passwords;
    options.logins = &f.logins;
    server::AdminApi keyless(
        f.db(), nullptr, [] {}, options);
    auto c = server::make_admin_call("POST", "/admin/api/channels", "Bearer " + f.admin_token,
                                     a_channel("alpha").dump(), "127.0.0.1");
    RecordingWriter out;
    keyless.handle(c.value(), out);
    REQUIRE_STATUS(out, 503);
    CHECK(out.error_message().find("secret") != std::string::npos);
    CHECK_FALSE(store::channels::find_by_name(f.db(), "alpha").value().has_value());
}

// ---- users, top-ups, ledger, keys ----------------------------------------------------------

TEST_CASE("users: create, read, list, patch; top-up in decimal strings; the ledger pages") {
    AdminFixture f;
    auto made = f.as_admin("POST", "/users", {{"name", "carol"}, {"password", "carol-pass-1"}});
    REQUIRE_STATUS(made, 201);
    CHECK(made.json()["role"] == "user");
    CHECK(made.json()["balance"] == "0.000000");
    CHECK(made.json()["has_password"] == true);
    CHECK(made.body.find("pbkdf2") == std::string::npos);
    // Hashed by the API's PasswordHasher (on its pool), with its iteration count.
    auto stored = store::users::find_by_name(f.db(), "carol");
    REQUIRE(stored.ok());
    REQUIRE(stored.value().has_value());
    CHECK(stored.value()->password_hash.starts_with("pbkdf2-sha256$" +
                                                    std::to_string(kTestIterations) + "$"));
    CHECK(f.as_admin("POST", "/users", {{"name", "carol"}}).status == 400);  // taken
    CHECK(f.as_admin("POST", "/users", {{"name", "dan"}, {"password", "short"}}).status == 400);
    CHECK(f.as_admin("POST", "/users", {{"name", "dan"}, {"role", "boss"}}).status == 400);

    REQUIRE_STATUS(f.as_admin("POST", "/tiers", {{"name", "vip"}, {"price_ratio", "0.8"}}), 201);
    auto patched = f.as_admin("PATCH", "/users/carol", {{"tier", "vip"}, {"enabled", false}});
    REQUIRE_STATUS(patched, 200);
    CHECK(patched.json()["tier"] == "vip");
    CHECK(patched.json()["enabled"] == false);
    CHECK(f.as_admin("PATCH", "/users/carol", {{"tier", "nope"}}).status == 404);

    auto topped = f.as_admin("POST", "/users/carol/topup", {{"amount", "12.5"}, {"ref", "pay-1"}});
    REQUIRE_STATUS(topped, 200);
    CHECK(topped.json()["applied"] == true);
    CHECK(topped.json()["balance"] == "12.500000");
    auto again = f.as_admin("POST", "/users/carol/topup", {{"amount", "12.5"}, {"ref", "pay-1"}});
    REQUIRE_STATUS(again, 200);
    CHECK(again.json()["applied"] == false);
    CHECK(again.json()["balance"] == "12.500000");
    auto number = f.as_admin("POST", "/users/carol/topup", {{"amount", 12.5}});
    REQUIRE_STATUS(number, 400);
    CHECK(number.error_message().find("'amount'") != std::string::npos);
    CHECK(f.as_admin("POST", "/users/carol/topup", {{"amount", "0"}}).status == 400);
    CHECK(f.as_admin("POST", "/users/carol/topup", {{"amount", "-3"}}).status == 400);
    REQUIRE_STATUS(f.as_admin("POST", "/users/carol/topup", {{"amount", "0.000001"}}), 200);

    auto carol = f.as_admin("GET", "/users/carol");
    CHECK(carol.json()["balance"] == "12.500001");
    auto first = f.as_admin("GET", "/users/carol/ledger?limit=1");
    REQUIRE_STATUS(first, 200);
    REQUIRE(first.json()["data"].size() == 1);
    CHECK(first.json()["data"][0]["amount"] == "0.000001");  // newest first
    std::string cursor = first.json()["next_cursor"];
    auto second = f.as_admin("GET", "/users/carol/ledger?limit=1&cursor=" + cursor);
    REQUIRE(second.json()["data"].size() == 1);
    CHECK(second.json()["data"][0]["amount"] == "12.500000");
    CHECK(second.json()["data"][0]["ref"] == "pay-1");

    auto list = f.as_admin("GET", "/users?limit=1000");
    REQUIRE_STATUS(list, 200);
    CHECK(list.json()["data"].size() == 4);
    CHECK(f.as_admin("GET", "/users?limit=0").status == 400);
    CHECK(f.as_admin("GET", "/users/nobody").status == 404);
}

TEST_CASE("API keys: shown once on creation, stored hashed, limits patched, revoked") {
    AdminFixture f;
    auto made =
        f.as_admin("POST", "/users/bob/keys",
                   {{"name", "laptop"}, {"quota", "5"}, {"rpm", 60}, {"models", {"claude-*"}}});
    REQUIRE_STATUS(made, 201);
    std::string key = made.json()["key"];
    CHECK(key.rfind("sk-ts-", 0) == 0);
    CHECK(made.json()["limits"]["quota"] == "5.000000");
    long long id = made.json()["id"];
    auto owner = store::api_keys::find_by_hash(f.db(), hub::api_key_hash(key));
    REQUIRE(owner.value().has_value());
    CHECK(owner.value()->user_name == "bob");
    CHECK(owner.value()->limits.rpm == 60);

    auto listed = f.as_admin("GET", "/users/bob/keys");
    REQUIRE_STATUS(listed, 200);
    REQUIRE(listed.json()["data"].size() == 1);
    CHECK(listed.body.find(key) == std::string::npos);
    CHECK(listed.body.find(hub::api_key_hash(key)) == std::string::npos);
    CHECK(listed.json()["data"][0]["prefix"] == hub::api_key_prefix(key));

    const std::string path = "/keys/" + std::to_string(id);
    auto patched =
        f.as_admin("PATCH", path, {{"rpm", nullptr}, {"tpm", 1000}, {"ip_deny", {"10.0.0.0/8"}}});
    REQUIRE_STATUS(patched, 200);
    CHECK(patched.json()["limits"]["rpm"].is_null());
    CHECK(patched.json()["limits"]["tpm"] == 1000);
    CHECK(patched.json()["limits"]["quota"] == "5.000000");  // untouched fields keep
    auto stored = store::api_keys::find(f.db(), id).value().value();
    CHECK_FALSE(stored.limits.rpm.has_value());
    CHECK(stored.limits.tpm == 1000);
    CHECK(stored.limits.ip_deny == std::vector<std::string>{"10.0.0.0/8"});

    auto bad_cidr = f.as_admin("PATCH", path, {{"ip_allow", {"10.0.0.300/8"}}});
    REQUIRE_STATUS(bad_cidr, 400);
    CHECK(bad_cidr.error_message().find("10.0.0.300") != std::string::npos);
    CHECK(f.as_admin("PATCH", path, {{"secret", 1}}).status == 400);
    CHECK(f.as_admin("PATCH", "/keys/999999", {{"rpm", 1}}).status == 404);

    REQUIRE_STATUS(f.as_admin("DELETE", path), 204);
    CHECK_FALSE(store::api_keys::find_by_hash(f.db(), hub::api_key_hash(key)).value().has_value());
    CHECK(f.as_admin("DELETE", path).status == 404);
}

// ---- tiers and prices ----------------------------------------------------------------------

TEST_CASE("tiers: create, patch the ratio, refuse removing one in use, delete") {
    AdminFixture f;
    auto made = f.as_admin("POST", "/tiers",
                           {{"name", "vip"}, {"price_ratio", "0.8"}, {"description", "20% off"}});
    REQUIRE_STATUS(made, 201);
    CHECK(made.json()["price_ratio"] == "0.800000");
    CHECK(store::tiers::find(f.db(), "vip").value()->price_ratio_ppm == 800000);
    auto patched = f.as_admin("PATCH", "/tiers/vip", {{"price_ratio", "0.75"}});
    REQUIRE_STATUS(patched, 200);
    CHECK(store::tiers::find(f.db(), "vip").value()->price_ratio_ppm == 750000);
    CHECK(f.as_admin("PATCH", "/tiers/vip", {{"price_ratio", 0.7}}).status == 400);
    auto in_use = f.as_admin("DELETE", "/tiers/default");
    REQUIRE_STATUS(in_use, 400);
    auto list = f.as_admin("GET", "/tiers");
    REQUIRE(list.json()["data"].size() == 2);
    REQUIRE_STATUS(f.as_admin("DELETE", "/tiers/vip"), 204);
    CHECK_FALSE(store::tiers::find(f.db(), "vip").value().has_value());
}

TEST_CASE("prices: put (model names may hold a slash), get, list, delete; no negative prices") {
    AdminFixture f;
    auto put = f.as_admin("PUT", "/prices/meta/llama-3",
                          {{"input_per_m", "0.5"}, {"output_per_m", "1.25"}});
    REQUIRE_STATUS(put, 200);
    CHECK(put.json()["model"] == "meta/llama-3");
    CHECK(put.json()["cache_read_per_m"] == "0.000000");
    auto stored = store::prices::list(f.db()).value();
    REQUIRE(stored.size() == 1);
    CHECK(stored[0].output_per_m == 1'250'000);
    auto got = f.as_admin("GET", "/prices/meta%2Fllama-3");
    REQUIRE_STATUS(got, 200);
    CHECK(got.json()["input_per_m"] == "0.500000");
    CHECK(f.as_admin("PUT", "/prices/x", {{"input_per_m", "-1"}}).status == 400);
    CHECK(f.as_admin("PUT", "/prices/x", {{"input", "1"}}).status == 400);
    CHECK(f.as_admin("GET", "/prices").json()["data"].size() == 1);
    REQUIRE_STATUS(f.as_admin("DELETE", "/prices/meta/llama-3"), 204);
    CHECK(f.as_admin("GET", "/prices/meta/llama-3").status == 404);
}

// ---- redemption codes ----------------------------------------------------------------------

TEST_CASE("redemption codes: made once, listed without the codes, redeemed exactly once") {
    AdminFixture f;
    auto made = f.as_admin("POST", "/redemption-codes",
                           {{"count", 3}, {"amount", "10"}, {"batch", "spring"}});
    REQUIRE_STATUS(made, 201);
    auto codes = made.json()["codes"].get<std::vector<std::string>>();
    REQUIRE(codes.size() == 3);
    CHECK(std::set<std::string>(codes.begin(), codes.end()).size() == 3);

    auto batches = f.as_admin("GET", "/redemption-codes");
    REQUIRE_STATUS(batches, 200);
    CHECK(batches.json()["data"][0]["codes"] == 3);
    CHECK(batches.json()["data"][0]["amount"] == "30.000000");
    auto listed = f.as_admin("GET", "/redemption-codes?batch=spring");
    REQUIRE(listed.json()["data"].size() == 3);
    for (const auto& c : codes) CHECK(listed.body.find(c) == std::string::npos);

    CHECK(f.as_admin("POST", "/redemption-codes", {{"count", 0}, {"amount", "1"}, {"batch", "b"}})
              .status == 400);
    CHECK(f.as_admin("POST", "/redemption-codes", {{"count", 1}, {"amount", "1"}}).status == 400);

    // Eight concurrent redemptions of one code: exactly one credits.
    std::atomic<int> ok{0}, refused{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 8; ++i)
        threads.emplace_back([&] {
            auto out = f.as_admin("POST", "/redeem", {{"user", "bob"}, {"code", codes[0]}});
            if (out.status == 200) ++ok;
            if (out.status == 400) ++refused;
        });
    for (auto& t : threads) t.join();
    CHECK(ok == 1);
    CHECK(refused == 7);
    CHECK(f.as_admin("GET", "/users/bob").json()["balance"] == "10.000000");
    auto unknown = f.as_admin("POST", "/redeem", {{"user", "bob"}, {"code", "tsr-nope"}});
    REQUIRE_STATUS(unknown, 404);
    CHECK(f.as_admin("POST", "/redeem", {{"user", "root"}, {"code", codes[1]}}).status == 403);
    REQUIRE_STATUS(f.as_root("POST", "/redeem", {{"user", "root"}, {"code", codes[1]}}), 200);
}

// ---- logs, CSV, statistics -----------------------------------------------------------------

namespace {
store::UsageRecord usage(const std::string& id, long long user, long long at_ms,
                         const std::string& model, long long cost, int status = 200) {
    store::UsageRecord r;
    r.request_id = id;
    r.created_at_ms = at_ms;
    r.user_id = user;
    r.channel = "alpha";
    r.requested_model = model;
    r.upstream_model = model;
    r.input_tokens = 10;
    r.output_tokens = 20;
    r.cost = cost;
    r.status = status;
    r.client_ip = "127.0.0.1";
    return r;
}
}  // namespace

TEST_CASE("logs: filtered and paged; the CSV export quotes and defuses client text") {
    AdminFixture f;
    auto bob = store::users::find_by_name(f.db(), "bob").value().value();
    auto ada = store::users::find_by_name(f.db(), "ada").value().value();
    REQUIRE(store::ledger::topup(f.db(), bob.id, 100'000'000, std::nullopt, "seed").ok());
    const long long t0 = 1'735'689'600'000;  // 2025-01-01T00:00:00Z
    std::vector<store::UsageRecord> batch = {usage("r1", bob.id, t0 + 1000, "m1", 1500),
                                             usage("r2", bob.id, t0 + 2000, "m2", 0, 429),
                                             usage("r3", ada.id, t0 + 3000, "m1", 0),
                                             usage("r4", bob.id, t0 + 4000, "=HYPERLINK(1)", 0)};
    for (auto& r : batch) r.route_scenario = "passthrough";
    batch[0].route_scenario = "main";  // as scenario_router decides a main turn
    REQUIRE(store::request_logs::record_usage(f.db(), batch).ok());
    // The store's route filter (route_scenario), on SQLite and MariaDB.
    store::RequestLogFilter by_route;
    by_route.route = "passthrough";
    auto passthrough = store::request_logs::query(f.db(), by_route, 10);
    REQUIRE(passthrough.ok());
    CHECK(passthrough->rows.size() == 3);
    by_route.route = "main";
    auto main_turns = store::request_logs::query(f.db(), by_route, 10);
    REQUIRE(main_turns.ok());
    REQUIRE(main_turns->rows.size() == 1);
    CHECK(main_turns->rows[0].request_id == "r1");
    by_route.route = "subagent";
    CHECK(store::request_logs::query(f.db(), by_route, 10)->rows.empty());
    by_route.route = "passthrough";
    by_route.user_id = bob.id;
    CHECK(store::request_logs::totals(f.db(), by_route)->requests == 2);

    auto bobs = f.as_admin("GET", "/logs?user=bob&limit=2");
    REQUIRE_STATUS(bobs, 200);
    auto rows = bobs.json()["data"];
    REQUIRE(rows.size() == 2);
    CHECK(rows[0]["request_id"] == "r4");  // newest first
    CHECK(rows[1]["request_id"] == "r2");
    std::string cursor = bobs.json()["next_cursor"];
    auto older = f.as_admin("GET", "/logs?user=bob&limit=2&before_id=" + cursor);
    REQUIRE(older.json()["data"].size() == 1);
    CHECK(older.json()["data"][0]["request_id"] == "r1");
    CHECK(older.json()["data"][0]["cost"] == "0.001500");
    CHECK(f.as_admin("GET", "/logs?status=429").json()["data"].size() == 1);
    CHECK(f.as_admin("GET", "/logs?model=m1").json()["data"].size() == 2);
    auto ranged = f.as_admin("GET", "/logs?since=2025-01-01T00:00:02Z&until=1735689603");
    REQUIRE(ranged.json()["data"].size() == 1);
    CHECK(ranged.json()["data"][0]["request_id"] == "r2");
    CHECK(f.as_admin("GET", "/logs?since=yesterday").status == 400);
    CHECK(f.as_admin("GET", "/logs?user=nobody").status == 404);
    auto routed = f.as_admin("GET", "/logs?route=main");
    REQUIRE_STATUS(routed, 200);
    REQUIRE(routed.json()["data"].size() == 1);
    CHECK(routed.json()["data"][0]["request_id"] == "r1");
    CHECK(routed.json()["data"][0]["route"]["scenario"] == "main");
    CHECK(f.as_admin("GET", "/logs?route=passthrough&user=bob").json()["data"].size() == 2);
    CHECK(f.as_admin("GET", "/logs?route=subagent").json()["data"].empty());
    auto routed_csv = f.as_admin("GET", "/logs.csv?route=main");
    REQUIRE_STATUS(routed_csv, 200);
    CHECK(routed_csv.body.find(",r1,") != std::string::npos);
    CHECK(routed_csv.body.find(",r2,") == std::string::npos);

    auto csv = f.as_admin("GET", "/logs.csv?user=bob");
    REQUIRE_STATUS(csv, 200);
    CHECK(csv.content_type.find("text/csv") == 0);
    CHECK(csv.headers["content-disposition"].find("logs.csv") != std::string::npos);
    std::vector<std::string> lines;
    for (std::size_t start = 0, end; (end = csv.body.find("\r\n", start)) != std::string::npos;
         start = end + 2)
        lines.push_back(csv.body.substr(start, end - start));
    REQUIRE(lines.size() == 4);
    CHECK(lines[0].rfind("id,time,request_id,user,", 0) == 0);
    CHECK(lines[1].find(",r4,bob,") != std::string::npos);
    CHECK(lines[1].find("\"'=HYPERLINK(1)\"") != std::string::npos);
    CHECK(lines[3].find(",r1,bob,") != std::string::npos);
    CHECK(lines[3].find("2025-01-01T00:00:01.000Z") != std::string::npos);
    CHECK(lines[3].find(",0.001500,") != std::string::npos);
}

TEST_CASE("invitations: the list, the rebate set with CSRF, a bad ppm is a 400 naming it") {
    AdminFixture f;
    REQUIRE_STATUS(f.as_admin("POST", "/users/bob/invite-code"), 201);
    auto listed = f.as_admin("GET", "/invitations");
    REQUIRE_STATUS(listed, 200);
    REQUIRE(listed.json()["data"].size() == 1);
    CHECK(listed.json()["data"][0]["name"] == "bob");
    CHECK(listed.json()["data"][0]["invited"] == 0);
    CHECK(listed.json()["rebate_ppm"].is_number_integer());

    auto bad = f.as_admin("PUT", "/invitations/rebate", {{"ppm", 1'000'001}});
    REQUIRE_STATUS(bad, 400);
    CHECK(bad.error_message().find("'ppm'") != std::string::npos);
    CHECK(bad.error_message().find("0 to 1000000") != std::string::npos);
    REQUIRE_STATUS(f.as_admin("PUT", "/invitations/rebate", Json::object()), 400);
    CHECK(f.changes == 1);  // the invite code only

    auto login =
        f.call("POST", "/login", "", Json{{"name", "ada"}, {"password", kAdminPassword}}.dump());
    REQUIRE_STATUS(login, 201);
    const std::string token = login.json()["token"];
    const std::string csrf = login.json()["csrf_token"];
    const std::string body = Json{{"ppm", 75'000}}.dump();
    REQUIRE_STATUS(f.by_cookie("PUT", "/invitations/rebate", token, "", body), 403);
    CHECK(f.as_admin("GET", "/invitations").json()["rebate_ppm"] != 75'000);
    auto set = f.by_cookie("PUT", "/invitations/rebate", token, csrf, body);
    REQUIRE_STATUS(set, 200);
    CHECK(set.json()["rebate_percent"] == "7.5");
    CHECK(f.as_admin("GET", "/invitations").json()["rebate_ppm"] == 75'000);
    CHECK(f.changes == 2);
}

TEST_CASE("logs.csv streams a large export in chunks instead of one body") {
    AdminFixture f;
    auto bob = store::users::find_by_name(f.db(), "bob").value().value();
    std::vector<store::UsageRecord> batch;
    for (int i = 0; i < 1500; ++i)
        batch.push_back(
            usage("req-" + std::to_string(i), bob.id, 1'735'689'600'000 + i, "model-x", 0));
    REQUIRE(store::request_logs::record_usage(f.db(), batch).ok());
    auto csv = f.as_admin("GET", "/logs.csv");
    REQUIRE(csv.status == 200);
    CHECK(csv.streamed);
    CHECK(csv.writes >= 2);
    CHECK(csv.headers["content-type"].find("text/csv") == 0);
    std::size_t lines = 0;
    for (char c : csv.body) lines += c == '\n';
    CHECK(lines == 1501);
}

TEST_CASE("stats: totals over a range and a breakdown by model and hour") {
    AdminFixture f;
    auto bob = store::users::find_by_name(f.db(), "bob").value().value();
    auto ada = store::users::find_by_name(f.db(), "ada").value().value();
    REQUIRE(store::ledger::topup(f.db(), bob.id, 100'000'000, std::nullopt, "seed").ok());
    REQUIRE(store::ledger::topup(f.db(), ada.id, 100'000'000, std::nullopt, "seed").ok());
    const long long t0 = 1'735'689'600'000;
    REQUIRE(store::request_logs::record_usage(f.db(),
                                              {usage("a", bob.id, t0 + 60'000, "m1", 2'000'000),
                                               usage("b", ada.id, t0 + 120'000, "m1", 500'000, 500),
                                               usage("c", bob.id, t0 + 3'700'000, "m2", 250'000)})
                .ok());
    auto out = f.as_admin("GET", "/stats?since=2025-01-01&until=2025-01-02&by=model&bucket=hour");
    REQUIRE_STATUS(out, 200);
    auto j = out.json();
    CHECK(j["totals"]["requests"] == 3);
    CHECK(j["totals"]["spend"] == "2.750000");
    CHECK(j["totals"]["active_users"] == 2);
    auto b = j["breakdown"];
    REQUIRE(b.size() == 2);
    CHECK(b[0]["key"] == "m1");
    CHECK(b[0]["bucket_start_ms"] == t0);
    CHECK(b[0]["requests"] == 2);
    CHECK(b[0]["errors"] == 1);
    CHECK(b[1]["key"] == "m2");
    CHECK(b[1]["bucket_start_ms"] == t0 + 3'600'000);
    CHECK(f.as_admin("GET", "/stats?since=2025-01-01&by=model&bucket=minute&until=2025-06-01")
              .status == 400);
    CHECK(f.as_admin("GET", "/stats?by=colour").status == 400);
}

// ---- chains --------------------------------------------------------------------------------

TEST_CASE("chains: a valid chain is saved as a new version; an invalid one saves nothing") {
    AdminFixture f;
    const std::string chain = R"({"id":"c1","tiers":["default"],"models":["claude-*"],
        "routing":{"mode":"passthrough"},"pre":[{"plugin":"prefix","config":{"text":"hi"}}]})";
    auto first = f.call("POST", "/chains", f.admin_token, chain);
    REQUIRE_STATUS(first, 201);
    CHECK(first.json()["version"] == 1);
    auto second = f.call("POST", "/chains", f.admin_token, chain);
    CHECK(second.json()["version"] == 2);
    auto bad = f.call("POST", "/chains", f.admin_token,
                      R"({"id":"c2","tiers":["default"],"models":["*"],
                          "routing":{"mode":"passthrough"},"pre":[{"plugin":"ghost"}]})");
    REQUIRE_STATUS(bad, 400);
    CHECK(bad.error_message().find("ghost") != std::string::npos);
    CHECK_FALSE(store::chains::latest(f.db(), "c2").value().has_value());
    auto list = f.as_admin("GET", "/chains");
    REQUIRE_STATUS(list, 200);
    REQUIRE(list.json()["data"].size() == 1);
    CHECK(list.json()["data"][0]["version"] == 2);
    CHECK(list.json()["data"][0]["chain"]["pre"][0]["plugin"] == "prefix");
}

// ---- plumbing ------------------------------------------------------------------------------

TEST_CASE("on_change runs after each successful change and never after a read or a refusal") {
    AdminFixture f;
    REQUIRE_STATUS(f.as_admin("GET", "/channels"), 200);
    REQUIRE_STATUS(f.as_admin("GET", "/users"), 200);
    CHECK(f.changes == 0);
    CHECK(f.as_admin("POST", "/tiers", {{"name", ""}}).status == 400);
    CHECK(f.changes == 0);
    REQUIRE_STATUS(f.as_admin("POST", "/tiers", {{"name", "gold"}}), 201);
    CHECK(f.changes == 1);
    REQUIRE_STATUS(f.as_admin("POST", "/users/bob/topup", {{"amount", "1"}}), 200);
    CHECK(f.changes == 2);
}

TEST_CASE("unknown routes and wrong methods say what exists") {
    AdminFixture f;
    auto unknown = f.as_admin("GET", "/nothing-here");
    REQUIRE_STATUS(unknown, 404);
    CHECK(unknown.error_message().find("/nothing-here") != std::string::npos);
    auto wrong = f.as_admin("DELETE", "/channels");
    REQUIRE_STATUS(wrong, 405);
    CHECK(wrong.error_message().find("GET or POST") != std::string::npos);
    CHECK(f.call("GET", "/login", "").status == 405);
}

TEST_CASE("make_admin_call strips the mount, decodes the query and reads the bearer token") {
    auto c = server::make_admin_call("GET", "/admin/api/logs?user=al%20ice&model=a+b&x",
                                     "bearer  tsa_abc ", "", "::1");
    REQUIRE(c.ok());
    CHECK(c->path == "/logs");
    CHECK(c->query.at("user") == "al ice");
    CHECK(c->query.at("model") == "a b");
    CHECK(c->query.at("x").empty());
    CHECK(c->bearer_token == "tsa_abc");
    auto basic = server::make_admin_call("GET", "/admin/api/me", "Basic Zm9vOmJhcg==", "", "");
    CHECK(basic->bearer_token.empty());
    auto bad = server::make_admin_call("GET", "/admin/api/logs?user=%zz", "", "", "");
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("%zz") != std::string::npos);
}

// ---- the panel's session: cookies, CSRF, and what a user's session may reach ---------------

TEST_CASE("login sets the panel's HttpOnly session cookie and a readable CSRF cookie") {
    AdminFixture f;
    auto out =
        f.call("POST", "/login", "", Json{{"name", "ada"}, {"password", kAdminPassword}}.dump());
    REQUIRE_STATUS(out, 201);
    const std::string token = out.json()["token"];
    const std::string csrf = out.json()["csrf_token"];
    CHECK(csrf == server::csrf_token_for(token));
    CHECK(csrf.size() >= 32);
    const std::string session = out.cookie("tianshu_session");
    const std::string readable = out.cookie("tianshu_csrf");
    INFO(session << "\n" << readable);
    CHECK(session.rfind("tianshu_session=" + token + ";", 0) == 0);
    CHECK(session.find("; HttpOnly") != std::string::npos);
    CHECK(session.find("; SameSite=Strict") != std::string::npos);
    CHECK(session.find("; Path=/admin") != std::string::npos);
    CHECK(session.find("Secure") == std::string::npos);  // plain HTTP here
    CHECK(readable.rfind("tianshu_csrf=" + csrf + ";", 0) == 0);
    CHECK(readable.find("HttpOnly") == std::string::npos);  // the panel's script reads it
    CHECK(readable.find("; SameSite=Strict") != std::string::npos);
    CHECK(out.headers["cache-control"] == "no-store");

    // Behind a TLS proxy both cookies are Secure.
    auto login_body = Json{{"name", "ada"}, {"password", kAdminPassword}}.dump();
    auto tls_call = server::make_admin_call("POST", "/admin/api/login", "", login_body, "127.0.0.1",
                                            "", "", "https");
    REQUIRE(tls_call.ok());
    RecordingWriter tls;
    f.api->handle(tls_call.value(), tls);
    REQUIRE_STATUS(tls, 201);
    CHECK(tls.cookie("tianshu_session").find("; Secure") != std::string::npos);
    CHECK(tls.cookie("tianshu_csrf").find("; Secure") != std::string::npos);
}

TEST_CASE("a cookie session reads freely but changes only with its own CSRF token") {
    AdminFixture f;
    auto login =
        f.call("POST", "/login", "", Json{{"name", "ada"}, {"password", kAdminPassword}}.dump());
    REQUIRE_STATUS(login, 201);
    const std::string token = login.json()["token"];
    const std::string csrf = login.json()["csrf_token"];

    auto me = f.by_cookie("GET", "/me", token, "");
    REQUIRE_STATUS(me, 200);
    CHECK(me.json()["name"] == "ada");
    CHECK(me.json()["auth"] == "session");
    CHECK(me.json()["csrf_token"] == csrf);  // a reloaded panel gets it back here
    CHECK(me.json()["tier"] == "default");
    CHECK(me.json()["balance"].is_string());

    const std::string tier = Json{{"name", "gold"}, {"price_ratio", "0.8"}}.dump();
    auto missing = f.by_cookie("POST", "/tiers", token, "", tier);
    REQUIRE_STATUS(missing, 403);
    CHECK(missing.error_message().find("X-CSRF-Token") != std::string::npos);
    auto other_login =
        f.call("POST", "/login", "", Json{{"name", "root"}, {"password", kRootPassword}}.dump());
    const std::string others = other_login.json()["csrf_token"];
    auto wrong = f.by_cookie("POST", "/tiers", token, others, tier);
    REQUIRE_STATUS(wrong, 403);
    CHECK(wrong.error_message().find("does not belong to this session") != std::string::npos);
    // Nothing was written by the refused calls.
    auto tiers = f.as_admin("GET", "/tiers");
    REQUIRE_STATUS(tiers, 200);
    CHECK(tiers.body.find("gold") == std::string::npos);
    CHECK(f.changes == 0);

    REQUIRE_STATUS(f.by_cookie("POST", "/tiers", token, csrf, tier), 201);
    CHECK(f.changes == 1);
    // A Bearer token is not sent by a browser on its own: no CSRF token needed.
    REQUIRE_STATUS(f.as_admin("PATCH", "/tiers/gold", {{"price_ratio", "0.9"}}), 200);

    // Logout through the cookie ends the session and clears both cookies.
    auto out = f.by_cookie("POST", "/logout", token, csrf);
    REQUIRE_STATUS(out, 204);
    CHECK(out.cookie("tianshu_session").find("Max-Age=0") != std::string::npos);
    CHECK(out.cookie("tianshu_csrf").find("Max-Age=0") != std::string::npos);
    auto after = f.by_cookie("GET", "/me", token, "");
    REQUIRE_STATUS(after, 401);
    CHECK(after.error_message().find("cookie 'tianshu_session'") != std::string::npos);
}

TEST_CASE("a user's session reaches its own /me routes and no admin route") {
    AdminFixture f;
    auto login =
        f.call("POST", "/login", "", Json{{"name", "bob"}, {"password", kUserPassword}}.dump());
    REQUIRE_STATUS(login, 201);
    const std::string token = login.json()["token"];
    const std::string csrf = login.json()["csrf_token"];
    auto me = f.by_cookie("GET", "/me", token, "");
    REQUIRE_STATUS(me, 200);
    CHECK(me.json()["role"] == "user");
    // Every route of the route table (each names its service operation) but the caller's own.
    std::vector<std::pair<std::string, std::string>> admin_routes;
    for (const auto& r : server::admin::routes()) {
        std::string path =
            std::regex_replace(std::string(r.pattern), std::regex(R"(\{[^}]*\})"), "x1");
        if (path.rfind("/me/", 0) != 0) admin_routes.emplace_back(std::string(r.method), path);
    }
    REQUIRE(admin_routes.size() >= 45);
    for (const auto& [method, path] : admin_routes) {
        INFO(method << " " << path);
        for (bool cookie : {false, true}) {
            auto out = cookie ? f.by_cookie(method, path, token, csrf, "{}")
                              : f.call(method, path, token, "{}");
            CHECK(out.status == 403);
            CHECK(out.error_message().find("reaches only its own /admin/api/me routes") !=
                  std::string::npos);
        }
    }
    CHECK(f.changes == 0);
    // Promoted to admin, the same session reaches the admin routes at once (roles are read on
    // every call), and demoted again it does not.
    auto bob = store::users::find_by_name(f.db(), "bob").value().value();
    REQUIRE(store::users::set_role(f.db(), bob.id, "admin").ok());
    REQUIRE_STATUS(f.call("GET", "/users", token), 200);
    REQUIRE(store::users::set_role(f.db(), bob.id, "user").ok());
    REQUIRE_STATUS(f.call("GET", "/users", token), 403);
}

// ---- the playground's contract with the gateway (the run itself: it_admin_playground) --------

TEST_CASE("playground: without a gateway 503; the hook gets the caller, the tier and the request") {
    AdminFixture f;
    const Json body{{"tier", "default"},
                    {"model", "m1"},
                    {"stream", true},
                    {"request", {{"max_tokens", 8}, {"messages", Json::array()}}}};
    auto unwired = f.as_admin("POST", "/playground", body);
    REQUIRE_STATUS(unwired, 503);
    CHECK(unwired.error_message().find("AdminApiOptions::playground") != std::string::npos);

    REQUIRE(store::tiers::create(f.db(), {"gold", 500'000, "", 0, true}).ok());
    const int changes_before = f.changes;
    std::vector<server::PlaygroundCall> seen;
    server::AdminApiOptions options;
    options.plugins = f.catalog.lookup();
    options.passwords = &f.passwords;
    options.logins = &f.logins;
    options.playground = [&seen](const server::PlaygroundCall& call, server::ResponseWriter& out) {
        seen.push_back(call);
        server::PlaygroundTrace trace;
        trace.request_id = "r1";
        trace.status = 200;
        trace.route = Json{{"scenario", "passthrough"}, {"model", "m1"}};
        trace.blocks.push_back({"pre_block", "pre", "/pre/0", 1.5, false, false});
        const Json request = Json::parse(*call.body);
        if (request.value("stream", false)) {
            out.begin_stream();
            out.write("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
        } else {
            out.send(200, "application/json", R"({"type":"message","content":[]})");
        }
        return trace;
    };
    f.api = std::make_unique<server::AdminApi>(
        f.db(), f.box.get(), [&f] { ++f.changes; }, options);
    auto ada = store::users::find_by_name(f.db(), "ada").value().value();

    auto streamed = f.as_admin("POST", "/playground",
                               Json{{"tier", "gold"},
                                    {"model", "m1"},
                                    {"request", {{"max_tokens", 8}, {"messages", Json::array()}}},
                                    {"stream", true}});
    REQUIRE_STATUS(streamed, 200);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].user_id == ada.id);
    CHECK(seen[0].user_name == "ada");
    CHECK(seen[0].tier == "gold");
    CHECK(seen[0].tier_ratio_ppm == 500'000);
    const Json sent = Json::parse(*seen[0].body);
    CHECK(sent["model"] == "m1");
    CHECK(sent["stream"] == true);
    CHECK(streamed.streamed);
    // The events as the gateway wrote them, then the trace as the last event.
    const std::string last = "event: tianshu.playground\ndata: ";
    REQUIRE(streamed.body.rfind("event: message_stop\n", 0) == 0);
    const auto at = streamed.body.find(last);
    REQUIRE(at != std::string::npos);
    const Json trace = Json::parse(streamed.body.substr(at + last.size()));
    CHECK(trace["request_id"] == "r1");
    CHECK(trace["blocks"][0]["name"] == "pre_block");
    CHECK(trace["blocks"][0]["ms"] == 1.5);

    // Whole: the answer wrapped with the trace; `stream` defaults to the request's own (none).
    auto whole = f.as_admin(
        "POST", "/playground",
        Json{{"tier", "gold"},
             {"request", {{"model", "m2"}, {"max_tokens", 8}, {"messages", Json::array()}}}});
    REQUIRE_STATUS(whole, 200);
    CHECK(Json::parse(*seen.back().body)["model"] == "m2");
    CHECK(Json::parse(*seen.back().body)["stream"] == false);
    CHECK(whole.json()["response"]["type"] == "message");
    CHECK(whole.json()["route"]["model"] == "m1");
    CHECK(whole.json()["status"] == 200);

    // Refused before the gateway is asked: unknown tier, unknown field, no model, a user.
    const size_t calls = seen.size();
    auto tier = f.as_admin("POST", "/playground",
                           Json{{"tier", "nope"}, {"model", "m1"}, {"request", Json::object()}});
    REQUIRE_STATUS(tier, 400);
    CHECK(tier.error_message().find("'tier'") != std::string::npos);
    CHECK(tier.error_message().find("gold") != std::string::npos);
    auto field = f.as_admin(
        "POST", "/playground",
        Json{{"tier", "gold"}, {"model", "m1"}, {"request", Json::object()}, {"user", "bob"}});
    REQUIRE_STATUS(field, 400);
    CHECK(field.error_message().find("unknown field 'user'") != std::string::npos);
    auto no_request = f.as_admin("POST", "/playground", Json{{"tier", "gold"}, {"model", "m1"}});
    REQUIRE_STATUS(no_request, 400);
    CHECK(no_request.error_message().find("'request'") != std::string::npos);
    const std::string bob = f.login("bob", kUserPassword);
    auto user = f.call("POST", "/playground", bob,
                       Json{{"tier", "gold"}, {"model", "m1"}, {"request", Json::object()}}.dump());
    REQUIRE_STATUS(user, 403);
    CHECK(seen.size() == calls);
    CHECK(f.changes == changes_before);  // a playground run changes no configuration
}
