#include "store/migrations.hpp"

#include <soci/soci.h>

#include <string>
#include <utility>

namespace tianshu::store {
namespace {

// Appending a migration: add an entry with the next version; never edit one that shipped.
// MySQL commits DDL implicitly, so every statement must be rerunnable (IF NOT EXISTS,
// INSERT IGNORE, MariaDB's ADD COLUMN IF NOT EXISTS): the version row is written last.

//! Migration 5's backfill of one granularity ('h' or 'd', `width` ms): the request log summed
//! into usage_rollups four ways, as store::rollups::add sums new rows. Part of a shipped
//! migration: never change it. On MySQL the statement runs outside the DDL's transaction, so it
//! overwrites instead of adding: a rerun after a crash gives the same rows.
std::string rollup_backfill(bool mysql, char granularity, long long width) {
    const std::string bucket = "created_at - created_at % " + std::to_string(width);
    const std::string values =
        "COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(input_tokens), "
        "SUM(output_tokens), SUM(cache_read_tokens), SUM(cache_write_tokens), "
        "SUM(reasoning_tokens), SUM(cost), SUM(latency_ms), MAX(latency_ms), SUM(ttft_ms), "
        "MAX(created_at)";
    const std::string g = std::string("'") + granularity + "'";
    const std::string user_key = mysql ? "CAST(user_id AS CHAR)" : "CAST(user_id AS TEXT)";
    std::string sql =
        "INSERT INTO usage_rollups (granularity, dimension, dim_key, bucket_start, requests, "
        "errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
        "reasoning_tokens, cost, latency_ms_sum, latency_ms_max, ttft_ms_sum, last_at) ";
    const std::pair<const char*, std::string> dims[] = {
        {"all", "''"}, {"model", "requested_model"}, {"channel", "channel"}, {"user", user_key}};
    bool first = true;
    for (const auto& [dimension, key] : dims) {
        if (!first) sql += " UNION ALL ";
        first = false;
        sql += "SELECT " + g + ", '" + dimension + "', " + key + ", " + bucket + ", " + values +
               " FROM request_logs GROUP BY " + bucket + (key == "''" ? "" : ", " + key);
    }
    if (mysql) {
        sql += " ON DUPLICATE KEY UPDATE";
        bool comma = false;
        for (const char* c : {"requests", "errors", "input_tokens", "output_tokens",
                              "cache_read_tokens", "cache_write_tokens", "reasoning_tokens", "cost",
                              "latency_ms_sum", "latency_ms_max", "ttft_ms_sum", "last_at"}) {
            sql += std::string(comma ? ", " : " ") + c + " = VALUES(" + c + ")";
            comma = true;
        }
    }
    return sql;
}

const std::string backfill_hours_sqlite = rollup_backfill(false, 'h', 3'600'000);
const std::string backfill_days_sqlite = rollup_backfill(false, 'd', 86'400'000);
const std::string backfill_hours_mysql = rollup_backfill(true, 'h', 3'600'000);
const std::string backfill_days_mysql = rollup_backfill(true, 'd', 86'400'000);

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
    {2,
     "API hub: tiers, balances, key limits, channel keys, prices, ledger, redemption codes, "
     "request logs",
     {
         R"(CREATE TABLE IF NOT EXISTS tiers (
              name VARCHAR(64) NOT NULL PRIMARY KEY,
              price_ratio_ppm BIGINT NOT NULL CHECK (price_ratio_ppm >= 0),
              description TEXT NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL))",
         "ALTER TABLE users ADD COLUMN balance BIGINT NOT NULL DEFAULT 0",
         "ALTER TABLE users ADD COLUMN invite_code VARCHAR(32) NULL",
         "ALTER TABLE users ADD COLUMN invited_by BIGINT NULL REFERENCES users(id) ON DELETE SET "
         "NULL",
         "ALTER TABLE users ADD COLUMN enabled INTEGER NOT NULL DEFAULT 1",
         "CREATE UNIQUE INDEX IF NOT EXISTS uq_users_invite_code ON users(invite_code)",
         "CREATE INDEX IF NOT EXISTS idx_users_tier ON users(tier)",
         "ALTER TABLE api_keys ADD COLUMN quota_limit BIGINT NULL",
         "ALTER TABLE api_keys ADD COLUMN quota_used BIGINT NOT NULL DEFAULT 0",
         "ALTER TABLE api_keys ADD COLUMN expires_at BIGINT NULL",
         "ALTER TABLE api_keys ADD COLUMN ip_allow TEXT NOT NULL DEFAULT '[]'",
         "ALTER TABLE api_keys ADD COLUMN ip_deny TEXT NOT NULL DEFAULT '[]'",
         "ALTER TABLE api_keys ADD COLUMN models TEXT NOT NULL DEFAULT '[]'",
         "ALTER TABLE api_keys ADD COLUMN rpm INTEGER NULL",
         "ALTER TABLE api_keys ADD COLUMN tpm INTEGER NULL",
         "ALTER TABLE channels ADD COLUMN priority INTEGER NOT NULL DEFAULT 0",
         "ALTER TABLE channels ADD COLUMN weight INTEGER NOT NULL DEFAULT 1 CHECK (weight >= 1)",
         "ALTER TABLE channels ADD COLUMN proxy TEXT NOT NULL DEFAULT ''",
         "ALTER TABLE channels ADD COLUMN timeout_ms INTEGER NOT NULL DEFAULT 0",
         "ALTER TABLE channels ADD COLUMN tags TEXT NOT NULL DEFAULT '[]'",
         "ALTER TABLE channels ADD COLUMN updated_at BIGINT NOT NULL DEFAULT 0",
         "UPDATE channels SET updated_at = created_at",
         R"(CREATE TABLE IF NOT EXISTS channel_keys (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              channel_id BIGINT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
              sealed_key TEXT NOT NULL,
              enabled INTEGER NOT NULL DEFAULT 1,
              disabled_reason TEXT NOT NULL DEFAULT '',
              disabled_at BIGINT NULL,
              created_at BIGINT NOT NULL))",
         "CREATE INDEX IF NOT EXISTS idx_channel_keys_channel ON channel_keys(channel_id)",
         // The one upstream key migration 1 kept sealed in config.api_key becomes a key row.
         R"(INSERT INTO channel_keys (channel_id, sealed_key, enabled, disabled_reason, created_at)
            SELECT id, json_extract(config, '$.api_key'), 1, '', created_at FROM channels
            WHERE (CASE WHEN json_valid(config) THEN json_type(config, '$.api_key') END) = 'text'
              AND (CASE WHEN json_valid(config) THEN json_extract(config, '$.api_key') END) <> '')",
         R"(UPDATE channels SET config = json_remove(config, '$.api_key')
            WHERE (CASE WHEN json_valid(config) THEN json_type(config, '$.api_key') END)
                  IS NOT NULL)",
         R"(CREATE TABLE IF NOT EXISTS prices (
              model VARCHAR(255) NOT NULL PRIMARY KEY,
              input_per_m BIGINT NOT NULL DEFAULT 0,
              output_per_m BIGINT NOT NULL DEFAULT 0,
              cache_read_per_m BIGINT NOT NULL DEFAULT 0,
              cache_write_per_m BIGINT NOT NULL DEFAULT 0,
              reasoning_per_m BIGINT NOT NULL DEFAULT 0,
              per_call BIGINT NOT NULL DEFAULT 0,
              updated_at BIGINT NOT NULL))",
         R"(CREATE TABLE IF NOT EXISTS ledger (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
              amount BIGINT NOT NULL,
              kind VARCHAR(16) NOT NULL CHECK (kind IN ('topup', 'redemption', 'charge', 'refund',
                                                        'invite_rebate', 'adjust')),
              ref VARCHAR(128) NULL UNIQUE,
              note TEXT NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL))",
         "CREATE INDEX IF NOT EXISTS idx_ledger_user ON ledger(user_id, id)",
         R"(CREATE TABLE IF NOT EXISTS redemption_codes (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              code_hash VARCHAR(64) NOT NULL UNIQUE,
              code_prefix VARCHAR(16) NOT NULL,
              amount BIGINT NOT NULL CHECK (amount > 0),
              batch VARCHAR(64) NOT NULL,
              created_at BIGINT NOT NULL,
              redeemed_by BIGINT NULL REFERENCES users(id) ON DELETE SET NULL,
              redeemed_at BIGINT NULL))",
         "CREATE INDEX IF NOT EXISTS idx_redemption_codes_batch ON redemption_codes(batch)",
         R"(CREATE TABLE IF NOT EXISTS request_logs (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              request_id VARCHAR(64) NOT NULL UNIQUE,
              created_at BIGINT NOT NULL,
              user_id BIGINT NOT NULL,
              key_id BIGINT NULL,
              channel VARCHAR(255) NOT NULL DEFAULT '',
              requested_model VARCHAR(255) NOT NULL DEFAULT '',
              upstream_model VARCHAR(255) NOT NULL DEFAULT '',
              input_tokens BIGINT NOT NULL DEFAULT 0,
              output_tokens BIGINT NOT NULL DEFAULT 0,
              cache_read_tokens BIGINT NOT NULL DEFAULT 0,
              cache_write_tokens BIGINT NOT NULL DEFAULT 0,
              reasoning_tokens BIGINT NOT NULL DEFAULT 0,
              cost BIGINT NOT NULL DEFAULT 0,
              latency_ms BIGINT NOT NULL DEFAULT 0,
              ttft_ms BIGINT NOT NULL DEFAULT 0,
              status INTEGER NOT NULL DEFAULT 0,
              error_kind VARCHAR(32) NOT NULL DEFAULT '',
              client_ip VARCHAR(64) NOT NULL DEFAULT '',
              retries INTEGER NOT NULL DEFAULT 0,
              stream INTEGER NOT NULL DEFAULT 0))",
         "CREATE INDEX IF NOT EXISTS idx_request_logs_created ON request_logs(created_at)",
         "CREATE INDEX IF NOT EXISTS idx_request_logs_user ON request_logs(user_id, id)",
         "CREATE INDEX IF NOT EXISTS idx_request_logs_key ON request_logs(key_id, id)",
         "CREATE INDEX IF NOT EXISTS idx_request_logs_model ON request_logs(requested_model, id)",
         "CREATE INDEX IF NOT EXISTS idx_request_logs_upstream_model ON "
         "request_logs(upstream_model, "
         "id)",
         "CREATE INDEX IF NOT EXISTS idx_request_logs_channel ON request_logs(channel, id)",
         // Every tier users already name exists, at the list price; 'default' always does.
         R"(INSERT OR IGNORE INTO tiers (name, price_ratio_ppm, description, created_at)
            VALUES ('default', 1000000, 'the tier new users start in', CAST(strftime('%s', 'now') AS INTEGER)))",
         R"(INSERT OR IGNORE INTO tiers (name, price_ratio_ppm, description, created_at)
            SELECT DISTINCT tier, 1000000, '', CAST(strftime('%s', 'now') AS INTEGER) FROM users)",
     },
     {
         R"(CREATE TABLE IF NOT EXISTS tiers (
              name VARCHAR(64) NOT NULL PRIMARY KEY,
              price_ratio_ppm BIGINT NOT NULL,
              description TEXT NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL,
              CONSTRAINT ck_tiers_ratio CHECK (price_ratio_ppm >= 0)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(ALTER TABLE users
              ADD COLUMN IF NOT EXISTS balance BIGINT NOT NULL DEFAULT 0,
              ADD COLUMN IF NOT EXISTS invite_code VARCHAR(32) NULL,
              ADD COLUMN IF NOT EXISTS invited_by BIGINT NULL,
              ADD COLUMN IF NOT EXISTS enabled TINYINT NOT NULL DEFAULT 1,
              ADD UNIQUE KEY IF NOT EXISTS uq_users_invite_code (invite_code),
              ADD KEY IF NOT EXISTS idx_users_tier (tier))",
         R"(ALTER TABLE users ADD CONSTRAINT fk_users_invited_by
              FOREIGN KEY IF NOT EXISTS (invited_by) REFERENCES users(id) ON DELETE SET NULL)",
         R"(ALTER TABLE api_keys
              ADD COLUMN IF NOT EXISTS quota_limit BIGINT NULL,
              ADD COLUMN IF NOT EXISTS quota_used BIGINT NOT NULL DEFAULT 0,
              ADD COLUMN IF NOT EXISTS expires_at BIGINT NULL,
              ADD COLUMN IF NOT EXISTS ip_allow TEXT NOT NULL DEFAULT '[]',
              ADD COLUMN IF NOT EXISTS ip_deny TEXT NOT NULL DEFAULT '[]',
              ADD COLUMN IF NOT EXISTS models TEXT NOT NULL DEFAULT '[]',
              ADD COLUMN IF NOT EXISTS rpm INT NULL,
              ADD COLUMN IF NOT EXISTS tpm INT NULL)",
         R"(ALTER TABLE channels
              ADD COLUMN IF NOT EXISTS priority INT NOT NULL DEFAULT 0,
              ADD COLUMN IF NOT EXISTS weight INT NOT NULL DEFAULT 1,
              ADD COLUMN IF NOT EXISTS proxy TEXT NOT NULL DEFAULT '',
              ADD COLUMN IF NOT EXISTS timeout_ms INT NOT NULL DEFAULT 0,
              ADD COLUMN IF NOT EXISTS tags TEXT NOT NULL DEFAULT '[]',
              ADD COLUMN IF NOT EXISTS updated_at BIGINT NOT NULL DEFAULT 0)",
         R"(CREATE TABLE IF NOT EXISTS channel_keys (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              channel_id BIGINT NOT NULL,
              sealed_key TEXT NOT NULL,
              enabled TINYINT NOT NULL DEFAULT 1,
              disabled_reason TEXT NOT NULL DEFAULT '',
              disabled_at BIGINT NULL,
              created_at BIGINT NOT NULL,
              KEY idx_channel_keys_channel (channel_id),
              CONSTRAINT fk_channel_keys_channel FOREIGN KEY (channel_id) REFERENCES channels(id)
                ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS prices (
              model VARCHAR(255) NOT NULL PRIMARY KEY,
              input_per_m BIGINT NOT NULL DEFAULT 0,
              output_per_m BIGINT NOT NULL DEFAULT 0,
              cache_read_per_m BIGINT NOT NULL DEFAULT 0,
              cache_write_per_m BIGINT NOT NULL DEFAULT 0,
              reasoning_per_m BIGINT NOT NULL DEFAULT 0,
              per_call BIGINT NOT NULL DEFAULT 0,
              updated_at BIGINT NOT NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS ledger (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              user_id BIGINT NOT NULL,
              amount BIGINT NOT NULL,
              kind VARCHAR(16) NOT NULL,
              ref VARCHAR(128) NULL,
              note TEXT NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL,
              UNIQUE KEY uq_ledger_ref (ref),
              KEY idx_ledger_user (user_id, id),
              CONSTRAINT ck_ledger_kind CHECK (kind IN ('topup', 'redemption', 'charge', 'refund',
                                                        'invite_rebate', 'adjust')),
              CONSTRAINT fk_ledger_user FOREIGN KEY (user_id) REFERENCES users(id) ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS redemption_codes (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              code_hash VARCHAR(64) NOT NULL,
              code_prefix VARCHAR(16) NOT NULL,
              amount BIGINT NOT NULL,
              batch VARCHAR(64) NOT NULL,
              created_at BIGINT NOT NULL,
              redeemed_by BIGINT NULL,
              redeemed_at BIGINT NULL,
              UNIQUE KEY uq_redemption_codes_hash (code_hash),
              KEY idx_redemption_codes_batch (batch),
              CONSTRAINT ck_redemption_codes_amount CHECK (amount > 0),
              CONSTRAINT fk_redemption_codes_user FOREIGN KEY (redeemed_by) REFERENCES users(id)
                ON DELETE SET NULL
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         R"(CREATE TABLE IF NOT EXISTS request_logs (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              request_id VARCHAR(64) NOT NULL,
              created_at BIGINT NOT NULL,
              user_id BIGINT NOT NULL,
              key_id BIGINT NULL,
              channel VARCHAR(255) NOT NULL DEFAULT '',
              requested_model VARCHAR(255) NOT NULL DEFAULT '',
              upstream_model VARCHAR(255) NOT NULL DEFAULT '',
              input_tokens BIGINT NOT NULL DEFAULT 0,
              output_tokens BIGINT NOT NULL DEFAULT 0,
              cache_read_tokens BIGINT NOT NULL DEFAULT 0,
              cache_write_tokens BIGINT NOT NULL DEFAULT 0,
              reasoning_tokens BIGINT NOT NULL DEFAULT 0,
              cost BIGINT NOT NULL DEFAULT 0,
              latency_ms BIGINT NOT NULL DEFAULT 0,
              ttft_ms BIGINT NOT NULL DEFAULT 0,
              status INT NOT NULL DEFAULT 0,
              error_kind VARCHAR(32) NOT NULL DEFAULT '',
              client_ip VARCHAR(64) NOT NULL DEFAULT '',
              retries INT NOT NULL DEFAULT 0,
              stream TINYINT NOT NULL DEFAULT 0,
              UNIQUE KEY uq_request_logs_request (request_id),
              KEY idx_request_logs_created (created_at),
              KEY idx_request_logs_user (user_id, id),
              KEY idx_request_logs_key (key_id, id),
              KEY idx_request_logs_model (requested_model, id),
              KEY idx_request_logs_upstream_model (upstream_model, id),
              KEY idx_request_logs_channel (channel, id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         // DDL is over (it commits on its own in MySQL): the data moves below are guarded so a
         // rerun after a crash between them neither duplicates a key nor loses one.
         R"(UPDATE channels SET updated_at = created_at WHERE updated_at = 0)",
         R"(INSERT INTO channel_keys (channel_id, sealed_key, enabled, disabled_reason, created_at)
            SELECT c.id, JSON_UNQUOTE(JSON_EXTRACT(c.config, '$.api_key')), 1, '', c.created_at
            FROM channels c
            WHERE JSON_VALID(c.config)
              AND JSON_TYPE(JSON_EXTRACT(c.config, '$.api_key')) = 'STRING'
              AND JSON_UNQUOTE(JSON_EXTRACT(c.config, '$.api_key')) <> ''
              AND NOT EXISTS (SELECT 1 FROM channel_keys k WHERE k.channel_id = c.id
                              AND k.sealed_key = JSON_UNQUOTE(JSON_EXTRACT(c.config, '$.api_key'))))",
         R"(UPDATE channels SET config = JSON_REMOVE(config, '$.api_key')
            WHERE JSON_VALID(config) AND JSON_CONTAINS_PATH(config, 'one', '$.api_key'))",
         R"(INSERT IGNORE INTO tiers (name, price_ratio_ppm, description, created_at)
            VALUES ('default', 1000000, 'the tier new users start in', UNIX_TIMESTAMP()))",
         R"(INSERT IGNORE INTO tiers (name, price_ratio_ppm, description, created_at)
            SELECT DISTINCT tier, 1000000, '', UNIX_TIMESTAMP() FROM users)",
     }},
    {3,
     "admin sessions",
     {
         // Only the SHA-256 of a session token is stored, like API keys: a copy of the
         // database does not let anyone into the admin API.
         R"(CREATE TABLE IF NOT EXISTS admin_sessions (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              token_hash VARCHAR(64) NOT NULL UNIQUE,
              user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
              created_at BIGINT NOT NULL,
              expires_at BIGINT NOT NULL,
              client_ip VARCHAR(64) NOT NULL DEFAULT ''))",
         "CREATE INDEX IF NOT EXISTS idx_admin_sessions_expires ON admin_sessions(expires_at)",
     },
     {
         R"(CREATE TABLE IF NOT EXISTS admin_sessions (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              token_hash VARCHAR(64) NOT NULL,
              user_id BIGINT NOT NULL,
              created_at BIGINT NOT NULL,
              expires_at BIGINT NOT NULL,
              client_ip VARCHAR(64) NOT NULL DEFAULT '',
              UNIQUE KEY uq_admin_sessions_token (token_hash),
              KEY idx_admin_sessions_expires (expires_at),
              CONSTRAINT fk_admin_sessions_user FOREIGN KEY (user_id) REFERENCES users(id)
                ON DELETE CASCADE
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
     }},
    {4,
     "route decisions and decision notes in request logs; tiers that hide the route header",
     {
         "ALTER TABLE request_logs ADD COLUMN route_scenario VARCHAR(64) NOT NULL DEFAULT ''",
         "ALTER TABLE request_logs ADD COLUMN route_model VARCHAR(255) NOT NULL DEFAULT ''",
         "ALTER TABLE request_logs ADD COLUMN route_reason VARCHAR(255) NOT NULL DEFAULT ''",
         "ALTER TABLE request_logs ADD COLUMN route_by VARCHAR(128) NOT NULL DEFAULT ''",
         "ALTER TABLE request_logs ADD COLUMN route_rank INTEGER NOT NULL DEFAULT 0",
         "ALTER TABLE request_logs ADD COLUMN decisions TEXT NOT NULL DEFAULT ''",
         "ALTER TABLE tiers ADD COLUMN route_header INTEGER NOT NULL DEFAULT 1",
     },
     {
         R"(ALTER TABLE request_logs
              ADD COLUMN IF NOT EXISTS route_scenario VARCHAR(64) NOT NULL DEFAULT '',
              ADD COLUMN IF NOT EXISTS route_model VARCHAR(255) NOT NULL DEFAULT '',
              ADD COLUMN IF NOT EXISTS route_reason VARCHAR(255) NOT NULL DEFAULT '',
              ADD COLUMN IF NOT EXISTS route_by VARCHAR(128) NOT NULL DEFAULT '',
              ADD COLUMN IF NOT EXISTS route_rank INT NOT NULL DEFAULT 0,
              ADD COLUMN IF NOT EXISTS decisions TEXT NOT NULL DEFAULT '')",
         "ALTER TABLE tiers ADD COLUMN IF NOT EXISTS route_header INT NOT NULL DEFAULT 1",
     }},
    {5,
     "usage rollups per hour and day, filled from the request log",
     {
         // One row per (granularity, dimension, key, bucket): dimension 'all' (key ''),
         // 'model' (the requested model), 'channel' or 'user' (the id in decimal).
         R"(CREATE TABLE IF NOT EXISTS usage_rollups (
              granularity CHAR(1) NOT NULL CHECK (granularity IN ('h', 'd')),
              dimension VARCHAR(8) NOT NULL CHECK (dimension IN ('all', 'model', 'channel',
                                                                 'user')),
              dim_key VARCHAR(255) NOT NULL,
              bucket_start BIGINT NOT NULL,
              requests BIGINT NOT NULL DEFAULT 0,
              errors BIGINT NOT NULL DEFAULT 0,
              input_tokens BIGINT NOT NULL DEFAULT 0,
              output_tokens BIGINT NOT NULL DEFAULT 0,
              cache_read_tokens BIGINT NOT NULL DEFAULT 0,
              cache_write_tokens BIGINT NOT NULL DEFAULT 0,
              reasoning_tokens BIGINT NOT NULL DEFAULT 0,
              cost BIGINT NOT NULL DEFAULT 0,
              latency_ms_sum BIGINT NOT NULL DEFAULT 0,
              latency_ms_max BIGINT NOT NULL DEFAULT 0,
              ttft_ms_sum BIGINT NOT NULL DEFAULT 0,
              last_at BIGINT NOT NULL DEFAULT 0,
              PRIMARY KEY (granularity, dimension, dim_key, bucket_start)) WITHOUT ROWID)",
         "CREATE INDEX IF NOT EXISTS idx_usage_rollups_bucket ON usage_rollups(granularity, "
         "dimension, bucket_start)",
         backfill_hours_sqlite,
         backfill_days_sqlite,
     },
     {
         R"(CREATE TABLE IF NOT EXISTS usage_rollups (
              granularity CHAR(1) NOT NULL,
              dimension VARCHAR(8) NOT NULL,
              dim_key VARCHAR(255) NOT NULL,
              bucket_start BIGINT NOT NULL,
              requests BIGINT NOT NULL DEFAULT 0,
              errors BIGINT NOT NULL DEFAULT 0,
              input_tokens BIGINT NOT NULL DEFAULT 0,
              output_tokens BIGINT NOT NULL DEFAULT 0,
              cache_read_tokens BIGINT NOT NULL DEFAULT 0,
              cache_write_tokens BIGINT NOT NULL DEFAULT 0,
              reasoning_tokens BIGINT NOT NULL DEFAULT 0,
              cost BIGINT NOT NULL DEFAULT 0,
              latency_ms_sum BIGINT NOT NULL DEFAULT 0,
              latency_ms_max BIGINT NOT NULL DEFAULT 0,
              ttft_ms_sum BIGINT NOT NULL DEFAULT 0,
              last_at BIGINT NOT NULL DEFAULT 0,
              PRIMARY KEY (granularity, dimension, dim_key, bucket_start),
              KEY idx_usage_rollups_bucket (granularity, dimension, bucket_start),
              CONSTRAINT ck_usage_rollups_granularity CHECK (granularity IN ('h', 'd')),
              CONSTRAINT ck_usage_rollups_dimension CHECK (dimension IN ('all', 'model',
                                                                         'channel', 'user'))
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
         backfill_hours_mysql,
         backfill_days_mysql,
     }},
    {6,
     "the channel key and proxy that served each request, their rollups; channel probe results",
     {
         "ALTER TABLE request_logs ADD COLUMN channel_key_id BIGINT",
         "ALTER TABLE request_logs ADD COLUMN upstream_proxy VARCHAR(255) NOT NULL DEFAULT ''",
         // SQLite cannot change a CHECK: the rollups move to a table that also allows 'key'
         // ('<channel>#<channel key id>') and 'proxy' (scheme://host:port) rows.
         R"(CREATE TABLE usage_rollups_6 (
              granularity CHAR(1) NOT NULL CHECK (granularity IN ('h', 'd')),
              dimension VARCHAR(8) NOT NULL CHECK (dimension IN ('all', 'model', 'channel',
                                                                 'user', 'key', 'proxy')),
              dim_key VARCHAR(255) NOT NULL,
              bucket_start BIGINT NOT NULL,
              requests BIGINT NOT NULL DEFAULT 0,
              errors BIGINT NOT NULL DEFAULT 0,
              input_tokens BIGINT NOT NULL DEFAULT 0,
              output_tokens BIGINT NOT NULL DEFAULT 0,
              cache_read_tokens BIGINT NOT NULL DEFAULT 0,
              cache_write_tokens BIGINT NOT NULL DEFAULT 0,
              reasoning_tokens BIGINT NOT NULL DEFAULT 0,
              cost BIGINT NOT NULL DEFAULT 0,
              latency_ms_sum BIGINT NOT NULL DEFAULT 0,
              latency_ms_max BIGINT NOT NULL DEFAULT 0,
              ttft_ms_sum BIGINT NOT NULL DEFAULT 0,
              last_at BIGINT NOT NULL DEFAULT 0,
              PRIMARY KEY (granularity, dimension, dim_key, bucket_start)) WITHOUT ROWID)",
         "INSERT INTO usage_rollups_6 SELECT * FROM usage_rollups",
         "DROP TABLE usage_rollups",
         "ALTER TABLE usage_rollups_6 RENAME TO usage_rollups",
         "CREATE INDEX IF NOT EXISTS idx_usage_rollups_bucket ON usage_rollups(granularity, "
         "dimension, bucket_start)",
         // The last results of `channel test` / health-check / POST /channels/test per
         // (channel, key): store::channel_probes keeps a bounded number per key.
         R"(CREATE TABLE IF NOT EXISTS channel_probes (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              channel VARCHAR(255) NOT NULL,
              key_id BIGINT NOT NULL DEFAULT 0,
              ok INTEGER NOT NULL,
              latency_ms BIGINT NOT NULL DEFAULT 0,
              error_kind VARCHAR(32) NOT NULL DEFAULT '',
              error VARCHAR(255) NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL))",
         "CREATE INDEX IF NOT EXISTS idx_channel_probes_key ON channel_probes(channel, key_id, "
         "id)",
     },
     {
         R"(ALTER TABLE request_logs
              ADD COLUMN IF NOT EXISTS channel_key_id BIGINT NULL,
              ADD COLUMN IF NOT EXISTS upstream_proxy VARCHAR(255) NOT NULL DEFAULT '')",
         "ALTER TABLE usage_rollups DROP CONSTRAINT IF EXISTS ck_usage_rollups_dimension",
         R"(ALTER TABLE usage_rollups ADD CONSTRAINT ck_usage_rollups_dimension
              CHECK (dimension IN ('all', 'model', 'channel', 'user', 'key', 'proxy')))",
         R"(CREATE TABLE IF NOT EXISTS channel_probes (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              channel VARCHAR(255) NOT NULL,
              key_id BIGINT NOT NULL DEFAULT 0,
              ok TINYINT NOT NULL,
              latency_ms BIGINT NOT NULL DEFAULT 0,
              error_kind VARCHAR(32) NOT NULL DEFAULT '',
              error VARCHAR(255) NOT NULL DEFAULT '',
              created_at BIGINT NOT NULL,
              KEY idx_channel_probes_key (channel, key_id, id)
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
     }},
    {7,
     "the alert outbox: one row per alert, one open row per dedup key",
     {
         // open_key is dedup_key while the alert is open and NULL once resolved: its UNIQUE
         // makes a second open row for the same key impossible, from any gateway.
         R"(CREATE TABLE IF NOT EXISTS alerts (
              id INTEGER PRIMARY KEY AUTOINCREMENT,
              created_at BIGINT NOT NULL,
              last_seen_at BIGINT NOT NULL,
              count BIGINT NOT NULL DEFAULT 1,
              kind VARCHAR(64) NOT NULL,
              severity VARCHAR(16) NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
              subject VARCHAR(255) NOT NULL DEFAULT '',
              message VARCHAR(1024) NOT NULL DEFAULT '',
              state VARCHAR(16) NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'resolved')),
              dedup_key VARCHAR(255) NOT NULL,
              open_key VARCHAR(255) UNIQUE,
              resolved_at BIGINT,
              delivered_at BIGINT))",
         "CREATE INDEX IF NOT EXISTS idx_alerts_state ON alerts(state, id)",
     },
     {
         R"(CREATE TABLE IF NOT EXISTS alerts (
              id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
              created_at BIGINT NOT NULL,
              last_seen_at BIGINT NOT NULL,
              count BIGINT NOT NULL DEFAULT 1,
              kind VARCHAR(64) NOT NULL,
              severity VARCHAR(16) NOT NULL,
              subject VARCHAR(255) NOT NULL DEFAULT '',
              message VARCHAR(1024) NOT NULL DEFAULT '',
              state VARCHAR(16) NOT NULL DEFAULT 'open',
              dedup_key VARCHAR(255) NOT NULL,
              open_key VARCHAR(255) NULL,
              resolved_at BIGINT NULL,
              delivered_at BIGINT NULL,
              UNIQUE KEY uq_alerts_open_key (open_key),
              KEY idx_alerts_state (state, id),
              CONSTRAINT ck_alerts_severity CHECK (severity IN ('info', 'warning', 'critical')),
              CONSTRAINT ck_alerts_state CHECK (state IN ('open', 'resolved'))
            ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin)",
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
                // SQLite has no GET_LOCK: another instance may have applied this step while this
                // one waited for the write lock. Read again under the lock (SQLite's steps are
                // not all rerunnable: ADD COLUMN is not).
                if (!mysql && recorded_version(s) >= m.version) {
                    s.commit();
                    current = m.version;
                    continue;
                }
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
