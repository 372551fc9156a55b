#pragma once
// A fresh store per test case for tests that run the real binary: a SQLite file in a temp dir,
// or a new schema on the MariaDB server named by TIANSHU_TEST_DB_URL (as
// tests/scripts/with_mariadb.sh sets it), dropped at the end. Header-only; link tianshu_store.
#include <unistd.h>

#include <atomic>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "store/database.hpp"

namespace tianshu::it {

inline std::string unique_suffix() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    return std::to_string(getpid()) + "_" + std::to_string(counter++) + "_" +
           std::to_string(rd() % 100000);
}

//! One test case's store: a SQLite file in a temp dir, or a new schema on the MariaDB server
//! named by TIANSHU_TEST_DB_URL (dropped at the end).
struct Store {
    explicit Store(const std::string& tag = "store") : tmp(tag) { init(); }
    TempDir tmp;
    fs::path data = tmp / "data";
    std::string db_url;  // empty: SQLite under `data`
    std::string schema;
    std::unique_ptr<tianshu::store::Database> server;

    void init() {
        const char* env = std::getenv("TIANSHU_TEST_DB_URL");
        if (env == nullptr || *env == '\0') return;
        std::string base = env;
        auto admin = tianshu::store::Database::open(base, 1);
        if (!admin) throw std::runtime_error(admin.error().message);
        server = std::move(admin).value();
        schema = "tianshu_cli_" + unique_suffix();
        auto made = server->with_session("create a test schema", [&](soci::session& s) {
            s << "CREATE DATABASE " + schema + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
        });
        if (!made) throw std::runtime_error(made.error().message);
        db_url = base.substr(0, base.rfind('/') + 1) + schema;
    }
    ~Store() {
        if (server)
            (void)server->with_session("drop the test schema",
                                       [&](soci::session& s) { s << "DROP DATABASE " + schema; });
    }

    //! The same store, opened in the test process (to read ledgers and logs).
    std::unique_ptr<tianshu::store::Database> open_db() const {
        std::string url =
            db_url.empty() ? "sqlite://" + fs::absolute(data / "tianshu.db").string() : db_url;
        auto db = tianshu::store::Database::open(url, 2);
        if (!db) throw std::runtime_error(db.error().message);
        return std::move(db).value();
    }
    //! serve's options on this store (--db for MariaDB; --data keeps the secret and journal).
    ServeOptions serve_options() const {
        ServeOptions o;
        o.data_dir = data;
        o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
        o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
        if (!db_url.empty()) o.extra_args = {"--db", db_url};
        fs::create_directories(data);
        return o;
    }

    std::vector<std::string> store_args() const {
        if (db_url.empty()) return {"--data", data.string()};
        return {"--db", db_url};
    }
    CliResult cli(std::vector<std::string> args) const {
        auto extra = store_args();
        args.insert(args.end(), extra.begin(), extra.end());
        return run_cli(args);
    }
    //! Runs a command that must succeed and prints JSON; returns the JSON.
    Json json(std::vector<std::string> args) const {
        args.push_back("--json");
        auto r = cli(args);
        INFO("tianshu " << args[0] << " " << args[1] << "\nstdout: " << r.out
                        << "\nstderr: " << r.err);
        REQUIRE(r.exit_code == 0);
        Json j = Json::parse(r.out, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        return j;
    }
    //! Runs a command that must be refused as bad input; checks stderr names every `expected`.
    CliResult refused(const std::vector<std::string>& args,
                      const std::vector<std::string>& expected) const {
        auto r = cli(args);
        INFO("tianshu " << args[0] << " " << args[1] << "\nstdout: " << r.out
                        << "\nstderr: " << r.err);
        CHECK(r.exit_code == 2);
        for (const auto& e : expected) CHECK_THAT(r.err, Catch::Contains(e));
        return r;
    }
};

//! After load and a crash: every request in `answered` (response ids, "msg_<request_id>") is in
//! the request log, the ledger's charges are the logged costs, one charge per priced request and
//! none twice, and `user`'s balance is its ledger's sum. Returns the sum of the logged costs.
inline long long check_answered_billed_once(tianshu::store::Database& db,
                                            const std::set<std::string>& answered,
                                            const std::string& user) {
    std::set<std::string> logged;
    long long logged_cost = 0, priced_rows = 0, charges = 0, charge_rows = 0, distinct_refs = 0,
              balance = 0, ledger = 0;
    REQUIRE(db.with_session("read", [&](soci::session& q) {
                  soci::rowset<soci::row> rows =
                      (q.prepare << "SELECT request_id, cost FROM request_logs");
                  for (const auto& row : rows) {
                      logged.insert("msg_" + row.get<std::string>(0));
                      const long long cost = row.get<long long>(1);
                      logged_cost += cost;
                      if (cost > 0) ++priced_rows;
                  }
                  q << "SELECT COALESCE(SUM(amount), 0), COUNT(*), COUNT(DISTINCT ref) FROM ledger "
                       "WHERE kind = 'charge'",
                      soci::into(charges), soci::into(charge_rows), soci::into(distinct_refs);
                  q << "SELECT balance FROM users WHERE name = :n", soci::use(user),
                      soci::into(balance);
                  q << "SELECT COALESCE(SUM(amount), 0) FROM ledger l JOIN users u ON "
                       "u.id = l.user_id WHERE u.name = :n",
                      soci::use(user), soci::into(ledger);
              }).ok());
    size_t missing = 0;
    for (const auto& id : answered) missing += logged.count(id) == 0;
    CHECK(missing == 0);                  // nothing answered was lost
    CHECK(-charges == logged_cost);       // the ledger's charges are the logged costs
    CHECK(charge_rows == priced_rows);    // one charge per priced request
    CHECK(distinct_refs == charge_rows);  // none twice
    CHECK(balance == ledger);             // and the balance is the ledger's sum
    return logged_cost;
}

}  // namespace tianshu::it
