// Classifies one Anthropic Messages request into a Scenario by its structure: headers, the
// shape of its messages, its tools and thinking settings. A pure function: no host, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "agent_tag.hpp"
#include "scenario.hpp"

namespace tianshu::scenario_router {

//! The classifier's knobs (from the chain's config).
struct ClassifierConfig {
    int64_t long_context_tokens = 60000;    //!< estimated input above this is long_context
    Effort think_min_effort = Effort::max;  //!< thinking at this effort or more is think
};

//! The client's request headers the classifier reads, names in lower case.
using Headers = std::map<std::string, std::string>;

//! The headers a caller should collect for classify().
inline constexpr const char* kClassifierHeaders[] = {
    "x-claude-code-agent-id", "x-claude-code-parent-agent-id", "x-claude-code-session-id", "x-app",
    "user-agent"};

//! What classify() found.
struct Classification {
    Scenario scenario = Scenario::main;
    std::string why;  //!< the structural signal that decided, e.g. "header x-claude-code-agent-id"
    Effort effort = Effort::none;   //!< the thinking effort asked for
    int64_t estimated_tokens = 0;   //!< input estimate: text bytes / 4, 1600 per image
    bool has_image = false;         //!< an image anywhere in the messages (needs vision)
    bool from_claude_code = false;  //!< Claude Code's headers or billing block were seen
    std::optional<AgentTag> agent_tag;
    int user_turn = 0;           //!< genuine user messages so far (the turn number)
    std::string newest_request;  //!< the newest genuine user text (for scenes)
};

Classification classify(const nlohmann::json& request, const Headers& headers,
                        const ClassifierConfig& config);

//! The input estimate alone: UTF-8 bytes of all text / 4, plus 1600 per image.
int64_t estimate_tokens(const nlohmann::json& request);

}  // namespace tianshu::scenario_router
