#pragma once
// Checks that a sequence of canonical events follows Anthropic's stream grammar
// (core::EventGrammar, the host's own checker) and holds no error event: decoders return
// errors, never emit them. Returns "" when the sequence is valid, else what is wrong.

#include <string>
#include <vector>

#include "core/event_grammar.hpp"
#include "core/stream_event.hpp"

namespace tianshu::testing {

inline std::string stream_grammar_problem(const std::vector<core::StreamEvent>& events,
                                          bool complete) {
    if (events.empty()) return complete ? "no events" : "";
    core::EventGrammar grammar;
    for (size_t i = 0; i < events.size(); ++i) {
        const std::string at = "event " + std::to_string(i) + ": ";
        if (events[i].type == core::StreamEvent::Type::error)
            return at + "error event (decoders return errors, never emit them)";
        if (auto problem = grammar.accept(events[i]); !problem.empty()) return at + problem;
    }
    return complete ? grammar.finish() : "";
}

}  // namespace tianshu::testing
