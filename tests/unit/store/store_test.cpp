// Every repository test runs against the database named by TIANSHU_TEST_DB_URL (a MariaDB
// started by tests/scripts/with_mariadb.sh), or against a fresh SQLite file by default.
// Each test case gets a database of its own (test_database.hpp), removed afterwards.

#include "store/api_keys.hpp"
#include "store/chains.hpp"
#include "store/channels.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/settings.hpp"
#include "store/users.hpp"
#include "test_database.hpp"

#include <soci/soci.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>
#include <thread>
#include <tuple>

using namespace tianshu;
using namespace tianshu::store;
using namespace tianshu::store::testing;

namespace {

long long revision(Database& db) {
    auto r = config_revision(db);
    REQUIRE(r.ok());
    return r.value();
}

}  // namespace

TEST_CASE("database URLs are parsed, and a wrong one names the part to fix without the password") {
    auto sqlite = DatabaseLocation::parse("sqlite:///var/lib/tianshu/tianshu.db");
    REQUIRE(sqlite.ok());
    CHECK(sqlite->dialect == "sqlite");
    CHECK(sqlite->path == "/var/lib/tianshu/tianshu.db");
    auto relative = DatabaseLocation::parse("sqlite://data/tianshu.db");
    REQUIRE(relative.ok());
    CHECK(relative->path == "data/tianshu.db");

    auto mysql = DatabaseLocation::parse("mysql://ts:p%40ss@db.local:3307/tianshu");
    REQUIRE(mysql.ok());
    CHECK(mysql->dialect == "mysql");
    CHECK(mysql->user == "ts");
    CHECK(mysql->password == "p@ss");
    CHECK(mysql->host == "db.local");
    CHECK(mysql->port == 3307);
    CHECK(mysql->database == "tianshu");
    CHECK(mysql->redacted == "mysql://ts:***@db.local:3307/tianshu");

    auto no_scheme = Database::open("/tmp/x.db");
    REQUIRE_FALSE(no_scheme.ok());
    CHECK_THAT(no_scheme.error().message, Catch::Contains("has no scheme"));
    auto postgres = Database::open("postgres://u:pw@h/db");
    REQUIRE_FALSE(postgres.ok());
    CHECK_THAT(postgres.error().message, Catch::Contains("scheme 'postgres' is not supported"));
    auto no_db = Database::open("mysql://u:hunter2@localhost:3306");
    REQUIRE_FALSE(no_db.ok());
    CHECK_THAT(no_db.error().message, Catch::Contains("names no database"));
    CHECK_THAT(no_db.error().message, !Catch::Contains("hunter2"));
    auto bad_port = Database::open("mysql://u:hunter2@localhost:33x6/db");
    REQUIRE_FALSE(bad_port.ok());
    CHECK_THAT(bad_port.error().message, Catch::Contains("port '33x6'"));
    CHECK_THAT(bad_port.error().message, !Catch::Contains("hunter2"));
    auto refused = Database::open("mysql://u:hunter2@127.0.0.1:1/db", 1);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == core::ErrorKind::unavailable);
    CHECK_THAT(refused.error().message, Catch::Contains("mysql://u:***@127.0.0.1:1/db"));
    CHECK_THAT(refused.error().message, !Catch::Contains("hunter2"));
}

TEST_CASE("several instances migrating one new database at once all succeed, each step once") {
    // As gateways started together do: each its own pool on the same new database. SQLite had
    // the race (a step run twice: 5 failures in 40 rounds before each step re-read the version
    // under the write lock); MySQL's instances take turns on GET_LOCK, so fewer rounds there.
    const char* env = std::getenv("TIANSHU_TEST_DB_URL");
    const int rounds = env != nullptr && *env != '\0' ? 5 : 30;
    for (int round = 0; round < rounds; ++round) {
        TestDatabase t(false);
        constexpr int kInstances = 8;
        std::vector<std::unique_ptr<Database>> instances;
        for (int i = 0; i < kInstances; ++i) {
            auto opened = Database::open(t.url, 1);
            REQUIRE(opened.ok());
            instances.push_back(std::move(opened).value());
        }
        std::vector<std::string> errors(kInstances);
        std::atomic<int> applied{0}, ready{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < kInstances; ++i)
            threads.emplace_back([&, i] {
                ++ready;
                while (ready < kInstances) std::this_thread::yield();
                auto done = migrate(*instances[i]);
                if (done)
                    applied += done.value();
                else
                    errors[i] = done.error().message;
            });
        for (auto& th : threads) th.join();
        for (const auto& e : errors) CHECK(e.empty());
        CHECK(applied == static_cast<int>(migrations().size()));
        CHECK(schema_version(*t).value() == known_schema_version());
    }
}

TEST_CASE("migrating an empty database creates every table, and migrating again does nothing") {
    TestDatabase t(false);
    Database& db = *t;
    const char* env = std::getenv("TIANSHU_TEST_DB_URL");
    CHECK(db.dialect() == (env != nullptr && *env != '\0' ? "mysql" : "sqlite"));
    auto before = schema_version(db);
    REQUIRE(before.ok());
    CHECK(before.value() == 0);

    auto applied = migrate(db);
    REQUIRE(applied.ok());
    CHECK(applied.value() == static_cast<int>(migrations().size()));
    CHECK(schema_version(db).value() == known_schema_version());

    for (const char* table : {"users", "api_keys", "channels", "chains", "settings",
                              "config_revision", "schema_migrations", "tiers", "channel_keys",
                              "prices", "ledger", "redemption_codes", "request_logs"}) {
        auto counted = db.with_session("count rows", [&](soci::session& s) {
            long long n = -1;
            s << std::string("SELECT COUNT(*) FROM ") + table, soci::into(n);
            return n;
        });
        INFO(table);
        REQUIRE(counted.ok());
        CHECK(counted.value() >= 0);
    }
    CHECK(revision(db) == 0);

    auto again = migrate(db);
    REQUIRE(again.ok());
    CHECK(again.value() == 0);
    CHECK(schema_version(db).value() == known_schema_version());
}

TEST_CASE("a database newer than this binary is refused with an upgrade hint") {
    TestDatabase t;
    Database& db = *t;
    int future = known_schema_version() + 4;
    auto wrote = db.with_transaction("pretend a newer tianshu migrated", [&](soci::session& s) {
        s << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, 'from the "
             "future', 0)",
            soci::use(future);
    });
    REQUIRE(wrote.ok());
    auto refused = migrate(db);
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message == "database schema is at version " + std::to_string(future) +
                                         " but this tianshu knows up to " +
                                         std::to_string(known_schema_version()) +
                                         ": upgrade tianshu");
}

TEST_CASE("users are created, found, listed and counted; a taken name is refused") {
    TestDatabase t;
    Database& db = *t;
    CHECK(users::count(db).value() == 0);
    User alice = make_user(db, "alice", "admin");
    CHECK(alice.id > 0);
    CHECK(alice.created_at > 0);
    make_user(db, "bob");

    auto found = users::find_by_name(db, "alice");
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    CHECK(found.value()->id == alice.id);
    CHECK(found.value()->role == "admin");
    CHECK(found.value()->tier == "default");
    CHECK(found.value()->password_hash == "pbkdf2-sha256$1$AAAA$AAAA");
    CHECK_FALSE(users::find_by_name(db, "carol").value().has_value());
    CHECK_FALSE(users::find_by_name(db, "Alice").value().has_value());

    auto all = users::list(db);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK(all.value()[0].name == "alice");
    CHECK(all.value()[1].name == "bob");
    CHECK(users::count(db).value() == 2);

    auto again = users::create(db, {"alice", "user", "default", ""});
    REQUIRE_FALSE(again.ok());
    CHECK(again.error().kind == core::ErrorKind::invalid_request);
    CHECK(again.error().message == "a user named 'alice' already exists: choose another --name");
    CHECK(users::count(db).value() == 2);

    auto bad_role = users::create(db, {"carol", "superuser", "default", ""});
    REQUIRE_FALSE(bad_role.ok());
    CHECK(bad_role.error().message == "role 'superuser' is not one of root, admin, user");

    std::string unicode = "\xe5\xa4\xa9\xe6\x9e\xa2";  // 天枢
    make_user(db, unicode);
    CHECK(users::find_by_name(db, unicode).value().has_value());
}

TEST_CASE("API keys are stored by hash, found with their owner while live, listed and revoked") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    User bob = make_user(db, "bob");
    auto k1 = api_keys::create(db, alice.id, "laptop", "sk-ts-AAAA", "hash-1");
    auto k2 = api_keys::create(db, alice.id, "ci", "sk-ts-BBBB", "hash-2");
    auto k3 = api_keys::create(db, bob.id, "phone", "sk-ts-CCCC", "hash-3");
    REQUIRE(k1.ok());
    REQUIRE(k2.ok());
    REQUIRE(k3.ok());
    CHECK(k1->id != k2->id);
    CHECK_FALSE(k1->revoked_at.has_value());

    auto owner = api_keys::find_by_hash(db, "hash-2");
    REQUIRE(owner.ok());
    REQUIRE(owner->has_value());
    CHECK(owner.value()->key_id == k2->id);
    CHECK(owner.value()->key_name == "ci");
    CHECK(owner.value()->key_prefix == "sk-ts-BBBB");
    CHECK(owner.value()->user_id == alice.id);
    CHECK(owner.value()->user_name == "alice");
    CHECK(owner.value()->role == "user");
    CHECK(owner.value()->tier == "default");
    CHECK_FALSE(api_keys::find_by_hash(db, "no-such-hash").value().has_value());

    CHECK(api_keys::list(db).value().size() == 3);
    auto alices = api_keys::list(db, alice.id);
    REQUIRE(alices.ok());
    REQUIRE(alices->size() == 2);
    CHECK(alices.value()[0].name == "laptop");
    CHECK(alices.value()[0].key_hash == "hash-1");

    REQUIRE(api_keys::revoke(db, k2->id).ok());
    CHECK_FALSE(api_keys::find_by_hash(db, "hash-2").value().has_value());
    auto listed = api_keys::list(db, alice.id).value();
    CHECK(listed[1].revoked_at.has_value());
    CHECK_FALSE(listed[0].revoked_at.has_value());
    auto twice = api_keys::revoke(db, k2->id);
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().kind == core::ErrorKind::not_found);

    auto orphan = api_keys::create(db, 999999, "ghost", "sk-ts-DDDD", "hash-4");
    REQUIRE_FALSE(orphan.ok());
    CHECK(orphan.error().kind == core::ErrorKind::not_found);
    CHECK_THAT(orphan.error().message, Catch::Contains("no user with id 999999"));

    auto same_hash = api_keys::create(db, bob.id, "copy", "sk-ts-CCCC", "hash-3");
    REQUIRE_FALSE(same_hash.ok());
    CHECK(same_hash.error().kind == core::ErrorKind::invalid_request);
    CHECK(api_keys::list(db).value().size() == 3);
}

TEST_CASE("channels keep their JSON fields, are found by name and can be disabled") {
    TestDatabase t;
    Database& db = *t;
    Channel deepseek;
    deepseek.name = "deepseek";
    deepseek.type = "openai_compat";
    deepseek.base_url = "https://api.deepseek.com/v1";
    deepseek.models = {"deepseek-chat", "deepseek-reasoner"};
    deepseek.model_map = {{"claude-sonnet-4", "deepseek-chat"}};
    deepseek.config = {{"timeout_ms", 30000}, {"note", "\xe4\xb8\xad\xe6\x96\x87"}};
    auto created = channels::create(db, deepseek);
    REQUIRE(created.ok());
    CHECK(created->id > 0);

    Channel qwen;
    qwen.name = "qwen";
    qwen.type = "openai_compat";
    qwen.base_url = "https://dashscope.aliyuncs.com/compatible-mode/v1";
    qwen.enabled = false;
    REQUIRE(channels::create(db, qwen).ok());

    auto found = channels::find_by_name(db, "deepseek");
    REQUIRE(found.ok());
    REQUIRE(found->has_value());
    const Channel& c = found.value().value();
    CHECK(c.type == "openai_compat");
    CHECK(c.base_url == "https://api.deepseek.com/v1");
    CHECK(c.models == deepseek.models);
    CHECK(c.model_map == deepseek.model_map);
    CHECK(c.config == deepseek.config);
    CHECK(c.enabled);
    CHECK_FALSE(channels::find_by_name(db, "kimi").value().has_value());

    auto all = channels::list(db);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK_FALSE(all.value()[1].enabled);
    CHECK(all.value()[1].models == nlohmann::json::array());

    REQUIRE(channels::set_enabled(db, "deepseek", false).ok());
    CHECK_FALSE(channels::find_by_name(db, "deepseek").value()->enabled);
    REQUIRE(channels::set_enabled(db, "qwen", true).ok());
    CHECK(channels::find_by_name(db, "qwen").value()->enabled);
    auto unknown = channels::set_enabled(db, "kimi", true);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().kind == core::ErrorKind::not_found);

    auto dup = channels::create(db, deepseek);
    REQUIRE_FALSE(dup.ok());
    CHECK(dup.error().message ==
          "a channel named 'deepseek' already exists: choose another --name");

    Channel wrong = qwen;
    wrong.name = "wrong";
    wrong.models = {{"a", 1}};
    auto bad = channels::create(db, wrong);
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("models must be a JSON array"));
    CHECK(channels::list(db).value().size() == 2);
}

TEST_CASE("saving a chain appends a version; older versions stay") {
    TestDatabase t;
    Database& db = *t;
    CHECK_FALSE(chains::latest(db, "default").value().has_value());
    CHECK(chains::save(db, "default", R"({"v":1})").value() == 1);
    CHECK(chains::save(db, "default", R"({"v":2})").value() == 2);
    CHECK(chains::save(db, "coding", R"({"c":1})").value() == 1);
    CHECK(chains::save(db, "default", R"({"v":3})").value() == 3);

    auto latest = chains::latest(db, "default");
    REQUIRE(latest.ok());
    REQUIRE(latest->has_value());
    CHECK(latest.value()->version == 3);
    CHECK(latest.value()->body == R"({"v":3})");

    auto history = chains::versions(db, "default");
    REQUIRE(history.ok());
    REQUIRE(history->size() == 3);
    for (int i = 0; i < 3; ++i) {
        CHECK(history.value()[i].version == i + 1);
        CHECK(history.value()[i].body == "{\"v\":" + std::to_string(i + 1) + "}");
        CHECK(history.value()[i].created_at > 0);
    }

    auto heads = chains::list_latest(db);
    REQUIRE(heads.ok());
    REQUIRE(heads->size() == 2);
    CHECK(heads.value()[0].chain_id == "coding");
    CHECK(heads.value()[0].version == 1);
    CHECK(heads.value()[1].chain_id == "default");
    CHECK(heads.value()[1].version == 3);
    CHECK(heads.value()[1].body == R"({"v":3})");

    std::string big(200000, 'x');
    CHECK(chains::save(db, "big", big).value() == 1);
    CHECK(chains::latest(db, "big").value()->body == big);
}

TEST_CASE("settings are read and replaced") {
    TestDatabase t;
    Database& db = *t;
    CHECK_FALSE(settings::get(db, "site_name").value().has_value());
    REQUIRE(settings::set(db, "site_name", "Tianshu").ok());
    CHECK(settings::get(db, "site_name").value() == std::optional<std::string>("Tianshu"));
    REQUIRE(settings::set(db, "site_name", "天枢").ok());
    CHECK(settings::get(db, "site_name").value() == std::optional<std::string>("天枢"));
}

TEST_CASE("the configuration revision grows on every write and not on reads or failed writes") {
    TestDatabase t;
    Database& db = *t;
    long long r = revision(db);
    auto grew = [&](const char* what) {
        long long now = revision(db);
        INFO(what);
        CHECK(now > r);
        r = now;
    };
    User alice = make_user(db, "alice");
    grew("users::create");
    auto key = api_keys::create(db, alice.id, "k", "sk-ts-AAAA", "h1");
    REQUIRE(key.ok());
    grew("api_keys::create");
    REQUIRE(api_keys::revoke(db, key->id).ok());
    grew("api_keys::revoke");
    Channel c;
    c.name = "ch";
    c.type = "openai_compat";
    REQUIRE(channels::create(db, c).ok());
    grew("channels::create");
    REQUIRE(channels::set_enabled(db, "ch", false).ok());
    grew("channels::set_enabled");
    REQUIRE(chains::save(db, "default", "{}").ok());
    grew("chains::save");
    REQUIRE(settings::set(db, "x", "y").ok());
    grew("settings::set");

    (void)users::list(db);
    (void)api_keys::find_by_hash(db, "h1");
    (void)chains::list_latest(db);
    CHECK(revision(db) == r);
    CHECK_FALSE(users::create(db, {"alice", "user", "default", ""}).ok());
    CHECK(revision(db) == r);
}

TEST_CASE("a transaction that throws leaves nothing behind and reports the operation") {
    TestDatabase t;
    Database& db = *t;
    long long before = revision(db);
    auto failed = db.with_transaction("import users", [&](soci::session& s) {
        bump_config_revision(s);
        std::string name = "mallory";
        long long at = now_seconds();
        s << "INSERT INTO users (name, role, tier, password_hash, created_at) VALUES (:n, 'user', "
             "'default', '', :at)",
            soci::use(name), soci::use(at);
        throw std::runtime_error("the import file ended early");
    });
    REQUIRE_FALSE(failed.ok());
    CHECK_THAT(failed.error().message, Catch::Contains("import users failed"));
    CHECK_THAT(failed.error().message, Catch::Contains("the import file ended early"));
    CHECK(users::count(db).value() == 0);
    CHECK(revision(db) == before);

    auto bad_sql = db.with_transaction("read a missing table", [&](soci::session& s) {
        s << "INSERT INTO users (name, role, tier, password_hash, created_at) VALUES ('eve', "
             "'user', 'default', '', 1)";
        s << "SELECT nothing FROM no_such_table";
    });
    REQUIRE_FALSE(bad_sql.ok());
    CHECK_THAT(bad_sql.error().message, Catch::Contains("read a missing table failed"));
    CHECK(users::count(db).value() == 0);

    auto value = db.with_transaction("sum", [](soci::session&) { return 42; });
    REQUIRE(value.ok());
    CHECK(value.value() == 42);
}

TEST_CASE("writes from 8 threads through the pool are all applied") {
    TestDatabase t;
    Database& db = *t;
    constexpr int threads = 8, per_thread = 15;
    long long before = revision(db);
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
        workers.emplace_back([&, w] {
            for (int i = 0; i < per_thread; ++i) {
                auto u = users::create(db, {"user-" + std::to_string(w) + "-" + std::to_string(i),
                                            "user", "default", ""});
                auto c = chains::save(db, "shared", "{\"from\":" + std::to_string(w) + "}");
                auto k =
                    u.ok() ? api_keys::create(db, u->id, "k", "sk-ts-XXXX",
                                              "hash-" + std::to_string(w) + "-" + std::to_string(i))
                           : core::Result<ApiKey>(u.error());
                if (!u.ok() || !c.ok() || !k.ok()) {
                    ++failures;
                    UNSCOPED_INFO((!u.ok()   ? u.error().message
                                   : !c.ok() ? c.error().message
                                             : k.error().message));
                }
            }
        });
    }
    for (auto& w : workers) w.join();
    CHECK(failures == 0);
    CHECK(users::count(db).value() == threads * per_thread);
    CHECK(api_keys::list(db).value().size() == static_cast<std::size_t>(threads * per_thread));
    auto history = chains::versions(db, "shared").value();
    REQUIRE(history.size() == static_cast<std::size_t>(threads * per_thread));
    for (std::size_t i = 0; i < history.size(); ++i)
        CHECK(history[i].version == static_cast<int>(i) + 1);
    CHECK(revision(db) == before + 3 * threads * per_thread);
}

TEST_CASE("SQLite sessions run in WAL mode with foreign keys, a busy timeout, in-memory temp") {
    TestDatabase t;
    Database& db = *t;
    if (db.dialect() != "sqlite") return;
    auto pragmas = db.with_session("read pragmas", [](soci::session& s) {
        std::string mode;
        int foreign_keys = 0, timeout = 0, temp_store = 0;
        s << "PRAGMA journal_mode", soci::into(mode);
        s << "PRAGMA foreign_keys", soci::into(foreign_keys);
        s << "PRAGMA busy_timeout", soci::into(timeout);
        s << "PRAGMA temp_store", soci::into(temp_store);
        return std::make_tuple(mode, foreign_keys, timeout, temp_store);
    });
    REQUIRE(pragmas.ok());
    CHECK(std::get<0>(pragmas.value()) == "wal");
    CHECK(std::get<1>(pragmas.value()) == 1);
    CHECK(std::get<2>(pragmas.value()) == 5000);
    // 2 = MEMORY: statement journals of the multi-row usage inserts never go to a file.
    CHECK(std::get<3>(pragmas.value()) == 2);
}

TEST_CASE(
    "a MySQL password with spaces, quotes, backslashes and @ is passed to the driver intact") {
    TestDatabase t;
    if (!t.server) return;
    std::string user = "weird_" + unique_suffix();
    std::string password = "p a's\\w@rd\"/:";
    auto created =
        t.server->with_session("create a user with an awkward password", [&](soci::session& s) {
            s << "CREATE USER '" + user + "'@'127.0.0.1' IDENTIFIED BY :pw", soci::use(password);
            s << "GRANT ALL PRIVILEGES ON " + t.schema + ".* TO '" + user + "'@'127.0.0.1'";
        });
    REQUIRE(created.ok());
    std::string base = std::getenv("TIANSHU_TEST_DB_URL");
    std::string hostpart = base.substr(base.rfind('@'));
    hostpart = hostpart.substr(0, hostpart.rfind('/') + 1) + t.schema;
    std::string encoded = "p%20a's%5Cw%40rd%22%2F%3A";
    auto opened = Database::open("mysql://" + user + ":" + encoded + hostpart, 1);
    INFO((opened.ok() ? "" : opened.error().message));
    REQUIRE(opened.ok());
    CHECK(users::count(*opened.value()).value() == 0);
    auto wrong = Database::open("mysql://" + user + ":nope" + hostpart, 1);
    REQUIRE_FALSE(wrong.ok());
    CHECK_THAT(wrong.error().message, Catch::Contains("Access denied"));
    CHECK_THAT(wrong.error().message, !Catch::Contains("nope"));
    (void)t.server->with_session(
        "drop the user", [&](soci::session& s) { s << "DROP USER '" + user + "'@'127.0.0.1'"; });
}
