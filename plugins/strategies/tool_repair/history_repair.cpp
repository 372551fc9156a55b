#include "history_repair.hpp"

#include <set>
#include <vector>

namespace tianshu::tool_repair {

using nlohmann::json;

namespace {

std::vector<std::string> tool_use_ids(const json& message) {
    std::vector<std::string> ids;
    auto content = message.find("content");
    if (content == message.end() || !content->is_array()) return ids;
    for (const auto& block : *content)
        if (block.is_object() && block.value("type", "") == "tool_use" && block.contains("id") &&
            block["id"].is_string())
            ids.push_back(block["id"].get<std::string>());
    return ids;
}

json placeholder_result(const std::string& id, const std::string& text) {
    return json{
        {"type", "tool_result"}, {"tool_use_id", id}, {"is_error", true}, {"content", text}};
}

}  // namespace

size_t add_missing_tool_results(json& messages, const std::string& placeholder) {
    if (!messages.is_array()) return 0;
    size_t added = 0;
    for (size_t i = 0; i + 1 < messages.size(); ++i) {
        const json& message = messages[i];
        if (!message.is_object() || message.value("role", "") != "assistant") continue;
        std::vector<std::string> ids = tool_use_ids(message);
        if (ids.empty()) continue;
        json& next = messages[i + 1];
        if (!next.is_object() || next.value("role", "") != "user") {
            json results = json::array();
            for (const auto& id : ids) results.push_back(placeholder_result(id, placeholder));
            messages.insert(messages.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                            json{{"role", "user"}, {"content", std::move(results)}});
            added += ids.size();
            continue;
        }
        json& content = next["content"];
        std::set<std::string> answered;
        if (content.is_array()) {
            for (const auto& block : content)
                if (block.is_object() && block.value("type", "") == "tool_result" &&
                    block.contains("tool_use_id") && block["tool_use_id"].is_string())
                    answered.insert(block["tool_use_id"].get<std::string>());
        }
        std::vector<std::string> missing;
        for (const auto& id : ids)
            if (!answered.count(id)) missing.push_back(id);
        if (missing.empty()) continue;
        if (content.is_string()) {
            std::string text = content.get<std::string>();
            content = json::array();
            if (!text.empty()) content.push_back(json{{"type", "text"}, {"text", text}});
        } else if (!content.is_array()) {
            content = json::array();
        }
        // Results lead a user message: insert after the ones already there.
        size_t at = 0;
        while (at < content.size() && content[at].is_object() &&
               content[at].value("type", "") == "tool_result")
            ++at;
        for (const auto& id : missing) {
            content.insert(content.begin() + static_cast<std::ptrdiff_t>(at++),
                           placeholder_result(id, placeholder));
            ++added;
        }
    }
    return added;
}

}  // namespace tianshu::tool_repair
