#include <catch2/catch.hpp>

#include <string>

#include "golden_replay.hpp"
#include "text_call_recognizer.hpp"

using namespace tianshu::tool_repair;
using namespace tianshu::tool_repair::test;
using nlohmann::json;

namespace {

ToolCatalog tools() {
    ToolCatalog t;
    t.add("Read", json::parse(R"({"type":"object","properties":{"file_path":{"type":"string"}},
                                  "required":["file_path"]})"));
    t.add("Bash", json::parse(R"({"type":"object","properties":{"command":{"type":"string"}}})"));
    return t;
}

std::vector<Piece> recognise(const ToolCatalog& t, const RecognizerOptions& o,
                             const std::vector<std::string>& chunks, size_t* max_held = nullptr) {
    TextCallRecognizer r(t, o);
    std::vector<Piece> out;
    for (const auto& c : chunks) {
        r.feed(c, out);
        if (max_held) *max_held = std::max(*max_held, r.held_bytes());
    }
    r.finish(out);
    return out;
}

std::string text_of(const std::vector<Piece>& pieces) {
    std::string s;
    for (const auto& p : pieces)
        if (p.kind == Piece::Kind::text) s += p.text;
    return s;
}

size_t calls_in(const std::vector<Piece>& pieces) {
    size_t n = 0;
    for (const auto& p : pieces) n += p.kind == Piece::Kind::call;
    return n;
}

}  // namespace

TEST_CASE("without a marker, nothing is held beyond the longest marker prefix",
          "[tool_repair][recognizer]") {
    const ToolCatalog t = tools();
    const RecognizerOptions o;
    // Prose full of marker beginnings that never complete.
    std::string text;
    for (int i = 0; i < 50; ++i)
        text +=
            "a < b <｜tool▁ca\n<tool_ca\n<minimax:tool\n<|tool_calls_sec\n```json\n{\"name\": "
            "\"Rea\n```\n";
    TextCallRecognizer probe(t, o);
    for (auto chunks : {per_character(text), seeded_random(text, 7), marker_splitting(text)}) {
        size_t max_held = 0;
        auto pieces = recognise(t, o, chunks, &max_held);
        CHECK(max_held <= probe.longest_marker());
        if (chunks.size() == text.size()) CHECK(max_held >= 20);  // it held the fence prefix
        CHECK(text_of(pieces) == text);
        CHECK(calls_in(pieces) == 0);
    }
}

TEST_CASE("text before a marker is passed on before the marker completes",
          "[tool_repair][recognizer]") {
    const ToolCatalog t = tools();
    TextCallRecognizer r(t, RecognizerOptions{});
    std::vector<Piece> out;
    r.feed("Reading now.\n<tool_c", out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].text == "Reading now.\n");
    CHECK(r.held_bytes() == 7);
    out.clear();
    r.feed("all>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"/a\"}}", out);
    CHECK(out.empty());  // the body of a recognised call is held
    r.feed("\n</tool_call>", out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].kind == Piece::Kind::call);
    CHECK(out[0].name == "Read");
    CHECK(r.held_bytes() == 0);
}

TEST_CASE("a body longer than max_call_bytes is given up as text, at every chunking",
          "[tool_repair][recognizer]") {
    const ToolCatalog t = tools();
    RecognizerOptions o;
    o.max_call_bytes = 256;
    std::string text = "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {\"command\": \"" +
                       std::string(400, 'x') + "\"}}\n</tool_call>\nafter";
    for (auto chunks :
         {std::vector<std::string>{text}, per_character(text), seeded_random(text, 3)}) {
        size_t max_held = 0;
        auto pieces = recognise(t, o, chunks, &max_held);
        CHECK(calls_in(pieces) == 0);
        CHECK(text_of(pieces) == text);
        CHECK(max_held <=
              256 + std::string("</tool_call>").size() + std::string("<tool_call>").size());
    }
    o.max_call_bytes = 1024;
    CHECK(calls_in(recognise(t, o, {text})) == 1);
}

TEST_CASE("only configured envelopes are recognised", "[tool_repair][recognizer]") {
    const ToolCatalog t = tools();
    const std::string hermes = "<tool_call>\n{\"name\": \"Bash\", \"arguments\": {}}\n</tool_call>";
    const std::string glm =
        "<tool_call>Bash\n<arg_key>command</arg_key>\n<arg_value>ls</arg_value>\n</tool_call>";
    RecognizerOptions o;
    o.envelopes = {Envelope::glm};
    CHECK(calls_in(recognise(t, o, {hermes})) == 0);
    CHECK(text_of(recognise(t, o, {hermes})) == hermes);
    CHECK(calls_in(recognise(t, o, {glm})) == 1);
    o.envelopes = {Envelope::hermes};
    CHECK(calls_in(recognise(t, o, {hermes})) == 1);
    CHECK(calls_in(recognise(t, o, {glm})) == 0);
}

TEST_CASE("with no tools declared nothing is promoted", "[tool_repair][recognizer]") {
    const ToolCatalog none;
    const std::string text =
        "```json\n{\"name\": \"Read\", \"arguments\": {}}\n```\n<tool_call>\n{\"name\": \"Read\", "
        "\"arguments\": {}}\n</tool_call>";
    auto pieces = recognise(none, RecognizerOptions{}, per_character(text));
    CHECK(calls_in(pieces) == 0);
    CHECK(text_of(pieces) == text);
}

TEST_CASE("envelope names round-trip for the config", "[tool_repair][recognizer]") {
    for (Envelope e : RecognizerOptions{}.envelopes) {
        Envelope back;
        REQUIRE(envelope_from_name(envelope_name(e), back));
        CHECK(back == e);
    }
    Envelope unused;
    CHECK_FALSE(envelope_from_name("xml", unused));
}
