#include "upstream/circuit_breaker.hpp"

#include <algorithm>
#include <mutex>

namespace tianshu::upstream {

namespace {

// State and the time it last opened share one atomic word, so a reader never sees "open"
// paired with the opening time of an earlier episode: (opened_at_ms << 2) | state.
constexpr uint64_t kStateMask = 3;

uint64_t pack(int64_t opened_ms, BreakerState state) {
    return (static_cast<uint64_t>(std::max<int64_t>(opened_ms, 0)) << 2) |
           static_cast<uint64_t>(state);
}
BreakerState state_of(uint64_t word) {
    return static_cast<BreakerState>(word & kStateMask);
}
int64_t opened_of(uint64_t word) {
    return static_cast<int64_t>(word >> 2);
}

BreakerClock or_steady(BreakerClock clock) {
    if (clock) return clock;
    return [] { return std::chrono::steady_clock::now(); };
}

}  // namespace

CircuitBreaker::CircuitBreaker(BreakerPolicy policy, BreakerClock clock)
    : policy_(policy), clock_(or_steady(std::move(clock))) {
    policy_.failure_threshold = std::max(policy_.failure_threshold, 1);
}

int64_t CircuitBreaker::now_ticks() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(clock_().time_since_epoch())
        .count();
}

Admission CircuitBreaker::admit() {
    uint64_t word = word_.load(std::memory_order_acquire);
    switch (state_of(word)) {
        case BreakerState::closed:
            return Admission::admitted;
        case BreakerState::half_open:
            return Admission::refused;  // the one probe is already in flight
        case BreakerState::open:
            break;
    }
    if (now_ticks() - opened_of(word) < policy_.cool_down.count()) return Admission::refused;
    // Only the caller whose exchange succeeds becomes the probe; the others see half_open.
    if (word_.compare_exchange_strong(word, pack(opened_of(word), BreakerState::half_open),
                                      std::memory_order_acq_rel))
        return Admission::probe;
    return Admission::refused;
}

bool CircuitBreaker::available() const {
    const uint64_t word = word_.load(std::memory_order_acquire);
    switch (state_of(word)) {
        case BreakerState::closed:
            return true;
        case BreakerState::half_open:
            return false;
        case BreakerState::open:
            break;
    }
    return now_ticks() - opened_of(word) >= policy_.cool_down.count();
}

void CircuitBreaker::record_success(Admission admission) {
    failures_.store(0, std::memory_order_relaxed);
    // Only the probe may close the breaker: a success admitted before it opened says nothing
    // about the upstream now.
    if (admission == Admission::probe)
        word_.store(pack(0, BreakerState::closed), std::memory_order_release);
}

void CircuitBreaker::record_failure(Admission admission) {
    if (admission == Admission::refused) return;
    const int failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    if (admission == Admission::probe) {
        word_.store(pack(now_ticks(), BreakerState::open), std::memory_order_release);
        return;
    }
    if (failures < policy_.failure_threshold) return;
    uint64_t word = word_.load(std::memory_order_acquire);
    // A late failure from a call admitted while closed must not re-time an open breaker or
    // cut short a probe in flight: only closed -> open here.
    if (state_of(word) == BreakerState::closed)
        word_.compare_exchange_strong(word, pack(now_ticks(), BreakerState::open),
                                      std::memory_order_acq_rel);
}

void CircuitBreaker::release(Admission admission) {
    if (admission != Admission::probe) return;
    // Back to open with the old opening time: the cool-down is over, so the next caller probes.
    const uint64_t word = word_.load(std::memory_order_acquire);
    word_.store(pack(opened_of(word), BreakerState::open), std::memory_order_release);
}

BreakerState CircuitBreaker::state() const {
    return state_of(word_.load(std::memory_order_acquire));
}

std::chrono::milliseconds CircuitBreaker::remaining_cool_down() const {
    const uint64_t word = word_.load(std::memory_order_acquire);
    if (state_of(word) != BreakerState::open) return std::chrono::milliseconds(0);
    const int64_t left = opened_of(word) + policy_.cool_down.count() - now_ticks();
    return std::chrono::milliseconds(std::max<int64_t>(left, 0));
}

CircuitBreakers::CircuitBreakers(BreakerPolicy policy, BreakerClock clock)
    : policy_(policy), clock_(or_steady(std::move(clock))) {}

std::shared_ptr<CircuitBreaker> CircuitBreakers::for_key(const std::string& channel,
                                                         const std::string& key_id) {
    auto id = std::make_pair(channel, key_id);
    {
        std::shared_lock lock(mutex_);
        if (auto it = breakers_.find(id); it != breakers_.end()) return it->second;
    }
    std::unique_lock lock(mutex_);
    auto& slot = breakers_[std::move(id)];
    if (!slot) slot = std::make_shared<CircuitBreaker>(policy_, clock_);
    return slot;
}

BreakerState CircuitBreakers::state_of(const std::string& channel, const std::string& key_id) {
    std::shared_lock lock(mutex_);
    auto it = breakers_.find(std::make_pair(channel, key_id));
    return it == breakers_.end() ? BreakerState::closed : it->second->state();
}

}  // namespace tianshu::upstream
