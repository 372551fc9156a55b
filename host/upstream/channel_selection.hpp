#pragma once
// Which (channel, key) a request calls next: the highest priority group that still has a
// healthy candidate, a weighted random channel within it, the channel's keys in rotation.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "plugin/stage.hpp"
#include "upstream/circuit_breaker.hpp"

namespace tianshu::upstream {

//! Uniform 64-bit random numbers; tests pass a seeded engine, production a per-thread one.
using RandomSource = std::function<uint64_t()>;

//! A random source backed by one std::mt19937_64 per thread, seeded from std::random_device.
RandomSource thread_random();

//! One upstream key of a channel, with the model instance configured with it.
struct KeyRoute {
    std::string key_id;
    std::shared_ptr<plugin::Model> model;
    std::shared_ptr<CircuitBreaker> breaker;
    //! Set once an upstream refused the key (auth, balance); shared by every request of the
    //! router that built it, so the key is skipped until the configuration is rebuilt.
    std::shared_ptr<std::atomic<bool>> disabled;
};

//! A channel that can answer one requested model, and what to ask it for.
struct ChannelRoute {
    std::string channel;
    std::string upstream_model;  //!< the model name this channel is asked for
    int priority = 0;            //!< higher is tried first
    int weight = 1;              //!< share of traffic within its priority group, >= 1
    std::vector<KeyRoute> keys;
    std::shared_ptr<std::atomic<uint32_t>> next_key;  //!< round-robin cursor, shared by requests
    std::string proxy = {};                           //!< the channel's HTTP proxy, if any
};

//! Orders routes for selection: highest priority first, then by channel name (stable logs).
void sort_by_priority(std::vector<ChannelRoute>& routes);

//! One request's walk through its candidate routes (sorted with sort_by_priority). Used by
//! one thread; the routes must outlive it.
class ChannelSelection {
  public:
    //! A candidate granted by its breaker. The caller reports the call's outcome to
    //! `key().breaker` with `admission` exactly once.
    struct Pick {
        size_t route = 0;
        size_t key = 0;
        Admission admission = Admission::refused;
    };

    ChannelSelection(const std::vector<ChannelRoute>& routes, RandomSource random);

    //! The next candidate: untried ones first (highest priority group with a healthy key,
    //! weighted random channel, rotating keys); once all were tried, those not excluded again.
    //! nullopt when no candidate is left or every breaker refuses.
    std::optional<Pick> next();
    //! Never pick this candidate again in this request (refused key, long Retry-After).
    void exclude(const Pick& pick);
    //! Before this candidate is called again, wait at least `wait` (its Retry-After).
    void set_min_wait(const Pick& pick, std::chrono::milliseconds wait);
    std::chrono::milliseconds min_wait(const Pick& pick) const;
    //! True the first time this candidate failed in this request: retries of one request
    //! count once towards its breaker, so one request the upstream cannot digest does not
    //! take a key away from everyone.
    bool first_failure(const Pick& pick);

    const ChannelRoute& route(const Pick& pick) const { return routes_[pick.route]; }
    const KeyRoute& key(const Pick& pick) const { return routes_[pick.route].keys[pick.key]; }

  private:
    size_t slot(size_t route, size_t key) const { return offsets_[route] + key; }
    bool usable(size_t route, size_t key) const;
    std::optional<Pick> pick_untried();
    std::optional<Pick> pick_in_group(size_t begin, size_t end);
    std::optional<Pick> pick_key(size_t route);

    const std::vector<ChannelRoute>& routes_;
    RandomSource random_;
    std::vector<size_t> offsets_;  //!< first slot of each route's keys
    std::vector<char> tried_;      //!< per slot: picked (or refused by its breaker) this round
    std::vector<char> excluded_;   //!< per slot: never again in this request
    std::vector<char> failed_;     //!< per slot: already counted a failure in this request
    std::vector<std::chrono::milliseconds> min_wait_;
};

}  // namespace tianshu::upstream
