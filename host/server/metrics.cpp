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

namespace {
//! A Prometheus label value: backslash, quote and newline escaped.
std::string label_value(std::string_view v) {
    std::string out;
    out.reserve(v.size());
    for (char c : v) {
        if (c == '\\' || c == '"') out += '\\';
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out += c;
    }
    return out;
}

void count_labels(std::map<std::string, int64_t, std::less<>>& counters, std::string_view a_name,
                  std::string_view a, std::string_view b_name, std::string_view b,
                  std::string_view model, int64_t by = 1) {
    auto labels = [&](std::string_view m) {
        return std::string(a_name) + "=\"" + label_value(a) + "\"," + std::string(b_name) + "=\"" +
               label_value(b) + "\",model=\"" + label_value(m) + "\"";
    };
    std::string key = labels(model);
    auto it = counters.find(key);
    if (it == counters.end()) {
        if (counters.size() >= Metrics::kMaxLabelSets) key = labels("other");
        it = counters.emplace(std::move(key), 0).first;
    }
    it->second += by;
}

//! A counter whose label sets were rendered by count_labels: HELP, TYPE and one line each.
void write_labelled(std::ostream& out, std::string_view name, std::string_view help,
                    const std::map<std::string, int64_t, std::less<>>& counters) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [labels, n] : counters) out << name << "{" << labels << "} " << n << "\n";
}
}  // namespace

void Metrics::count_route(std::string_view scenario, std::string_view model,
                          std::string_view rank) {
    std::lock_guard lock(mutex_);
    count_labels(routes_decided_, "scenario", scenario, "rank", rank, model);
}

void Metrics::count_decision_note(std::string_view plugin, std::string_view kind,
                                  std::string_view model) {
    std::lock_guard lock(mutex_);
    count_labels(decision_notes_, "plugin", plugin, "kind", kind, model);
}

void Metrics::count_side_call(std::string_view chain, std::string_view model, bool failed,
                              int64_t input_tokens, int64_t output_tokens) {
    std::lock_guard lock(mutex_);
    count_labels(side_calls_, "chain", chain, "outcome", failed ? "failed" : "ok", model);
    count_labels(side_call_tokens_, "chain", chain, "kind", "input", model, input_tokens);
    count_labels(side_call_tokens_, "chain", chain, "kind", "output", model, output_tokens);
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
    write_labelled(out, "tianshu_route_decisions_total",
                   "Model calls by the route decision they took (scenario, model, rank of the "
                   "decision; rank none: no strategy decided).",
                   routes_decided_);
    write_labelled(out, "tianshu_decision_notes_total",
                   "Decisions plugins noted (decision_note), by plugin, kind and model.",
                   decision_notes_);
    write_labelled(out, "tianshu_side_calls_total",
                   "Calls strategies made to other models (call_model), by chain, outcome (ok | "
                   "failed) and model; billed with their request.",
                   side_calls_);
    write_labelled(out, "tianshu_side_call_tokens_total",
                   "Tokens of those calls, by chain, kind (input | output) and model.",
                   side_call_tokens_);
    return out.str();
}

}  // namespace tianshu::server
