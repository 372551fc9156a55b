#include "agent_tag.hpp"

namespace tianshu::scenario_router {

namespace {
constexpr std::string_view kOpen = "<tianshu-model>";
constexpr std::string_view kClose = "</tianshu-model>";

std::string_view trim(std::string_view s) {
    size_t b = s.find_first_not_of(" \t\r\n");
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(" \t\r\n");
    return s.substr(b, e - b + 1);
}

//! Visits the string at `pointer` (value `v`): records an edit when it carries a tag.
void visit(const nlohmann::json& v, const std::string& pointer, bool in_system,
           std::optional<AgentTag>& found) {
    if (!v.is_string()) return;
    const auto& s = v.get_ref<const std::string&>();
    if (s.find(kOpen) == std::string::npos) return;
    auto name = find_tag(s);
    if (!name) return;
    if (!found) {
        found.emplace();
        found->model = *name;
        found->in_system = in_system;
    }
    found->edits.push_back({pointer, strip_tags(s)});
}

void visit_content(const nlohmann::json& content, const std::string& pointer, bool in_system,
                   std::optional<AgentTag>& found) {
    if (content.is_string()) return visit(content, pointer, in_system, found);
    if (!content.is_array()) return;
    for (size_t i = 0; i < content.size(); ++i) {
        const auto& block = content[i];
        if (!block.is_object()) continue;
        auto text = block.find("text");
        if (text != block.end())
            visit(*text, pointer + "/" + std::to_string(i) + "/text", in_system, found);
    }
}
}  // namespace

std::optional<std::string> find_tag(std::string_view text) {
    size_t open = text.find(kOpen);
    while (open != std::string_view::npos) {
        size_t start = open + kOpen.size();
        size_t close = text.find(kClose, start);
        if (close == std::string_view::npos) return std::nullopt;
        std::string_view name = trim(text.substr(start, close - start));
        if (!name.empty() && name.find_first_of("<>\n") == std::string_view::npos)
            return std::string(name);
        open = text.find(kOpen, close + kClose.size());
    }
    return std::nullopt;
}

std::string strip_tags(std::string_view text) {
    std::string out;
    size_t at = 0;
    for (;;) {
        size_t open = text.find(kOpen, at);
        if (open == std::string_view::npos) break;
        size_t close = text.find(kClose, open + kOpen.size());
        if (close == std::string_view::npos) break;
        std::string_view name = trim(text.substr(open + kOpen.size(), close - open - kOpen.size()));
        size_t end = close + kClose.size();
        if (name.empty() || name.find_first_of("<>\n") != std::string_view::npos) {
            out.append(text.substr(at, end - at));
            at = end;
            continue;
        }
        // Drop one space before the tag when it sat at the end of a line, and one line break
        // after it, so "Say hi <tag>" becomes "Say hi" and "<tag>\nYou review" "You review".
        out.append(text.substr(at, open - at));
        if (end < text.size() && text[end] == '\n') {
            ++end;
        } else if (end == text.size() || text[end] == '\n') {
            while (!out.empty() && out.back() == ' ') out.pop_back();
        }
        at = end;
    }
    out.append(text.substr(at));
    return out;
}

std::optional<AgentTag> find_agent_tag(const nlohmann::json& request) {
    std::optional<AgentTag> found;
    auto system = request.find("system");
    if (system != request.end()) visit_content(*system, "/system", true, found);
    auto messages = request.find("messages");
    if (messages != request.end() && messages->is_array() && !messages->empty()) {
        const auto& first = (*messages)[0];
        if (first.is_object() && first.value("role", "") == "user") {
            auto content = first.find("content");
            if (content != first.end())
                visit_content(*content, "/messages/0/content", false, found);
        }
        // Mid-conversation system messages (role "system" inside messages) are system blocks too.
        for (size_t i = 0; i < messages->size(); ++i) {
            const auto& m = (*messages)[i];
            if (!m.is_object() || m.value("role", "") != "system") continue;
            auto content = m.find("content");
            if (content != m.end())
                visit_content(*content, "/messages/" + std::to_string(i) + "/content", true, found);
        }
    }
    return found;
}

}  // namespace tianshu::scenario_router
