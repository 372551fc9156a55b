#pragma once
// The alert outbox: what went wrong that an operator should know about (an upstream key
// refused and disabled, ...). One row per alert; while an alert is open, raising it again
// (the same dedup key) bumps its count and last_seen_at instead of adding a row. Delivery by
// mail and bots comes later and will set delivered_at; the panel and `tianshu alerts` read it.

#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "store/database.hpp"

namespace tianshu::store {

struct Alert {
    long long id = 0;
    long long created_at = 0;    //!< seconds: first raised
    long long last_seen_at = 0;  //!< seconds: last raised
    long long count = 1;         //!< times raised while open
    std::string kind;            //!< e.g. "upstream_key_disabled"
    std::string severity;        //!< "info", "warning" or "critical"
    std::string subject;         //!< what it is about: a channel, key or user name
    std::string message;         //!< the latest message, for a person
    std::string state;           //!< "open" or "resolved"
    std::string dedup_key;       //!< one open row per key
    std::optional<long long> resolved_at;
    std::optional<long long> delivered_at;
};

//! What raise() is given.
struct AlertRaise {
    std::string kind;
    std::string severity;
    std::string subject;
    std::string message;
    std::string dedup_key;
};

namespace alerts {

//! Opens an alert, or when one with the same dedup key is open, bumps its count and
//! last_seen_at and keeps the newest message and severity. One transaction; safe against
//! gateways raising the same key at once (the UNIQUE open_key column decides). `created`: set
//! to whether a new row was made.
core::Result<Alert> raise(Database& db, const AlertRaise& alert, long long now_seconds,
                          bool* created = nullptr);
//! Marks alert `id` resolved at `now_seconds` (a resolved one stays as it was). Errors:
//! not_found naming the id.
core::Result<Alert> resolve(Database& db, long long id, long long now_seconds);
//! At most `limit` alerts, newest first; `state` "open" or "resolved", or empty for all.
core::Result<std::vector<Alert>> list(Database& db, const std::string& state, int limit);

}  // namespace alerts
}  // namespace tianshu::store
