// Golden cases for think-tag splitting (think_tag_cases.json: upstream text in, blocks out),
// each replayed at every chunking: whole, one code point at a time, every two-way split and
// random chunkings. Every output is checked against the event grammar, and what is held never
// exceeds the bound.
#include <catch2/catch.hpp>

#include <fstream>
#include <random>
#include <sstream>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

#include "event_grammar.hpp"
#include "think_tags.hpp"

using reasoning_ledger::event_type_of;
using reasoning_ledger::StreamStep;
using reasoning_ledger::ThinkTagSplitter;
using reasoning_ledger::testing::Block;
using reasoning_ledger::testing::blocks_of;
using reasoning_ledger::testing::grammar_violation;
using Json = nlohmann::json;

namespace {

Json load_cases() {
    std::ifstream in(std::string(TIANSHU_SOURCE_DIR) +
                     "/tests/unit/strategies/reasoning_ledger/think_tag_cases.json");
    REQUIRE(in);
    std::stringstream s;
    s << in.rdbuf();
    return Json::parse(s.str());
}

//! Splits UTF-8 text into code points (upstream decoders never split one).
std::vector<std::string> code_points(const std::string& text) {
    std::vector<std::string> out;
    for (size_t i = 0; i < text.size();) {
        size_t n = 1;
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0xF0)
            n = 4;
        else if (c >= 0xE0)
            n = 3;
        else if (c >= 0xC0)
            n = 2;
        out.push_back(text.substr(i, n));
        i += n;
    }
    return out;
}

//! Joins code points into chunks at the given cut positions (in code points).
std::vector<std::string> chunk(const std::vector<std::string>& cps, std::vector<size_t> cuts) {
    std::vector<std::string> out;
    std::string cur;
    size_t next_cut = 0;
    for (size_t i = 0; i < cps.size(); ++i) {
        if (next_cut < cuts.size() && cuts[next_cut] == i) {
            if (!cur.empty()) out.push_back(cur);
            cur.clear();
            ++next_cut;
        }
        cur += cps[i];
    }
    if (!cur.empty()) out.push_back(cur);
    return out;
}

//! Events are written the host's way, "type" first and "index" second (the splitter's fast
//! path); `sorted` re-writes them with keys in alphabetical order (its parsing path).
std::string ev(const nlohmann::ordered_json& j) {
    return j.dump();
}
std::vector<std::string> sorted(std::vector<std::string> events) {
    for (auto& e : events) e = Json::parse(e).dump();
    return events;
}

//! The upstream's events for one case, with the text block's deltas as `chunks`.
std::vector<std::string> upstream(const Json& c, const std::vector<std::string>& chunks) {
    std::vector<std::string> out;
    out.push_back(ev({{"type", "message_start"},
                      {"message",
                       {{"id", "msg_1"},
                        {"type", "message"},
                        {"role", "assistant"},
                        {"content", Json::array()},
                        {"model", "m"}}}}));
    int index = 0;
    if (c.contains("thinking_first")) {
        out.push_back(ev({{"type", "content_block_start"},
                          {"index", index},
                          {"content_block", {{"type", "thinking"}, {"thinking", ""}}}}));
        out.push_back(
            ev({{"type", "content_block_delta"},
                {"index", index},
                {"delta", {{"type", "thinking_delta"}, {"thinking", c["thinking_first"]}}}}));
        out.push_back(ev({{"type", "content_block_stop"}, {"index", index}}));
        ++index;
    }
    out.push_back(ev({{"type", "content_block_start"},
                      {"index", index},
                      {"content_block", {{"type", "text"}, {"text", ""}}}}));
    for (const auto& piece : chunks)
        out.push_back(ev({{"type", "content_block_delta"},
                          {"index", index},
                          {"delta", {{"type", "text_delta"}, {"text", piece}}}}));
    out.push_back(ev({{"type", "content_block_stop"}, {"index", index}}));
    ++index;
    if (c.value("tool", false)) {
        out.push_back(ev({{"type", "content_block_start"},
                          {"index", index},
                          {"content_block",
                           {{"type", "tool_use"},
                            {"id", "toolu_1"},
                            {"name", "read_file"},
                            {"input", Json::object()}}}}));
        for (const char* part : {R"({"path")", R"(:"a.txt"})"})
            out.push_back(ev({{"type", "content_block_delta"},
                              {"index", index},
                              {"delta", {{"type", "input_json_delta"}, {"partial_json", part}}}}));
        out.push_back(ev({{"type", "content_block_stop"}, {"index", index}}));
    }
    out.push_back(
        ev({{"type", "message_delta"},
            {"delta", {{"stop_reason", c.value("tool", false) ? "tool_use" : "end_turn"}}},
            {"usage", {{"output_tokens", 5}}}}));
    out.push_back(ev({{"type", "message_stop"}}));
    return out;
}

constexpr size_t kMaxHold = 64;

//! Plays the host: what leaves the stage for these upstream events.
std::vector<std::string> run(const std::vector<std::string>& in) {
    ThinkTagSplitter splitter(kMaxHold);
    std::vector<std::string> out, held;
    size_t held_text = 0;
    for (const auto& e : in) {
        if (!splitter.wants(event_type_of(e))) {
            out.push_back(e);
            continue;
        }
        StreamStep step = splitter.on_event(e);
        switch (step.kind) {
            case StreamStep::Kind::pass:
                out.push_back(e);
                break;
            case StreamStep::Kind::hold: {
                held.push_back(e);
                const Json j = Json::parse(e);
                if (j.contains("delta")) held_text += j["delta"].value("text", "").size();
                REQUIRE(held_text <= kMaxHold);
                REQUIRE(splitter.held() == held.size());
                break;
            }
            case StreamStep::Kind::release:
                out.insert(out.end(), held.begin(), held.end());
                held.clear();
                held_text = 0;
                out.push_back(e);
                break;
            case StreamStep::Kind::replace:
                held.clear();
                held_text = 0;
                out.insert(out.end(), step.emit.begin(), step.emit.end());
                break;
        }
    }
    out.insert(out.end(), held.begin(), held.end());  // the host releases what is still held
    return out;
}

std::vector<Block> expected_of(const Json& c) {
    std::vector<Block> out;
    for (const auto& b : c["expected"])
        out.push_back(Block{b[0].get<std::string>(), b[1].get<std::string>()});
    return out;
}

void check(const Json& c, const std::vector<std::string>& chunks, const std::string& how,
           bool sort_keys = false) {
    const std::vector<std::string> in = upstream(c, chunks);
    const std::vector<std::string> out = run(sort_keys ? sorted(in) : in);
    INFO(c["about"].get<std::string>()
         << " — chunked " << how << (sort_keys ? ", keys sorted" : ""));
    CHECK(grammar_violation(out).empty());
    INFO(grammar_violation(out));
    CHECK(blocks_of(out) == expected_of(c));
}

}  // namespace

TEST_CASE("think tags: every golden case gives the same blocks at every chunking") {
    const Json cases = load_cases();
    REQUIRE(cases.size() >= 20);
    std::mt19937 rng(14);
    for (const Json& c : cases) {
        const std::string text = c["text"].get<std::string>();
        const std::vector<std::string> cps = code_points(text);
        check(c, text.empty() ? std::vector<std::string>{} : std::vector<std::string>{text},
              "whole");
        check(c, cps, "one code point at a time");
        check(c, cps, "one code point at a time", true);
        for (size_t cut = 1; cut < cps.size(); ++cut)
            check(c, chunk(cps, {cut}), "in two at " + std::to_string(cut));
        for (int round = 0; round < 40; ++round) {
            std::vector<size_t> cuts;
            for (size_t i = 1; i < cps.size(); ++i)
                if (std::uniform_int_distribution<int>(0, 3)(rng) == 0) cuts.push_back(i);
            check(c, chunk(cps, cuts), "randomly (round " + std::to_string(round) + ")");
        }
    }
}

TEST_CASE("think tags: thinking streams live; only a possible closing tag waits") {
    const Json c = {{"text", ""}};
    std::vector<std::string> in =
        upstream(c, {"<think>", "step one, ", "step two </th", "ink>done"});
    ThinkTagSplitter splitter;
    std::vector<std::vector<std::string>> emitted;
    for (const auto& e : in)
        if (splitter.wants(event_type_of(e))) emitted.push_back(splitter.on_event(e).emit);
    // message_start, text start (held), "<think>" -> thinking start, then the live deltas
    REQUIRE(emitted.size() >= 5);
    CHECK(blocks_of({emitted[3].begin(), emitted[3].end()}).empty());  // a delta, no block start
    CHECK(Json::parse(emitted[3].at(0))["delta"]["thinking"] == "step one, ");
    CHECK(Json::parse(emitted[4].at(0))["delta"]["thinking"] == "step two ");
}

TEST_CASE("think tags: after the split a pass-through answer costs nothing more") {
    ThinkTagSplitter splitter;
    const Json c = {{"text", ""}};
    const auto in = upstream(c, {"plain answer"});
    for (const auto& e : in)
        if (splitter.wants(event_type_of(e))) splitter.on_event(e);
    // No tag at the start: the splitter is done and asks for nothing more.
    for (int t = TS_EVENT_MESSAGE_START; t <= TS_EVENT_ERROR; ++t) CHECK_FALSE(splitter.wants(t));
}

TEST_CASE("think tags: when the host refuses to hold, everything goes on as it came") {
    ThinkTagSplitter splitter;
    const Json c = {{"text", ""}};
    const auto in = upstream(c, {"<th", "ink>x</think>y"});
    REQUIRE(splitter.on_event(in[0]).kind == StreamStep::Kind::pass);
    REQUIRE(splitter.on_event(in[1]).kind == StreamStep::Kind::hold);
    splitter.abandon();
    for (int t = TS_EVENT_MESSAGE_START; t <= TS_EVENT_ERROR; ++t) CHECK_FALSE(splitter.wants(t));
}
