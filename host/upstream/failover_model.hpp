#pragma once
// The model a requested name resolves to: it calls the candidate channels in selection order
// and moves on, with backoff, when one fails before answering anything.

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "plugin/stage.hpp"
#include "upstream/channel_selection.hpp"

namespace tianshu::upstream {

//! How hard a request tries before it gives up.
struct FailoverPolicy {
    int max_attempts = 3;  //!< upstream calls per request, the first included
    std::chrono::milliseconds backoff_base{100};   //!< full-jitter backoff: U(0, base * 2^(n-1))
    std::chrono::milliseconds backoff_cap{2'000};  //!< ... capped here
    //! A Retry-After up to this long is waited for before the key is called again; a longer
    //! one takes the key out of this request instead (the client gets it if nothing else works).
    std::chrono::seconds retry_after_cap{5};
};

//! Waits between attempts; tests pass one that records the waits instead of sleeping.
using Sleeper = std::function<void(std::chrono::milliseconds)>;
//! Told once when an upstream refuses a key for good (authentication, permission, balance);
//! the app marks the key disabled in the store and raises an alert.
using KeyDisabledHandler = std::function<void(const std::string& channel, const std::string& key_id,
                                              const std::string& reason)>;

//! What FailoverModel needs from its surroundings; every member may be left empty for the
//! default (real sleep, per-thread random, a log line for a disabled key).
struct FailoverHooks {
    Sleeper sleep;
    RandomSource random;
    KeyDisabledHandler on_key_disabled;
};

//! What one failover run did, for the request's log line and metrics.
struct FailoverReport {
    int attempts = 0;     //!< upstream calls made
    int retries = 0;      //!< attempts after the first
    int failovers = 0;    //!< attempts on another channel than the attempt before
    std::string channel;  //!< the channel that answered (or failed last)
    std::string key_id;   //!< its key
};

//! What to do after a candidate failed before any event was emitted.
enum class FailureVerdict {
    final,        //!< the request itself is at fault or the error is not about the upstream:
                  //!< return it as is
    retry,        //!< the upstream is busy or failing (429, 5xx, timeout, connection): try the
                  //!< next candidate after a backoff
    key_refused,  //!< the upstream refused the key (401/403, no balance): disable the key,
                  //!< try the next candidate at once
};

//! Sorts an adapter's error into a verdict.
FailureVerdict classify_failure(const core::Error& error);

//! A plugin::Model over several candidate (channel, key) routes with retry, breakers and
//! key disabling. Immutable after construction; shared by every request and thread.
class FailoverModel final : public plugin::Model {
  public:
    //! `routes` need not be sorted; `name` is the requested model, for messages.
    FailoverModel(std::string name, std::vector<ChannelRoute> routes, FailoverPolicy policy,
                  FailoverHooks hooks);

    //! Tries candidates until one answers. Before each call it sets ctx.request.model to the
    //! route's upstream model and ctx.channel to its channel, so they name the final one.
    core::Result<void> run(plugin::RequestContext& ctx, FailoverReport& report) const;

    const std::vector<ChannelRoute>& routes() const { return routes_; }

    // plugin::Model
    const std::string& name() const override { return name_; }
    core::Result<void> generate(plugin::RequestContext& ctx) override;

  private:
    std::chrono::milliseconds backoff(int retry) const;
    void disable_key(const ChannelRoute& route, const KeyRoute& key,
                     const core::Error& error) const;
    core::Error nothing_available() const;

    std::string name_;
    std::vector<ChannelRoute> routes_;
    FailoverPolicy policy_;
    FailoverHooks hooks_;
};

}  // namespace tianshu::upstream
