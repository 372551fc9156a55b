#pragma once
// Session state for strategies: a small key-value store per (user, session), each value with a
// TTL, each plugin in its own namespace, with size caps per session and per user. Implemented
// in memory for one gateway (hub/memory_session_store) and in Redis for several
// (hub/redis_session_store). Plugins reach it through session_get/put/delete (ABI 1.4), via
// plugin/request_access.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tianshu::core {

//! Where a value lives: one user's session, one plugin's keys. The user is the authenticated
//! caller (never anything the client sends), so one user never reaches another's state.
struct SessionScope {
    std::string_view user;
    std::string_view session;
    std::string_view plugin;
};

//! What a store allows. An entry counts its namespaced name (plugin and key) and its value.
struct SessionLimits {
    //! The default TTL of a value, and the longest a plugin may ask for (serve
    //! --session-ttl-seconds).
    std::chrono::seconds ttl{24 * 3600};
    std::size_t session_max_bytes = std::size_t{1} << 20;  //!< serve --session-max-bytes
    std::size_t user_max_bytes = std::size_t{16} << 20;    //!< serve --user-session-max-bytes
};

//! The longest key a plugin may use.
inline constexpr std::size_t kSessionKeyMaxBytes = 256;

//! A session store. Errors: invalid_request (an empty or too long key, no user or session),
//! request_too_large (a cap would be exceeded; nothing changed), unavailable (the store cannot
//! be reached; nothing changed). Thread rule: any number of threads at once.
class SessionStore {
  public:
    explicit SessionStore(SessionLimits limits) : limits_(limits) {}
    virtual ~SessionStore() = default;

    //! The value under `key`; nullopt when absent or expired.
    virtual Result<std::optional<std::string>> get(const SessionScope& scope,
                                                   std::string_view key) = 0;
    //! Stores `value` under `key` for `ttl` (0: the default; at most the default).
    virtual Result<void> put(const SessionScope& scope, std::string_view key,
                             std::string_view value, std::chrono::seconds ttl) = 0;
    //! Removes `key`; fine when it was absent.
    virtual Result<void> erase(const SessionScope& scope, std::string_view key) = 0;

    const SessionLimits& limits() const { return limits_; }

  protected:
    //! The checks every store makes before touching anything.
    Result<void> check(const SessionScope& scope, std::string_view key) const;
    //! The TTL a put gets: the default for 0, never more than the default.
    std::chrono::seconds effective_ttl(std::chrono::seconds requested) const;
    //! The bytes an entry counts against the caps: its entry_name() and its value.
    static std::size_t entry_bytes(std::string_view name, std::string_view value) {
        return name.size() + value.size();
    }
    //! The name an entry has inside its session: the plugin's namespace, then the key
    //! (length-prefixed, so no plugin name and key can spell another plugin's entry).
    static std::string entry_name(const SessionScope& scope, std::string_view key);
    //! The error for a put beyond a cap.
    Error over_cap(const SessionScope& scope, const char* which, std::size_t would_be,
                   std::size_t cap, const char* flag) const;

  private:
    SessionLimits limits_;
};

}  // namespace tianshu::core
