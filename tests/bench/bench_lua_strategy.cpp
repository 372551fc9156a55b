// One on_request call of a small Lua strategy on a prepared request: the per-request cost a
// Lua strategy adds to a chain. Target: <= 5 us per call.
//
//   cmake --build build --target bench_lua_strategy && ./build/tests/bench/bench_lua_strategy
//
// Each call runs the script's top level in a fresh environment, then the hook, under the
// instruction and memory budgets (that is what keeps calls from leaking state).

#include <benchmark/benchmark.h>

#include <cstdio>

#include "plugin/lua_plugin.hpp"

using namespace tianshu;

namespace {

plugin::RequestContext make_context() {
    plugin::RequestContext ctx;
    ctx.request.model = "claude-sonnet";
    ctx.request.max_tokens = 1024;
    ctx.request.set_system_text("You are a helpful assistant.");
    core::Message m;
    m.role = core::Role::user;
    m.content.push_back(core::ContentBlock::make_text(
        "Please write a SQL query that lists the ten largest tables."));
    ctx.request.messages.push_back(std::move(m));
    ctx.request_id = "req_bench";
    return ctx;
}

std::shared_ptr<plugin::Strategy> load(const std::string& relative, const core::Json& config) {
    auto f = plugin::load_lua_script(std::string(TIANSHU_SOURCE_DIR) + "/" + relative);
    if (!f) {
        std::fprintf(stderr, "%s\n", f.error().message.c_str());
        std::abort();
    }
    auto s = f.value()->create_strategy(config);
    if (!s) std::abort();
    return s.value();
}

void run(benchmark::State& state, plugin::Strategy& strategy) {
    auto ctx = make_context();
    for (auto _ : state) {
        ctx.request.model = "claude-sonnet";
        auto r = strategy.on_request(ctx);
        if (!r) {
            state.SkipWithError(r.error().message.c_str());
            break;
        }
        benchmark::DoNotOptimize(ctx.request.model);
    }
    state.SetItemsProcessed(state.iterations());
}

// Reads the model, sets the model: the smallest useful strategy.
void BM_LuaStrategy_SmallOnRequest(benchmark::State& state) {
    static auto s = load("tests/unit/lua/scripts/small_strategy.lua", core::Json::object());
    run(state, *s);
}
BENCHMARK(BM_LuaStrategy_SmallOnRequest);

// scripts/strategies/keyword_router.lua with a three-route config (converted per call).
void BM_LuaStrategy_KeywordRouter(benchmark::State& state) {
    static auto s = load("scripts/strategies/keyword_router.lua",
                         {{"routes",
                           {{{"keywords", {"poem", "story"}}, {"model", "qwen-max"}},
                            {{"keywords", {"translate"}}, {"model", "glm-4"}},
                            {{"keywords", {"sql", "python"}}, {"model", "deepseek-coder"}}}},
                          {"default", "deepseek-chat"}});
    run(state, *s);
}
BENCHMARK(BM_LuaStrategy_KeywordRouter);

// scripts/strategies/tag_request.lua: reads and rewrites the system prompt.
void BM_LuaStrategy_TagRequest(benchmark::State& state) {
    static auto s = load("scripts/strategies/tag_request.lua", {{"note", "Answer in English."}});
    auto ctx = make_context();
    for (auto _ : state) {
        ctx.request.set_system_text("You are a helpful assistant.");
        auto r = s->on_request(ctx);
        if (!r) {
            state.SkipWithError(r.error().message.c_str());
            break;
        }
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LuaStrategy_TagRequest);

}  // namespace

BENCHMARK_MAIN();
