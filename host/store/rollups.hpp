#pragma once
// Usage rollups: per hour and per day (UTC), the request log summed four ways — over everything,
// per requested model, per channel and per user (and, since migration 6, per channel key and per
// proxy). The journal's writer keeps them in the same
// transaction as the log rows it inserts (store::request_logs::record_usage), so a replayed
// batch adds nothing twice and a crash loses nothing; the dashboard reads them instead of the
// log, so its answer costs the same over 5 million rows as over 5 thousand. Migration 5 fills
// them once from the rows a database already had. Pruning the log leaves them alone.

#include "core/error.hpp"
#include "store/database.hpp"
#include "store/request_logs.hpp"

#include <optional>
#include <string>
#include <vector>

namespace soci {
class session;
}

namespace tianshu::store {

//! Width of a rollup bucket; a bucket starts at created_at - created_at % width (UTC).
enum class RollupGranularity { hour, day };
//! What a rollup row sums over: `all` rows have the key "", `model` rows the requested model,
//! `channel` rows the channel name ("" for requests refused before one was chosen), `user` rows
//! the user id in decimal, `key` rows "<channel>#<channel key id>" (requests a stored upstream
//! key served: key_dim()), `proxy` rows the proxy's scheme://host:port (requests sent through
//! one; never its credentials).
enum class RollupDimension { all, model, channel, user, key, proxy };

//! One rollup row, or several summed (then bucket_start_ms is the earliest).
struct UsageRollup {
    long long bucket_start_ms = 0;
    std::string key;
    long long requests = 0;
    long long errors = 0;  //!< requests whose status was >= 400
    long long input_tokens = 0;
    long long output_tokens = 0;
    long long cache_read_tokens = 0;
    long long cache_write_tokens = 0;
    long long reasoning_tokens = 0;
    long long cost = 0;  //!< micros
    long long latency_ms_sum = 0;
    long long latency_ms_max = 0;
    long long ttft_ms_sum = 0;
    long long last_at_ms = 0;  //!< created_at of the newest row counted
};

//! Which rollup rows a read covers: buckets starting in [from_ms, to_ms), one key or all.
struct RollupQuery {
    RollupGranularity granularity = RollupGranularity::hour;
    RollupDimension dimension = RollupDimension::all;
    long long from_ms = 0;
    long long to_ms = 0;
    std::optional<std::string> key;
};

namespace rollups {

constexpr long long kHourMs = 3'600'000;
constexpr long long kDayMs = 86'400'000;
constexpr long long width_ms(RollupGranularity g) {
    return g == RollupGranularity::hour ? kHourMs : kDayMs;
}

//! The dim_key of a `key` rollup row: "<channel>#<channel key id>".
std::string key_dim(const std::string& channel, long long channel_key_id);

//! Adds `rows` (log rows just inserted, never ones already logged) to the hour and day rollups,
//! on `s` inside the caller's transaction. Rows are summed in memory first, then each rollup
//! row is upserted once, in key order (two writers then take their locks in the same order).
void add(soci::session& s, bool mysql, const std::vector<const UsageRecord*>& rows);

//! The rows of the query, by bucket then key.
core::Result<std::vector<UsageRollup>> read(Database& db, const RollupQuery& query);

//! Adds `part`'s figures into `sum` (counts and sums added, maxima kept); keys are untouched.
void add(UsageRollup& sum, const UsageRollup& part);
//! The rows of the query summed per key (bucket_start_ms: the earliest bucket), most cost
//! first, then most requests, then key; at most `limit` when set.
core::Result<std::vector<UsageRollup>> per_key(Database& db, const RollupQuery& query,
                                               std::optional<int> limit = std::nullopt);

}  // namespace rollups
}  // namespace tianshu::store
