// Replays an answer's text through the StreamRewriter as an upstream would stream it, at any
// chunking, and gives back the events the client would see.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "stream_rewriter.hpp"

namespace tianshu::tool_repair::test {

using nlohmann::json;

inline int event_type_number(const std::string& type) {
    static const std::map<std::string, int> numbers = {{"message_start", 1},
                                                       {"content_block_start", 2},
                                                       {"content_block_delta", 3},
                                                       {"content_block_stop", 4},
                                                       {"message_delta", 5},
                                                       {"message_stop", 6},
                                                       {"ping", 7},
                                                       {"error", 8}};
    auto it = numbers.find(type);
    return it == numbers.end() ? 0 : it->second;
}

//! The upstream's events for an answer: an optional thinking block, then one text block whose
//! deltas are `chunks`, then end_turn.
inline std::vector<std::string> upstream_events(const std::vector<std::string>& chunks,
                                                const std::string& thinking = "") {
    std::vector<std::string> events;
    events.push_back(json{{"type", "message_start"},
                          {"message",
                           {{"id", "msg_test"},
                            {"type", "message"},
                            {"role", "assistant"},
                            {"model", "test-model"},
                            {"content", json::array()},
                            {"stop_reason", nullptr},
                            {"stop_sequence", nullptr},
                            {"usage", {{"input_tokens", 10}, {"output_tokens", 0}}}}}}
                         .dump());
    int index = 0;
    if (!thinking.empty()) {
        events.push_back(json{{"type", "content_block_start"},
                              {"index", 0},
                              {"content_block", {{"type", "thinking"}, {"thinking", ""}}}}
                             .dump());
        events.push_back(json{{"type", "content_block_delta"},
                              {"index", 0},
                              {"delta", {{"type", "thinking_delta"}, {"thinking", thinking}}}}
                             .dump());
        events.push_back(json{{"type", "content_block_stop"}, {"index", 0}}.dump());
        index = 1;
    }
    events.push_back(json{{"type", "content_block_start"},
                          {"index", index},
                          {"content_block", {{"type", "text"}, {"text", ""}}}}
                         .dump());
    for (const auto& c : chunks)
        events.push_back(json{{"type", "content_block_delta"},
                              {"index", index},
                              {"delta", {{"type", "text_delta"}, {"text", c}}}}
                             .dump());
    events.push_back(json{{"type", "content_block_stop"}, {"index", index}}.dump());
    events.push_back(json{{"type", "message_delta"},
                          {"delta", {{"stop_reason", "end_turn"}, {"stop_sequence", nullptr}}},
                          {"usage", {{"output_tokens", 42}}}}
                         .dump());
    events.push_back(json{{"type", "message_stop"}}.dump());
    return events;
}

struct Replay {
    std::vector<json> events;  //!< what the client sees, as emitted
    size_t max_held = 0;       //!< the most the recogniser held at any point
};

inline Replay replay(StreamRewriter& rewriter, const std::vector<std::string>& upstream) {
    Replay out;
    for (const std::string& e : upstream) {
        json j = json::parse(e);
        std::string text;
        if (j.value("type", "") == "content_block_delta" &&
            j["delta"].value("type", "") == "text_delta")
            text = j["delta"].value("text", "");
        Rewrite r =
            rewriter.on_event(event_type_number(j.value("type", "")), text, [&] { return e; });
        for (const std::string& s : StreamRewriter::apply(r, e))
            out.events.push_back(json::parse(s));
        out.max_held = std::max(out.max_held, rewriter.held_bytes());
    }
    return out;
}

//! Adjacent text deltas of one block merged: the form in which chunkings must agree.
inline std::vector<json> coalesced(const std::vector<json>& events) {
    std::vector<json> out;
    for (const json& e : events) {
        bool text_delta = e.value("type", "") == "content_block_delta" &&
                          e["delta"].value("type", "") == "text_delta";
        if (text_delta && !out.empty() && out.back().value("type", "") == "content_block_delta" &&
            out.back()["delta"].value("type", "") == "text_delta" &&
            out.back()["index"] == e["index"]) {
            out.back()["delta"]["text"] = out.back()["delta"]["text"].get<std::string>() +
                                          e["delta"]["text"].get<std::string>();
            continue;
        }
        out.push_back(e);
    }
    return out;
}

// -- chunkings (always on UTF-8 character boundaries, as decoded upstream text is) --

inline bool boundary(const std::string& s, size_t i) {
    return i == 0 || i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xC0) != 0x80;
}

inline std::vector<std::string> cut_at(const std::string& s, std::vector<size_t> cuts) {
    std::sort(cuts.begin(), cuts.end());
    std::vector<std::string> chunks;
    size_t from = 0;
    for (size_t c : cuts) {
        while (c < s.size() && !boundary(s, c)) ++c;
        if (c <= from || c >= s.size()) continue;
        chunks.push_back(s.substr(from, c - from));
        from = c;
    }
    chunks.push_back(s.substr(from));
    return chunks;
}

//! One character per chunk (one byte for ASCII).
inline std::vector<std::string> per_character(const std::string& s) {
    std::vector<size_t> cuts;
    for (size_t i = 1; i < s.size(); ++i) cuts.push_back(i);
    return cut_at(s, cuts);
}

//! Random chunk sizes 1..max from a fixed seed (a portable LCG: the same on every platform).
inline std::vector<std::string> seeded_random(const std::string& s, uint64_t seed,
                                              size_t max = 12) {
    std::vector<size_t> cuts;
    uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (size_t i = 0; i < s.size();) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        i += 1 + (x >> 33) % max;
        cuts.push_back(i);
    }
    return cut_at(s, cuts);
}

//! Cuts at the start, second byte, middle, last byte and end of every marker occurrence.
inline std::vector<std::string> marker_splitting(const std::string& s) {
    static const std::vector<std::string> markers = {"<tool_call>",
                                                     "</tool_call>",
                                                     "<function=",
                                                     "</function>",
                                                     "<parameter=",
                                                     "</parameter>",
                                                     "<arg_key>",
                                                     "<arg_value>",
                                                     "<minimax:tool_call>",
                                                     "</minimax:tool_call>",
                                                     "<invoke name=",
                                                     "<｜tool▁calls▁begin｜>",
                                                     "<｜tool▁call▁begin｜>",
                                                     "<｜tool▁sep｜>",
                                                     "<｜tool▁call▁end｜>",
                                                     "<｜tool▁calls▁end｜>",
                                                     "<|tool_calls_section_begin|>",
                                                     "<|tool_call_begin|>",
                                                     "<|tool_call_argument_begin|>",
                                                     "<|tool_call_end|>",
                                                     "<|tool_calls_section_end|>",
                                                     "```",
                                                     "\"name\""};
    std::vector<size_t> cuts;
    for (const auto& m : markers) {
        for (size_t p = s.find(m); p != std::string::npos; p = s.find(m, p + 1)) {
            for (size_t c : {p, p + 1, p + m.size() / 2, p + m.size() - 1, p + m.size()})
                cuts.push_back(c);
        }
    }
    return cut_at(s, cuts);
}

}  // namespace tianshu::tool_repair::test
