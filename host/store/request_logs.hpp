#pragma once
// Request logs: one row per answered request (ids, models, tokens, cost, timing, status;
// never prompt or completion text), and the charging that goes with it.

#include "core/error.hpp"
#include "core/request.hpp"
#include "store/database.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace tianshu::store {

//! What one request used and cost, as the hub settles it. `cost` is in micros;
//! `created_at_ms` is Unix milliseconds (unlike the seconds of other tables: logs need
//! sub-second order and minute buckets). `request_id` (1..64 chars) makes recording it
//! idempotent.
struct UsageRecord {
    std::string request_id;
    long long created_at_ms = 0;
    long long user_id = 0;
    std::optional<long long> key_id;
    std::string channel;
    std::string requested_model;
    std::string upstream_model;
    long long input_tokens = 0;
    long long output_tokens = 0;
    long long cache_read_tokens = 0;
    long long cache_write_tokens = 0;
    long long reasoning_tokens = 0;
    long long cost = 0;
    long long latency_ms = 0;
    long long ttft_ms = 0;
    int status = 0;  //!< the HTTP status the client got
    std::string error_kind;
    std::string client_ip;
    int retries = 0;
    bool stream = false;
    //! The route decision (ABI route_decide; "passthrough" when no strategy decided). Text
    //! fields are cut to their column widths (64, 255, 255, 128 bytes).
    std::string route_scenario;
    std::string route_model;
    std::string route_reason;
    std::string route_by;
    int route_rank = 0;  //!< ts_route_rank; 0: none
    //! The plugins' decision notes as a JSON array of {plugin, kind, reason}; empty: none.
    std::string decisions;
    //! The store id of the channel's upstream key that served the request (not the client's
    //! key: that is key_id); unset when no stored key did (refused early, a keyless channel).
    std::optional<long long> channel_key_id;
    //! The channel's HTTP proxy as scheme://host:port (proxy_origin): never its credentials;
    //! "" when the upstream was called directly.
    std::string proxy;
};

//! A proxy URL as scheme://host[:port], without user:password, path or query: what the log,
//! the rollups and the admin API may show. "" for "".
std::string proxy_origin(std::string_view url);

//! A stored log row: the record plus its row id (the paging cursor).
struct RequestLog : UsageRecord {
    long long id = 0;
};

//! What record_usage did with a batch.
struct UsageOutcome {
    long long inserted = 0;    //!< new log rows
    long long duplicates = 0;  //!< records whose request_id was already logged (not charged)
    long long charged = 0;     //!< micros debited in total
    long long unbilled = 0;    //!< new rows with a cost whose user no longer exists
};

//! Which rows a query, export or statistic covers; unset fields do not filter. `model`
//! matches the requested or the upstream model exactly. `route` matches the route decision's
//! scenario (the route_scenario column) exactly: "passthrough" when no strategy decided, the
//! scenario a strategy named (scenario_router: main, subagent, background, compact, think,
//! long_context, image, web_search, tool_continuation), "default" for a plain set_model, and ""
//! for rows logged before route decisions were recorded.
struct RequestLogFilter {
    std::optional<long long> from_ms;  //!< created_at >= from_ms
    std::optional<long long> to_ms;    //!< created_at < to_ms
    std::optional<long long> user_id;
    std::optional<long long> key_id;
    std::optional<std::string> channel;
    std::optional<std::string> model;
    std::optional<int> status;
    std::optional<std::string> request_id;
    std::optional<std::string> route;  //!< route_scenario = route
};

//! One page of logs, newest first; pass `next_before_id` back to get the next page.
struct RequestLogPage {
    std::vector<RequestLog> rows;
    std::optional<long long> next_before_id;  //!< unset on the last page
};

//! Totals over a filter.
struct UsageTotals {
    long long requests = 0;
    long long spend = 0;  //!< micros
    long long active_users = 0;
    long long input_tokens = 0;
    long long output_tokens = 0;
    long long cache_read_tokens = 0;
    long long cache_write_tokens = 0;
    long long reasoning_tokens = 0;
};

//! Width of a statistics bucket; a bucket starts at created_at - created_at % width (UTC).
enum class StatsBucket : long long { minute = 60'000, hour = 3'600'000, day = 86'400'000 };
//! What a breakdown groups by.
enum class StatsDimension { requested_model, upstream_model, channel };

//! One bucket of one model or channel.
struct UsageBucket {
    long long bucket_start_ms = 0;
    std::string key;  //!< the model or channel name
    long long requests = 0;
    long long spend = 0;
    long long input_tokens = 0;
    long long output_tokens = 0;
    long long errors = 0;  //!< requests with status >= 400
};

namespace request_logs {

//! The route decision and decision notes of a row, as the CLI and the admin API show them:
//! {"route": {"scenario","model","reason","by","rank"}, "decisions": [{plugin, kind, reason}]}.
core::Json decision_fields(const UsageRecord& r);

//! Records a batch in ONE transaction. Each record's log row is inserted unless its
//! request_id is already logged; only newly inserted rows with cost > 0 are charged: a
//! 'charge' ledger row (-cost, ref "req:<request_id>"), the user's balance and the key's
//! quota_used. Replaying a batch therefore charges nothing twice. The new rows are added to the
//! hour and day usage rollups (store/rollups.hpp) in the same transaction.
core::Result<UsageOutcome> record_usage(Database& db, const std::vector<UsageRecord>& batch);
//! At most `limit` (1..1000) matching rows with id < before_id, newest first.
core::Result<RequestLogPage> query(Database& db, const RequestLogFilter& filter, int limit,
                                   std::optional<long long> before_id = {});
//! Streams every matching row, newest first, to `row` (for CSV export) without holding them
//! all in memory; `row` returns false to stop early. Returns how many rows were passed.
core::Result<long long> for_each(Database& db, const RequestLogFilter& filter,
                                 const std::function<bool(const RequestLog&)>& row);
//! Deletes rows created before `older_than_ms`, `chunk` rows per transaction so writers are
//! never held up for long; returns how many were deleted.
core::Result<long long> prune(Database& db, long long older_than_ms, int chunk = 5000);
//! The statement prune() runs (exposed so tests can check its query plan).
std::string prune_statement(std::string_view dialect, int chunk);
//! Totals over the filter.
core::Result<UsageTotals> totals(Database& db, const RequestLogFilter& filter);
//! Per bucket and per model or channel, ordered by bucket then key.
core::Result<std::vector<UsageBucket>> breakdown(Database& db, const RequestLogFilter& filter,
                                                 StatsDimension by, StatsBucket bucket);

}  // namespace request_logs
}  // namespace tianshu::store
