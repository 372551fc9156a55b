#include "store/migrations.hpp"

#include <soci/soci.h>

#include <string>

namespace tianshu::store {
namespace {

// Appending a migration: add an entry with the next version; never edit one that shipped.
// MySQL commits DDL implicitly, so every statement must be rerunnable (IF NOT EXISTS,
// INSERT IGNORE, MariaDB's ADD COLUMN IF NOT EXISTS): the version row is written last.
const std::vector<Migration> all_migrations = {
    {1,
     "users, api keys, channels, chains, settings, config revision",
     {
         R"(CREATE TABLE IF NOT EXISTS users (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              name VARCHAR(255) NOT NULL UNIQUE,
              role VARCHAR(16) NOT NULL CHECK (role IN ('root', 'admin', 'user')),
              tier VARCHAR(64) NOT NULL DEFAULT 'default',
              password_hash TEXT NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL))",
         R"(CREATE TABLE IF NOT EXISTS api_keys (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
              name VARCHAR(255) NOT NULL,
              key_prefix VARCHAR(32) NOT NULL,
              key_hash VARCHAR(128) NOT NULL UNIQUE,
              created_at BIGINT NOT NULL,
              revoked_at BIGINT NULL))",
         "CREATE INDEX IF NOT EXISTS idx_api_keys_user ON api_keys(user_id)",
         R"(CREATE TABLE IF NOT EXISTS channels (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              name VARCHAR(255) NOT NULL UNIQUE,
              type VARCHAR(64) NOT NULL,
              base_url TEXT NOT NULL,
              models TEXT NOT NULL DEFAULT '[]',
              model_map TEXT NOT NULL DEFAULT '{}',
              config TEXT NOT NULL DEFAULT '{}',
              enabled INTEGER NOT NULL DEFAULT 1,
              created_at BIGINT NOT NULL))",
         R"(CREATE TABLE IF NOT EXISTS chains (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              chain_id VARCHAR(255) NOT NULL,
              version INTEGER NOT NULL,
              body TEXT NOT NULL,
              created_at BIGINT NOT NULL,
              UNIQUE (chain_id, version)))",
         R"(CREATE TABLE IF NOT EXISTS settings (
              name VARCHAR(255) NOT NULL PRIMARY KEY,
              value TEXT NOT NULL))",
         R"(CREATE TABLE IF NOT EXISTS config_revision (
              id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
              revision BIGINT NOT NULL))",
         "INSERT OR IGNORE INTO config_revision (id, revision) VALUES (1, 0)",
     },
     {
         R"(CREATE TABLE IF NOT EXISTS users (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              name VARCHAR(255) NOT NULL,
              role VARCHAR(16) NOT NULL,
              tier VARCHAR(64) NOT NULL DEFAULT 'default',
              password_hash TEXT NOT NULL,
              created_at BIGINT NOT NULL,
              UNIQUE KEY uq_users_name (name),
              CONSTRAINT ck_users_role CHECK (role IN ('root', 'admin', 'user'))
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS api_keys (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              user_id BIGINT NOT NULL,
              name VARCHAR(255) NOT NULL,
              key_prefix VARCHAR(32) NOT NULL,
              key_hash VARCHAR(128) NOT NULL,
              created_at BIGINT NOT NULL,
              revoked_at BIGINT NULL,
              UNIQUE KEY uq_api_keys_hash (key_hash),
              KEY idx_api_keys_user (user_id),
              CONSTRAINT fk_api_keys_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS channels (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              name VARCHAR(255) NOT NULL,
              type VARCHAR(64) NOT NULL,
              base_url TEXT NOT NULL,
              models LONGTEXT NOT NULL,
              model_map LONGTEXT NOT NULL,
              config LONGTEXT NOT NULL,
              enabled TINYINT NOT NULL DEFAULT 1,
              created_at BIGINT NOT NULL,
              UNIQUE KEY uq_channels_name (name)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS chains (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              chain_id VARCHAR(255) NOT NULL,
              version INT NOT NULL,
              body LONGTEXT NOT NULL,
              created_at BIGINT NOT NULL,
              UNIQUE KEY uq_chains_version (chain_id, version)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS settings (
              name VARCHAR(255) NOT NULL PRIMARY KEY,
              value LONGTEXT NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS config_revision (
              id INT NOT NULL PRIMARY KEY,
              revision BIGINT NOT NULL,
              CONSTRAINT ck_config_revision_single CHECK (id = 1)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4)",
         "INSERT IGNORE INTO config_revision (id, revision) VALUES (1, 0)",
     }},
};

constexpr std::string_view create_sqlite_ledger =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)";
constexpr std::string_view create_mysql_ledger =
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INT NOT NULL PRIMARY KEY, "
    "name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4";

int recorded_version(soci::session& s) {
    int version = 0;
    soci::indicator ind = soci::i_ok;
    s << "SELECT MAX(version) FROM schema_migrations", soci::into(version, ind);
    return ind == soci::i_null ? 0 : version;
}

core::Error too_new(int found) {
    return core::Error{core::ErrorKind::unavailable,
                       "database schema is at version " + std::to_string(found) +
                           " but this tianshu knows up to " +
                           std::to_string(known_schema_version()) + ": upgrade tianshu",
                       {}};
}

}  // namespace

const std::vector<Migration>& migrations() {
    return all_migrations;
}

int known_schema_version() {
    return all_migrations.empty() ? 0 : all_migrations.back().version;
}

core::Result<int> schema_version(Database& db) {
    return db.with_session("read the schema version", [&](soci::session& s) {
        s << std::string(db.dialect() == "sqlite" ? create_sqlite_ledger : create_mysql_ledger);
        return recorded_version(s);
    });
}

core::Result<int> migrate(Database& db) {
    const bool mysql = db.dialect() == "mysql";
    return db.with_session("migrate the database schema", [&](soci::session& s) {
        // Several instances may start at once against one MySQL server: one migrates at a time.
        if (mysql) {
            int locked = 0;
            soci::indicator ind = soci::i_ok;
            s << "SELECT GET_LOCK('tianshu_schema_migrations', 120)", soci::into(locked, ind);
            if (ind == soci::i_null || locked != 1)
                throw StoreFailure({core::ErrorKind::unavailable,
                                    "another tianshu has been migrating this database for 2 "
                                    "minutes: wait for it, then retry",
                                    {}});
        }
        struct Unlock {
            soci::session& s;
            bool active;
            ~Unlock() {
                if (!active) return;
                try {
                    int released = 0;
                    soci::indicator ind = soci::i_ok;
                    s << "SELECT RELEASE_LOCK('tianshu_schema_migrations')",
                        soci::into(released, ind);
                } catch (...) {
                }
            }
        } unlock{s, mysql};

        s << std::string(mysql ? create_mysql_ledger : create_sqlite_ledger);
        int current = recorded_version(s);
        if (current > known_schema_version()) throw StoreFailure(too_new(current));

        int applied = 0;
        for (const Migration& m : all_migrations) {
            if (m.version <= current) continue;
            if (mysql)
                s.begin();
            else
                s << "BEGIN IMMEDIATE";
            try {
                for (std::string_view sql : mysql ? m.mysql : m.sqlite) s << std::string(sql);
                int version = m.version;
                std::string name(m.name);
                long long at = now_seconds();
                s << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (:v, :n, "
                     ":a)",
                    soci::use(version), soci::use(name), soci::use(at);
                s.commit();
            } catch (const std::exception& e) {
                try {
                    s.rollback();
                } catch (...) {
                }
                throw StoreFailure(core::Error::internal_error(
                    "migration " + std::to_string(m.version) + " (" + std::string(m.name) +
                    ") failed on " + db.redacted_url() + ": " + e.what() +
                    ": the database is left at version " + std::to_string(current) +
                    "; fix the cause and run the migration again"));
            }
            current = m.version;
            ++applied;
        }
        return applied;
    });
}

}  // namespace tianshu::store
