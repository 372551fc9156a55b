#pragma once
// Session state in this gateway's memory: bounded (a total cap, split over shards by user;
// beyond it the entries nearest their expiry go first) and expiring (each entry at its own
// deadline, purged as the shard is used).

#include <array>
#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>

#include "core/session_store.hpp"

namespace tianshu::hub {

//! A SessionStore for one gateway. Thread rule: any number of threads; a user's state lives in
//! one of 16 shards, each under its own mutex, held for a map lookup or an insert (never across
//! anything that waits).
class MemorySessionStore final : public core::SessionStore {
  public:
    using TimePoint = std::chrono::steady_clock::time_point;
    using Clock = std::function<TimePoint()>;

    //! `total_max_bytes` bounds everything held (default 256 MiB); `clock` is for tests.
    explicit MemorySessionStore(core::SessionLimits limits,
                                std::size_t total_max_bytes = std::size_t{256} << 20,
                                Clock clock = {});

    core::Result<std::optional<std::string>> get(const core::SessionScope& scope,
                                                 std::string_view key) override;
    core::Result<void> put(const core::SessionScope& scope, std::string_view key,
                           std::string_view value, std::chrono::seconds ttl) override;
    core::Result<void> erase(const core::SessionScope& scope, std::string_view key) override;

    //! Bytes held now (expired entries not yet purged included). For tests and metrics.
    std::size_t bytes() const;

  private:
    struct EntryRef {
        std::string user, session, name;
    };
    using ExpiryIndex = std::multimap<TimePoint, EntryRef>;
    struct Entry {
        std::string value;
        std::size_t bytes = 0;
        ExpiryIndex::iterator expiry;
    };
    struct Session {
        std::unordered_map<std::string, Entry> entries;
        std::size_t bytes = 0;
    };
    struct User {
        std::unordered_map<std::string, Session> sessions;
        std::size_t bytes = 0;
    };
    struct Shard {
        mutable std::mutex mutex;
        std::unordered_map<std::string, User> users;
        ExpiryIndex expiry;  //!< every entry of the shard by deadline, soonest first
        std::size_t bytes = 0;
    };
    static constexpr std::size_t kShards = 16;

    Shard& shard_of(std::string_view user);
    TimePoint now() const { return clock_ ? clock_() : std::chrono::steady_clock::now(); }
    //! Removes the entry `ref` names (the caller holds the shard's mutex).
    static void remove(Shard& shard, const EntryRef& ref);
    //! Removes every entry whose deadline has passed.
    static void purge_expired(Shard& shard, TimePoint now);

    std::size_t shard_max_bytes_;
    Clock clock_;
    std::array<Shard, kShards> shards_;
};

}  // namespace tianshu::hub
