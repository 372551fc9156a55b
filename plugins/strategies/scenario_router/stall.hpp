// A stall: the agent keeps making the same tool call and it keeps failing. Found in the request's
// own history (assistant tool_use blocks and the user's tool_result blocks with is_error).
#pragma once

#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::scenario_router {

//! "The same tool call failing `failures` times in the last `window` calls."
struct StallRule {
    int window = 6;
    int failures = 3;
};

//! A stall found: the call and the ids of its failed attempts.
struct Stall {
    std::string tool;                     //!< the tool's name
    std::vector<std::string> failed_ids;  //!< tool_use ids of the failures that make it
};

//! The first stall in the last `rule.window` tool calls, not counting failures whose ids are in
//! `consumed` (a stall already escalated for does not escalate again).
std::optional<Stall> find_stall(const nlohmann::json& request, const StallRule& rule,
                                const std::set<std::string>& consumed);

}  // namespace tianshu::scenario_router
