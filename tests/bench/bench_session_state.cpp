// Session state on the request path: what a strategy's session_put + session_get costs through
// the in-memory store and through Redis (one round trip each, loopback), and what deriving a
// plain client's session costs on a long prompt. Run:
//   cmake --build <build> --target bench_session_state && <build>/tests/bench/bench_session_state
// For the Redis figures: tests/scripts/with_redis.sh <build>/tests/bench/bench_session_state
#include <cstdio>
#include <cstdlib>

#include <benchmark/benchmark.h>

#include "hub/memory_session_store.hpp"
#include "hub/redis_session_store.hpp"
#include "server/session_identity.hpp"

using namespace tianshu;

namespace {

const std::string kValue(2048, 'r');  // a turn's reasoning, say

void put_get(benchmark::State& state, core::SessionStore& store) {
    int turn = 0;
    for (auto _ : state) {
        const core::SessionScope scope{"alice", "sess-bench", "reasoning_ledger"};
        const std::string key = "turn:" + std::to_string(turn++ % 64);
        auto put = store.put(scope, key, kValue, std::chrono::seconds(0));
        auto got = store.get(scope, key);
        if (!put || !got) state.SkipWithError("the store failed");
        benchmark::DoNotOptimize(got);
    }
    state.SetItemsProcessed(state.iterations());
}

void BM_MemoryPutGet(benchmark::State& state) {
    hub::MemorySessionStore store({});
    put_get(state, store);
}
BENCHMARK(BM_MemoryPutGet);

void BM_RedisPutGet(benchmark::State& state) {
    const char* url = std::getenv("TIANSHU_TEST_REDIS_URL");
    if (!url || !*url) {
        state.SkipWithError("TIANSHU_TEST_REDIS_URL is not set: run under with_redis.sh");
        return;
    }
    hub::RedisPoolConfig config;
    config.url = url;
    auto pool = hub::RedisPool::open(config);
    if (!pool) {
        state.SkipWithError(pool.error().message.c_str());
        return;
    }
    hub::RedisSessionStore store({}, std::move(pool).value(), "tianshu:bench:");
    put_get(state, store);
}
BENCHMARK(BM_RedisPutGet)->UseRealTime();

void BM_DerivedSession(benchmark::State& state) {
    core::Request request;
    request.system.push_back(
        core::ContentBlock::make_text(std::string(static_cast<size_t>(state.range(0)), 's')));
    core::Message m;
    m.content.push_back(core::ContentBlock::make_text(std::string(2000, 'u')));
    request.messages.push_back(std::move(m));
    for (auto _ : state) {
        auto id = server::identify_session({}, request);
        benchmark::DoNotOptimize(id);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DerivedSession)->Arg(2000)->Arg(75000);

}  // namespace

BENCHMARK_MAIN();
