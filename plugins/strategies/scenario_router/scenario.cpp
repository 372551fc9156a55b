#include "scenario.hpp"

namespace tianshu::scenario_router {

std::string_view to_string(Scenario s) {
    switch (s) {
        case Scenario::main:
            return "main";
        case Scenario::subagent:
            return "subagent";
        case Scenario::background:
            return "background";
        case Scenario::compact:
            return "compact";
        case Scenario::think:
            return "think";
        case Scenario::long_context:
            return "long_context";
        case Scenario::image:
            return "image";
        case Scenario::web_search:
            return "web_search";
        case Scenario::tool_continuation:
            return "tool_continuation";
    }
    return "main";
}

std::optional<Scenario> scenario_from(std::string_view name) {
    for (Scenario s : kAllScenarios)
        if (to_string(s) == name) return s;
    return std::nullopt;
}

bool is_conversation(Scenario s) {
    switch (s) {
        case Scenario::subagent:
        case Scenario::background:
        case Scenario::compact:
        case Scenario::web_search:
            return false;
        default:
            return true;
    }
}

std::string_view to_string(Effort e) {
    switch (e) {
        case Effort::none:
            return "none";
        case Effort::low:
            return "low";
        case Effort::medium:
            return "medium";
        case Effort::high:
            return "high";
        case Effort::max:
            return "max";
    }
    return "none";
}

std::optional<Effort> effort_from(std::string_view name) {
    for (Effort e : {Effort::none, Effort::low, Effort::medium, Effort::high, Effort::max})
        if (to_string(e) == name) return e;
    return std::nullopt;
}

}  // namespace tianshu::scenario_router
