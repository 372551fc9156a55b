// The per-channel figures of /metrics (tianshu_upstream_*), the refusals, the scrape-time gauges
// (channels' keys and breakers, the process, build info) and their bounds: a fixed number of
// label sets whatever upstream model names arrive, label values escaped.
#include <chrono>
#include <cstdio>
#include <regex>
#include <set>
#include <string>

#include <catch2/catch.hpp>

#include "server/metrics.hpp"

using Catch::Contains;
using tianshu::server::ChannelState;
using tianshu::server::Metrics;
using tianshu::server::MetricsSources;
using tianshu::server::RequestFigures;

namespace {

RequestFigures served(std::string_view channel, std::string_view model, int status = 200) {
    RequestFigures f;
    f.route = "/v1/messages";
    f.status = status;
    f.channel = channel;
    f.upstream_model = model;
    return f;
}

void record(Metrics& m, const RequestFigures& f) {
    m.request_started();
    m.record_request(f);
}

//! The value of the one sample line `series` (name and labels exactly), or -1.
double sample(const std::string& text, const std::string& series) {
    const std::string head = series + " ";
    auto at = text.find("\n" + head);
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + 1 + head.size()));
}

}  // namespace

TEST_CASE("per channel and upstream model: status, tokens, spend, retries, histograms",
          "[metrics]") {
    Metrics m;
    RequestFigures a = served("ch-a", "m1");
    a.seconds = 2.0;
    a.upstream_seconds = 0.3;
    a.ttft_seconds = 1.0;
    a.input_tokens = 10;
    a.output_tokens = 100;  // 100 tokens in the 1 s after the first: 100/s
    a.cache_read_tokens = 7;
    a.cache_write_tokens = 3;
    a.cost = 1'500;
    a.retries = 2;
    a.failovers = 1;
    record(m, a);
    RequestFigures b = served("ch-a", "m1");
    b.seconds = 1.5;
    b.upstream_seconds = 1.5;  // no first token: the rate is over the call
    b.input_tokens = 5;
    b.output_tokens = 3;
    b.cost = 500;
    record(m, b);
    record(m, served("ch-b", "m2", 502));
    RequestFigures local;  // answered without a channel: no upstream series
    local.route = "/v1/messages";
    record(m, local);

    const std::string t = m.prometheus_text();
    INFO(t);
    CHECK(m.in_flight() == 0);
    const std::string ab = R"(channel="ch-a",model="m1")";
    CHECK(sample(t, "tianshu_upstream_requests_total{" + ab + R"(,status="200"})") == 2);
    CHECK(sample(t, R"(tianshu_upstream_requests_total{channel="ch-b",model="m2",status="502"})") ==
          1);
    CHECK(sample(t, "tianshu_upstream_tokens_total{" + ab + R"(,kind="input"})") == 15);
    CHECK(sample(t, "tianshu_upstream_tokens_total{" + ab + R"(,kind="output"})") == 103);
    CHECK(sample(t, "tianshu_upstream_tokens_total{" + ab + R"(,kind="cache_read"})") == 7);
    CHECK(sample(t, "tianshu_upstream_tokens_total{" + ab + R"(,kind="cache_write"})") == 3);
    CHECK(sample(t, "tianshu_upstream_spend_micros_total{" + ab + "}") == 2000);
    CHECK(sample(t, "tianshu_upstream_retries_total{" + ab + "}") == 2);
    CHECK(sample(t, "tianshu_upstream_failovers_total{" + ab + "}") == 1);
    // Latency 0.3 s and 1.5 s: cumulative buckets.
    CHECK(sample(t, "tianshu_upstream_latency_seconds_bucket{" + ab + R"(,le="0.25"})") == 0);
    CHECK(sample(t, "tianshu_upstream_latency_seconds_bucket{" + ab + R"(,le="0.5"})") == 1);
    CHECK(sample(t, "tianshu_upstream_latency_seconds_bucket{" + ab + R"(,le="2"})") == 2);
    CHECK(sample(t, "tianshu_upstream_latency_seconds_bucket{" + ab + R"(,le="+Inf"})") == 2);
    CHECK(sample(t, "tianshu_upstream_latency_seconds_count{" + ab + "}") == 2);
    CHECK(sample(t, "tianshu_upstream_latency_seconds_sum{" + ab + "}") == Approx(1.8));
    // Only the first request had a first token.
    CHECK(sample(t, "tianshu_upstream_ttft_seconds_count{" + ab + "}") == 1);
    CHECK(sample(t, "tianshu_upstream_ttft_seconds_bucket{" + ab + R"(,le="0.5"})") == 0);
    CHECK(sample(t, "tianshu_upstream_ttft_seconds_bucket{" + ab + R"(,le="1"})") == 1);
    // 100 tokens/s and 2 tokens/s.
    CHECK(sample(t, "tianshu_upstream_output_tokens_per_second_count{" + ab + "}") == 2);
    CHECK(sample(t, "tianshu_upstream_output_tokens_per_second_bucket{" + ab + R"(,le="1"})") == 0);
    CHECK(sample(t, "tianshu_upstream_output_tokens_per_second_bucket{" + ab + R"(,le="5"})") == 1);
    CHECK(sample(t, "tianshu_upstream_output_tokens_per_second_bucket{" + ab + R"(,le="75"})") ==
          1);
    CHECK(sample(t, "tianshu_upstream_output_tokens_per_second_bucket{" + ab + R"(,le="100"})") ==
          2);
    CHECK_THAT(t, !Contains(R"(channel="")"));
    // The route family still counts every request.
    CHECK(sample(t, R"(tianshu_requests_total{route="/v1/messages",status="200"})") == 3);
    CHECK(sample(t, R"(tianshu_requests_total{route="/v1/messages",status="502"})") == 1);
}

TEST_CASE("upstream model names cannot grow /metrics without bound; labels are escaped",
          "[metrics]") {
    Metrics m;
    std::vector<std::string> models;
    for (size_t i = 0; i < Metrics::kMaxLabelSets + 5; ++i)
        models.push_back("model-" + std::to_string(i));
    for (const auto& model : models) record(m, served("passthrough", model));
    record(m, served("passthrough", "model-0"));  // an existing set still counts as itself
    record(m, served(R"(odd"ch\)", "m"));
    const std::string t = m.prometheus_text();
    CHECK(
        sample(
            t,
            R"(tianshu_upstream_requests_total{channel="passthrough",model="other",status="200"})") ==
        5);
    CHECK(
        sample(
            t,
            R"(tianshu_upstream_requests_total{channel="passthrough",model="model-0",status="200"})") ==
        2);
    CHECK_THAT(t, !Contains(R"(model="model-1004")"));
    CHECK_THAT(t, Contains(R"(channel="odd\"ch\\",model="other")"));
    // The number of upstream series stays at the cap plus one "other" per channel.
    const std::regex series(R"(\ntianshu_upstream_spend_micros_total\{)");
    const auto n =
        std::distance(std::sregex_iterator(t.begin(), t.end(), series), std::sregex_iterator());
    CHECK(n == static_cast<long>(Metrics::kMaxLabelSets) + 2);
}

TEST_CASE("refusals by reason and errors by kind, once per request", "[metrics]") {
    Metrics m;
    RequestFigures f;
    f.route = "/v1/messages";
    f.status = 429;
    f.error_kind = "rate_limited";
    f.refusal = "rate_limit";
    record(m, f);
    record(m, f);
    f.status = 402;
    f.error_kind = "insufficient_quota";
    f.refusal = "quota";
    record(m, f);
    const std::string t = m.prometheus_text();
    CHECK(sample(t, R"(tianshu_refusals_total{reason="rate_limit"})") == 2);
    CHECK(sample(t, R"(tianshu_refusals_total{reason="quota"})") == 1);
    CHECK(sample(t, R"(tianshu_errors_total{kind="rate_limited"})") == 2);
    CHECK(sample(t, R"(tianshu_errors_total{kind="insufficient_quota"})") == 1);
}

TEST_CASE("scrape-time gauges: channels' keys and breakers, the process, build info", "[metrics]") {
    Metrics m;
    MetricsSources sources;
    sources.channels = [] {
        ChannelState a;
        a.channel = "duo";
        a.keys_enabled = 1;
        a.keys_disabled = 1;
        a.breakers_closed = 1;
        a.breakers_open = 1;
        return std::vector<ChannelState>{a};
    };
    sources.journal_backlog = [] { return int64_t{42}; };
    sources.version = "9.8.7";
    sources.commit = "abc123";
    m.set_sources(std::move(sources));
    m.connection_opened();
    m.connection_opened();
    m.connection_closed();
    const std::string t = m.prometheus_text();
    INFO(t);
    CHECK(sample(t, R"(tianshu_channel_keys{channel="duo",state="enabled"})") == 1);
    CHECK(sample(t, R"(tianshu_channel_keys{channel="duo",state="disabled"})") == 1);
    CHECK(sample(t, R"(tianshu_channel_breakers{channel="duo",state="closed"})") == 1);
    CHECK(sample(t, R"(tianshu_channel_breakers{channel="duo",state="open"})") == 1);
    CHECK(sample(t, R"(tianshu_channel_breakers{channel="duo",state="half_open"})") == 0);
    CHECK(sample(t, "tianshu_open_connections") == 1);
    CHECK(sample(t, "tianshu_usage_journal_backlog") == 42);
    CHECK(sample(t, R"(tianshu_build_info{version="9.8.7",commit="abc123"})") == 1);
    CHECK(sample(t, "tianshu_process_resident_memory_bytes") > 1'000'000);
    CHECK(sample(t, "tianshu_process_threads") >= 1);
    // Declared for dashboards, no samples until provider balances are read.
    CHECK_THAT(t, Contains("# TYPE tianshu_channel_balance gauge\n"));
    CHECK_THAT(t, !Contains("\ntianshu_channel_balance{"));
    // Every family is declared once.
    const std::regex type(R"(# TYPE (\S+) )");
    std::set<std::string> names;
    for (auto it = std::sregex_iterator(t.begin(), t.end(), type); it != std::sregex_iterator();
         ++it)
        CHECK(names.insert((*it)[1]).second);
}

// Not run by default (`unit_server "[.bench]"`): the cost of one request's record_request.
TEST_CASE("record_request cost", "[.bench]") {
    Metrics m;
    RequestFigures f = served("channel-a", "upstream-model-a");
    f.routed = true;
    f.scenario = "main";
    f.route_model = "claude-sonnet-4-5";
    f.rank = "scene";
    f.seconds = 1.2;
    f.upstream_seconds = 1.1;
    f.ttft_seconds = 0.4;
    f.output_tokens = 300;
    constexpr int kRounds = 200'000;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kRounds; ++i) record(m, f);
    const double ns =
        std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() /
        kRounds;
    std::printf("record_request: %.0f ns per request (%d rounds, one thread)\n", ns, kRounds);
    CHECK(m.in_flight() == 0);
}
