#include "server/metrics.hpp"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace tianshu::server {

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

//! A counter labelled (a, b, model): HELP, TYPE and one line per label set.
template <class Labelled>
void write_labelled(std::ostream& out, std::string_view name, std::string_view help,
                    const Labelled& family) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (const auto& [key, n] : family.counts)
        out << name << "{" << family.a_name << "=\"" << label_value(key[0]) << "\","
            << family.b_name << "=\"" << label_value(key[1]) << "\",model=\"" << label_value(key[2])
            << "\"} " << n << "\n";
}

void write_head(std::ostream& out, std::string_view name, std::string_view type,
                std::string_view help) {
    out << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
}

//! One histogram's lines for one label set (`labels` rendered, without braces).
template <size_t N>
void write_histogram(std::ostream& out, std::string_view name, const std::string& labels,
                     const std::array<double, N>& bounds, const Histogram<N>& h) {
    int64_t cumulative = 0;
    for (size_t i = 0; i < N; ++i) {
        cumulative += h.buckets[i];
        out << name << "_bucket{" << labels << ",le=\"" << bounds[i] << "\"} " << cumulative
            << "\n";
    }
    out << name << "_bucket{" << labels << ",le=\"+Inf\"} " << h.count << "\n"
        << name << "_sum{" << labels << "} " << h.sum << "\n"
        << name << "_count{" << labels << "} " << h.count << "\n";
}
}  // namespace

void Metrics::Labelled::add(std::string_view a, std::string_view b, std::string_view model,
                            int64_t by) {
    auto it = counts.find(View{a, b, model});
    if (it == counts.end()) {
        Key key{std::string(a), std::string(b),
                std::string(counts.size() >= kMaxLabelSets ? "other" : model)};
        it = counts.try_emplace(std::move(key), 0).first;
    }
    it->second += by;
}

Metrics::RouteStats& Metrics::route_stats(std::string_view route) {
    auto it = routes_.find(route);
    if (it == routes_.end()) it = routes_.emplace(std::string(route), RouteStats{}).first;
    return it->second;
}

Metrics::UpstreamStats& Metrics::upstream_stats(std::string_view channel, std::string_view model) {
    const std::pair<std::string_view, std::string_view> key{channel, model};
    auto it = upstreams_.find(key);
    if (it != upstreams_.end()) return it->second;
    // Channel names are the operator's; upstream models mostly too, but a channel without a
    // model list passes the client's name on: past the cap it counts as "other".
    std::pair<std::string, std::string> stored{std::string(channel), std::string(model)};
    if (upstreams_.size() >= kMaxLabelSets) {
        stored.second = "other";
        it = upstreams_.find(stored);
        if (it != upstreams_.end()) return it->second;
    }
    return upstreams_.emplace(std::move(stored), UpstreamStats{}).first->second;
}

void Metrics::add_error(std::string_view kind) {
    auto it = errors_.find(kind);
    if (it == errors_.end()) it = errors_.emplace(std::string(kind), 0).first;
    ++it->second;
}

void Metrics::request_finished(std::string_view route, int status, double seconds) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    auto& s = route_stats(route);
    ++s.by_status[status];
    s.duration.observe(kBuckets, seconds);
}

void Metrics::record_request(const RequestFigures& f) {
    in_flight_.fetch_sub(1, std::memory_order_relaxed);
    std::lock_guard lock(mutex_);
    auto& s = route_stats(f.route);
    ++s.by_status[f.status];
    s.duration.observe(kBuckets, f.seconds);
    if (!f.error_kind.empty()) add_error(f.error_kind);
    if (!f.refusal.empty()) {
        // The reasons are a fixed set (hub::refusal_reason_name): no cap needed.
        auto it = refusals_.find(f.refusal);
        if (it == refusals_.end()) it = refusals_.emplace(std::string(f.refusal), 0).first;
        ++it->second;
    }
    if (f.routed) {
        routes_decided_.add(f.scenario, f.rank, f.route_model);
        for (const auto& [plugin, kind] : f.notes) decision_notes_.add(plugin, kind, f.route_model);
    }
    for (const auto& side : f.side_calls) {
        side_calls_.add(f.chain, side.failed ? "failed" : "ok", side.model);
        side_call_tokens_.add(f.chain, "input", side.model, side.input_tokens);
        side_call_tokens_.add(f.chain, "output", side.model, side.output_tokens);
    }
    if (f.channel.empty()) return;
    auto& u = upstream_stats(f.channel, f.upstream_model);
    ++u.by_status[f.status];
    u.latency.observe(kUpstreamBuckets, f.upstream_seconds);
    if (f.ttft_seconds) u.ttft.observe(kUpstreamBuckets, *f.ttft_seconds);
    // Tokens per second of generation: from the first token on when it came, else the call.
    const double generating = f.ttft_seconds && f.seconds > *f.ttft_seconds
                                  ? f.seconds - *f.ttft_seconds
                                  : f.upstream_seconds;
    if (f.output_tokens > 0 && generating > 0)
        u.token_rate.observe(kTokenRateBuckets, static_cast<double>(f.output_tokens) / generating);
    u.input += f.input_tokens;
    u.output += f.output_tokens;
    u.cache_read += f.cache_read_tokens;
    u.cache_write += f.cache_write_tokens;
    u.cost += f.cost;
    u.retries += f.retries;
    u.failovers += f.failovers;
}

void Metrics::count_error(std::string_view kind) {
    std::lock_guard lock(mutex_);
    add_error(kind);
}

void Metrics::count_stage_failure(std::string_view chain, std::string_view stage,
                                  std::string_view outcome) {
    std::lock_guard lock(mutex_);
    ++stage_failures_[{std::string(chain), std::string(stage), std::string(outcome)}];
}

void Metrics::set_sources(MetricsSources sources) {
    sources_ = std::move(sources);
}

std::pair<int64_t, int64_t> process_memory_and_threads() {
    std::ifstream status("/proc/self/status");
    std::string line;
    int64_t rss_kb = 0, threads = 0;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:"))
            rss_kb = std::atoll(line.c_str() + 6);
        else if (line.starts_with("Threads:"))
            threads = std::atoll(line.c_str() + 8);
    }
    return {rss_kb * 1024, threads};
}

void Metrics::write_upstreams(std::ostream& out) const {
    auto labels = [](const auto& key) {
        return "channel=\"" + label_value(key.first) + "\",model=\"" + label_value(key.second) +
               "\"";
    };
    write_head(out, "tianshu_upstream_requests_total", "counter",
               "Model API requests a channel served, by channel, upstream model and the HTTP "
               "status the client got.");
    for (const auto& [key, u] : upstreams_)
        for (const auto& [status, n] : u.by_status)
            out << "tianshu_upstream_requests_total{" << labels(key) << ",status=\"" << status
                << "\"} " << n << "\n";
    write_head(out, "tianshu_upstream_latency_seconds", "histogram",
               "The answering upstream call, from the call to its last event.");
    for (const auto& [key, u] : upstreams_)
        write_histogram(out, "tianshu_upstream_latency_seconds", labels(key), kUpstreamBuckets,
                        u.latency);
    write_head(out, "tianshu_upstream_ttft_seconds", "histogram",
               "Time from the request's arrival to the first content the upstream sent.");
    for (const auto& [key, u] : upstreams_)
        write_histogram(out, "tianshu_upstream_ttft_seconds", labels(key), kUpstreamBuckets,
                        u.ttft);
    write_head(out, "tianshu_upstream_output_tokens_per_second", "histogram",
               "Output tokens per second of generation (after the first token) per answer.");
    for (const auto& [key, u] : upstreams_)
        write_histogram(out, "tianshu_upstream_output_tokens_per_second", labels(key),
                        kTokenRateBuckets, u.token_rate);
    write_head(out, "tianshu_upstream_tokens_total", "counter",
               "Tokens billed, by channel, upstream model and kind (input | output | cache_read "
               "| cache_write).");
    for (const auto& [key, u] : upstreams_) {
        const std::string l = labels(key);
        out << "tianshu_upstream_tokens_total{" << l << ",kind=\"input\"} " << u.input << "\n"
            << "tianshu_upstream_tokens_total{" << l << ",kind=\"output\"} " << u.output << "\n"
            << "tianshu_upstream_tokens_total{" << l << ",kind=\"cache_read\"} " << u.cache_read
            << "\n"
            << "tianshu_upstream_tokens_total{" << l << ",kind=\"cache_write\"} " << u.cache_write
            << "\n";
    }
    write_head(out, "tianshu_upstream_spend_micros_total", "counter",
               "What the requests cost their payers, in micros of the store's money unit "
               "(1000000 = 1), by channel and upstream model.");
    for (const auto& [key, u] : upstreams_)
        out << "tianshu_upstream_spend_micros_total{" << labels(key) << "} " << u.cost << "\n";
    write_head(out, "tianshu_upstream_retries_total", "counter",
               "Upstream calls after a request's first, by the channel that answered last.");
    for (const auto& [key, u] : upstreams_)
        out << "tianshu_upstream_retries_total{" << labels(key) << "} " << u.retries << "\n";
    write_head(out, "tianshu_upstream_failovers_total", "counter",
               "Retries that moved to another channel, by the channel that answered last.");
    for (const auto& [key, u] : upstreams_)
        out << "tianshu_upstream_failovers_total{" << labels(key) << "} " << u.failovers << "\n";
}

void Metrics::write_sources(std::ostream& out) const {
    std::vector<ChannelState> channels;
    if (sources_.channels) channels = sources_.channels();
    if (channels.size() > kMaxLabelSets) channels.resize(kMaxLabelSets);
    write_head(out, "tianshu_channel_keys", "gauge",
               "Upstream keys of each channel by state (enabled | disabled), as the running "
               "configuration has them.");
    for (const auto& c : channels) {
        const std::string ch = label_value(c.channel);
        out << "tianshu_channel_keys{channel=\"" << ch << "\",state=\"enabled\"} " << c.keys_enabled
            << "\n"
            << "tianshu_channel_keys{channel=\"" << ch << "\",state=\"disabled\"} "
            << c.keys_disabled << "\n";
    }
    write_head(out, "tianshu_channel_breakers", "gauge",
               "Circuit breakers of each channel's keys by state (closed | open | half_open).");
    for (const auto& c : channels) {
        const std::string ch = label_value(c.channel);
        out << "tianshu_channel_breakers{channel=\"" << ch << "\",state=\"closed\"} "
            << c.breakers_closed << "\n"
            << "tianshu_channel_breakers{channel=\"" << ch << "\",state=\"open\"} "
            << c.breakers_open << "\n"
            << "tianshu_channel_breakers{channel=\"" << ch << "\",state=\"half_open\"} "
            << c.breakers_half_open << "\n";
    }
    // Declared for dashboards; samples come with the provider balance feature (none reads a
    // provider's balance yet).
    write_head(out, "tianshu_channel_balance", "gauge",
               "The provider's remaining balance per channel, in its own currency (no samples "
               "until balances are read).");
    const auto [rss, threads] = process_memory_and_threads();
    write_head(out, "tianshu_process_resident_memory_bytes", "gauge", "Resident memory (VmRSS).");
    out << "tianshu_process_resident_memory_bytes " << rss << "\n";
    write_head(out, "tianshu_process_threads", "gauge", "Threads of the process.");
    out << "tianshu_process_threads " << threads << "\n";
    write_head(out, "tianshu_open_connections", "gauge", "Client connections open now.");
    out << "tianshu_open_connections " << open_connections() << "\n";
    write_head(out, "tianshu_usage_journal_backlog", "gauge",
               "Usage records journaled but not yet written to the database.");
    out << "tianshu_usage_journal_backlog "
        << (sources_.journal_backlog ? sources_.journal_backlog() : 0) << "\n";
    write_head(out, "tianshu_build_info", "gauge", "Always 1; the build's version and commit.");
    out << "tianshu_build_info{version=\"" << label_value(sources_.version) << "\",commit=\""
        << label_value(sources_.commit) << "\"} 1\n";
}

std::string Metrics::prometheus_text() const {
    std::ostringstream out;
    out << "# HELP tianshu_requests_in_flight Requests being served now.\n"
        << "# TYPE tianshu_requests_in_flight gauge\n"
        << "tianshu_requests_in_flight " << in_flight() << "\n";
    // The sources read other parts of the process: not under the metrics mutex, which the
    // request path takes.
    write_sources(out);
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
    for (const auto& [route, s] : routes_)
        write_histogram(out, "tianshu_request_duration_seconds", "route=\"" + route + "\"",
                        kBuckets, s.duration);
    out << "# HELP tianshu_errors_total Errors by kind (plugin_failure, script_failure, upstream, "
           "...).\n"
        << "# TYPE tianshu_errors_total counter\n";
    for (const auto& [kind, n] : errors_)
        out << "tianshu_errors_total{kind=\"" << kind << "\"} " << n << "\n";
    write_head(out, "tianshu_refusals_total", "counter",
               "Calls a key's limits refused, by reason (rpm | tpm | key_quota | balance | "
               "key_expired | ip_not_allowed | model_not_allowed | user_disabled).");
    for (const auto& [reason, n] : refusals_)
        out << "tianshu_refusals_total{reason=\"" << reason << "\"} " << n << "\n";
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
    write_upstreams(out);
    return out.str();
}

}  // namespace tianshu::server
