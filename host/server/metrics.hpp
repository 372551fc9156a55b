#pragma once
// Prometheus metrics for the gateway, rendered in the text exposition format at /metrics.
//
// Two kinds of figures. What a request did is recorded once, at its end (record_request: one
// lock of the metrics mutex per request, whatever the request did). How the process stands now
// (channels' keys and breakers, connections, memory, the usage journal's backlog) is read when
// /metrics is scraped, from MetricsSources, and costs the request path nothing.
//
// Labels stay bounded: route, status, channel and upstream model, chain, plugin, kind, reason;
// never a user, key or request id. Each labelled family keeps at most kMaxLabelSets label sets;
// past that a new one is counted with its model as "other".

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "pipeline/stage_failures.hpp"

namespace tianshu::server {

//! Counts into fixed buckets; `buckets[i]` counts observations <= bounds[i] (not cumulative
//! until rendered).
template <size_t N>
struct Histogram {
    std::array<int64_t, N> buckets{};
    int64_t count = 0;
    double sum = 0;
    void observe(const std::array<double, N>& bounds, double v) {
        ++count;
        sum += v;
        for (size_t i = 0; i < N; ++i)
            if (v <= bounds[i]) {
                ++buckets[i];
                break;
            }
    }
};

//! Everything /metrics learns from one model API request, at its end (count_request). Views
//! into the request; valid for the call only.
struct RequestFigures {
    std::string_view route;  //!< "/v1/messages", "playground", ...
    int status = 200;
    double seconds = 0;           //!< arrival to the answer's last byte
    std::string_view error_kind;  //!< empty: no error
    //! Why the key's limits refused the call (one of the bounded names of
    //! hub::refusal_reason_name); empty when they did not.
    std::string_view refusal;
    // The route decision (when the request reached a chain).
    bool routed = false;
    std::string_view scenario, route_model, rank;
    //! (plugin, kind) of each decision a plugin noted.
    std::vector<std::pair<std::string_view, std::string_view>> notes;
    struct SideCall {
        std::string_view model;
        bool failed = false;
        int64_t input_tokens = 0, output_tokens = 0;
    };
    std::string_view chain;
    std::vector<SideCall> side_calls;
    // The upstream that served it (empty channel: no channel was called).
    std::string_view channel, upstream_model;
    double upstream_seconds = 0;         //!< the answering call, from call to its last event
    std::optional<double> ttft_seconds;  //!< arrival to the first content delta
    int64_t input_tokens = 0, output_tokens = 0, cache_read_tokens = 0, cache_write_tokens = 0;
    int64_t cost = 0;       //!< micros, the store's money unit (hub/money.hpp), as billed
    int64_t retries = 0;    //!< upstream calls after the first
    int64_t failovers = 0;  //!< of those, calls to another channel than the one before
};

//! One channel as it stands when /metrics is scraped.
struct ChannelState {
    std::string channel;
    int64_t keys_enabled = 0;
    int64_t keys_disabled = 0;
    //! Keys whose circuit breaker is closed, open, half-open.
    int64_t breakers_closed = 0, breakers_open = 0, breakers_half_open = 0;
};

//! What /metrics reads from the rest of the process when scraped; each may be left empty.
//! Called on the scraping thread, never on the request path.
struct MetricsSources {
    std::function<std::vector<ChannelState>()> channels;
    std::function<int64_t()> journal_backlog;  //!< usage records not yet in the database
    std::string version;                       //!< tianshu_build_info{version,commit}
    std::string commit;                        //!< "" when unknown
};

//! The gateway's metrics. Thread-safe.
class Metrics final : public pipeline::StageFailureCounter {
  public:
    void request_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
    //! A request that ended without reaching the model path's stages (e.g. /v1/models).
    void request_finished(std::string_view route, int status, double seconds);
    //! Everything a model API request did, under one lock; ends its in-flight count.
    void record_request(const RequestFigures& f);
    void count_error(std::string_view kind);
    // pipeline::StageFailureCounter
    void count_stage_failure(std::string_view chain, std::string_view stage,
                             std::string_view outcome) override;
    //! Client connections: the server calls these as it accepts and closes them.
    void connection_opened() { connections_.fetch_add(1, std::memory_order_relaxed); }
    void connection_closed() { connections_.fetch_sub(1, std::memory_order_relaxed); }
    //! Set once, before serving.
    void set_sources(MetricsSources sources);

    //! Distinct label sets each labelled family keeps; past it, new ones are counted under
    //! model="other" (model names come from clients).
    static constexpr size_t kMaxLabelSets = 1000;
    int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
    int64_t open_connections() const { return connections_.load(std::memory_order_relaxed); }
    std::string prometheus_text() const;

    static constexpr std::array<double, 12> kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,   1,    2.5,   5,    10};
    //! Upstream latency and time to first token: model calls take seconds to minutes.
    static constexpr std::array<double, 14> kUpstreamBuckets = {0.05, 0.1, 0.25, 0.5, 1,  2,  3,
                                                                5,    8,   13,   21,  34, 60, 120};
    //! Output tokens per second of a streamed or whole answer.
    static constexpr std::array<double, 12> kTokenRateBuckets = {1,  5,   10,  20,  30,  50,
                                                                 75, 100, 150, 200, 300, 500};

  private:
    struct RouteStats {
        std::map<int, int64_t> by_status;
        Histogram<kBuckets.size()> duration;
    };
    //! Per (channel, upstream model).
    struct UpstreamStats {
        std::map<int, int64_t> by_status;
        Histogram<kUpstreamBuckets.size()> latency, ttft;
        Histogram<kTokenRateBuckets.size()> token_rate;
        int64_t input = 0, output = 0, cache_read = 0, cache_write = 0;
        int64_t cost = 0, retries = 0, failovers = 0;
    };
    //! Orders (channel, model) pairs and looks them up by string_views, without a copy.
    struct PairLess {
        using is_transparent = void;
        using View = std::pair<std::string_view, std::string_view>;
        static View view(const View& v) { return v; }
        static View view(const std::pair<std::string, std::string>& p) {
            return {p.first, p.second};
        }
        template <class A, class B>
        bool operator()(const A& a, const B& b) const {
            return view(a) < view(b);
        }
    };
    //! A counter family labelled (a, b, model), e.g. {scenario, rank, model}: looked up by
    //! string_views, so counting a known label set builds no string.
    struct Labelled {
        using Key = std::array<std::string, 3>;
        using View = std::array<std::string_view, 3>;
        struct Less {
            using is_transparent = void;
            static View view(const View& v) { return v; }
            static View view(const Key& k) { return {k[0], k[1], k[2]}; }
            template <class A, class B>
            bool operator()(const A& a, const B& b) const {
                return view(a) < view(b);
            }
        };
        std::string_view a_name, b_name;
        std::map<Key, int64_t, Less> counts;
        //! Past kMaxLabelSets label sets, a new one counts with model "other".
        void add(std::string_view a, std::string_view b, std::string_view model, int64_t by = 1);
    };

    // mutex_ held.
    RouteStats& route_stats(std::string_view route);
    UpstreamStats& upstream_stats(std::string_view channel, std::string_view model);
    void add_error(std::string_view kind);
    void write_upstreams(std::ostream& out) const;
    void write_sources(std::ostream& out) const;  // mutex_ not needed

    std::atomic<int64_t> in_flight_{0};
    std::atomic<int64_t> connections_{0};
    MetricsSources sources_;
    mutable std::mutex mutex_;
    std::map<std::string, RouteStats, std::less<>> routes_;
    std::map<std::string, int64_t, std::less<>> errors_;
    std::map<std::string, int64_t, std::less<>> refusals_;
    std::map<std::tuple<std::string, std::string, std::string>, int64_t> stage_failures_;
    std::map<std::pair<std::string, std::string>, UpstreamStats, PairLess> upstreams_;
    Labelled side_calls_{"chain", "outcome", {}};
    Labelled side_call_tokens_{"chain", "kind", {}};
    Labelled routes_decided_{"scenario", "rank", {}};
    Labelled decision_notes_{"plugin", "kind", {}};
};

//! The process's resident memory in bytes and its thread count, from /proc/self/status
//! (0 where unreadable).
std::pair<int64_t, int64_t> process_memory_and_threads();

}  // namespace tianshu::server
