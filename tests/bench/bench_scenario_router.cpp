// scenario_router's decision on the ~75 KB Claude-Code-shaped request of tests/bench/overhead
// (gen_payloads.js `large`: 25 KB system prompt, 24 tools, 4 tool_use turns). Prints µs per
// decision; asserts nothing.
//
//   cmake --build <build> --target bench_scenario_router &&
//   <build>/tests/bench/bench_scenario_router
//
// route_parsed:   classify + stall scan + decide on the parsed request (the library alone).
// route_text:     the same, parsing the request's JSON text first (what the plugin does with
//                 request_get_json("")).
// plugin_hook:    the real scenario_router.so through SoStrategy::on_request on a decoded
//                 request: the host serialises the request for get_json, the plugin parses,
//                 routes and sets the model. Host functions the host lacks are skipped (probed).
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "plugin/so_plugin.hpp"
#include "protocol/anthropic.hpp"
#include "router.hpp"

namespace fs = std::filesystem;
namespace sr = tianshu::scenario_router;
using namespace tianshu;

namespace {

const char* kConfig = R"({
  "scenarios": {"main": ["m-main", "m-strong"], "tool_continuation": "m-main",
                "background": "m-small", "subagent": "m-agent", "think": "m-think",
                "long_context": "m-long", "image": "m-vision", "web_search": "m-search",
                "compact": "m-long"},
  "long_context_tokens": 60000
})";

std::string payload() {
    static const std::string body = [] {
        fs::path dir =
            fs::temp_directory_path() / ("tianshu-bench-router-" + std::to_string(getpid()));
        std::string cmd = "node " TIANSHU_GEN_PAYLOADS " " + dir.string() + " >/dev/null";
        if (std::system(cmd.c_str()) != 0) {
            std::fprintf(stderr, "bench_scenario_router: `%s` failed (node is needed)\n",
                         cmd.c_str());
            std::exit(1);
        }
        std::ifstream in(dir / "large.anthropic.json");
        std::stringstream ss;
        ss << in.rdbuf();
        fs::remove_all(dir);
        return ss.str();
    }();
    return body;
}

const sr::Headers kHeaders{{"x-claude-code-session-id", "00000000-0000-4000-8000-000000000001"},
                           {"x-app", "cli"}};

void report(benchmark::State& state) {
    state.counters["body_bytes"] = static_cast<double>(payload().size());
}

void BM_route_parsed(benchmark::State& state) {
    const sr::RouterConfig config = sr::parse_config(kConfig);
    const nlohmann::json body = nlohmann::json::parse(payload());
    std::optional<sr::SessionRoute> session;
    if (state.range(0)) session = sr::SessionRoute{"m-main", TS_ROUTE_DEFAULT, 0, {}};
    for (auto _ : state) {
        auto r = sr::route(config, body, kHeaders, session, nullptr, nullptr);
        benchmark::DoNotOptimize(r);
    }
    report(state);
}

void BM_route_text(benchmark::State& state) {
    const sr::RouterConfig config = sr::parse_config(kConfig);
    const std::string text = payload();
    for (auto _ : state) {
        nlohmann::json body = nlohmann::json::parse(text);
        auto r = sr::route(config, body, kHeaders, std::nullopt, nullptr, nullptr);
        benchmark::DoNotOptimize(r);
    }
    report(state);
}

void BM_plugin_hook(benchmark::State& state) {
    auto factory =
        plugin::SoPluginFactory::load(std::string(TIANSHU_PLUGIN_DIR) + "/scenario_router.so");
    if (!factory) {
        state.SkipWithError(factory.error().message.c_str());
        return;
    }
    auto strategy = factory.value()->create_strategy(core::Json::parse(kConfig));
    if (!strategy) {
        state.SkipWithError(strategy.error().message.c_str());
        return;
    }
    auto decoded = protocol::AnthropicCodec().decode_request(payload());
    if (!decoded) {
        state.SkipWithError(decoded.error().message.c_str());
        return;
    }
    plugin::RequestContext ctx;
    ctx.request = std::move(decoded).value();
    ctx.request_id = "req-bench";
    for (auto _ : state) {
        auto r = strategy.value()->on_request(ctx);
        benchmark::DoNotOptimize(r);
    }
    state.counters["routed_to_m_main"] = ctx.request.model == "m-main" ? 1 : 0;
    report(state);
}

}  // namespace

BENCHMARK(BM_route_parsed)
    ->Arg(0)
    ->Arg(1)
    ->ArgName("sticky_session")
    ->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_route_text)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_plugin_hook)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
