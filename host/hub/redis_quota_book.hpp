#pragma once
// A QuotaBook kept in Redis, so several gateways behind a load balancer share one set of live
// balances. Every check-and-change runs as one Lua script on the Redis server (EVALSHA, EVAL
// when the server does not know the script yet), so a reservation over a user's balance and a
// key's quota is atomic across all gateways.
//
// Keys (prefix configurable, "tianshu:quota:" by default):
//   <prefix>acct:<account>   the live balance, an integer in micros
//   <prefix>resv:<id>        an open reservation: its amount and accounts, with a TTL; settle and
//                            release delete it in the same script that moves the money, so a
//                            second settle, or a retry after a lost reply, changes nothing.
// The scripts read the accounts of a reservation from its hash, so they need one Redis (or one
// cluster slot): Redis Cluster would need all of a request's keys under one hash tag.

#include "hub/quota_book.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace tianshu::hub {

//! Where the Redis is and how RedisQuotaBook talks to it.
struct RedisQuotaConfig {
    //! redis://[:password@]host[:port][/db], e.g. "redis://127.0.0.1:6379".
    std::string url = "redis://127.0.0.1:6379";
    //! Prepended to every key, so several deployments can share one Redis.
    std::string key_prefix = "tianshu:quota:";
    //! Connections kept open at most; a request waits for a free one up to `connect_timeout`.
    std::size_t max_connections = 16;
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
    //! How long an open reservation outlives a gateway that never settles it (a crash). When it
    //! expires, late settles do nothing and its amount stays taken until the account is
    //! re-seeded from the database; keep it well above the longest request.
    std::chrono::seconds reservation_ttl{3600};
};

//! A QuotaBook in Redis, shared by every gateway that points at the same Redis and prefix.
//! Thread rule: any number of threads at once; each command borrows its own connection from a
//! small pool (hub/redis_pool, the one Redis client), and a broken connection is dropped and
//! replaced by a fresh one. Every Redis failure is ErrorKind::unavailable naming the address.
class RedisQuotaBook final : public QuotaBook {
  public:
    //! Checks the URL (errors, kind internal, name it and the accepted form) and connects once,
    //! so a wrong address fails at start-up (kind unavailable) rather than on the first request.
    static core::Result<std::unique_ptr<RedisQuotaBook>> open(RedisQuotaConfig config);

    ~RedisQuotaBook() override;
    RedisQuotaBook(const RedisQuotaBook&) = delete;
    RedisQuotaBook& operator=(const RedisQuotaBook&) = delete;

    // QuotaBook
    core::Result<QuotaReservation> reserve(std::span<const std::string_view> accounts,
                                           Micros amount, std::string_view reservation_id) override;
    core::Result<QuotaSettlement> settle(QuotaReservation& reservation, Micros actual) override;
    core::Result<bool> release(QuotaReservation& reservation) override;
    core::Result<bool> credit(std::string_view account, Micros amount) override;
    core::Result<bool> load(std::string_view account, Micros balance) override;
    core::Result<std::optional<Micros>> available(std::string_view account) override;
    core::Result<bool> seed(std::string_view account, Micros available, Micros credits,
                            std::int64_t version) override;
    core::Result<bool> sync(std::string_view account, Micros credits,
                            std::int64_t version) override;

    //! Settles a reservation by its id alone, reading its accounts and amount from Redis: for a
    //! gateway that finishes a request another gateway (or itself, before a restart) reserved.
    //! QuotaSettlement::shortfall is in the order the reservation was made. applied = false
    //! when it was already closed or has expired.
    core::Result<QuotaSettlement> settle_by_id(std::string_view reservation_id, Micros actual);

  private:
    struct State;
    explicit RedisQuotaBook(std::unique_ptr<State> state);

    std::unique_ptr<State> state_;
};

}  // namespace tianshu::hub
