// Golden transcripts of tool_repair: each golden/<case>.json holds an answer's text (and an
// optional thinking block); golden/<case>.expected.jsonl the events the client must see, with
// adjacent text deltas merged. Every case is replayed whole, one character at a time, at seeded
// random chunkings and at chunkings that split every marker; each output must pass the event
// grammar and equal the expected file. Regenerate on purpose with TIANSHU_UPDATE_GOLDEN=1 and
// review the diff.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "event_grammar.hpp"
#include "golden_replay.hpp"

namespace fs = std::filesystem;
using namespace tianshu::tool_repair;
using namespace tianshu::tool_repair::test;

namespace {

const fs::path kGolden = fs::path(TIANSHU_SOURCE_DIR) / "tests/strategies/tool_repair/golden";

std::string read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

ToolCatalog golden_tools() {
    return ToolCatalog::from_request_tools(json::parse(read_file(kGolden / "tools.json")));
}

std::string as_lines(const std::vector<json>& events) {
    std::string s;
    for (const auto& e : events) s += e.dump() + "\n";
    return s;
}

Replay run(const json& spec, const std::vector<std::string>& chunks) {
    StreamRewriter rewriter(golden_tools(), RewriterOptions{});
    return replay(rewriter, upstream_events(chunks, spec.value("thinking", "")));
}

size_t tool_uses(const std::vector<json>& events) {
    size_t n = 0;
    for (const auto& e : events)
        if (e.value("type", "") == "content_block_start" &&
            e["content_block"].value("type", "") == "tool_use")
            ++n;
    return n;
}

std::string all_text(const std::vector<json>& events) {
    std::string s;
    for (const auto& e : events)
        if (e.value("type", "") == "content_block_delta" &&
            e["delta"].value("type", "") == "text_delta")
            s += e["delta"].value("text", "");
    return s;
}

}  // namespace

TEST_CASE("golden transcripts: every chunking gives the expected events", "[tool_repair][golden]") {
    const bool update = std::getenv("TIANSHU_UPDATE_GOLDEN") != nullptr;
    size_t cases = 0, negatives = 0;
    for (const auto& entry : fs::directory_iterator(kGolden)) {
        const fs::path path = entry.path();
        if (path.extension() != ".json" || path.filename() == "tools.json") continue;
        const std::string name = path.stem().string();
        const json spec = json::parse(read_file(path));
        const std::string text = spec.at("text").get<std::string>();
        const fs::path expected_path = kGolden / (name + ".expected.jsonl");
        ++cases;
        INFO("case " << name << ": " << spec.value("about", ""));

        std::vector<std::pair<std::string, std::vector<std::string>>> chunkings = {
            {"whole", {text}},
            {"per character", per_character(text)},
            {"marker-splitting", marker_splitting(text)},
        };
        for (uint64_t seed = 1; seed <= 8; ++seed)
            chunkings.push_back({"random seed " + std::to_string(seed), seeded_random(text, seed)});

        if (update) {
            std::ofstream(expected_path, std::ios::binary)
                << as_lines(coalesced(run(spec, {text}).events));
        }
        REQUIRE(fs::exists(expected_path));
        const std::string expected = read_file(expected_path);

        for (const auto& [label, chunks] : chunkings) {
            INFO("chunking " << label << " (" << chunks.size() << " chunks)");
            Replay out = run(spec, chunks);
            auto violation = grammar_violation(out.events);
            INFO("grammar: " << violation.value_or("ok"));
            CHECK(!violation);
            CHECK(as_lines(coalesced(out.events)) == expected);
            if (spec.value("negative", false)) {
                CHECK(tool_uses(out.events) == 0);
                CHECK(all_text(out.events) == text);  // byte-identical passthrough
            } else {
                CHECK(tool_uses(out.events) == spec.at("calls").get<size_t>());
            }
        }
        if (spec.value("negative", false)) ++negatives;
    }
    CHECK(cases >= 40);
    CHECK(negatives >= 20);
}
