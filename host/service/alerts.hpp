#pragma once
// The alert outbox's operations: raise (the gateway's alert sources; deduplicated by key),
// list (`tianshu alerts list`, GET /admin/api/alerts) and resolve (`tianshu alerts resolve ID`,
// POST /admin/api/alerts/{id}/resolve). Rows: store/alerts.hpp.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/alerts.hpp"

namespace tianshu::service::alerts {

using Json = nlohmann::json;

//! The kind raised when an upstream refuses a channel's key (401/403/402) and the gateway
//! disables it; subject: the channel; dedup key: "upstream_key_disabled:<channel>#<key id>".
inline constexpr const char* kUpstreamKeyDisabled = "upstream_key_disabled";

//! alerts.raise: opens an alert, or bumps the open one with the same dedup key (its count,
//! last_seen_at, message and severity). `severity`: info, warning or critical. Not a front
//! end's operation: the gateway's alert sources call it.
core::Result<store::Alert> raise(store::Database& db, const store::AlertRaise& alert);

//! alerts.list: at most `limit` (1..1000) alerts, newest first. `state`: "open", "resolved" or
//! "all".
core::Result<std::vector<store::Alert>> list(const Env& env, const std::string& state, int limit);

//! alerts.resolve: marks an open alert resolved (an already resolved one is returned as is).
core::Result<store::Alert> resolve(const Env& env, long long id);

//! One alert: id, created_at, last_seen_at, count, kind, severity, subject, message, state,
//! dedup_key, resolved_at, delivered_at (seconds, or null).
Json alert_json(const store::Alert& alert);

}  // namespace tianshu::service::alerts
