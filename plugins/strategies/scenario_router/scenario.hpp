// The scenarios scenario_router tells apart, and the effort a request asks for.
#pragma once

#include <optional>
#include <string_view>

namespace tianshu::scenario_router {

//! What kind of call a request is, by its structure (never by model names).
enum class Scenario {
    main,               //!< a genuine turn of the user's main conversation
    subagent,           //!< an Agent/Task sub-conversation
    background,         //!< Claude Code's small side calls: titles, topic checks, Warmup
    compact,            //!< Claude Code's compaction (summary) request
    think,              //!< thinking enabled with at least the configured effort
    long_context,       //!< estimated input over the configured threshold
    image,              //!< an image in the newest user turn
    web_search,         //!< a server web search tool is declared
    tool_continuation,  //!< the last user message only carries tool results
};

inline constexpr Scenario kAllScenarios[] = {
    Scenario::main,    Scenario::subagent,   Scenario::background,
    Scenario::compact, Scenario::think,      Scenario::long_context,
    Scenario::image,   Scenario::web_search, Scenario::tool_continuation};

std::string_view to_string(Scenario s);
std::optional<Scenario> scenario_from(std::string_view name);

//! Scenarios that carry the session's conversation: they share the session's sticky model.
//! The others (subagent, background, compact, web_search) are routed per request.
bool is_conversation(Scenario s);

//! How hard the client asked the model to think; ordered.
enum class Effort { none = 0, low = 1, medium = 2, high = 3, max = 4 };

std::string_view to_string(Effort e);
std::optional<Effort> effort_from(std::string_view name);

}  // namespace tianshu::scenario_router
