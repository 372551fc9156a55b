#pragma once
// Anthropic's Messages stream grammar, checked one event at a time: what leaves a chain of
// stream-rewriting strategies must be a stream a client can read.

#include <string>

#include "core/stream_event.hpp"

namespace tianshu::core {

//! Checks a stream event by event: message_start first; content blocks started with indices
//! 0, 1, 2… one at a time, deltas only into the open block and of its kind, each block stopped
//! once; exactly one message_delta after the last block closed; message_stop last; nothing
//! after message_stop or an `error` event (which may end the stream at any point). Pings may
//! come anywhere after message_start. Cheap: a few integer compares per event.
class EventGrammar {
  public:
    //! Empty when `e` may come next (and the state advances); else what is wrong, naming the
    //! event and what was expected (the state is then unchanged).
    std::string accept(const StreamEvent& e);
    //! Empty when the stream may end here (after message_stop or an error event).
    std::string finish() const;
    //! True once message_stop or an error event was accepted.
    bool ended() const { return state_ == State::ended; }
    //! True once message_start was accepted.
    bool started() const { return state_ != State::before_start; }

  private:
    enum class State { before_start, in_message, after_delta, ended };
    State state_ = State::before_start;
    int next_index_ = 0;
    int open_ = -1;
    ContentBlock::Type open_type_ = ContentBlock::Type::text;
};

}  // namespace tianshu::core
