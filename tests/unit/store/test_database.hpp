#pragma once
// The database each store test case runs against: the one named by TIANSHU_TEST_DB_URL (a
// MariaDB started by tests/scripts/with_mariadb.sh), or a fresh SQLite file by default.

#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/users.hpp"

#include <soci/soci.h>
#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>

namespace tianshu::store::testing {

inline std::string unique_suffix() {
    static std::atomic<int> counter{0};
    std::random_device rd;
    return std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" +
           std::to_string(rd() % 100000);
}

//! A database of one's own for one test case: a new SQLite file, or a new MySQL schema.
struct TestDatabase {
    std::unique_ptr<Database> db;
    std::filesystem::path sqlite_dir;
    std::unique_ptr<Database> server;  // mysql: the connection used to create and drop the schema
    std::string schema;

    explicit TestDatabase(bool run_migrations = true) {
        const char* env = std::getenv("TIANSHU_TEST_DB_URL");
        std::string url;
        if (env == nullptr || *env == '\0') {
            sqlite_dir =
                std::filesystem::temp_directory_path() / ("tianshu-store-test-" + unique_suffix());
            url = "sqlite://" + (sqlite_dir / "tianshu.db").string();
        } else {
            std::string base = env;
            auto admin = Database::open(base, 1);
            if (!admin) throw std::runtime_error(admin.error().message);
            server = std::move(admin).value();
            schema = "tianshu_t_" + unique_suffix();
            auto created = server->with_session("create test schema", [&](soci::session& s) {
                s << "CREATE DATABASE " + schema + " CHARACTER SET utf8mb4 COLLATE utf8mb4_bin";
            });
            if (!created) throw std::runtime_error(created.error().message);
            url = base.substr(0, base.rfind('/') + 1) + schema;
        }
        this->url = url;
        auto opened = Database::open(url);
        if (!opened) throw std::runtime_error(opened.error().message);
        db = std::move(opened).value();
        if (run_migrations) {
            auto applied = migrate(*db);
            if (!applied) throw std::runtime_error(applied.error().message);
        }
    }

    ~TestDatabase() {
        db.reset();
        if (server) {
            (void)server->with_session("drop test schema",
                                       [&](soci::session& s) { s << "DROP DATABASE " + schema; });
        }
        if (!sqlite_dir.empty()) {
            std::error_code ec;
            std::filesystem::remove_all(sqlite_dir, ec);
        }
    }

    Database& operator*() { return *db; }

    //! A second, independent pool on the same database (for "one session per thread" races).
    std::unique_ptr<Database> open_another(std::size_t pool_size = 1) const {
        auto opened = Database::open(url, pool_size);
        if (!opened) throw std::runtime_error(opened.error().message);
        return std::move(opened).value();
    }

    std::string url;
};

inline User make_user(Database& db, const std::string& name, const std::string& role = "user") {
    auto u = users::create(db, {name, role, "default", "pbkdf2-sha256$1$AAAA$AAAA"});
    REQUIRE(u.ok());
    return u.value();
}

inline bool on_mysql(Database& db) {
    return db.dialect() == "mysql";
}

}  // namespace tianshu::store::testing
