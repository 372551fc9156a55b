// The request path's JSON work on one ~75 KB Claude-Code-shaped request and one small one,
// stage by stage: decode the Anthropic body, estimate input tokens, build the OpenAI upstream
// body, serialize it; and the Anthropic passthrough body. Prints figures; asserts nothing.
//
//   build/tests/bench/bench_codec [--benchmark_repetitions=3]
//
// Payloads come from tests/bench/overhead/gen_payloads.js (run with node into a temp dir).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "plugin/request_access.hpp"
#include "protocol/anthropic.hpp"
#include "protocol/anthropic_upstream.hpp"
#include "protocol/json_text.hpp"
#include "protocol/openai_upstream.hpp"

namespace fs = std::filesystem;
using namespace tianshu;

namespace {

std::string payload(const std::string& name) {
    static const fs::path dir = [] {
        fs::path d =
            fs::temp_directory_path() / ("tianshu-bench-codec-" + std::to_string(getpid()));
        std::string cmd = "node " TIANSHU_GEN_PAYLOADS " " + d.string() + " >/dev/null";
        if (std::system(cmd.c_str()) != 0) {
            std::fprintf(stderr, "bench_codec: `%s` failed (node is needed)\n", cmd.c_str());
            std::exit(1);
        }
        return d;
    }();
    std::ifstream in(dir / (name + ".anthropic.json"));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const protocol::AnthropicCodec codec;

core::Request decoded(const std::string& body) {
    auto r = codec.decode_request(body);
    if (!r) {
        std::fprintf(stderr, "bench_codec: payload does not decode: %s\n",
                     r.error().message.c_str());
        std::exit(1);
    }
    return std::move(r).value();
}

void set_bytes(benchmark::State& state, const std::string& body) {
    state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
    state.counters["body_bytes"] = static_cast<double>(body.size());
}

void BM_Decode(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    for (auto _ : state) benchmark::DoNotOptimize(codec.decode_request(body));
    set_bytes(state, body);
}

void BM_ParseOnly(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    for (auto _ : state) benchmark::DoNotOptimize(core::Json::parse(body));
    set_bytes(state, body);
}

void BM_EstimateTokens(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    const core::Request r = decoded(body);
    for (auto _ : state) benchmark::DoNotOptimize(plugin::estimate_input_tokens(r));
    set_bytes(state, body);
}

void BM_EncodeOpenAi(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    const core::Request r = decoded(body);
    protocol::openai_upstream::UpstreamOptions o;
    for (auto _ : state) {
        auto j = protocol::openai_upstream::encode_request(r, o);
        benchmark::DoNotOptimize(protocol::dump_json(j.value()));
    }
    set_bytes(state, body);
}

void BM_EncodeAnthropic(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    const core::Request r = decoded(body);
    protocol::anthropic_upstream::UpstreamOptions o;
    for (auto _ : state) {
        auto j = protocol::anthropic_upstream::encode_request(r, o);
        benchmark::DoNotOptimize(protocol::dump_json(j.value()));
    }
    set_bytes(state, body);
}

// What the gateway does per request before the upstream call (Anthropic client, OpenAI upstream).
void BM_AnthropicToOpenAi(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    protocol::openai_upstream::UpstreamOptions o;
    for (auto _ : state) {
        auto r = codec.decode_request(body);
        benchmark::DoNotOptimize(plugin::estimate_input_tokens(r.value()));
        auto j = protocol::openai_upstream::encode_request(r.value(), o);
        benchmark::DoNotOptimize(protocol::dump_json(j.value()));
    }
    set_bytes(state, body);
}

}  // namespace

BENCHMARK_CAPTURE(BM_ParseOnly, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Decode, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EstimateTokens, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeOpenAi, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeAnthropic, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_AnthropicToOpenAi, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_AnthropicToOpenAi, small, "small")->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
