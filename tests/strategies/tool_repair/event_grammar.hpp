// A small checker of the Anthropic Messages stream grammar, for the tool_repair tests (the host
// has its own, on everything that leaves a chain).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::tool_repair::test {

//! The first violation in `events`, or nullopt. Beyond the grammar (message_start first; blocks
//! started, delta'd and stopped in increasing index order with deltas of their own kind; one
//! message_delta; message_stop last) it checks what strict providers need when the answer comes
//! back as history: no text block without visible text, and tool_use input that is one object.
inline std::optional<std::string> grammar_violation(const std::vector<nlohmann::json>& events) {
    using nlohmann::json;
    int next = 0, open = -1;
    std::string kind, text, partial;
    bool started = false, delta_seen = false, stopped = false;
    for (size_t i = 0; i < events.size(); ++i) {
        const json& e = events[i];
        std::string t = e.value("type", "");
        std::string at = "event " + std::to_string(i) + " (" + t + "): ";
        if (stopped) return at + "after message_stop";
        if (!started) {
            if (t != "message_start") return at + "the first event must be message_start";
            started = true;
            continue;
        }
        if (t == "ping" || t == "error") continue;
        if (t == "content_block_start") {
            if (open != -1) return at + "block " + std::to_string(open) + " is still open";
            if (delta_seen) return at + "a block after message_delta";
            if (e.value("index", -1) != next) return at + "index must be " + std::to_string(next);
            open = next++;
            kind = e["content_block"].value("type", "");
            text.clear();
            partial.clear();
            if (kind == "text" && !e["content_block"].value("text", "").empty())
                return at + "a text block starts empty";
        } else if (t == "content_block_delta") {
            if (open == -1 || e.value("index", -1) != open) return at + "delta outside its block";
            std::string dt = e["delta"].value("type", "");
            if (kind == "text" && dt == "text_delta")
                text += e["delta"].value("text", "");
            else if (kind == "tool_use" && dt == "input_json_delta")
                partial += e["delta"].value("partial_json", "");
            else if (kind == "thinking" && (dt == "thinking_delta" || dt == "signature_delta")) {
            } else
                return at + "a " + dt + " in a " + kind + " block";
        } else if (t == "content_block_stop") {
            if (open == -1 || e.value("index", -1) != open) return at + "stop of a block not open";
            if (kind == "text" && text.find_first_not_of(" \t\r\n") == std::string::npos)
                return at + "a text block without visible text";
            if (kind == "tool_use") {
                json input = json::parse(partial.empty() ? "{}" : partial, nullptr, false);
                if (!input.is_object()) return at + "tool_use input is not one JSON object";
            }
            open = -1;
        } else if (t == "message_delta") {
            if (open != -1) return at + "block " + std::to_string(open) + " is still open";
            if (delta_seen) return at + "a second message_delta";
            delta_seen = true;
        } else if (t == "message_stop") {
            if (!delta_seen) return at + "message_stop before message_delta";
            stopped = true;
        } else {
            return at + "unknown event type";
        }
    }
    if (!stopped) return std::string("the stream does not end with message_stop");
    return std::nullopt;
}

}  // namespace tianshu::tool_repair::test
