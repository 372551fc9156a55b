#include "server/metrics.hpp"

#include <sstream>

namespace tianshu::server {

void Metrics::request_finished(std::string_view route, int status, double seconds) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    auto it = routes_.find(route);
    if (it == routes_.end()) it = routes_.emplace(std::string(route), RouteStats{}).first;
    auto& s = it->second;
    ++s.by_status[status];
    ++s.count;
    s.sum += seconds;
    for (size_t i = 0; i < kBuckets.size(); ++i)
        if (seconds <= kBuckets[i]) ++s.buckets[i];
}

void Metrics::count_error(std::string_view kind) {
    std::lock_guard lock(mutex_);
    auto it = errors_.find(kind);
    if (it == errors_.end()) it = errors_.emplace(std::string(kind), 0).first;
    ++it->second;
}

void Metrics::count_stage_failure(std::string_view chain, std::string_view stage,
                                  std::string_view outcome) {
    std::lock_guard lock(mutex_);
    ++stage_failures_[{std::string(chain), std::string(stage), std::string(outcome)}];
}

std::string Metrics::prometheus_text() const {
    std::ostringstream out;
    out << "# HELP tianshu_requests_in_flight Requests being served now.\n"
        << "# TYPE tianshu_requests_in_flight gauge\n"
        << "tianshu_requests_in_flight " << in_flight() << "\n";
    std::lock_guard lock(mutex_);
    out << "# HELP tianshu_requests_total Requests served, by route and HTTP status.\n"
        << "# TYPE tianshu_requests_total counter\n";
    for (const auto& [route, s] : routes_)
        for (const auto& [status, n] : s.by_status)
            out << "tianshu_requests_total{route=\"" << route << "\",status=\"" << status << "\"} "
                << n << "\n";
    out << "# HELP tianshu_request_duration_seconds Time from request to the last byte of the "
           "answer.\n"
        << "# TYPE tianshu_request_duration_seconds histogram\n";
    for (const auto& [route, s] : routes_) {
        for (size_t i = 0; i < kBuckets.size(); ++i)
            out << "tianshu_request_duration_seconds_bucket{route=\"" << route << "\",le=\""
                << kBuckets[i] << "\"} " << s.buckets[i] << "\n";
        out << "tianshu_request_duration_seconds_bucket{route=\"" << route << "\",le=\"+Inf\"} "
            << s.count << "\n"
            << "tianshu_request_duration_seconds_sum{route=\"" << route << "\"} " << s.sum << "\n"
            << "tianshu_request_duration_seconds_count{route=\"" << route << "\"} " << s.count
            << "\n";
    }
    out << "# HELP tianshu_errors_total Errors by kind (plugin_failure, script_failure, upstream, "
           "...).\n"
        << "# TYPE tianshu_errors_total counter\n";
    for (const auto& [kind, n] : errors_)
        out << "tianshu_errors_total{kind=\"" << kind << "\"} " << n << "\n";
    out << "# HELP tianshu_stage_failures_total Chain stages that failed or overran their "
           "deadline, by chain, stage (plugin) and outcome (continued | failed).\n"
        << "# TYPE tianshu_stage_failures_total counter\n";
    for (const auto& [key, n] : stage_failures_)
        out << "tianshu_stage_failures_total{chain=\"" << std::get<0>(key) << "\",stage=\""
            << std::get<1>(key) << "\",outcome=\"" << std::get<2>(key) << "\"} " << n << "\n";
    return out.str();
}

}  // namespace tianshu::server
