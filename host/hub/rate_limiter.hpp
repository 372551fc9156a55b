#pragma once
// Per-key request and token rates over a sliding 60-second window.

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace tianshu::hub {

//! The clock every limit is measured against; callers pass `now` so tests need not sleep.
using RateClock = std::chrono::system_clock;

//! The answer to RateLimiter::admit.
struct RateDecision {
    //! Which limit refused the call, if any.
    enum class Limit { none, requests, tokens };

    Limit refused_by = Limit::none;
    //! When refused: whole seconds after which the same call would be admitted, if nothing else
    //! arrives meanwhile (1 to 60). 0 when admitted.
    int retry_after_seconds = 0;
    //! When admitted: the second the call was counted in, to give back to settle_tokens(). It
    //! may be later than `now` when another thread moved the key's window on meanwhile.
    RateClock::time_point counted_at{};

    bool admitted() const { return refused_by == Limit::none; }
};

//! What a key has used in the window ending now.
struct RateUsage {
    std::int64_t requests = 0;
    std::int64_t tokens = 0;
};

//! Requests-per-minute and tokens-per-minute limits per API key. The window is 60 one-second
//! buckets: whatever was admitted in the 60 seconds [now-59, now] (whole seconds) counts, so in
//! any such window at most `rpm` calls are admitted and at most `tpm` tokens estimated.
//!
//! Thread-safe: keys are spread over shards, each with its own mutex, so calls for different
//! keys rarely contend. Memory stays bounded: a key idle for a whole window holds nothing and
//! is dropped by a sweep that each shard runs at most once a second.
class RateLimiter {
  public:
    RateLimiter();
    ~RateLimiter();
    RateLimiter(const RateLimiter&) = delete;
    RateLimiter& operator=(const RateLimiter&) = delete;

    //! Counts one call of `estimated_tokens` against key `key_id` when it fits under both
    //! limits, and otherwise counts nothing and says which limit refused it and when to retry.
    //! A limit <= 0 means unlimited. A call estimated above `tpm` on its own is admitted only
    //! into an empty token window (so one large request per minute still gets through).
    RateDecision admit(std::int64_t key_id, std::int64_t rpm, std::int64_t tpm,
                       std::int64_t estimated_tokens, RateClock::time_point now);

    //! Replaces a call's estimated tokens with the actual count once the usage is known.
    //! `counted_at` is the admitting RateDecision's counted_at: the correction lands in the
    //! second the call was counted in while that second is in the window, and a refund never
    //! takes more than that second holds, so counts never go below zero. Once that second has
    //! slid out, only extra tokens are counted, in the current second.
    void settle_tokens(std::int64_t key_id, std::int64_t estimated, std::int64_t actual,
                       RateClock::time_point counted_at, RateClock::time_point now);

    //! The calls and tokens counted for `key_id` in the window ending at `now`.
    RateUsage usage(std::int64_t key_id, RateClock::time_point now) const;

    //! How many keys currently hold a window (for tests and the metrics page).
    size_t tracked_keys() const;

  private:
    struct Shard;
    std::unique_ptr<Shard[]> shards_;
    Shard& shard_for(std::int64_t key_id) const;
};

}  // namespace tianshu::hub
