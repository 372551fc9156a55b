#include "hub/memory_session_store.hpp"

#include <algorithm>

namespace tianshu::hub {

MemorySessionStore::MemorySessionStore(core::SessionLimits limits, std::size_t total_max_bytes,
                                       Clock clock)
    : core::SessionStore(limits),
      // A shard always has room for one full session.
      shard_max_bytes_(std::max(total_max_bytes / kShards, limits.session_max_bytes)),
      clock_(std::move(clock)) {}

MemorySessionStore::Shard& MemorySessionStore::shard_of(std::string_view user) {
    return shards_[std::hash<std::string_view>{}(user) % kShards];
}

void MemorySessionStore::remove(Shard& shard, const EntryRef& ref) {
    auto u = shard.users.find(ref.user);
    if (u == shard.users.end()) return;
    auto s = u->second.sessions.find(ref.session);
    if (s == u->second.sessions.end()) return;
    auto e = s->second.entries.find(ref.name);
    if (e == s->second.entries.end()) return;
    const std::size_t bytes = e->second.bytes;
    const auto expiry = e->second.expiry;
    s->second.entries.erase(e);
    shard.expiry.erase(expiry);  // after: `ref` may live in this index node
    s->second.bytes -= bytes;
    u->second.bytes -= bytes;
    shard.bytes -= bytes;
    if (s->second.entries.empty()) u->second.sessions.erase(s);
    if (u->second.sessions.empty()) shard.users.erase(u);
}

void MemorySessionStore::purge_expired(Shard& shard, TimePoint now) {
    while (!shard.expiry.empty() && shard.expiry.begin()->first <= now) {
        const EntryRef ref = shard.expiry.begin()->second;
        remove(shard, ref);
    }
}

core::Result<std::optional<std::string>> MemorySessionStore::get(const core::SessionScope& scope,
                                                                 std::string_view key) {
    if (auto ok = check(scope, key); !ok) return ok.take_error();
    const std::string name = entry_name(scope, key);
    Shard& shard = shard_of(scope.user);
    std::lock_guard lock(shard.mutex);
    purge_expired(shard, now());
    auto u = shard.users.find(std::string(scope.user));
    if (u == shard.users.end()) return std::optional<std::string>{};
    auto s = u->second.sessions.find(std::string(scope.session));
    if (s == u->second.sessions.end()) return std::optional<std::string>{};
    auto e = s->second.entries.find(name);
    if (e == s->second.entries.end()) return std::optional<std::string>{};
    return std::optional<std::string>{e->second.value};
}

core::Result<void> MemorySessionStore::put(const core::SessionScope& scope, std::string_view key,
                                           std::string_view value, std::chrono::seconds ttl) {
    if (auto ok = check(scope, key); !ok) return ok.take_error();
    const std::string name = entry_name(scope, key);
    const std::size_t bytes = entry_bytes(name, value);
    const TimePoint t = now();
    const TimePoint deadline = t + effective_ttl(ttl);
    Shard& shard = shard_of(scope.user);
    std::lock_guard lock(shard.mutex);
    purge_expired(shard, t);

    // The caps first: beyond one, nothing changes.
    std::size_t user_bytes = 0, session_bytes = 0, replaced = 0;
    if (auto u = shard.users.find(std::string(scope.user)); u != shard.users.end()) {
        user_bytes = u->second.bytes;
        if (auto s = u->second.sessions.find(std::string(scope.session));
            s != u->second.sessions.end()) {
            session_bytes = s->second.bytes;
            if (auto e = s->second.entries.find(name); e != s->second.entries.end())
                replaced = e->second.bytes;
        }
    }
    const auto& caps = limits();
    if (session_bytes - replaced + bytes > caps.session_max_bytes)
        return over_cap(scope, "session", session_bytes - replaced + bytes, caps.session_max_bytes,
                        "--session-max-bytes");
    if (user_bytes - replaced + bytes > caps.user_max_bytes)
        return over_cap(scope, "user's sessions", user_bytes - replaced + bytes,
                        caps.user_max_bytes, "--user-session-max-bytes");

    EntryRef ref{std::string(scope.user), std::string(scope.session), name};
    if (replaced) remove(shard, ref);
    // The shard's bound: the entries nearest their deadline make room.
    while (shard.bytes + bytes > shard_max_bytes_ && !shard.expiry.empty()) {
        const EntryRef oldest = shard.expiry.begin()->second;
        remove(shard, oldest);
    }
    User& user = shard.users[ref.user];
    Session& session = user.sessions[ref.session];
    Entry entry;
    entry.value.assign(value);
    entry.bytes = bytes;
    entry.expiry = shard.expiry.emplace(deadline, ref);
    session.entries.emplace(name, std::move(entry));
    session.bytes += bytes;
    user.bytes += bytes;
    shard.bytes += bytes;
    return {};
}

core::Result<void> MemorySessionStore::erase(const core::SessionScope& scope,
                                             std::string_view key) {
    if (auto ok = check(scope, key); !ok) return ok.take_error();
    Shard& shard = shard_of(scope.user);
    std::lock_guard lock(shard.mutex);
    remove(shard,
           EntryRef{std::string(scope.user), std::string(scope.session), entry_name(scope, key)});
    return {};
}

std::size_t MemorySessionStore::bytes() const {
    std::size_t total = 0;
    for (const auto& shard : shards_) {
        std::lock_guard lock(shard.mutex);
        total += shard.bytes;
    }
    return total;
}

}  // namespace tianshu::hub
