#include "classifier.hpp"

#include <array>
#include <string_view>

#include "message_text.hpp"

namespace tianshu::scenario_router {

namespace {

using Json = nlohmann::json;

constexpr int64_t kTokensPerImage = 1600;

// Claude Code's compaction prompt (2.x and 1.x word it the same way).
constexpr std::array<std::string_view, 2> kCompactMarkers = {
    "create a detailed summary of the conversation", "Your task is to create a detailed summary"};
// Older Claude Code versions (before the agent-id headers and the billing block) start a
// subagent's system prompt like this.
constexpr std::string_view kOldSubagentPrompt = "You are an agent for Claude Code";

bool is_type(const Json& block, std::string_view type) {
    if (!block.is_object()) return false;
    auto t = block.find("type");
    return t != block.end() && t->is_string() && t->get_ref<const std::string&>() == type;
}

const Json* member(const Json& obj, const char* name) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(name);
    return it == obj.end() ? nullptr : &*it;
}

bool header_set(const Headers& headers, const std::string& name) {
    auto it = headers.find(name);
    return it != headers.end() && !it->second.empty();
}

//! Sums the bytes of every string below `v`, skipping image data.
void count_text(const Json& v, int64_t& bytes, int64_t& images) {
    switch (v.type()) {
        case Json::value_t::string:
            bytes += static_cast<int64_t>(v.get_ref<const std::string&>().size());
            break;
        case Json::value_t::array:
            for (const auto& x : v) count_text(x, bytes, images);
            break;
        case Json::value_t::object:
            if (is_type(v, "image")) {
                ++images;
                break;
            }
            for (const auto& [k, x] : v.items()) {
                (void)k;
                count_text(x, bytes, images);
            }
            break;
        default:
            break;
    }
}

bool content_has_image(const Json& content) {
    if (!content.is_array()) return false;
    for (const auto& block : content) {
        if (is_type(block, "image")) return true;
        if (is_type(block, "tool_result")) {
            const Json* inner = member(block, "content");
            if (inner && content_has_image(*inner)) return true;
        }
    }
    return false;
}

//! The system prompt's text blocks (a string or a list), each visited.
template <class F>
void for_each_system_text(const Json& request, F&& f) {
    const Json* system = member(request, "system");
    if (!system) return;
    if (system->is_string()) return f(system->get_ref<const std::string&>());
    if (!system->is_array()) return;
    for (const auto& block : *system) {
        const Json* text = member(block, "text");
        if (text && text->is_string()) f(text->get_ref<const std::string&>());
    }
}

Effort effort_of(const Json& request) {
    const Json* thinking = member(request, "thinking");
    if (!thinking || !thinking->is_object()) return Effort::none;
    std::string type = thinking->value("type", "");
    if (type != "enabled" && type != "adaptive") return Effort::none;
    if (const Json* oc = member(request, "output_config")) {
        if (const Json* e = member(*oc, "effort"); e && e->is_string())
            if (auto effort = effort_from(e->get_ref<const std::string&>())) return *effort;
    }
    // A budget without a named effort (thinking.type "enabled"): the same ladder in tokens.
    int64_t budget = thinking->value("budget_tokens", int64_t{0});
    if (budget >= 32000) return Effort::max;
    if (budget >= 16000) return Effort::high;
    if (budget >= 4000) return Effort::medium;
    return type == "adaptive" ? Effort::high : Effort::low;
}

bool declares_web_search(const Json& request) {
    const Json* tools = member(request, "tools");
    if (!tools || !tools->is_array()) return false;
    for (const auto& tool : *tools) {
        const Json* type = member(tool, "type");
        if (type && type->is_string() &&
            type->get_ref<const std::string&>().rfind("web_search", 0) == 0)
            return true;
    }
    return false;
}

bool declares_tools(const Json& request) {
    const Json* tools = member(request, "tools");
    return tools && tools->is_array() && !tools->empty();
}

//! The last message when it is the user's, else null.
const Json* last_user_message(const Json& messages) {
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
        if (!it->is_object()) continue;
        std::string role = it->value("role", "");
        if (role == "system") continue;  // mid-conversation system messages sit between turns
        return role == "user" ? &*it : nullptr;
    }
    return nullptr;
}

bool only_tool_results(const Json& message) {
    const Json* content = member(message, "content");
    if (!content || !content->is_array()) return false;
    bool any_result = false;
    for (const auto& block : *content) {
        if (is_type(block, "tool_result")) {
            any_result = true;
        } else if (is_type(block, "text")) {
            const Json* text = member(block, "text");
            if (text && text->is_string() && is_genuine(text->get_ref<const std::string&>()))
                return false;
        } else {
            return false;
        }
    }
    return any_result;
}

}  // namespace

int64_t estimate_tokens(const Json& request) {
    int64_t bytes = 0;
    int64_t images = 0;
    for (const char* field : {"system", "messages", "tools"})
        if (const Json* v = member(request, field)) count_text(*v, bytes, images);
    return bytes / 4 + images * kTokensPerImage;
}

Classification classify(const Json& request, const Headers& headers,
                        const ClassifierConfig& config) {
    Classification c;
    static const Json kEmpty = Json::array();
    const Json* messages_p = member(request, "messages");
    const Json& messages = messages_p && messages_p->is_array() ? *messages_p : kEmpty;

    // Facts every scenario needs.
    c.estimated_tokens = estimate_tokens(request);
    c.effort = effort_of(request);
    c.agent_tag = find_agent_tag(request);
    bool billing_block = false;
    bool billing_subagent = false;
    bool old_subagent_prompt = false;
    for_each_system_text(request, [&](const std::string& text) {
        if (text.rfind("x-anthropic-billing-header:", 0) == 0) {
            billing_block = true;
            billing_subagent =
                billing_subagent || text.find("cc_is_subagent=true") != std::string::npos;
        }
        old_subagent_prompt = old_subagent_prompt || text.rfind(kOldSubagentPrompt, 0) == 0;
    });
    auto ua = headers.find("user-agent");
    c.from_claude_code = billing_block || header_set(headers, "x-claude-code-session-id") ||
                         (ua != headers.end() && ua->second.rfind("claude-cli/", 0) == 0);
    const Json* newest_genuine = nullptr;
    bool image_in_turn = false;
    for (const auto& m : messages) {
        if (!m.is_object()) continue;
        const Json* content = member(m, "content");
        if (content && content_has_image(*content)) c.has_image = true;
        if (is_genuine_user_message(m)) {
            ++c.user_turn;
            newest_genuine = &m;
        }
    }
    const Json* last_user = last_user_message(messages);
    if (last_user) {
        const Json* content = member(*last_user, "content");
        image_in_turn = content && content_has_image(*content);
    }
    if (newest_genuine) c.newest_request = genuine_text((*newest_genuine)["content"]);
    std::string last_text = last_user ? genuine_text((*last_user)["content"]) : std::string();

    auto decide = [&](Scenario s, std::string why) {
        c.scenario = s;
        c.why = std::move(why);
        return c;
    };

    // 1. subagent: the whole request belongs to an agent's sub-conversation.
    if (header_set(headers, "x-claude-code-agent-id"))
        return decide(Scenario::subagent, "header x-claude-code-agent-id");
    if (header_set(headers, "x-claude-code-parent-agent-id"))
        return decide(Scenario::subagent, "header x-claude-code-parent-agent-id");
    if (billing_subagent) return decide(Scenario::subagent, "billing block cc_is_subagent");
    if (old_subagent_prompt) return decide(Scenario::subagent, "agent system prompt");
    if (c.agent_tag && c.agent_tag->in_system)
        return decide(Scenario::subagent, "<tianshu-model> tag in the system prompt");
    // 2. compact: the summary request that replaces the conversation.
    for (std::string_view marker : kCompactMarkers)
        if (last_text.find(marker) != std::string::npos)
            return decide(Scenario::compact, "compaction prompt");
    // 3. background: Claude Code's side calls.
    if (last_user && messages.size() == 1 && last_text == "Warmup")
        return decide(Scenario::background, "Warmup");
    // 4. web_search: a server web search tool (Claude Code's WebSearch side call).
    if (declares_web_search(request)) return decide(Scenario::web_search, "web_search server tool");
    if (c.from_claude_code && !declares_tools(request))
        return decide(Scenario::background, "Claude Code call without tools");
    // 5. long_context: the window matters before anything else about the turn.
    if (c.estimated_tokens > config.long_context_tokens)
        return decide(Scenario::long_context, "about " + std::to_string(c.estimated_tokens) +
                                                  " input tokens > " +
                                                  std::to_string(config.long_context_tokens));
    // 6. image in the newest user turn.
    if (image_in_turn) return decide(Scenario::image, "image in the last user message");
    // 7. think: thinking at or above the configured effort.
    if (c.effort != Effort::none && c.effort >= config.think_min_effort)
        return decide(Scenario::think, "thinking effort " + std::string(to_string(c.effort)));
    // 8. tool_continuation: the model's tool calls come back with their results.
    if (last_user && only_tool_results(*last_user))
        return decide(Scenario::tool_continuation, "last user message carries only tool results");
    return decide(Scenario::main, last_user ? "user turn" : "no user message last");
}

}  // namespace tianshu::scenario_router
