#include "hub/rate_limiter.hpp"

#include <algorithm>
#include <limits>

namespace tianshu::hub {

namespace {

constexpr int window_seconds = 60;
constexpr size_t shard_count = 64;
//! Token counts beyond this are absurd; clamping keeps every sum far from overflow.
constexpr std::int64_t max_tokens_per_call = std::int64_t{1} << 40;

std::int64_t second_of(RateClock::time_point t) {
    return std::chrono::floor<std::chrono::seconds>(t.time_since_epoch()).count();
}

size_t slot_of(std::int64_t second) {
    const std::int64_t m = second % window_seconds;
    return static_cast<size_t>(m < 0 ? m + window_seconds : m);
}

std::int64_t clamp_tokens(std::int64_t n) {
    return std::clamp<std::int64_t>(n, 0, max_tokens_per_call);
}

//! One key's last 60 seconds. Buckets are cleared lazily as time advances, so an update is O(1)
//! amortised; `requests_total` and `tokens_total` are always the sums of the live buckets.
struct Window {
    std::int64_t last_second = 0;
    std::int64_t requests_total = 0;
    std::int64_t tokens_total = 0;
    std::array<std::uint32_t, window_seconds> requests{};
    std::array<std::int64_t, window_seconds> tokens{};

    explicit Window(std::int64_t second) : last_second(second) {}

    //! Moves the window's end to `second`. A clock that steps back does not move it: the call
    //! is counted in the latest second seen, which errs on the side of limiting.
    void advance(std::int64_t second) {
        if (second <= last_second) return;
        if (second - last_second >= window_seconds) {
            requests.fill(0);
            tokens.fill(0);
            requests_total = tokens_total = 0;
        } else {
            for (std::int64_t s = last_second + 1; s <= second; ++s) {
                const size_t i = slot_of(s);
                requests_total -= requests[i];
                tokens_total -= tokens[i];
                requests[i] = 0;
                tokens[i] = 0;
            }
        }
        last_second = second;
    }

    bool holds(std::int64_t second) const {
        return second <= last_second && second > last_second - window_seconds;
    }

    //! Seconds until `total - expired + need <= limit`, counting buckets out oldest first.
    template <class Buckets>
    int seconds_until_fits(const Buckets& buckets, std::int64_t total, std::int64_t need,
                           std::int64_t limit) const {
        std::int64_t freed = 0;
        for (int j = 0; j < window_seconds; ++j) {
            freed +=
                static_cast<std::int64_t>(buckets[slot_of(last_second - (window_seconds - 1) + j)]);
            if (total - freed + need <= limit) return j + 1;
        }
        return window_seconds;
    }
};

}  // namespace

struct alignas(64) RateLimiter::Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::int64_t, Window> windows;
    std::int64_t last_sweep_second = std::numeric_limits<std::int64_t>::min();

    //! Drops keys whose every bucket has expired: they hold nothing, so dropping loses nothing.
    void sweep(std::int64_t second) {
        if (second <= last_sweep_second) return;
        last_sweep_second = second;
        std::erase_if(windows, [&](const auto& entry) {
            return entry.second.last_second <= second - window_seconds;
        });
    }
};

RateLimiter::RateLimiter() : shards_(std::make_unique<Shard[]>(shard_count)) {}
RateLimiter::~RateLimiter() = default;

RateLimiter::Shard& RateLimiter::shard_for(std::int64_t key_id) const {
    // Key ids are sequential: mix them so neighbours land in different shards.
    std::uint64_t h = static_cast<std::uint64_t>(key_id) * 0x9E3779B97F4A7C15ull;
    return shards_[(h >> 32) % shard_count];
}

RateDecision RateLimiter::admit(std::int64_t key_id, std::int64_t rpm, std::int64_t tpm,
                                std::int64_t estimated_tokens, RateClock::time_point now) {
    if (rpm <= 0 && tpm <= 0) return {};
    const std::int64_t second = second_of(now);
    const std::int64_t tokens = clamp_tokens(estimated_tokens);
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    shard.sweep(second);
    Window& w = shard.windows.try_emplace(key_id, second).first->second;
    w.advance(second);

    RateDecision decision;
    if (rpm > 0 && w.requests_total + 1 > rpm) {
        decision.refused_by = RateDecision::Limit::requests;
        decision.retry_after_seconds = w.seconds_until_fits(w.requests, w.requests_total, 1, rpm);
    }
    const std::int64_t token_need = std::min(tokens, tpm);
    if (tpm > 0 && w.tokens_total + token_need > tpm) {
        const int wait = w.seconds_until_fits(w.tokens, w.tokens_total, token_need, tpm);
        // Report the longer wait: retrying after the shorter one would fail again.
        if (wait > decision.retry_after_seconds) {
            decision.refused_by = RateDecision::Limit::tokens;
            decision.retry_after_seconds = wait;
        }
    }
    if (!decision.admitted()) return decision;
    const size_t i = slot_of(w.last_second);
    w.requests[i] += 1;
    w.requests_total += 1;
    w.tokens[i] += tokens;
    w.tokens_total += tokens;
    decision.counted_at = RateClock::time_point(std::chrono::seconds(w.last_second));
    return decision;
}

void RateLimiter::settle_tokens(std::int64_t key_id, std::int64_t estimated, std::int64_t actual,
                                RateClock::time_point counted_at, RateClock::time_point now) {
    const std::int64_t delta = clamp_tokens(actual) - clamp_tokens(estimated);
    if (delta == 0) return;
    const std::int64_t second = second_of(now);
    Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.windows.find(key_id);
    if (it == shard.windows.end()) {
        // The key's window expired (and was swept): only extra tokens still count.
        if (delta < 0) return;
        it = shard.windows.try_emplace(key_id, second).first;
    }
    Window& w = it->second;
    w.advance(second);
    const std::int64_t counted_second = second_of(counted_at);
    if (w.holds(counted_second)) {
        const size_t i = slot_of(counted_second);
        const std::int64_t change = std::max(delta, -w.tokens[i]);
        w.tokens[i] += change;
        w.tokens_total += change;
    } else if (delta > 0) {
        const size_t i = slot_of(w.last_second);
        w.tokens[i] += delta;
        w.tokens_total += delta;
    }
}

RateUsage RateLimiter::usage(std::int64_t key_id, RateClock::time_point now) const {
    const std::int64_t second = second_of(now);
    const Shard& shard = shard_for(key_id);
    std::lock_guard lock(shard.mutex);
    auto it = shard.windows.find(key_id);
    if (it == shard.windows.end()) return {};
    const Window& w = it->second;
    RateUsage u;
    // Count the buckets still inside the window ending at `now` (or at the latest second seen,
    // if the clock stepped back), without advancing the window: this is a read.
    const std::int64_t end = std::max(second, w.last_second);
    for (std::int64_t s = end - (window_seconds - 1); s <= w.last_second; ++s) {
        if (!w.holds(s)) continue;
        u.requests += w.requests[slot_of(s)];
        u.tokens += w.tokens[slot_of(s)];
    }
    return u;
}

size_t RateLimiter::tracked_keys() const {
    size_t n = 0;
    for (size_t i = 0; i < shard_count; ++i) {
        std::lock_guard lock(shards_[i].mutex);
        n += shards_[i].windows.size();
    }
    return n;
}

}  // namespace tianshu::hub
