// The request path's JSON work on one ~75 KB Claude-Code-shaped request and one small one,
// stage by stage: decode the Anthropic body, estimate input tokens, build the OpenAI upstream
// body, serialize it; and the Anthropic passthrough body. Then the per-response work: an
// OpenAI-compatible upstream's short answer streamed back as 6 chunks through the
// StreamDecoder, and the request log line. Prints figures; asserts nothing.
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

#include "core/log.hpp"
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

// The same, writing the upstream body as the gateway does (text, no tree of the body): decode,
// estimate, encode_request_body, then free the request.
void BM_AnthropicToOpenAiBody(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    protocol::openai_upstream::UpstreamOptions o;
    for (auto _ : state) {
        auto r = codec.decode_request(body);
        benchmark::DoNotOptimize(plugin::estimate_input_tokens(r.value()));
        benchmark::DoNotOptimize(protocol::openai_upstream::encode_request_body(r.value(), o));
    }
    set_bytes(state, body);
}

void BM_EncodeOpenAiBody(benchmark::State& state, const char* name) {
    const std::string body = payload(name);
    const core::Request r = decoded(body);
    protocol::openai_upstream::UpstreamOptions o;
    for (auto _ : state)
        benchmark::DoNotOptimize(protocol::openai_upstream::encode_request_body(r, o));
    set_bytes(state, body);
}

// A short answer as DeepSeek streams it (role chunk, three text chunks, finish_reason, usage
// chunk, [DONE]), decoded the way wire_upstream does: one reserved event vector, cleared after
// each chunk.
void BM_OpenAiStreamDecode(benchmark::State& state) {
    const std::string head =
        R"({"id":"chatcmpl-8f3e2a","object":"chat.completion.chunk","created":1732233600,)"
        R"("model":"deepseek-chat","system_fingerprint":"fp_fake","choices":[)";
    const std::vector<std::string> chunks = {
        head + R"({"index":0,"delta":{"role":"assistant","content":"","refusal":null},)"
               R"("logprobs":null,"finish_reason":null}],"usage":null})",
        head + R"({"index":0,"delta":{"content":"Hello! H"},"logprobs":null,)"
               R"("finish_reason":null}],"usage":null})",
        head + R"({"index":0,"delta":{"content":"ow can I"},"logprobs":null,)"
               R"("finish_reason":null}],"usage":null})",
        head + R"({"index":0,"delta":{"content":" help \"you\" today?\n"},"logprobs":null,)"
               R"("finish_reason":null}],"usage":null})",
        head + R"({"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null})",
        head + R"(],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21,)"
               R"("prompt_tokens_details":{"cached_tokens":0}}})",
        "[DONE]"};
    std::vector<core::StreamEvent> out;
    out.reserve(16);
    for (auto _ : state) {
        protocol::openai_upstream::StreamDecoder decoder("msg_req_0123456789", "deepseek-chat", 12);
        for (const auto& c : chunks) {
            if (!decoder.feed(c, out)) state.SkipWithError("chunk refused");
            out.clear();
        }
        benchmark::DoNotOptimize(decoder.done());
    }
}

void discard_line(std::string_view line) {
    benchmark::DoNotOptimize(line.data());
}

// The gateway's per-request log line (the fields of server/gateway.cpp), into a sink that
// drops it: building the fields and writing the JSON text, not the write(2).
void BM_RequestLogLine(benchmark::State& state) {
    core::set_log_sink(&discard_line);
    const std::string request_id = "req_0123456789abcdef", route = "/v1/messages", user = "alice",
                      key = "default", tier = "gold", chain = "chain-a",
                      requested = "claude-sonnet-4", upstream = "deepseek-chat",
                      channel = "deepseek", ip = "127.0.0.1";
    const int64_t cost = 1234, input_tokens = 12, output_tokens = 9;
    double latency = 1.25;
    for (auto _ : state) {
        latency += 0.001;
        core::LogFields fields{{"request_id", request_id},
                               {"route", route},
                               {"status", 200},
                               {"latency_ms", latency},
                               {"user", user},
                               {"key", key},
                               {"tier", tier},
                               {"chain", chain},
                               {"requested_model", requested},
                               {"upstream_model", upstream},
                               {"channel", channel},
                               {"stream", false},
                               {"cost", cost},
                               {"retries", 0},
                               {"input_tokens", input_tokens},
                               {"output_tokens", output_tokens},
                               {"client_ip", ip}};
        fields.emplace_back("ttft_ms", latency / 2);
        core::log(core::LogLevel::info, "request", fields);
    }
    core::set_log_sink(nullptr);
}

}  // namespace

BENCHMARK(BM_OpenAiStreamDecode)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RequestLogLine)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ParseOnly, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_Decode, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EstimateTokens, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeOpenAi, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeAnthropic, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_AnthropicToOpenAi, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_AnthropicToOpenAi, small, "small")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_EncodeOpenAiBody, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_AnthropicToOpenAiBody, large, "large")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_AnthropicToOpenAiBody, small, "small")->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
