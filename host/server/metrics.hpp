#pragma once
// Prometheus metrics for the gateway, rendered in the text exposition format at /metrics.

#include <array>
#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>

#include "pipeline/stage_failures.hpp"

namespace tianshu::server {

//! Counters and a latency histogram per route and status. Thread-safe.
class Metrics final : public pipeline::StageFailureCounter {
  public:
    void request_started() { in_flight_.fetch_add(1, std::memory_order_relaxed); }
    void request_finished(std::string_view route, int status, double seconds);
    void count_error(std::string_view kind);
    // pipeline::StageFailureCounter
    void count_stage_failure(std::string_view chain, std::string_view stage,
                             std::string_view outcome) override;
    //! One request's route decision (tianshu_route_decisions_total{scenario,model,rank}).
    void count_route(std::string_view scenario, std::string_view model, std::string_view rank);
    //! One decision a plugin noted (tianshu_decision_notes_total{plugin,kind,model}).
    void count_decision_note(std::string_view plugin, std::string_view kind,
                             std::string_view model);
    //! One call_model call of a request (tianshu_side_calls_total{chain,outcome,model} and
    //! tianshu_side_call_tokens_total{chain,kind,model}).
    void count_side_call(std::string_view chain, std::string_view model, bool failed,
                         int64_t input_tokens, int64_t output_tokens);
    //! Distinct label sets each of those counters keeps; past it, new ones are counted
    //! under model="other" (model names come from clients).
    static constexpr size_t kMaxLabelSets = 1000;
    int64_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
    std::string prometheus_text() const;

    static constexpr std::array<double, 12> kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                        0.25,  0.5,   1,    2.5,   5,    10};

  private:
    struct RouteStats {
        std::map<int, int64_t> by_status;
        std::array<int64_t, kBuckets.size()> buckets{};
        int64_t count = 0;
        double sum = 0;
    };
    std::atomic<int64_t> in_flight_{0};
    mutable std::mutex mutex_;
    std::map<std::string, RouteStats, std::less<>> routes_;
    std::map<std::string, int64_t, std::less<>> errors_;
    std::map<std::tuple<std::string, std::string, std::string>, int64_t> stage_failures_;
    std::map<std::string, int64_t, std::less<>> side_calls_;
    std::map<std::string, int64_t, std::less<>> side_call_tokens_;
    //! Keyed by the rendered label set, e.g. scenario="main",model="m",rank="scene".
    std::map<std::string, int64_t, std::less<>> routes_decided_;
    std::map<std::string, int64_t, std::less<>> decision_notes_;
};

}  // namespace tianshu::server
