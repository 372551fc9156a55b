#include "text_tools.hpp"

#include <unordered_map>

namespace tianshu::tool_repair {

using nlohmann::json;

namespace {

json call_object(const std::string& name, const json& input) {
    json call = json::object();
    call["name"] = name;
    call["arguments"] = input.is_object() ? input : json::object();
    return call;
}

std::string tool_call_text(const json& block) {
    return "<tool_call>\n" +
           call_object(block.value("name", ""), block.value("input", json::object())).dump() +
           "\n</tool_call>";
}

std::string result_text(const json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string text;
    if (!content.is_array()) return text;
    for (const auto& part : content) {
        if (!text.empty()) text += "\n";
        if (part.value("type", "") == "text")
            text += part.value("text", "");
        else
            text += "[" + part.value("type", "content") + " omitted]";
    }
    return text;
}

json text_block(std::string text) {
    return json{{"type", "text"}, {"text", std::move(text)}};
}

}  // namespace

std::string tools_prompt(const json& tools) {
    std::string prompt =
        "# Tools\n\nYou can call the tools below to help with the request. Each is described by "
        "its name, a description and a JSON Schema of its arguments:\n<tools>\n";
    if (tools.is_array()) {
        for (const auto& tool : tools) {
            if (!tool.is_object() || !tool.contains("name")) continue;
            json described = json::object();
            described["name"] = tool["name"];
            if (tool.contains("description")) described["description"] = tool["description"];
            described["parameters"] = tool.value("input_schema", json::object());
            prompt += described.dump() + "\n";
        }
    }
    prompt +=
        "</tools>\n\nTo call a tool, write a block like this on lines of its own, with the "
        "arguments as one JSON object that matches the tool's schema:\n<tool_call>\n"
        "{\"name\": \"TOOL_NAME\", \"arguments\": {\"ARGUMENT\": \"VALUE\"}}\n</tool_call>\n"
        "Write one block per call (several calls may follow each other), then stop: the results "
        "come back in the next user message, each in a <tool_response> block.";
    return prompt;
}

size_t history_as_text(json& messages) {
    if (!messages.is_array()) return 0;
    size_t rewritten = 0;
    std::unordered_map<std::string, std::string> names;  // tool_use id -> tool name
    for (auto& message : messages) {
        if (!message.is_object() || !message.contains("content") || !message["content"].is_array())
            continue;
        for (auto& block : message["content"]) {
            if (!block.is_object()) continue;
            const std::string type = block.value("type", "");
            if (type == "tool_use") {
                names[block.value("id", "")] = block.value("name", "");
                block = text_block(tool_call_text(block));
                ++rewritten;
            } else if (type == "tool_result") {
                const std::string id = block.value("tool_use_id", "");
                json head = json::object();
                head["name"] = names.count(id) ? names[id] : "";
                if (block.value("is_error", false)) head["is_error"] = true;
                block = text_block("<tool_response>\n" + head.dump() + "\n" +
                                   result_text(block.value("content", json(""))) +
                                   "\n</tool_response>");
                ++rewritten;
            }
        }
    }
    return rewritten;
}

}  // namespace tianshu::tool_repair
