// The business operations of host/service, each against a real store: a fresh SQLite file per
// test case, or a fresh MariaDB schema when TIANSHU_TEST_DB_URL names a server (it_service_mariadb
// runs this binary under tests/scripts/with_mariadb.sh). The multi-step operations are also run
// with the store made to fail part way (a trigger), and must then leave nothing written.

#include "../unit/pipeline/fake_plugins.hpp"
#include "../unit/store/test_database.hpp"
#include "hub/credentials.hpp"
#include "hub/secret_box.hpp"
#include "server/admin_routes.hpp"
#include "server/admin_support.hpp"
#include "service/alerts.hpp"
#include "service/billing.hpp"
#include "service/channels.hpp"
#include "service/invitations.hpp"
#include "service/keys.hpp"
#include "service/users.hpp"
#include "store/api_keys.hpp"
#include "store/channels.hpp"
#include "store/ledger.hpp"
#include "store/settings.hpp"
#include "store/tiers.hpp"

#include <soci/soci.h>
#include <catch2/catch.hpp>

#include <filesystem>
#include <map>

using namespace tianshu;
using core::ErrorKind;
using core::Json;
using store::testing::TestDatabase;

namespace {

//! A store, a secret file, a plugin catalog with one model adapter, and an Env acting as root.
struct ServiceFixture {
    TestDatabase tdb;
    std::filesystem::path dir;
    std::unique_ptr<hub::SecretBox> box;
    testing::FakeCatalog catalog;

    ServiceFixture() {
        dir = std::filesystem::temp_directory_path() /
              ("tianshu-service-test-" + store::testing::unique_suffix());
        std::filesystem::create_directories(dir);
        auto opened = hub::SecretBox::open_or_create(dir / "secret.key");
        REQUIRE(opened.ok());
        box = std::make_unique<hub::SecretBox>(opened.value());
        catalog
            .add("echo_adapter", plugin::PluginKind::model,
                 R"({"type":"object","properties":{"base_url":{"type":"string"},
                        "api_key":{"type":"string"}},"additionalProperties":false})")
            ->make_model = [](const Json&) { return std::make_shared<testing::EchoModel>(); };
    }
    ~ServiceFixture() {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
    }

    store::Database& db() { return *tdb; }
    service::Env env(service::Actor actor = {}) {
        return service::Env{db(), box.get(), catalog.lookup(), nullptr, std::move(actor), 0};
    }
    store::User user(const std::string& name, const std::string& role = "user") {
        return store::testing::make_user(db(), name, role);
    }
    store::User reread(const store::User& u) {
        auto fresh = store::users::find_by_id(db(), u.id);
        REQUIRE(fresh.ok());
        REQUIRE(fresh.value());
        return *fresh.value();
    }
    long long count(const std::string& table) {
        auto n = db().with_session("count", [&](soci::session& s) {
            long long c = 0;
            s << "SELECT COUNT(*) FROM " + table, soci::into(c);
            return c;
        });
        REQUIRE(n.ok());
        return n.value();
    }
    //! Makes the store refuse `event` on `table` (a BEFORE trigger), when `condition` holds.
    void fail_on(const std::string& event, const std::string& table,
                 const std::string& condition = "1 = 1") {
        auto made = db().with_session("create a failing trigger", [&](soci::session& s) {
            if (store::testing::on_mysql(db()))
                s << "CREATE TRIGGER injected_failure BEFORE " + event + " ON " + table +
                         " FOR EACH ROW BEGIN IF " + condition +
                         " THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; "
                         "END IF; END";
            else
                s << "CREATE TRIGGER injected_failure BEFORE " + event + " ON " + table + " WHEN " +
                         condition + " BEGIN SELECT RAISE(ABORT, 'injected failure'); END";
        });
        REQUIRE(made.ok());
    }
    void stop_failing() {
        auto dropped = db().with_session("drop the failing trigger", [&](soci::session& s) {
            s << "DROP TRIGGER injected_failure";
        });
        REQUIRE(dropped.ok());
    }
    store::Channel channel(const std::string& name) {
        auto c = service::channels::named(db(), name);
        REQUIRE(c.ok());
        return c.value();
    }
};

store::Channel echo_channel(const std::string& name) {
    store::Channel c;
    c.name = name;
    c.type = "echo_adapter";
    c.models = Json::array({"m-1"});
    return c;
}

}  // namespace

TEST_CASE("alerts: one open row per dedup key; a repeat bumps it; resolve; a new row after",
          "[service][alerts]") {
    ServiceFixture f;
    store::AlertRaise a{"upstream_key_disabled", "critical", "duo", "first", "k:duo#1"};
    auto first = service::alerts::raise(f.db(), a);
    REQUIRE(first.ok());
    CHECK(first->count == 1);
    CHECK(first->state == "open");
    a.message = "second";
    a.severity = "warning";
    auto again = service::alerts::raise(f.db(), a);
    REQUIRE(again.ok());
    CHECK(again->id == first->id);
    CHECK(again->count == 2);
    CHECK(again->message == "second");
    CHECK(again->severity == "warning");
    CHECK(f.count("alerts") == 1);
    // Another key is another row.
    REQUIRE(
        service::alerts::raise(f.db(), {"upstream_key_disabled", "critical", "duo", "x", "k:duo#2"})
            .ok());
    CHECK(f.count("alerts") == 2);
    // Bad input names the field.
    auto bad = service::alerts::raise(f.db(), {"k", "loud", "s", "m", "d"});
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().message.find("severity 'loud'") != std::string::npos);

    auto resolved = service::alerts::resolve(f.env(), first->id);
    REQUIRE(resolved.ok());
    CHECK(resolved->state == "resolved");
    CHECK(resolved->resolved_at.has_value());
    auto open = service::alerts::list(f.env(), "open", 100);
    REQUIRE(open.ok());
    REQUIRE(open->size() == 1);
    CHECK(open->front().dedup_key == "k:duo#2");
    // Once resolved, the same key opens a new row.
    auto reopened = service::alerts::raise(f.db(), a);
    REQUIRE(reopened.ok());
    CHECK(reopened->id != first->id);
    CHECK(reopened->count == 1);
    auto all = service::alerts::list(f.env(), "all", 100);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 3);
    CHECK(all->front().id == reopened->id);  // newest first
    auto missing = service::alerts::resolve(f.env(), 999999);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == ErrorKind::not_found);
    CHECK_FALSE(service::alerts::list(f.env(), "closed", 100).ok());
}

TEST_CASE("users.create: roles, passwords, invite codes", "[service][users]") {
    ServiceFixture f;
    auto inviter = f.user("ivy");
    auto code = service::users::invite_code(f.env(), inviter);
    REQUIRE(code.ok());
    CHECK(code->created);
    auto again = service::users::invite_code(f.env(), f.reread(inviter));
    REQUIRE(again.ok());
    CHECK_FALSE(again->created);
    CHECK(again->code == code->code);

    service::users::NewAccount account{"uma", "user", "default", std::string("long-password"),
                                       code->code};
    auto made = service::users::create(f.env(), account);
    REQUIRE(made.ok());
    CHECK(made->invited_by == inviter.id);
    CHECK(hub::verify_password("long-password", made->password_hash));

    auto unknown_code = service::users::create(
        f.env(), {"una", "user", "default", std::nullopt, std::string("NOPE")});
    REQUIRE_FALSE(unknown_code.ok());
    CHECK_THAT(unknown_code.error().message, Catch::Contains("NOPE"));
    auto short_password =
        service::users::create(f.env(), {"una", "user", "default", std::string("short")});
    REQUIRE_FALSE(short_password.ok());
    CHECK(short_password.error().kind == ErrorKind::invalid_request);
    // Only a root makes a root.
    auto admin = f.user("ada", "admin");
    auto by_admin =
        service::users::create(f.env({admin.id, admin.name, "admin"}), {"rex", "root", "default"});
    REQUIRE_FALSE(by_admin.ok());
    CHECK(by_admin.error().kind == ErrorKind::permission);
    CHECK(service::users::create(f.env(), {"rex", "root", "default"}).ok());
}

TEST_CASE("users.change: tier, role and enabled together; the rules of who changes whom",
          "[service][users]") {
    ServiceFixture f;
    REQUIRE(store::tiers::create(f.db(), {"vip", 800'000, "", 0}).ok());
    auto bob = f.user("bob");
    auto changed =
        service::users::change(f.env(), bob, {std::string("vip"), std::string("admin"), false});
    REQUIRE(changed.ok());
    CHECK(changed->tier == "vip");
    CHECK(changed->role == "admin");
    CHECK_FALSE(changed->enabled);

    // An unknown tier refuses the whole change: the role stays as it was.
    auto refused = service::users::change(f.env(), f.reread(bob),
                                          {std::string("platinum"), std::string("user"), true});
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == ErrorKind::not_found);
    CHECK(f.reread(bob).role == "admin");
    CHECK_FALSE(f.reread(bob).enabled);

    auto root = f.user("rita", "root");
    auto ada = f.user("ada", "admin");
    service::Actor as_ada{ada.id, ada.name, "admin"};
    auto on_root = service::users::change(f.env(as_ada), root, {std::nullopt, std::nullopt, false});
    REQUIRE_FALSE(on_root.ok());
    CHECK(on_root.error().kind == ErrorKind::permission);
    auto self = service::users::change(f.env(as_ada), ada, {std::nullopt, std::nullopt, false});
    REQUIRE_FALSE(self.ok());
    CHECK(self.error().kind == ErrorKind::permission);
}

TEST_CASE("users.topup: once per ref, the inviter's rebate from the setting", "[service][users]") {
    ServiceFixture f;
    auto inviter = f.user("ivy");
    auto code = service::users::invite_code(f.env(), inviter);
    REQUIRE(code.ok());
    auto bob =
        service::users::create(f.env(), {"bob", "user", "default", std::nullopt, code->code});
    REQUIRE(bob.ok());
    REQUIRE(service::ledger::set_invite_rebate(f.env(), 100'000).ok());  // 10%
    auto done = service::users::topup(f.env(), bob.value(), {10'000'000, "pay-1", std::nullopt});
    REQUIRE(done.ok());
    CHECK(done->change.applied);
    CHECK(done->change.balance == 10'000'000);
    CHECK(done->change.rebate == 1'000'000);
    CHECK(done->inviter == "ivy");
    auto repeat = service::users::topup(f.env(), bob.value(), {10'000'000, "pay-1", std::nullopt});
    REQUIRE(repeat.ok());
    CHECK_FALSE(repeat->change.applied);
    CHECK(f.reread(bob.value()).balance == 10'000'000);
    CHECK_FALSE(service::users::topup(f.env(), bob.value(), {0, std::nullopt, std::nullopt}).ok());

    auto page = service::ledger::list(f.env(), bob->id, 10, std::nullopt);
    REQUIRE(page.ok());
    REQUIRE(page->size() == 1);
    Json row = service::ledger::entry_json(page->front());
    CHECK(row["amount"] == "10.000000");
    CHECK(row["kind"] == "topup");
    CHECK(service::ledger::invite_rebate_ppm(f.env()).value() == 100'000);
}

TEST_CASE("invitations.list: each inviter's code, invitees and rebate earned; paged by id",
          "[service][invitations]") {
    ServiceFixture f;
    auto ivy = f.user("ivy");
    auto code = service::users::invite_code(f.env(), ivy);
    REQUIRE(code.ok());
    auto dan = f.user("dan");
    REQUIRE(service::users::invite_code(f.env(), dan).ok());  // a code, nobody invited yet
    f.user("eve");                                            // no code: not an inviter
    auto bob =
        service::users::create(f.env(), {"bob", "user", "default", std::nullopt, code->code});
    auto cat =
        service::users::create(f.env(), {"cat", "user", "default", std::nullopt, code->code});
    REQUIRE(bob.ok());
    REQUIRE(cat.ok());
    REQUIRE(service::ledger::set_invite_rebate(f.env(), 100'000).ok());  // 10%
    REQUIRE(service::users::topup(f.env(), bob.value(), {10'000'000, "i-1", std::nullopt}).ok());
    REQUIRE(service::users::topup(f.env(), cat.value(), {5'000'000, "i-2", std::nullopt}).ok());
    // A top-up of ivy herself and another ledger kind never count as her rebate.
    REQUIRE(service::users::topup(f.env(), ivy, {7'000'000, "i-3", std::nullopt}).ok());

    auto all = service::invitations::list(f.env(), 10, std::nullopt);
    REQUIRE(all.ok());
    CHECK(all->rebate_ppm == 100'000);
    REQUIRE(all->page.inviters.size() == 2);
    CHECK_FALSE(all->page.next_after_id);
    const auto& first = all->page.inviters[0];
    CHECK(first.name == "ivy");
    CHECK(first.invite_code == code->code);
    CHECK(first.invited == 2);
    REQUIRE(first.invitees.size() == 2);
    CHECK(first.invitees[0].name == "bob");
    CHECK(first.invitees[1].name == "cat");
    CHECK(first.invitees[0].joined_at > 0);
    CHECK(first.rebate == 1'500'000);
    CHECK(first.rebate_entries == 2);
    CHECK(all->page.inviters[1].name == "dan");
    CHECK(all->page.inviters[1].invited == 0);
    CHECK(all->page.inviters[1].rebate == 0);
    Json row = service::invitations::inviter_json(first);
    CHECK(row["rebate"] == "1.500000");
    CHECK(row["rebate_micros"] == 1'500'000);
    CHECK(row["invitees"][1]["name"] == "cat");

    auto one = service::invitations::list(f.env(), 1, std::nullopt);
    REQUIRE(one.ok());
    REQUIRE(one->page.inviters.size() == 1);
    REQUIRE(one->page.next_after_id == ivy.id);
    auto rest = service::invitations::list(f.env(), 1, one->page.next_after_id);
    REQUIRE(rest.ok());
    REQUIRE(rest->page.inviters.size() == 1);
    CHECK(rest->page.inviters[0].name == "dan");
    CHECK_FALSE(rest->page.next_after_id);
    auto bad = service::invitations::list(f.env(), 0, std::nullopt);
    REQUIRE_FALSE(bad.ok());
    CHECK(bad.error().kind == ErrorKind::invalid_request);
    CHECK(service::invitations::percent_text(25'500) == "2.55");
    CHECK(service::invitations::percent_text(0) == "0");
}

TEST_CASE("invitation routes: GET /invitations, PUT /invitations/rebate, POST invite-code",
          "[service][admin][invitations]") {
    ServiceFixture f;
    auto ivy = f.user("ivy");
    auto ada = f.user("ada", "admin");
    auto code = service::users::invite_code(f.env(), ivy);
    REQUIRE(code.ok());
    auto bob =
        service::users::create(f.env(), {"bob", "user", "default", std::nullopt, code->code});
    REQUIRE(bob.ok());
    REQUIRE(service::ledger::set_invite_rebate(f.env(), 200'000).ok());  // 20%
    REQUIRE(service::users::topup(f.env(), bob.value(), {3'000'000, "r-1", std::nullopt}).ok());
    server::AdminApiOptions options;
    options.plugins = f.catalog.lookup();
    auto call = [&](std::string method, std::string path, std::string body = "",
                    std::map<std::string, std::string> query = {}) {
        server::AdminCall c;
        c.method = method;
        c.path = path;
        c.query = std::move(query);
        c.body = std::move(body);
        c.client_ip = "127.0.0.1";
        server::admin::Caller caller{ada.id, ada.name, ada.role, true, false};
        std::vector<std::string> segments;
        for (std::size_t at = 1; at <= path.size();) {
            auto end = path.find('/', at);
            if (end == std::string::npos) end = path.size();
            segments.push_back(path.substr(at, end - at));
            at = end + 1;
        }
        server::admin::Context ctx{f.db(), f.box.get(), options, c, caller, segments};
        auto out = server::admin::route_accounts(ctx);
        REQUIRE(out);
        return std::move(*out);
    };

    auto listed = call("GET", "/invitations");
    REQUIRE(listed.ok());
    CHECK(listed->status == 200);
    CHECK(listed->body["rebate_ppm"] == 200'000);
    CHECK(listed->body["rebate_percent"] == "20");
    REQUIRE(listed->body["data"].size() == 1);
    CHECK(listed->body["data"][0]["name"] == "ivy");
    CHECK(listed->body["data"][0]["invite_code"] == code->code);
    CHECK(listed->body["data"][0]["rebate"] == "0.600000");
    CHECK(listed->body["data"][0]["invitees"][0]["name"] == "bob");
    CHECK(listed->body["next_cursor"].is_null());

    auto set = call("PUT", "/invitations/rebate", R"({"ppm": 50000})");
    REQUIRE(set.ok());
    CHECK(set->body["rebate_percent"] == "5");
    CHECK(service::ledger::invite_rebate_ppm(f.env()).value() == 50'000);
    for (const char* body : {R"({"ppm": 1000001})", R"({"ppm": -1})", R"({"ppm": "5%"})", "{}"}) {
        INFO(body);
        auto refused = call("PUT", "/invitations/rebate", body);
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().kind == ErrorKind::invalid_request);
        CHECK_THAT(refused.error().message, Catch::Contains("'ppm'"));
    }
    auto unknown_field = call("PUT", "/invitations/rebate", R"({"percent": 5})");
    REQUIRE_FALSE(unknown_field.ok());
    CHECK_THAT(unknown_field.error().message, Catch::Contains("percent"));
    CHECK(service::ledger::invite_rebate_ppm(f.env()).value() == 50'000);  // unchanged
    auto wrong_method = call("POST", "/invitations");
    REQUIRE(wrong_method.ok());
    CHECK(wrong_method->status == 405);

    auto made = call("POST", "/users/bob/invite-code");
    REQUIRE(made.ok());
    CHECK(made->status == 201);
    CHECK(made->body["created"] == true);
    auto again = call("POST", "/users/bob/invite-code");
    REQUIRE(again.ok());
    CHECK(again->status == 200);
    CHECK(again->body["invite_code"] == made->body["invite_code"]);
    auto both = call("GET", "/invitations", "", {{"limit", "1"}});
    REQUIRE(both.ok());
    REQUIRE(both->body["data"].size() == 1);
    REQUIRE(both->body["next_cursor"].is_string());
    auto second = call("GET", "/invitations", "",
                       {{"limit", "1"}, {"cursor", both->body["next_cursor"].get<std::string>()}});
    REQUIRE(second.ok());
    REQUIRE(second->body["data"].size() == 1);
    CHECK(second->body["data"][0]["name"] == "bob");
}

TEST_CASE("keys.create, set_limits, revoke; the own-key operations", "[service][keys]") {
    ServiceFixture f;
    auto bob = f.user("bob");
    store::KeyLimits limits;
    limits.quota_limit = 5'000'000;
    limits.rpm = 60;
    limits.ip_allow = {"10.0.0.0/8"};
    auto made = service::keys::create(f.env(), bob, "ci", limits);
    REQUIRE(made.ok());
    CHECK(made->secret.rfind("sk-ts-", 0) == 0);
    auto stored = store::api_keys::find(f.db(), made->key.id);
    REQUIRE(stored.ok());
    REQUIRE(stored.value());
    CHECK(stored.value()->limits == limits);
    CHECK(stored.value()->key_hash == hub::api_key_hash(made->secret));
    Json shown = service::keys::key_json(made->key, bob.name);
    CHECK(shown["limits"]["quota"] == "5.000000");
    CHECK(shown["limits"]["rpm"] == 60);
    CHECK(shown.dump().find(made->secret) == std::string::npos);
    CHECK(shown.dump().find(stored.value()->key_hash) == std::string::npos);

    store::KeyLimits bad;
    bad.ip_deny = {"10.0.0.300"};
    auto refused = service::keys::create(f.env(), bob, "bad", bad);
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("10.0.0.300"));
    CHECK(f.count("api_keys") == 1);  // the refused key left no row
    CHECK_FALSE(service::keys::create(f.env(), bob, "", {}).ok());

    store::KeyLimits narrower = limits;
    narrower.rpm = 10;
    auto changed = service::keys::set_limits(f.env(), stored.value().value(), bob, narrower);
    REQUIRE(changed.ok());
    CHECK(store::api_keys::find(f.db(), made->key.id).value()->limits.rpm == 10);

    REQUIRE(service::keys::revoke(f.env(), *stored.value(), bob).ok());
    auto revoked = service::keys::with_owner(f.env(), made->key.id);
    REQUIRE(revoked.ok());
    CHECK(revoked->first.revoked_at);
    auto twice = service::keys::revoke(f.env(), revoked->first, bob);
    REQUIRE_FALSE(twice.ok());
    CHECK_THAT(twice.error().message, Catch::Contains("already revoked"));
    CHECK_FALSE(service::keys::set_limits(f.env(), revoked->first, bob, limits).ok());

    // Own keys: a user makes, lists and revokes theirs; another's key is not found.
    auto eve = f.user("eve");
    service::Actor as_bob{bob.id, bob.name, "user"};
    service::Actor as_eve{eve.id, eve.name, "user"};
    auto own = service::keys::create_own(f.env(as_bob), "laptop", {});
    REQUIRE(own.ok());
    CHECK(own->key.user_id == bob.id);
    CHECK(service::keys::list_own(f.env(as_bob)).value().size() == 2);
    CHECK(service::keys::list_own(f.env(as_eve)).value().empty());
    auto stolen = service::keys::revoke_own(f.env(as_eve), own->key.id);
    REQUIRE_FALSE(stolen.ok());
    CHECK(stolen.error().kind == ErrorKind::not_found);
    CHECK(service::keys::revoke_own(f.env(as_bob), own->key.id).ok());
    CHECK(service::keys::revoke_own(f.env(as_bob), own->key.id).error().kind ==
          ErrorKind::not_found);
    // An admin may not touch a root's keys.
    auto root = f.user("rita", "root");
    auto ada = f.user("ada", "admin");
    auto on_root = service::keys::create(f.env({ada.id, ada.name, "admin"}), root, "x", {});
    REQUIRE_FALSE(on_root.ok());
    CHECK(on_root.error().kind == ErrorKind::permission);
}

TEST_CASE("keys.create writes the key and its limits in one transaction", "[service][keys][fail]") {
    ServiceFixture f;
    auto bob = f.user("bob");
    // The key's row goes in, then its limits are written: make that second write fail.
    f.fail_on("UPDATE", "api_keys");
    store::KeyLimits limits;
    limits.rpm = 5;
    auto made = service::keys::create(f.env(), bob, "ci", limits);
    REQUIRE_FALSE(made.ok());
    CHECK_THAT(made.error().message, Catch::Contains("injected failure"));
    // Nothing was written: no key, not even a revoked one.
    CHECK(f.count("api_keys") == 0);
    f.stop_failing();
    CHECK(service::keys::create(f.env(), bob, "ci", limits).ok());
    CHECK(f.count("api_keys") == 1);
}

TEST_CASE("channels.create, add_key, remove_key, set_enabled, remove", "[service][channels]") {
    ServiceFixture f;
    auto made = service::channels::create(f.env(), echo_channel("alpha"), {"sk-a", "sk-b"});
    REQUIRE(made.ok());
    REQUIRE(made->keys.size() == 2);
    for (const auto& k : made->keys) CHECK(hub::SecretBox::is_sealed(k.sealed_key));
    CHECK(f.box->open(made->keys[0].sealed_key, "alpha").value() == "sk-a");
    Json shown = service::channels::channel_json(made.value());
    CHECK(shown.dump().find(made->keys[0].sealed_key) == std::string::npos);

    auto unknown_type = echo_channel("beta");
    unknown_type.type = "no_such_adapter";
    auto refused = service::channels::create(f.env(), unknown_type, {});
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("no_such_adapter"));
    auto no_models = echo_channel("beta");
    no_models.models = Json::array();
    CHECK_FALSE(service::channels::create(f.env(), no_models, {}).ok());
    service::Env no_plugins = f.env();
    no_plugins.plugins = nullptr;
    CHECK(service::channels::create(no_plugins, echo_channel("beta"), {}).error().kind ==
          ErrorKind::unavailable);
    service::Env no_secrets = f.env();
    no_secrets.secrets = nullptr;
    CHECK(service::channels::create(no_secrets, echo_channel("beta"), {"sk"}).error().kind ==
          ErrorKind::unavailable);
    CHECK(f.count("channels") == 1);

    auto added = service::channels::add_key(f.env(), "alpha", "sk-c");
    REQUIRE(added.ok());
    CHECK(f.channel("alpha").keys.size() == 3);
    REQUIRE(service::channels::create(f.env(), echo_channel("beta"), {"sk-x"}).ok());
    const long long betas_key = f.channel("beta").keys.front().id;
    auto foreign = service::channels::remove_key(f.env(), "alpha", betas_key);
    REQUIRE_FALSE(foreign.ok());
    CHECK(foreign.error().kind == ErrorKind::not_found);
    REQUIRE(service::channels::remove_key(f.env(), "alpha", added->id).ok());
    CHECK(f.channel("alpha").keys.size() == 2);

    auto off = service::channels::set_enabled(f.env(), "alpha", false);
    REQUIRE(off.ok());
    CHECK_FALSE(off->enabled);
    REQUIRE(service::channels::remove(f.env(), "alpha").ok());
    CHECK(service::channels::named(f.db(), "alpha").error().kind == ErrorKind::not_found);
    CHECK(service::channels::list(f.env()).value().size() == 1);
}

TEST_CASE("channels.edit: a rename re-seals every key for the new name, keeping key state",
          "[service][channels]") {
    ServiceFixture f;
    auto made = service::channels::create(f.env(), echo_channel("alpha"), {"sk-a", "sk-b"});
    REQUIRE(made.ok());
    REQUIRE(store::channels::set_key_enabled(f.db(), made->keys[1].id, false, "401 upstream").ok());
    service::channels::Edit edit;
    edit.changes.name = "omega";
    edit.changes.weight = 3;
    auto renamed = service::channels::edit(f.env(), "alpha", edit);
    REQUIRE(renamed.ok());
    CHECK(renamed->name == "omega");
    CHECK(renamed->weight == 3);
    REQUIRE(renamed->keys.size() == 2);
    CHECK(f.box->open(renamed->keys[0].sealed_key, "omega").value() == "sk-a");
    CHECK(f.box->open(renamed->keys[1].sealed_key, "omega").value() == "sk-b");
    CHECK_FALSE(f.box->open(renamed->keys[0].sealed_key, "alpha").ok());
    CHECK(renamed->keys[0].enabled);
    CHECK_FALSE(renamed->keys[1].enabled);
    CHECK(renamed->keys[1].disabled_reason == "401 upstream");
    CHECK(f.count("channel_keys") == 2);

    // Replace every key; add one; remove one: each in one call.
    service::channels::Edit keys;
    keys.replace_keys = {"sk-new"};
    auto replaced = service::channels::edit(f.env(), "omega", keys);
    REQUIRE(replaced.ok());
    REQUIRE(replaced->keys.size() == 1);
    CHECK(f.box->open(replaced->keys[0].sealed_key, "omega").value() == "sk-new");
    service::channels::Edit more;
    more.add_keys = {"sk-more"};
    more.remove_key_ids = {replaced->keys[0].id};
    auto swapped = service::channels::edit(f.env(), "omega", more);
    REQUIRE(swapped.ok());
    REQUIRE(swapped->keys.size() == 1);
    CHECK(f.box->open(swapped->keys[0].sealed_key, "omega").value() == "sk-more");

    service::channels::Edit bad_type;
    bad_type.changes.type = "no_such_adapter";
    CHECK_FALSE(service::channels::edit(f.env(), "omega", bad_type).ok());
    CHECK(f.channel("omega").type == "echo_adapter");
    CHECK_FALSE(service::channels::edit(f.env(), "omega", {}).ok());  // nothing to change
    CHECK(service::channels::edit(f.env(), "nosuch", edit).error().kind == ErrorKind::not_found);
}

TEST_CASE("channels.edit: a rename that fails midway re-sealing changes nothing",
          "[service][channels][fail]") {
    ServiceFixture f;
    auto made = service::channels::create(f.env(), echo_channel("alpha"), {"sk-a", "sk-b"});
    REQUIRE(made.ok());
    const store::Channel before = f.channel("alpha");
    const long long last_id = std::max(before.keys[0].id, before.keys[1].id);
    // The first re-sealed key goes in (id last_id + 1); the second insert fails.
    f.fail_on("INSERT", "channel_keys",
              "(SELECT MAX(id) FROM channel_keys) > " + std::to_string(last_id));
    service::channels::Edit edit;
    edit.changes.name = "omega";
    auto renamed = service::channels::edit(f.env(), "alpha", edit);
    REQUIRE_FALSE(renamed.ok());
    CHECK_THAT(renamed.error().message, Catch::Contains("injected failure"));
    f.stop_failing();
    // Still named alpha, with the same two keys, each still opening under that name.
    CHECK(service::channels::named(f.db(), "omega").error().kind == ErrorKind::not_found);
    const store::Channel after = f.channel("alpha");
    REQUIRE(after.keys.size() == 2);
    CHECK(after.keys[0].id == before.keys[0].id);
    CHECK(after.keys[1].id == before.keys[1].id);
    CHECK(f.box->open(after.keys[0].sealed_key, "alpha").value() == "sk-a");
    CHECK(f.box->open(after.keys[1].sealed_key, "alpha").value() == "sk-b");
    CHECK(f.count("channel_keys") == 2);
    // And the same rename works once the store does.
    CHECK(service::channels::edit(f.env(), "alpha", edit).ok());
}

TEST_CASE("tiers: create, set_ratio, set_route_header, remove", "[service][tiers]") {
    ServiceFixture f;
    auto made = service::tiers::create(f.env(), {"gold", 800'000, "20% off", 0});
    REQUIRE(made.ok());
    CHECK(service::tiers::tier_json(made.value())["price_ratio"] == "0.800000");
    CHECK(service::tiers::set_ratio(f.env(), "gold", 900'000).value().price_ratio_ppm == 900'000);
    CHECK_FALSE(service::tiers::set_route_header(f.env(), "gold", false).value().route_header);
    auto no_default = service::tiers::remove(f.env(), "default");
    REQUIRE_FALSE(no_default.ok());
    CHECK_THAT(no_default.error().message, Catch::Contains("default"));
    REQUIRE(service::tiers::remove(f.env(), "gold").ok());
    CHECK(service::tiers::named(f.db(), "gold").error().kind == ErrorKind::not_found);
    CHECK(service::tiers::set_ratio(f.env(), "gold", 1).error().kind == ErrorKind::not_found);
}

TEST_CASE("prices: set only the given fields, or replace them all; remove", "[service][prices]") {
    ServiceFixture f;
    service::prices::Change first;
    first.input_per_m = 2'000'000;
    first.output_per_m = 8'000'000;
    REQUIRE(service::prices::set(f.env(), "m-1", first, false).ok());
    service::prices::Change output_only;
    output_only.output_per_m = 9'000'000;
    auto merged = service::prices::set(f.env(), "m-1", output_only, false);
    REQUIRE(merged.ok());
    CHECK(merged->input_per_m == 2'000'000);
    CHECK(merged->output_per_m == 9'000'000);
    auto replaced = service::prices::set(f.env(), "m-1", output_only, true);
    REQUIRE(replaced.ok());
    CHECK(replaced->input_per_m == 0);
    CHECK(service::prices::price_json(replaced.value())["output_per_m"] == "9.000000");
    REQUIRE(service::prices::remove(f.env(), "m-1").ok());
    CHECK(service::prices::list(f.env()).value().empty());
    CHECK(service::prices::remove(f.env(), "m-1").error().kind == ErrorKind::not_found);
}

TEST_CASE("redemption: generate, redeem once, redeem_own", "[service][redemption]") {
    ServiceFixture f;
    auto batch = service::redemption::generate(f.env(), "spring", 5'000'000, 3);
    REQUIRE(batch.ok());
    REQUIRE(batch->codes.size() == 3);
    for (const auto& c : batch->codes) CHECK(c.rfind("TSR-", 0) == 0);
    CHECK(f.count("redemption_codes") == 3);
    CHECK_FALSE(service::redemption::generate(f.env(), "x", 0, 1).ok());
    CHECK_FALSE(service::redemption::generate(f.env(), "", 1, 1).ok());

    auto dave = f.user("dave");
    auto done = service::redemption::redeem(f.env(), dave, batch->codes[0]);
    REQUIRE(done.ok());
    CHECK(done->amount == 5'000'000);
    CHECK(done->balance == 5'000'000);
    auto twice = service::redemption::redeem(f.env(), f.user("erin"), batch->codes[0]);
    REQUIRE_FALSE(twice.ok());
    CHECK_THAT(twice.error().message,
               Catch::Contains("already redeemed") && Catch::Contains("dave"));
    auto unknown = service::redemption::redeem(f.env(), dave, "TSR-nonsense");
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().kind == ErrorKind::not_found);

    service::Actor as_dave{dave.id, dave.name, "user"};
    auto own = service::redemption::redeem_own(f.env(as_dave), batch->codes[1]);
    REQUIRE(own.ok());
    CHECK(own->balance == 10'000'000);
    auto own_page = service::ledger::list_own(f.env(as_dave), 1, std::nullopt);
    REQUIRE(own_page.ok());
    REQUIRE(own_page->size() == 1);
    auto older = service::ledger::list_own(f.env(as_dave), 10, own_page->front().id);
    REQUIRE(older.ok());
    CHECK(older->size() == 1);
    CHECK_FALSE(service::ledger::list_own(f.env(as_dave), 0, std::nullopt).ok());
}

TEST_CASE("route_self: /me/keys, /me/ledger and /me/redeem act on the caller only",
          "[service][admin][self]") {
    ServiceFixture f;
    auto bob = f.user("bob");
    auto eve = f.user("eve");
    server::AdminApiOptions options;
    options.plugins = f.catalog.lookup();
    auto call = [&](const store::User& who, std::string method, std::string path,
                    std::string body = "", std::map<std::string, std::string> query = {}) {
        server::AdminCall c;
        c.method = method;
        c.path = path;
        c.query = std::move(query);
        c.body = std::move(body);
        c.client_ip = "127.0.0.1";
        server::admin::Caller caller{who.id, who.name, who.role, true, false};
        std::vector<std::string> segments;
        for (std::size_t at = 1; at <= path.size();) {
            auto end = path.find('/', at);
            if (end == std::string::npos) end = path.size();
            segments.push_back(path.substr(at, end - at));
            at = end + 1;
        }
        server::admin::Context ctx{f.db(), f.box.get(), options, c, caller, segments};
        return server::admin::route_self(ctx);
    };

    auto made = call(bob, "POST", "/me/keys", R"({"name": "laptop", "rpm": 5})");
    REQUIRE(made.ok());
    CHECK(made->status == 201);
    CHECK(made->body["key"].get<std::string>().rfind("sk-ts-", 0) == 0);
    CHECK(made->body["user"] == "bob");
    CHECK(made->body["limits"]["rpm"] == 5);
    const long long id = made->body["id"].get<long long>();
    auto listed = call(bob, "GET", "/me/keys");
    REQUIRE(listed.ok());
    REQUIRE(listed->body["keys"].size() == 1);
    CHECK_FALSE(listed->body["keys"][0].contains("key"));
    CHECK(call(eve, "GET", "/me/keys")->body["keys"].empty());
    auto stolen = call(eve, "DELETE", "/me/keys/" + std::to_string(id));
    REQUIRE_FALSE(stolen.ok());
    CHECK(stolen.error().kind == ErrorKind::not_found);
    CHECK_FALSE(call(bob, "POST", "/me/keys", R"({"name": "x", "user": "eve"})").ok());
    auto revoked = call(bob, "DELETE", "/me/keys/" + std::to_string(id));
    REQUIRE(revoked.ok());
    CHECK(revoked->status == 204);

    auto batch = service::redemption::generate(f.env(), "spring", 2'500'000, 2);
    REQUIRE(batch.ok());
    for (const auto& code : batch->codes) {
        auto redeemed = call(bob, "POST", "/me/redeem", Json{{"code", code}}.dump());
        REQUIRE(redeemed.ok());
        CHECK(redeemed->body["credited"] == "2.500000");
    }
    CHECK(f.reread(bob).balance == 5'000'000);
    CHECK(f.reread(eve).balance == 0);
    auto first = call(bob, "GET", "/me/ledger", "", {{"limit", "1"}});
    REQUIRE(first.ok());
    REQUIRE(first->body["data"].size() == 1);
    REQUIRE(first->body["next_cursor"].is_string());
    auto second = call(bob, "GET", "/me/ledger", "",
                       {{"limit", "1"}, {"after", first->body["next_cursor"].get<std::string>()}});
    REQUIRE(second.ok());
    REQUIRE(second->body["data"].size() == 1);
    CHECK(second->body["data"][0]["id"] != first->body["data"][0]["id"]);
    CHECK(call(eve, "GET", "/me/ledger")->body["data"].empty());

    auto wrong_method = call(bob, "PATCH", "/me/keys");
    REQUIRE(wrong_method.ok());
    CHECK(wrong_method->status == 405);
    CHECK(call(bob, "GET", "/me/nothing").error().kind == ErrorKind::not_found);
}
