#pragma once
// Streaming follows Anthropic's event grammar because it is the strictest; every other
// protocol's stream maps onto it (protocol/ encodes these for each client).

#include <string>
#include <utility>

#include "core/error.hpp"
#include "core/request.hpp"

namespace tianshu::core {

struct StreamEvent {
    enum class Type {
        message_start,        //!< `message` carries id/model and input usage
        content_block_start,  //!< `index`, `block` (type, id, name for tool_use)
        content_block_delta,  //!< `index`, `delta_kind` and `text` (text, partial JSON, thinking,
                              //!< signature)
        content_block_stop,   //!< `index`
        message_delta,        //!< `stop_reason`, `usage` (output tokens so far)
        message_stop,
        ping,
        error,  //!< `error`: the stream ends here; never a silent truncation
    };
    enum class DeltaKind { text, input_json, thinking, signature };

    Type type = Type::ping;
    int index = 0;
    ContentBlock block;  //!< content_block_start
    DeltaKind delta_kind = DeltaKind::text;
    std::string text;  //!< content_block_delta payload
    Response message;  //!< message_start (id, model, usage.input_tokens)
    StopReason stop_reason = StopReason::none;
    std::string stop_sequence;
    Usage usage;  //!< message_delta
    Error error;  //!< error

    static StreamEvent text_delta(int index, std::string text);
};

//! The event's name in Anthropic's grammar ("message_start", "content_block_delta", ...).
std::string_view to_string(StreamEvent::Type type);

//! Folds a stream of events into a complete Response (for clients that did not ask to stream).
class ResponseAssembler {
  public:
    //! Returns an error when the stream carried an `error` event.
    Result<void> add(const StreamEvent& event);
    const Response& response() const { return response_; }
    //! The response, moved out: the assembler is spent afterwards.
    Response take() { return std::move(response_); }
    bool finished() const { return finished_; }

  private:
    Response response_;
    bool finished_ = false;
};

//! Turns a complete Response into the event sequence a streaming client expects.
std::vector<StreamEvent> events_for(const Response& response);

}  // namespace tianshu::core
