#include <catch2/catch.hpp>

#include "event_grammar.hpp"
#include "golden_replay.hpp"

using namespace tianshu::tool_repair;
using namespace tianshu::tool_repair::test;
using nlohmann::json;

namespace {

ToolCatalog tools() {
    ToolCatalog t;
    t.add("Read", json::parse(R"({"type":"object","properties":{"file_path":{"type":"string"},
          "limit":{"type":"integer"}},"required":["file_path"]})"));
    return t;
}

std::vector<json> tool_use_blocks(const std::vector<json>& events) {
    std::vector<json> out;
    for (size_t i = 0; i < events.size(); ++i)
        if (events[i].value("type", "") == "content_block_start" &&
            events[i]["content_block"].value("type", "") == "tool_use") {
            json block = events[i]["content_block"];
            block["input"] = json::parse(events[i + 1]["delta"]["partial_json"].get<std::string>());
            out.push_back(block);
        }
    return out;
}

std::string stop_reason(const std::vector<json>& events) {
    for (const auto& e : events)
        if (e.value("type", "") == "message_delta") return e["delta"].value("stop_reason", "");
    return "";
}

const std::string kMalformed =
    "<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"limit\": 3}}\n</tool_call>";

}  // namespace

TEST_CASE("plain text deltas pass untouched after the block's first", "[tool_repair][rewriter]") {
    StreamRewriter rewriter(tools(), RewriterOptions{});
    std::vector<std::string> chunks;
    for (int i = 0; i < 20; ++i) chunks.push_back("word " + std::to_string(i) + " and more. ");
    auto events = upstream_events(chunks);
    size_t passed = 0, deltas = 0;
    for (const auto& e : events) {
        json j = json::parse(e);
        bool delta = j["type"] == "content_block_delta";
        Rewrite r = rewriter.on_event(event_type_number(j["type"]),
                                      delta ? j["delta"]["text"].get<std::string>() : "",
                                      [&] { return e; });
        if (delta) {
            ++deltas;
            passed += r.current == Rewrite::Current::pass && r.before.empty();
        }
    }
    CHECK(deltas == 20);
    CHECK(passed == 19);  // the first one also opens the (lazily started) text block
}

TEST_CASE("a promoted call ends the turn with tool_use and a fresh id", "[tool_repair][rewriter]") {
    RewriterOptions options;
    options.id_prefix = "toolu_x_";
    StreamRewriter rewriter(tools(), options);
    auto out = replay(
        rewriter, upstream_events({"<tool_call>\n{\"name\": \"Read\", \"arguments\": "
                                   "{\"file_path\": \"/a\", \"limit\": \"5\"}}\n</tool_call>"}));
    CHECK_FALSE(grammar_violation(out.events));
    auto blocks = tool_use_blocks(out.events);
    REQUIRE(blocks.size() == 1);
    CHECK(blocks[0]["id"] == "toolu_x_1");
    CHECK(blocks[0]["input"] == json::parse(R"({"file_path":"/a","limit":5})"));
    CHECK(stop_reason(out.events) == "tool_use");
    CHECK(rewriter.promoted() == 1);
}

TEST_CASE("a malformed call ends the turn with a note naming it, never {}",
          "[tool_repair][rewriter]") {
    std::vector<std::pair<std::string, std::string>> notes;
    StreamRewriter rewriter(
        tools(), RewriterOptions{}, {},
        [&](std::string_view k, const std::string& r) { notes.emplace_back(k, r); });
    auto out = replay(rewriter, upstream_events({kMalformed}));
    CHECK_FALSE(grammar_violation(out.events));
    CHECK(tool_use_blocks(out.events).empty());
    CHECK(stop_reason(out.events) == "end_turn");
    std::string text = coalesced(out.events)[2]["delta"]["text"];
    CHECK(text.find("`Read`") != std::string::npos);
    CHECK(text.find("file_path") != std::string::npos);
    REQUIRE(notes.size() == 1);
    CHECK(notes[0].first == "tool_call_malformed");
    CHECK(notes[0].second.find("limit") == std::string::npos);  // no argument text in notes
}

TEST_CASE("re-ask: once, and the corrected call is promoted", "[tool_repair][rewriter]") {
    RewriterOptions options;
    options.reask = true;
    int asked = 0;
    std::string prompt;
    auto reask = [&](const MalformedCallInfo& call) -> std::optional<std::string> {
        ++asked;
        prompt = reask_prompt(call);
        return std::string("```json\n{\"file_path\": \"/fixed\", \"limit\": 3}\n```");
    };
    std::vector<std::string> kinds;
    StreamRewriter rewriter(tools(), options, reask,
                            [&](std::string_view k, const std::string&) { kinds.emplace_back(k); });
    // Two malformed calls: the first is re-asked and fixed, the second is not re-asked again.
    auto out = replay(rewriter, upstream_events({kMalformed + "\n" + kMalformed}));
    CHECK_FALSE(grammar_violation(out.events));
    CHECK(asked == 1);
    CHECK(prompt.find("file_path") != std::string::npos);  // the validation error
    CHECK(prompt.find("\"limit\"") != std::string::npos);  // the schema and the arguments
    auto blocks = tool_use_blocks(out.events);
    REQUIRE(blocks.size() == 1);
    CHECK(blocks[0]["input"]["file_path"] == "/fixed");
    CHECK(stop_reason(out.events) == "tool_use");
    CHECK(std::find(kinds.begin(), kinds.end(), "tool_call_reasked") != kinds.end());
    CHECK(std::find(kinds.begin(), kinds.end(), "tool_call_malformed") != kinds.end());
}

TEST_CASE("re-ask that fails or answers badly falls back to the note", "[tool_repair][rewriter]") {
    RewriterOptions options;
    options.reask = true;
    for (std::optional<std::string> answer :
         {std::optional<std::string>(), std::optional<std::string>("{\"limit\": 1}")}) {
        StreamRewriter rewriter(tools(), options, [&](const MalformedCallInfo&) { return answer; });
        auto out = replay(rewriter, upstream_events({kMalformed}));
        CHECK_FALSE(grammar_violation(out.events));
        CHECK(tool_use_blocks(out.events).empty());
        CHECK(rewriter.malformed() == 1);
    }
}

TEST_CASE("blocks the upstream sends natively are renumbered around promoted calls",
          "[tool_repair][rewriter]") {
    StreamRewriter rewriter(tools(), RewriterOptions{});
    auto events =
        upstream_events({"<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": "
                         "\"/a\"}}\n</tool_call>"});
    // A native tool_use block after the text block (upstream index 1).
    std::vector<std::string> native = {
        R"({"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_n","name":"Read","input":{}}})",
        R"({"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"file_path\":\"/b\"}"}})",
        R"({"type":"content_block_stop","index":1})"};
    events.insert(events.end() - 2, native.begin(), native.end());
    auto out = replay(rewriter, events);
    auto violation = grammar_violation(out.events);
    INFO(violation.value_or("ok"));
    CHECK_FALSE(violation);
    auto blocks = tool_use_blocks(out.events);
    REQUIRE(blocks.size() == 2);
    CHECK(blocks[1]["id"] == "toolu_n");
}
