// The route and decision-note counters of /metrics: one series per label set, label values
// escaped, and a bounded number of series whatever model names clients send.
#include <string>

#include <catch2/catch.hpp>

#include "server/metrics.hpp"

using Catch::Contains;
using tianshu::server::Metrics;

TEST_CASE("route decisions and notes are counted per label set", "[metrics]") {
    Metrics m;
    m.count_route("main", "deepseek-chat", "scene");
    m.count_route("main", "deepseek-chat", "scene");
    m.count_route("passthrough", "odd\"name\\x", "none");
    m.count_decision_note("tool_repair", "repair", "qwen3");
    const std::string text = m.prometheus_text();
    CHECK_THAT(text, Contains("# TYPE tianshu_route_decisions_total counter"));
    CHECK_THAT(
        text,
        Contains(
            R"(tianshu_route_decisions_total{scenario="main",rank="scene",model="deepseek-chat"} 2)"));
    CHECK_THAT(
        text,
        Contains(
            R"(tianshu_route_decisions_total{scenario="passthrough",rank="none",model="odd\"name\\x"} 1)"));
    CHECK_THAT(
        text,
        Contains(
            R"(tianshu_decision_notes_total{plugin="tool_repair",kind="repair",model="qwen3"} 1)"));
}

TEST_CASE("client-chosen model names cannot grow /metrics without bound", "[metrics]") {
    Metrics m;
    for (size_t i = 0; i < Metrics::kMaxLabelSets + 50; ++i)
        m.count_route("passthrough", "model-" + std::to_string(i), "none");
    const std::string text = m.prometheus_text();
    CHECK_THAT(
        text,
        Contains(
            R"(tianshu_route_decisions_total{scenario="passthrough",rank="none",model="other"} 50)"));
    CHECK_THAT(text, !Contains(R"(model="model-1049")"));
}
