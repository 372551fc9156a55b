#pragma once
// Circuit breaking per upstream key: a key that keeps failing is rested for a cool-down instead
// of costing every request a timeout, then one probe request decides whether it serves again.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <utility>

namespace tianshu::upstream {

//! The time source of breakers; tests inject a fake one to walk through cool-downs.
using BreakerClock = std::function<std::chrono::steady_clock::time_point()>;

//! When a breaker opens and how long it rests.
struct BreakerPolicy {
    int failure_threshold = 5;                    //!< consecutive failures that open it
    std::chrono::milliseconds cool_down{30'000};  //!< open time before a probe may go through
};

//! Where a breaker stands. closed: every request passes; open: none passes until the cool-down
//! ends; half_open: one probe is in flight and its outcome closes or re-opens the breaker.
enum class BreakerState { closed = 0, open = 1, half_open = 2 };

//! What admit() granted. `refused`: do not call this key now, pick another. `admitted`: call it
//! and report the outcome. `probe`: call it; the outcome alone decides whether the breaker closes,
//! so it must be reported (record_success, record_failure or release) exactly once.
enum class Admission { refused, admitted, probe };

//! One (channel, key)'s breaker: closed -> open after `failure_threshold` consecutive failures ->
//! after `cool_down` half-open, letting ONE probe through -> closed on success, open on failure.
//! Lock-free; shared by every request and every thread.
class CircuitBreaker {
  public:
    explicit CircuitBreaker(BreakerPolicy policy = {}, BreakerClock clock = {});

    //! Asks to call the key now. Thread-safe: among racing callers after a cool-down exactly
    //! one gets `probe`.
    Admission admit();
    //! Whether admit() could grant anything now, without taking the probe slot (for choosing).
    bool available() const;
    //! The upstream answered: resets the failure count; a probe closes the breaker.
    void record_success(Admission admission);
    //! The upstream failed (429, 5xx, timeout, connection): counts towards opening; a failed
    //! probe re-opens the breaker for another cool-down.
    void record_failure(Admission admission);
    //! The call told nothing about the upstream's health (e.g. a plugin bug, a refused key):
    //! a probe gives its slot back so the next request may probe at once.
    void release(Admission admission);

    BreakerState state() const;
    int consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }
    //! How long until an open breaker lets a probe through; zero when it would admit now.
    std::chrono::milliseconds remaining_cool_down() const;

  private:
    int64_t now_ticks() const;  //!< the clock in milliseconds

    BreakerPolicy policy_;
    BreakerClock clock_;
    std::atomic<uint64_t> word_{0};  //!< (opened_at_ms << 2) | state; 0 is closed
    std::atomic<int> failures_{0};
};

//! Every breaker of the process, by channel name and key id, so breakers outlive the
//! immutable routers rebuilt on each configuration change. Thread-safe.
class CircuitBreakers {
  public:
    explicit CircuitBreakers(BreakerPolicy policy = {}, BreakerClock clock = {});
    //! The breaker for (channel, key_id), created closed on first use.
    std::shared_ptr<CircuitBreaker> for_key(const std::string& channel, const std::string& key_id);
    //! Where (channel, key_id)'s breaker stands; closed when it has none yet (it was never
    //! called). For /metrics: creates nothing.
    BreakerState state_of(const std::string& channel, const std::string& key_id);

  private:
    BreakerPolicy policy_;
    BreakerClock clock_;
    std::shared_mutex mutex_;
    std::map<std::pair<std::string, std::string>, std::shared_ptr<CircuitBreaker>> breakers_;
};

}  // namespace tianshu::upstream
