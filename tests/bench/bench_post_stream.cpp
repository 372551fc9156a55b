// The per-event cost of post stages that can rewrite the stream (ABI 1.4) when they pass
// events through: three stream_chaos stages in "pass" mode (a .so that reads the event's type,
// through the C ABI), driven through pipeline::PostStream as the runner drives them, against
// the same events delivered with no stage at all. Budget: three pass-through stages add
// <= 1 µs per event (tests/bench/README.md). Run:
//   cmake --build <build> --target bench_post_stream && <build>/tests/bench/bench_post_stream
#include <cstdio>
#include <cstdlib>

#include <benchmark/benchmark.h>

#include "pipeline/post_stream.hpp"
#include "plugin/request_access.hpp"
#include "plugin/so_plugin.hpp"

using namespace tianshu;

namespace {

std::shared_ptr<plugin::PluginFactory> chaos() {
    static auto factory = [] {
        auto f = plugin::SoPluginFactory::load(std::string(TIANSHU_TEST_PLUGIN_DIR) +
                                               "/stream_chaos.so");
        if (!f) {
            std::fprintf(stderr, "%s\n", f.error().message.c_str());
            std::abort();
        }
        return f.value();
    }();
    return factory;
}

std::shared_ptr<const pipeline::Chain> chain_with(int stages, const core::Json& extra) {
    core::Json post = core::Json::array();
    for (int i = 0; i < stages; ++i) {
        core::Json stage = {{"plugin", "stream_chaos"}, {"config", {{"mode", "pass"}}}};
        stage.update(extra);
        post.push_back(stage);
    }
    core::Json body = {{"id", "bench"},
                       {"tiers", {"*"}},
                       {"models", {"*"}},
                       {"routing", {{"mode", "passthrough"}}},
                       {"post", post}};
    auto lookup = [](const std::string&) { return chaos(); };
    auto spec = pipeline::parse_chain(body, lookup);
    auto chain = spec ? pipeline::Chain::build(spec.value(), lookup)
                      : core::Result<std::shared_ptr<const pipeline::Chain>>(spec.error());
    if (!chain) {
        std::fprintf(stderr, "%s\n", chain.error().message.c_str());
        std::abort();
    }
    return chain.value();
}

core::StreamEvent event(const char* json) {
    return plugin::event_from_json(json).value();
}

// Events per iteration: one text delta (after message_start and the block's start).
void run(benchmark::State& state, int stages, const core::Json& extra) {
    auto chain = chain_with(stages, extra);
    plugin::RequestContext ctx;
    ctx.request_id = "bench";
    int64_t delivered = 0;
    pipeline::PostStream post(ctx, *chain, nullptr, [&](const core::StreamEvent& e) {
        benchmark::DoNotOptimize(&e);
        ++delivered;
        return true;
    });
    post.push(event(R"({"type":"message_start","message":{"id":"m","model":"x"}})"));
    post.push(event(
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
    const auto delta = event(
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a typical delta of text"}})");
    for (auto _ : state)
        if (!post.push(delta)) state.SkipWithError("the stream stopped");
    state.SetItemsProcessed(state.iterations());
    state.counters["delivered"] = static_cast<double>(delivered);
}

// What an event costs without PostStream (a chain with no stream hook): the delivery only.
void BM_no_stream_stage(benchmark::State& state) {
    const auto delta = event(
        R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a typical delta of text"}})");
    int64_t delivered = 0;
    pipeline::PostStream::Deliver deliver = [&](const core::StreamEvent& e) {
        benchmark::DoNotOptimize(&e);
        ++delivered;
        return true;
    };
    for (auto _ : state) benchmark::DoNotOptimize(deliver(delta));
    state.SetItemsProcessed(state.iterations());
}
void BM_three_pass_stages(benchmark::State& state) {
    run(state, 3, core::Json::object());
}
void BM_three_pass_stages_on_error_continue(benchmark::State& state) {
    run(state, 3, {{"on_error", "continue"}});
}
void BM_three_pass_stages_with_deadline(benchmark::State& state) {
    run(state, 3, {{"deadline_ms", 1000}});
}

}  // namespace

BENCHMARK(BM_no_stream_stage);
BENCHMARK(BM_three_pass_stages);
BENCHMARK(BM_three_pass_stages_on_error_continue);
BENCHMARK(BM_three_pass_stages_with_deadline);

BENCHMARK_MAIN();
