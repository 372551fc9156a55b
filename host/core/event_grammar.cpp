#include "core/event_grammar.hpp"

namespace tianshu::core {

namespace {
using T = StreamEvent::Type;
using BT = ContentBlock::Type;
using DK = StreamEvent::DeltaKind;

bool delta_fits(BT block, DK delta) {
    switch (block) {
        case BT::text:
            return delta == DK::text;
        case BT::thinking:
            return delta == DK::thinking || delta == DK::signature;
        case BT::tool_use:
            return delta == DK::input_json;
        default:
            return false;  // image, tool_result, redacted_thinking: no deltas
    }
}

std::string named(const StreamEvent& e) {
    std::string s(to_string(e.type));
    if (e.type == T::content_block_start || e.type == T::content_block_delta ||
        e.type == T::content_block_stop)
        s += " (index " + std::to_string(e.index) + ")";
    return s;
}
}  // namespace

std::string EventGrammar::accept(const StreamEvent& e) {
    if (state_ == State::ended) return named(e) + " after the end of the message";
    if (e.type == T::error) {
        state_ = State::ended;
        return {};
    }
    if (state_ == State::before_start) {
        if (e.type != T::message_start) return named(e) + " before message_start";
        state_ = State::in_message;
        return {};
    }
    switch (e.type) {
        case T::message_start:
            return "a second message_start";
        case T::ping:
            return {};
        case T::content_block_start:
            if (state_ == State::after_delta) return named(e) + " after message_delta";
            if (open_ >= 0)
                return named(e) + " while block " + std::to_string(open_) + " is still open";
            if (e.index != next_index_)
                return named(e) + ": the next block's index is " + std::to_string(next_index_);
            open_ = next_index_++;
            open_type_ = e.block.type;
            return {};
        case T::content_block_delta:
            if (open_ < 0 || e.index != open_)
                return named(e) + " for a block that is not open" +
                       (open_ >= 0 ? " (block " + std::to_string(open_) + " is)" : "");
            if (!delta_fits(open_type_, e.delta_kind))
                return named(e) + ": a delta of the wrong kind for its block";
            return {};
        case T::content_block_stop:
            if (open_ < 0 || e.index != open_) return named(e) + " for a block that is not open";
            open_ = -1;
            return {};
        case T::message_delta:
            if (state_ == State::after_delta) return "a second message_delta";
            if (open_ >= 0)
                return "message_delta while block " + std::to_string(open_) + " is still open";
            state_ = State::after_delta;
            return {};
        case T::message_stop:
            if (state_ != State::after_delta) return "message_stop without a message_delta";
            state_ = State::ended;
            return {};
        case T::error:
            break;  // handled above
    }
    return {};
}

std::string EventGrammar::finish() const {
    switch (state_) {
        case State::ended:
            return {};
        case State::before_start:
            return "the stream ended before message_start";
        case State::in_message:
        case State::after_delta:
            break;
    }
    return "the stream ended without message_stop";
}

}  // namespace tianshu::core
