// The route and decision-note counters of /metrics: one series per label set, label values
// escaped, and a bounded number of series whatever model names clients send.
#include <string>

#include <catch2/catch.hpp>

#include "server/metrics.hpp"

using Catch::Contains;
using tianshu::server::Metrics;
using tianshu::server::RequestFigures;

namespace {
//! One request that took a route decision and noted `notes`, recorded as the gateway does.
void routed(Metrics& m, std::string_view scenario, std::string_view model, std::string_view rank,
            std::vector<std::pair<std::string_view, std::string_view>> notes = {}) {
    RequestFigures f;
    f.route = "/v1/messages";
    f.routed = true;
    f.scenario = scenario;
    f.route_model = model;
    f.rank = rank;
    f.notes = std::move(notes);
    m.request_started();
    m.record_request(f);
}
}  // namespace

TEST_CASE("route decisions and notes are counted per label set", "[metrics]") {
    Metrics m;
    routed(m, "main", "deepseek-chat", "scene");
    routed(m, "main", "deepseek-chat", "scene");
    routed(m, "passthrough", "odd\"name\\x", "none");
    routed(m, "main", "qwen3", "scene", {{"tool_repair", "repair"}});
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
        routed(m, "passthrough", "model-" + std::to_string(i), "none");
    const std::string text = m.prometheus_text();
    CHECK_THAT(
        text,
        Contains(
            R"(tianshu_route_decisions_total{scenario="passthrough",rank="none",model="other"} 50)"));
    CHECK_THAT(text, !Contains(R"(model="model-1049")"));
}
