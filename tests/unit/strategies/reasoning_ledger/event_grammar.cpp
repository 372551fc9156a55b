#include "event_grammar.hpp"

#include <nlohmann/json.hpp>

namespace reasoning_ledger::testing {
namespace {
using Json = nlohmann::json;

//! The delta type a block of this type may carry.
bool delta_fits(const std::string& block, const std::string& delta) {
    if (block == "text") return delta == "text_delta";
    if (block == "thinking") return delta == "thinking_delta" || delta == "signature_delta";
    if (block == "tool_use") return delta == "input_json_delta";
    return false;
}
}  // namespace

std::string grammar_violation(const std::vector<std::string>& events) {
    int next_index = 0;
    int open = -1;
    std::string open_type;
    bool message_delta = false;
    for (size_t i = 0; i < events.size(); ++i) {
        const Json e = Json::parse(events[i], nullptr, false);
        const std::string at = "event " + std::to_string(i) + " (" + events[i] + "): ";
        if (!e.is_object()) return at + "not a JSON object";
        const std::string type = e.value("type", "");
        if (i == 0 && type != "message_start") return at + "message_start must come first";
        if (i > 0 && type == "message_start") return at + "a second message_start";
        if (type == "ping" || type == "message_start") continue;
        if (type == "content_block_start") {
            if (open >= 0)
                return at + "a block starts while block " + std::to_string(open) + " is open";
            if (message_delta) return at + "a block after message_delta";
            if (e.value("index", -1) != next_index)
                return at + "expected index " + std::to_string(next_index);
            open = next_index++;
            open_type = e["content_block"].value("type", "");
        } else if (type == "content_block_delta") {
            if (open < 0 || e.value("index", -1) != open)
                return at + "a delta outside its open block";
            if (!delta_fits(open_type, e["delta"].value("type", "")))
                return at + "a " + e["delta"].value("type", "") + " in a " + open_type + " block";
        } else if (type == "content_block_stop") {
            if (open < 0 || e.value("index", -1) != open)
                return at + "a stop of a block that is not open";
            open = -1;
        } else if (type == "message_delta") {
            if (open >= 0) return at + "message_delta while a block is open";
            if (message_delta) return at + "a second message_delta";
            message_delta = true;
        } else if (type == "message_stop") {
            if (i + 1 != events.size()) return at + "message_stop is not last";
            if (!message_delta) return at + "message_stop without message_delta";
        } else {
            return at + "unknown event type";
        }
    }
    if (events.empty() ||
        Json::parse(events.back(), nullptr, false).value("type", "") != "message_stop")
        return "the stream does not end with message_stop";
    return {};
}

std::vector<Block> blocks_of(const std::vector<std::string>& events) {
    std::vector<Block> out;
    for (const std::string& text : events) {
        const Json e = Json::parse(text);
        const std::string type = e.value("type", "");
        if (type == "content_block_start") {
            const Json& b = e["content_block"];
            Block block{b.value("type", ""), ""};
            if (block.type == "text") block.content = b.value("text", "");
            if (block.type == "tool_use")
                block.content = b.value("id", "") + " " + b.value("name", "") + " ";
            out.push_back(block);
        } else if (type == "content_block_delta" && !out.empty()) {
            const Json& d = e["delta"];
            for (const char* field : {"text", "thinking", "partial_json"})
                if (d.contains(field)) out.back().content += d[field].get<std::string>();
        }
    }
    return out;
}

}  // namespace reasoning_ledger::testing
