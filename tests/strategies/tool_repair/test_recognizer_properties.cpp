// Properties of the recogniser on seeded random texts built from marker fragments, prose,
// backticks and newlines: the same pieces at every chunking, text that is not a call comes out
// byte for byte, and what is held stays bounded.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "golden_replay.hpp"
#include "text_call_recognizer.hpp"

using namespace tianshu::tool_repair;
using namespace tianshu::tool_repair::test;
using nlohmann::json;

namespace {

const std::vector<std::string> kFragments = {
    "<tool_call>",
    "</tool_call>",
    "\n",
    "\n\n",
    "`",
    "```",
    "```json\n",
    "{\"name\": \"Read\", ",
    "\"arguments\": {\"file_path\": \"/a\"}}",
    "{\"name\": \"nope\"}",
    "<",
    "<tool_ca",
    "plain words ",
    "<｜tool▁calls▁begin｜>",
    "<｜tool▁call▁begin｜>",
    "Read",
    "<｜tool▁sep｜>",
    "{}",
    "<｜tool▁call▁end｜>",
    "<｜tool▁calls▁end｜>",
    "<|tool_calls_section_begin|>",
    "<|tool_call_begin|>functions.Read:0",
    "<|tool_call_argument_begin|>",
    "<|tool_call_end|>",
    "<|tool_calls_section_end|>",
    "<minimax:tool_call>",
    "<invoke name=\"Read\">",
    "<parameter name=\"file_path\">/b</parameter>",
    "</invoke>",
    "</minimax:tool_call>",
    "<function=Read>",
    "<parameter=file_path>",
    "</parameter>",
    "</function>",
    "<arg_key>file_path</arg_key>",
    "<arg_value>/c</arg_value>",
    "\n<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"/h\",}}\n</tool_call>\n",
    "\n<tool_call>\n<function=Read>\n<parameter=file_path>\n/q\n</parameter>\n</function>\n</"
    "tool_call>",
    "\n<tool_call>Read\n<arg_key>file_path</arg_key>\n<arg_value>/g</arg_value>\n</tool_call>",
    "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>Read<｜tool▁sep｜>{\"file_path\": "
    "\"/d\"}<｜tool▁call▁end｜><｜tool▁calls▁end｜>",
    "<|tool_calls_section_begin|><|tool_call_begin|>functions.Read:0<|tool_call_argument_begin|>{"
    "\"file_path\": 1}<|tool_call_end|><|tool_calls_section_end|>",
    "\n<minimax:tool_call>\n<invoke name=\"Read\">\n<parameter "
    "name=\"file_path\">/m</parameter>\n</invoke>\n</minimax:tool_call>",
    "\n```json\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"/f\"}}\n```\n",
    "\n<tool_call>\n{\"name\": \"Read\", \"arguments\": [1, 2]}\n</tool_call>\n",
    "你好 ",
    "  "};

uint64_t next(uint64_t& x) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    return x >> 33;
}

std::string random_text(uint64_t seed) {
    uint64_t x = seed;
    std::string s;
    size_t n = 5 + next(x) % 40;
    for (size_t i = 0; i < n; ++i) s += kFragments[next(x) % kFragments.size()];
    return s;
}

std::string describe(const std::vector<Piece>& pieces) {
    std::string d;
    for (const auto& p : pieces) {
        if (p.kind == Piece::Kind::text)
            d += "T[" + p.text + "]";
        else if (p.kind == Piece::Kind::call)
            d += "C[" + p.name + " " + p.arguments.dump() + "]";
        else
            d += "M[" + p.name + " " + p.error + "]";
    }
    return d;
}

std::vector<Piece> recognise(const ToolCatalog& tools, const RecognizerOptions& options,
                             const std::vector<std::string>& chunks, size_t& max_held) {
    TextCallRecognizer r(tools, options);
    std::vector<Piece> out;
    for (const auto& c : chunks) {
        r.feed(c, out);
        max_held = std::max(max_held, r.held_bytes());
    }
    r.finish(out);
    // Adjacent text pieces from different feeds are one text.
    std::vector<Piece> merged;
    for (auto& p : out) {
        if (p.kind == Piece::Kind::text && !merged.empty() &&
            merged.back().kind == Piece::Kind::text)
            merged.back().text += p.text;
        else
            merged.push_back(std::move(p));
    }
    return merged;
}

}  // namespace

TEST_CASE("random texts: chunking never changes the pieces, and holding stays bounded",
          "[tool_repair][recognizer][properties]") {
    ToolCatalog tools;
    tools.add("Read",
              json::parse(R"({"type":"object","properties":{"file_path":{"type":"string"}}})"));
    RecognizerOptions options;
    options.max_call_bytes = 512;
    const size_t bound = TextCallRecognizer(tools, options).longest_marker() +
                         options.max_call_bytes + std::string("</minimax:tool_call>").size();
    size_t with_calls = 0;
    for (uint64_t seed = 1; seed <= 600; ++seed) {
        const std::string text = random_text(seed);
        INFO("seed " << seed << " text: " << text);
        size_t held = 0;
        const auto whole = recognise(tools, options, {text}, held);
        const std::string expected = describe(whole);
        bool has_call = false;
        std::string all_text;
        for (const auto& p : whole) {
            has_call = has_call || p.kind != Piece::Kind::text;
            if (p.kind == Piece::Kind::text) all_text += p.text;
        }
        if (!has_call) CHECK(all_text == text);
        with_calls += has_call;
        for (const auto& chunks :
             {per_character(text), seeded_random(text, seed, 7), marker_splitting(text)}) {
            size_t max_held = 0;
            CHECK(describe(recognise(tools, options, chunks, max_held)) == expected);
            CHECK(max_held <= bound);
        }
    }
    CHECK(with_calls > 50);  // the generator does produce calls, not only text
}
