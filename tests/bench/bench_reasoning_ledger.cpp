// reasoning_ledger's host-free library: what each stream event costs it in each state, and
// mending a 40-turn tool-loop history. Prints figures; asserts nothing.
//
//   build/tests/bench/bench_reasoning_ledger [--benchmark_repetitions=3]
//
// - passthrough: the answer does not start with a tag; after its first text delta the splitter
//   asks for nothing (the plugin then never fetches an event's JSON).
// - thinking_delta: inside a split <think>, each text delta is parsed and re-emitted as a
//   thinking delta.
// - shifted_delta: after the split, each later event is parsed and re-emitted one index up.
// - mend_40_turns: a history of 40 tool turns, every one restored from the ledger.
#include <benchmark/benchmark.h>

#include <map>
#include <string>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

#include "ledger.hpp"
#include "think_tags.hpp"

using namespace reasoning_ledger;

namespace {

std::string delta(int index, const std::string& text) {
    return nlohmann::ordered_json{{"type", "content_block_delta"},  // the host's key order
                                  {"index", index},
                                  {"delta", {{"type", "text_delta"}, {"text", text}}}}
        .dump();
}

const std::string kStart = R"({"type":"message_start","message":{"id":"m","content":[]}})";
const std::string kText =
    R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})";

//! A splitter fed up to the state under test.
ThinkTagSplitter prepared(const std::vector<std::string>& lead) {
    ThinkTagSplitter s;
    s.on_event(kStart);
    s.on_event(kText);
    for (const auto& e : lead) s.on_event(e);
    return s;
}

void passthrough(benchmark::State& state) {
    ThinkTagSplitter s = prepared({delta(0, "Plain answer, ")});
    const std::string e = delta(0, "a dozen tokens of text ");
    for (auto _ : state) {
        if (s.wants(TS_EVENT_CONTENT_BLOCK_DELTA)) benchmark::DoNotOptimize(s.on_event(e));
    }
}
BENCHMARK(passthrough);

void thinking_delta(benchmark::State& state) {
    ThinkTagSplitter s = prepared({delta(0, "<think>")});
    const std::string e = delta(0, "a dozen tokens of reasoning ");
    for (auto _ : state) benchmark::DoNotOptimize(s.on_event(e));
}
BENCHMARK(thinking_delta);

void shifted_delta(benchmark::State& state) {
    ThinkTagSplitter s = prepared({delta(0, "<think>x</think>Answer")});
    const std::string e = delta(0, "a dozen tokens of text ");
    for (auto _ : state) benchmark::DoNotOptimize(s.on_event(e));
}
BENCHMARK(shifted_delta);

void mend_40_turns(benchmark::State& state) {
    Json messages = Json::array({{{"role", "user"}, {"content", "go"}}});
    std::map<std::string, TurnRecord> store;
    for (int t = 0; t < 40; ++t) {
        const std::string id = "toolu_" + std::to_string(t);
        messages.push_back({{"role", "assistant"},
                            {"content",
                             {{{"type", "text"}, {"text", "Reading the next file."}},
                              {{"type", "tool_use"},
                               {"id", id},
                               {"name", "read_file"},
                               {"input", {{"path", id}}}}}}});
        messages.push_back({{"role", "user"},
                            {"content",
                             {{{"type", "tool_result"},
                               {"tool_use_id", id},
                               {"content", std::string(400, 'x')}}}}});
        store[turn_key(id)] = TurnRecord{"deepseek-reasoner", std::string(600, 'r')};
    }
    Lookup lookup = [&](const std::string& k) -> std::optional<TurnRecord> {
        auto it = store.find(k);
        return it == store.end() ? std::nullopt : std::optional<TurnRecord>(it->second);
    };
    for (auto _ : state)
        benchmark::DoNotOptimize(mend_history(messages, ThinkingProtocol::reasoning_content,
                                              "deepseek-reasoner", lookup, MendOptions{}));
}
BENCHMARK(mend_40_turns)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
