#pragma once
// Checks that a sequence of canonical events follows Anthropic's stream grammar: message_start
// first, blocks numbered 0.. in order, each started once, deltas only while open and of the
// block's kind, each stopped once, one message_delta after every block closed, message_stop
// last. Returns "" when the sequence is valid, else what is wrong (for INFO/CHECK).

#include <string>
#include <vector>

#include "core/stream_event.hpp"

namespace tianshu::testing {

inline std::string stream_grammar_problem(const std::vector<core::StreamEvent>& events,
                                          bool complete) {
    using T = core::StreamEvent::Type;
    using BT = core::ContentBlock::Type;
    using DK = core::StreamEvent::DeltaKind;
    if (events.empty()) return complete ? "no events" : "";
    if (events.front().type != T::message_start) return "the first event is not message_start";
    int next = 0;
    int open = -1;
    BT open_type = BT::text;
    bool delta_seen = false, stopped = false;
    for (size_t i = 1; i < events.size(); ++i) {
        const auto& e = events[i];
        const std::string at = "event " + std::to_string(i) + ": ";
        if (stopped) return at + "event after message_stop";
        switch (e.type) {
            case T::message_start:
                return at + "second message_start";
            case T::content_block_start:
                if (delta_seen) return at + "block after message_delta";
                if (open != -1)
                    return at + "block started while block " + std::to_string(open) + " is open";
                if (e.index != next)
                    return at + "block index " + std::to_string(e.index) + ", expected " +
                           std::to_string(next);
                open = next++;
                open_type = e.block.type;
                break;
            case T::content_block_delta: {
                if (open == -1 || e.index != open) return at + "delta for a block that is not open";
                const bool ok = (open_type == BT::text && e.delta_kind == DK::text) ||
                                (open_type == BT::thinking &&
                                 (e.delta_kind == DK::thinking || e.delta_kind == DK::signature)) ||
                                (open_type == BT::tool_use && e.delta_kind == DK::input_json);
                if (!ok) return at + "delta of the wrong kind for its block";
                break;
            }
            case T::content_block_stop:
                if (open == -1 || e.index != open) return at + "stop for a block that is not open";
                open = -1;
                break;
            case T::message_delta:
                if (open != -1) return at + "message_delta while a block is open";
                if (delta_seen) return at + "second message_delta";
                delta_seen = true;
                break;
            case T::message_stop:
                if (!delta_seen) return at + "message_stop without message_delta";
                stopped = true;
                break;
            case T::ping:
                break;
            case T::error:
                return at + "error event (decoders return errors, never emit them)";
        }
    }
    if (complete && !stopped) return "the stream does not end with message_stop";
    return "";
}

}  // namespace tianshu::testing
