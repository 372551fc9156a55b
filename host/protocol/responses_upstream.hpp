#pragma once
// The upstream direction for OpenAI Responses providers (POST {base}/responses): the canonical
// request becomes a Responses body, the typed `response.*` event stream (or a whole `response`
// object) becomes canonical events in Anthropic's grammar.
//
// Conventions:
// - The system prompt goes as `instructions`; mid-conversation system messages as developer
//   messages. User text and images are one `message` item per run; each tool_result is a
//   `function_call_output` (its text joined, "Error: " first when is_error; with images, an
//   array of input_text / input_image parts).
// - Assistant turns become items in block order: text -> message (output_text), tool_use ->
//   function_call (arguments as JSON text), thinking -> reasoning, only when it carries a
//   signature (the provider's encrypted_content): reasoning from another provider cannot be
//   sent back. Every request says store: false (nothing is kept upstream).
// - Tools go with strict: false (canonical schemas are not written for strict mode).
//   tool_choice any -> "required", tool -> {"type":"function","name"}; disable_parallel_tool_use
//   -> parallel_tool_calls: false. stop_sequences and top_k have no Responses field: dropped.
// - Effort: output_config.effort / reasoning_effort in `extra`, else thinking.budget_tokens as
//   for Chat upstreams (< 8000 low, < 24000 medium, else high) -> reasoning {effort, summary:
//   "auto"} with include ["reasoning.encrypted_content"] (store is false, so the provider's
//   reasoning can only come back encrypted, as the thinking block's signature).
// - Stream: items are sequential. A message's output_text deltas are one text block, a
//   reasoning item's summary (or reasoning_text) deltas one thinking block with its
//   encrypted_content as the signature, a function_call one tool_use block.
//   response.completed ends the message (tool_use when a function_call came),
//   response.incomplete with max_output_tokens -> max_tokens, content_filter -> refusal;
//   response.failed and `error` events are Errors. Usage: input_tokens - cached_tokens ->
//   input, cached_tokens -> cache_read, output_tokens, reasoning_tokens.

#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/sse.hpp"

namespace tianshu::protocol::responses_upstream {

//! The same quirk settings as Chat upstreams (openai_upstream::options_from_json).
using UpstreamOptions = openai_upstream::UpstreamOptions;

//! The Responses body for `r`. Errors (invalid_request) name the block that cannot be
//! expressed (e.g. a `file` image source).
core::Result<core::Json> encode_request(const core::Request& r, const UpstreamOptions& o);
core::Result<std::string> encode_request_body(const core::Request& r, const UpstreamOptions& o);

//! Responses SSE events -> canonical events. One decoder per response; not thread-safe.
//! Same guarantees as openai_upstream::StreamDecoder: message_start first, blocks numbered from
//! 0 and sequential, one message_delta, message_stop last; after an Error the stream must end.
class StreamDecoder {
  public:
    StreamDecoder(std::string message_id, std::string model, int64_t estimated_input_tokens);

    //! One SSE event (its data is a JSON object with a "type").
    core::Result<void> feed(const SseEvent& event, std::vector<core::StreamEvent>& out);
    //! At the end of the body: an `upstream` Error unless response.completed (or .incomplete)
    //! came.
    core::Result<void> finish(std::vector<core::StreamEvent>& out);
    //! A whole `response` object, read as the events of the same answer.
    core::Result<void> feed_response(std::string_view body, std::vector<core::StreamEvent>& out);
    bool done() const { return done_; }

  private:
    enum class Open { none, text, thinking, tool };
    core::Result<void> on_event(const core::Json& data, std::vector<core::StreamEvent>& out);
    void start(std::vector<core::StreamEvent>& out);
    void open(Open kind, const core::Json& item, std::vector<core::StreamEvent>& out);
    void close(std::vector<core::StreamEvent>& out);
    void delta(Open kind, core::StreamEvent::DeltaKind dk, const std::string& text,
               std::vector<core::StreamEvent>& out);
    core::Result<void> item_done(const core::Json& item, std::vector<core::StreamEvent>& out);
    core::Result<void> end(const core::Json& response, std::vector<core::StreamEvent>& out);
    core::Result<void> fail(core::Error e);

    std::string message_id_, model_;
    int64_t estimated_input_tokens_;
    bool started_ = false, done_ = false, saw_call_ = false;
    std::optional<core::Error> failed_;
    Open open_ = Open::none;
    int open_index_ = -1, next_block_ = 0;
    std::string open_item_;  //!< the open block's item id (or output index)
    std::string arguments_;  //!< the open function_call's arguments so far
    bool open_streamed_ = false;
    int64_t summary_index_ = 0;  //!< the open reasoning item's summary part
    int64_t output_chars_ = 0;
};

}  // namespace tianshu::protocol::responses_upstream
