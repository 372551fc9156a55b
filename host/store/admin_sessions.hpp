#pragma once
// Admin sessions: what POST /admin/api/login hands out. Only the SHA-256 of a session token
// is stored (like API keys), with the time it stops working; the token itself is shown once.
// Sessions are not configuration: creating or ending one does not bump config_revision.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace tianshu::store {

//! A live session joined with the user it belongs to, as the admin API authenticates it.
struct AdminSession {
    long long id = 0;
    long long user_id = 0;
    std::string user_name;
    std::string role;  //!< the user's role now, not at login: a demoted admin loses access
    bool user_enabled = true;
    long long created_at = 0;  //!< seconds
    long long expires_at = 0;  //!< seconds; the session is refused from this time on
};

namespace admin_sessions {

//! Stores a session for `user_id` that works until `expires_at` (seconds); an unknown user
//! is a not_found error. `token_hash` is hub::api_key_hash of the token.
core::Result<AdminSession> create(Database& db, long long user_id, std::string_view token_hash,
                                  long long expires_at, std::string_view client_ip);
//! The session with this token hash if it has not expired at `now` (seconds), else nullopt.
core::Result<std::optional<AdminSession>> find_live(Database& db, std::string_view token_hash,
                                                    long long now);
//! Ends a session (logout); ending one that is gone already is not an error.
core::Result<void> remove(Database& db, std::string_view token_hash);
//! Deletes sessions that expired before `now`; returns how many.
core::Result<long long> prune_expired(Database& db, long long now);

}  // namespace admin_sessions
}  // namespace tianshu::store
