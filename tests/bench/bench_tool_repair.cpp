// tool_repair per stream event with no marker in sight: one text delta through the
// StreamRewriter (TextCallRecognizer included), as on_stream_event runs it for every delta of
// an answer. ProseDelta: ordinary English prose; MarkdownDelta: markdown with inline code,
// comparisons and line starts, which exercise the marker checks without ever matching.
// One iteration = one event, so "Time" is ns per event. Prints figures; asserts nothing.
//
//   build/tests/bench/bench_tool_repair [--benchmark_repetitions=3]
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "stream_rewriter.hpp"

using namespace tianshu::tool_repair;

namespace {

ToolCatalog claude_code_like_tools() {
    ToolCatalog tools;
    for (const char* name :
         {"Task", "Bash", "Glob", "Grep", "LS", "ExitPlanMode", "Read", "Edit", "MultiEdit",
          "Write", "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "BashOutput", "KillBash"})
        tools.add(name, nlohmann::json::parse(R"({"type":"object","properties":{}})"));
    return tools;
}

//! Splits `text` into deltas of ~`size` bytes, as an upstream streams them.
std::vector<std::string> deltas(const std::string& text, size_t size) {
    std::vector<std::string> out;
    for (size_t i = 0; i < text.size(); i += size) out.push_back(text.substr(i, size));
    return out;
}

void run(benchmark::State& state, const std::string& text) {
    StreamRewriter rewriter(claude_code_like_tools(), RewriterOptions{});
    const std::string start =
        R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})";
    auto json_of = [&] { return start; };
    rewriter.on_event(1, "",
                      [] { return std::string(R"({"type":"message_start","message":{}})"); });
    rewriter.on_event(2, "", json_of);
    const std::vector<std::string> chunks = deltas(text, static_cast<size_t>(state.range(0)));
    rewriter.on_event(3, chunks[0], json_of);  // opens the text block
    size_t i = 0, bytes = 0, rewritten = 0;
    for (auto _ : state) {
        const std::string& c = chunks[i];
        Rewrite r = rewriter.on_event(3, c, json_of);
        rewritten += r.current != Rewrite::Current::pass || !r.before.empty();
        benchmark::DoNotOptimize(r);
        bytes += c.size();
        if (++i == chunks.size()) i = 0;
    }
    state.SetBytesProcessed(static_cast<int64_t>(bytes));
    state.counters["rewritten_events"] = static_cast<double>(rewritten);
}

std::string prose() {
    std::string s;
    for (int i = 0; i < 40; ++i)
        s += "The function reads the configuration once at start-up and keeps it in memory, so "
             "later requests do not touch the disk again. ";
    return s;
}

std::string markdown() {
    std::string s;
    for (int i = 0; i < 20; ++i)
        s += "## Step " + std::to_string(i) +
             "\n\nCall `load()` when a < b, then check `x->y` and <b>bold</b> text.\n- item one\n"
             "- item `two`\n\n";
    return s;
}

void ProseDelta(benchmark::State& state) {
    run(state, prose());
}
void MarkdownDelta(benchmark::State& state) {
    run(state, markdown());
}

}  // namespace

// Delta sizes: 8 bytes (a token or two) and 32 bytes.
BENCHMARK(ProseDelta)->Arg(8)->Arg(32);
BENCHMARK(MarkdownDelta)->Arg(8)->Arg(32);
BENCHMARK_MAIN();
