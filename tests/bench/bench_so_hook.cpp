// The cost of one pre-request hook call through SoStrategy::on_request on a prepared
// RequestContext: the C ABI thunk, the plugin.hpp wrapper, HookScope, result mapping.
// Budget: <= 100 ns per call. Run:
//   cmake --build <build> --target bench_so_hook && <build>/tests/bench/bench_so_hook
#include <cstdio>

#include <benchmark/benchmark.h>

#include "plugin/so_plugin.hpp"

using namespace tianshu;
using namespace tianshu::plugin;

namespace {

std::shared_ptr<Strategy> load_strategy(const char* name) {
    auto path = std::string(TIANSHU_TEST_PLUGIN_DIR) + "/" + name + ".so";
    auto factory = SoPluginFactory::load(path);
    if (!factory) {
        std::fprintf(stderr, "%s\n", factory.error().message.c_str());
        std::abort();
    }
    auto made = factory.value()->create_strategy(core::Json::object());
    if (!made) {
        std::fprintf(stderr, "%s\n", made.error().message.c_str());
        std::abort();
    }
    return made.value();
}

RequestContext prepared_context() {
    RequestContext ctx;
    ctx.request.model = "claude-sonnet-4";
    ctx.request.set_system_text("You are a helpful assistant.");
    core::Message m;
    m.content.push_back(core::ContentBlock::make_text("Summarise this paragraph for me, please."));
    ctx.request.messages.push_back(std::move(m));
    ctx.request_id = "req-bench";
    return ctx;
}

void run_hook(benchmark::State& state, const char* plugin) {
    auto strategy = load_strategy(plugin);
    auto ctx = prepared_context();
    for (auto _ : state) {
        auto r = strategy->on_request(ctx);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_so_on_request_noop(benchmark::State& state) {
    run_hook(state, "noop_strategy");
}
void BM_so_on_request_read_model(benchmark::State& state) {
    run_hook(state, "read_model");
}

}  // namespace

BENCHMARK(BM_so_on_request_noop);
BENCHMARK(BM_so_on_request_read_model);
BENCHMARK(BM_so_on_request_noop)->Threads(2)->UseRealTime();

BENCHMARK_MAIN();
