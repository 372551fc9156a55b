#pragma once
// Session state in Redis, so several gateways behind one balancer see the same session.
//
// Keys (prefix "tianshu:session:" by default), all of one user under one hash tag:
//   <prefix>{<n>:<user>}:v:<session>  a hash: entry -> value
//   <prefix>{<n>:<user>}:m:<session>  a hash: "e:<entry>" its deadline (ms, Redis's clock),
//                                      "b:<entry>" its bytes; both keys expire with the last entry
//   <prefix>{<n>:<user>}:u            a hash: "b:<session>" its bytes, "e:<session>" its last
//                                      deadline; the sum of live sessions is the user's bytes
// (<n> is the user name's length, so no user name and session id can spell another user's key.)
// A put reads the meta hash only: it costs the session's entry count, not its bytes.
// Each operation is one Lua script, atomic across gateways: a put drops expired entries, checks
// both caps and writes, or changes nothing.

#include <memory>

#include "core/session_store.hpp"
#include "hub/redis_pool.hpp"

namespace tianshu::hub {

//! A SessionStore in Redis. Thread rule: any number of threads (RedisPool). Every Redis failure
//! is ErrorKind::unavailable after at most the pool's timeouts; the state is then unchanged, or,
//! for a put whose reply was lost, either unchanged or stored.
class RedisSessionStore final : public core::SessionStore {
  public:
    RedisSessionStore(core::SessionLimits limits, std::shared_ptr<RedisPool> pool,
                      std::string key_prefix = "tianshu:session:");
    ~RedisSessionStore() override;

    core::Result<std::optional<std::string>> get(const core::SessionScope& scope,
                                                 std::string_view key) override;
    core::Result<void> put(const core::SessionScope& scope, std::string_view key,
                           std::string_view value, std::chrono::seconds ttl) override;
    core::Result<void> erase(const core::SessionScope& scope, std::string_view key) override;

  private:
    struct Scripts;
    std::string user_tag(const core::SessionScope& scope) const;

    std::shared_ptr<RedisPool> pool_;
    std::string prefix_;
    std::unique_ptr<Scripts> scripts_;
};

}  // namespace tianshu::hub
