#include "core/request.hpp"

namespace tianshu::core {

namespace {
std::string join_text(const std::vector<ContentBlock>& blocks) {
    std::string out;
    for (const auto& b : blocks) {
        if (b.type != ContentBlock::Type::text) continue;
        if (!out.empty()) out += '\n';
        out += b.text;
    }
    return out;
}
}  // namespace

std::string Request::system_text() const {
    return join_text(system);
}

void Request::mark_changed(std::string field) {
    for (const auto& f : changed_fields)
        if (f == field) return;
    changed_fields.push_back(std::move(field));
}

bool Request::changed(std::string_view field) const {
    for (const auto& f : changed_fields)
        if (f == field || f == "*") return true;
    return false;
}

void Request::set_system_text(std::string text) {
    mark_changed("system");
    system.clear();
    if (!text.empty()) system.push_back(ContentBlock::make_text(std::move(text)));
}

std::string Request::last_user_text() const {
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        if (it->role == Role::user) return join_text(it->content);
    }
    return {};
}

std::string Response::text() const {
    return join_text(content);
}

std::string_view to_string(StopReason r) {
    switch (r) {
        case StopReason::none:
            return "";
        case StopReason::end_turn:
            return "end_turn";
        case StopReason::max_tokens:
            return "max_tokens";
        case StopReason::stop_sequence:
            return "stop_sequence";
        case StopReason::tool_use:
            return "tool_use";
        case StopReason::pause_turn:
            return "pause_turn";
        case StopReason::refusal:
            return "refusal";
    }
    return "";
}

StopReason stop_reason_from_string(std::string_view s) {
    if (s == "end_turn") return StopReason::end_turn;
    if (s == "max_tokens") return StopReason::max_tokens;
    if (s == "stop_sequence") return StopReason::stop_sequence;
    if (s == "tool_use") return StopReason::tool_use;
    if (s == "pause_turn") return StopReason::pause_turn;
    if (s == "refusal") return StopReason::refusal;
    return StopReason::none;
}

}  // namespace tianshu::core
