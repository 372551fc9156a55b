#include "message_text.hpp"

namespace tianshu::scenario_router {

namespace {
constexpr std::string_view kOpen = "<system-reminder>";
constexpr std::string_view kClose = "</system-reminder>";
}  // namespace

std::string without_reminders(std::string_view text) {
    std::string out;
    size_t at = 0;
    while (at < text.size()) {
        size_t open = text.find(kOpen, at);
        if (open == std::string_view::npos) {
            out.append(text.substr(at));
            break;
        }
        out.append(text.substr(at, open - at));
        size_t close = text.find(kClose, open + kOpen.size());
        if (close == std::string_view::npos) break;
        at = close + kClose.size();
    }
    return out;
}

bool is_genuine(std::string_view text) {
    if (text.find(kOpen) == std::string_view::npos)
        return text.find_first_not_of(" \t\r\n") != std::string_view::npos;
    std::string rest = without_reminders(text);
    return rest.find_first_not_of(" \t\r\n") != std::string::npos;
}

std::string genuine_text(const nlohmann::json& content) {
    if (content.is_string()) {
        const auto& s = content.get_ref<const std::string&>();
        return is_genuine(s) ? without_reminders(s) : std::string();
    }
    std::string out;
    if (!content.is_array()) return out;
    for (const auto& block : content) {
        if (!block.is_object()) continue;
        auto type = block.find("type");
        if (type == block.end() || *type != "text") continue;
        auto text = block.find("text");
        if (text == block.end() || !text->is_string()) continue;
        const auto& s = text->get_ref<const std::string&>();
        if (!is_genuine(s)) continue;
        if (!out.empty()) out += '\n';
        out += without_reminders(s);
    }
    return out;
}

bool is_genuine_user_message(const nlohmann::json& message) {
    if (!message.is_object() || message.value("role", "") != "user") return false;
    auto content = message.find("content");
    if (content == message.end()) return false;
    if (content->is_string()) return is_genuine(content->get_ref<const std::string&>());
    if (!content->is_array()) return false;
    for (const auto& block : *content) {
        if (!block.is_object() || block.value("type", "") != "text") continue;
        auto text = block.find("text");
        if (text != block.end() && text->is_string() &&
            is_genuine(text->get_ref<const std::string&>()))
            return true;
    }
    return false;
}

}  // namespace tianshu::scenario_router
