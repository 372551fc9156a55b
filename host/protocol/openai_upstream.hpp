#pragma once
// The UPSTREAM direction of OpenAI Chat Completions, for OpenAI-compatible providers (DeepSeek,
// Qwen, GLM, Kimi, Doubao…): a canonical request becomes the body such a provider accepts, and
// its answer — streamed chunks or one chat.completion object — becomes canonical events in
// Anthropic's grammar, through ONE state machine (StreamDecoder), so that a client such as
// Claude Code sees an exact Anthropic stream.
//
// Conventions:
// - Text blocks of one message are joined with "\n" into a string `content`; a message with
//   images uses content parts instead. System blocks become one `system` message.
// - tool_result with is_error: the `tool` message's content is prefixed with "Error: ".
// - A user message's tool_result blocks become one `tool` message each, in order; every other
//   block of that message (text, images) follows them as one user message, whatever its place.
// - thinking.budget_tokens -> reasoning_effort: < 8000 "low" (Claude Code's "think" = 4000),
//   < 24000 "medium" ("think hard" = 10000), otherwise "high" ("ultrathink" = 31999). An
//   explicit effort in `extra` (Anthropic `output_config.effort` or OpenAI `reasoning_effort`)
//   wins: low/medium/high as is, "max" -> "high", "minimal" -> "low".
// - Parallel tool calls in a stream: Anthropic blocks are sequential, OpenAI calls may
//   interleave. The first call (in order of first appearance) streams live as soon as its id
//   and name are known; fragments of every later call are buffered and emitted, fragment by
//   fragment, when the calls before it have closed — at finish_reason (or [DONE]/finish()).
//   Text or reasoning that arrives after a tool call began is emitted after the tool blocks.
//   A call whose id never arrives gets "call_<message id>_<position>"; one without a name is an
//   error at the end.
// - finish_reason: stop -> end_turn (tool_use when tool calls were streamed), length ->
//   max_tokens, tool_calls -> tool_use (end_turn if no call came), content_filter/sensitive ->
//   refusal; insufficient_system_resource (DeepSeek) -> overloaded error, network_error (GLM) ->
//   upstream error: both mean the answer was cut. [DONE] without finish_reason ends the message
//   too.
// - Usage: input_tokens = prompt_tokens - cached (prompt_tokens_details.cached_tokens, DeepSeek's
//   prompt_cache_hit_tokens or Kimi's cached_tokens), cache_read = cached, output_tokens =
//   completion_tokens, reasoning from completion_tokens_details. No usage at all: output_tokens
//   is estimated as ceil(bytes of text, reasoning and arguments / 4).

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"

namespace tianshu::protocol::openai_upstream {

//! Provider quirks, set per channel (adapter settings). Zero values = no change.
struct UpstreamOptions {
    //! Clamp max_tokens to this (providers refuse larger values instead of clamping).
    std::optional<int64_t> max_output_tokens;
    //! Top-level fields of the final body never sent (e.g. "reasoning_effort", "user").
    std::vector<std::string> strip_fields;
    //! Keywords removed everywhere inside tool JSON Schemas ("format", "propertyNames",
    //! "exclusiveMinimum", "$schema"…); property NAMES equal to a keyword are kept.
    std::vector<std::string> strip_schema_keywords;
    //! Anthropic cache_control never goes to OpenAI-compatible upstreams. When false, blocks
    //! carrying cache_control are sent as content parts with their cache_control (DashScope).
    bool strip_cache_control = true;
    //! Send earlier thinking back as `reasoning_content` on assistant turns that carry
    //! tool_calls (DeepSeek's reasoner needs it).
    bool reasoning_on_tool_turns = false;
    //! Send stream_options.include_usage when streaming.
    bool include_usage = true;
    //! Ask the upstream to stream even when the client did not (the gateway assembles the
    //! answer): for providers or models that only answer streamed, or to keep the idle timeout
    //! watching a long answer. Off: the upstream is asked the way the client asked.
    bool always_stream = false;
    //! Images inside a tool_result: as content parts of the `tool` message (few providers accept
    //! it); moved into a user message right after the tool messages; or dropped (the tool
    //! message then says "[N image(s) omitted]").
    enum class ToolResultImages { inline_parts, separate_user_message, drop };
    ToolResultImages tool_result_images = ToolResultImages::separate_user_message;
    //! How the provider turns thinking on and off, following the client's `thinking`: not at
    //! all (the effort alone); a top-level `"enable_thinking": true|false` (Qwen / DashScope);
    //! `"thinking": {"type": "enabled"|"disabled"}` (Zhipu GLM, Doubao).
    enum class ThinkingSwitch { none, enable_thinking, thinking_type };
    ThinkingSwitch thinking_switch = ThinkingSwitch::none;
    //! PEM file of the CA certificates an https upstream must chain to, instead of the system
    //! CA store (private deployments); empty: the system store. An absolute path.
    std::string ca_file;
};

//! Reads options from a channel's adapter settings: {"max_output_tokens", "strip_fields",
//! "strip_schema_keywords", "strip_cache_control", "reasoning_on_tool_turns", "include_usage",
//! "always_stream", "tool_result_images": "inline_parts"|"separate_user_message"|"drop",
//! "thinking_switch": "none"|"enable_thinking"|"thinking_type", "ca_file": "/absolute/path.pem"},
//! and
//! the capability overrides of core/model_capabilities.hpp (checked here, read by the
//! capability table; max_output_tokens is both). Unknown keys are errors naming the key.
core::Result<UpstreamOptions> options_from_json(const core::Json& j);

//! The Chat Completions body for `r`, as JSON text written straight from the request (no tree).
//! Never forwards `r.extra`. Errors (invalid_request) name the block that cannot be expressed
//! (e.g. a `file` image source).
core::Result<std::string> encode_request_body(const core::Request& r, const UpstreamOptions& o);
//! The same body as a JSON value (for tests and tools).
core::Result<core::Json> encode_request(const core::Request& r, const UpstreamOptions& o);

//! A chat.completion object -> Response, through the same StreamDecoder as streams
//! (StreamDecoder::feed_completion); id and model from the body (`fallback_model` when it names
//! none). An error object in the body, no choices or broken tool arguments are `upstream` errors.
core::Result<core::Response> decode_response(std::string_view body,
                                             const std::string& fallback_model);

//! Maps an upstream HTTP error (status + body) to a core::Error whose message quotes the
//! provider's message. 400/422 -> invalid_request (the provider refused what the client sent),
//! 413 -> request_too_large, 429 -> rate_limited, 408/504 -> timeout, 503/529 -> overloaded,
//! everything else (401/403: the channel's own key; 404: model map) -> upstream.
core::Error upstream_error(int status, std::string_view body, std::string_view channel);

//! Removes JSON-Schema `keywords` a provider does not support from a tool schema, recursing
//! into subschemas but never into data (enum, const, default) or property names. Shared by
//! every upstream wire codec.
void strip_schema_keywords(core::Json& schema, const std::vector<std::string>& keywords);

//! OpenAI chat.completion.chunk stream -> canonical events (Anthropic grammar). Feed each SSE
//! `data:` payload in order. One decoder per response; not thread-safe.
//!
//! Guarantees on the events appended to `out` over the decoder's life: message_start first
//! (usage.input_tokens = the estimate until the real count arrives in message_delta); blocks
//! numbered from 0, each started once, deltas only while open, each stopped once; one
//! message_delta (stop_reason and final usage); message_stop last. After an Error the stream
//! must end: the caller emits the client's `error` event.
class StreamDecoder {
  public:
    StreamDecoder(std::string message_id, std::string model, int64_t estimated_input_tokens);
    ~StreamDecoder();
    StreamDecoder(StreamDecoder&&) noexcept;
    StreamDecoder& operator=(StreamDecoder&&) noexcept;

    //! One SSE data payload; "[DONE]" ends the message. Payloads after the end are ignored.
    //! Errors: an `{"error":…}` chunk (kind from its type/code), a payload that is not JSON,
    //! tool arguments that are not valid JSON, a tool call that never got a name.
    core::Result<void> feed(std::string_view data, std::vector<core::StreamEvent>& out);
    //! At the end of the body: closes the message if the upstream finished (finish_reason
    //! seen, usage possibly missing), or returns an `upstream` Error if it stopped before.
    core::Result<void> finish(std::vector<core::StreamEvent>& out);
    //! A whole (non-streaming) chat.completion body: `choices[0].message` is read as one delta
    //! and the message ends, with the same events and guarantees as a stream. An empty message
    //! id or model at construction is taken from the body. Errors: an error object, a body that
    //! is not JSON, no choices, broken tool arguments.
    core::Result<void> feed_completion(std::string_view body, std::vector<core::StreamEvent>& out);
    //! True once message_stop was emitted.
    bool done() const { return done_; }

    //! simdjson's parser and the padded copy of the payload, kept for the decoder's life and
    //! then for the thread's next decoder, so that a chunk costs no allocation once the first
    //! ones sized them (defined in the .cpp).
    struct ChunkParser;

  private:
    friend core::Result<core::Response> decode_response(std::string_view, const std::string&);

    struct ToolCall {
        std::string id;
        std::string name;
        std::vector<std::string> pending;  //!< fragments not yet emitted
        std::string arguments;             //!< every fragment, to check the JSON at the end
        int block = -1;                    //!< the Anthropic block index once started
        bool closed = false;
    };
    enum class Open { none, thinking, text, tool };

    core::Result<void> feed_payload(std::string_view data, std::vector<core::StreamEvent>& out);
    core::Result<void> completion(std::string_view body, std::vector<core::StreamEvent>& out);
    //! The chunk walk, once for both trees a chunk may be read into: simdjson's (every payload
    //! simdjson accepts) and nlohmann's (the rest that nlohmann accepts). `View` is one of the
    //! read-only views defined in the .cpp.
    //! `delta_key`: "delta" in stream chunks, "message" in a whole completion.
    template <class View>
    core::Result<void> on_chunk(View usage, View choices, std::vector<core::StreamEvent>& out,
                                std::string_view delta_key = "delta");
    template <class View>
    core::Result<void> on_tool_delta(View call, size_t position,
                                     std::vector<core::StreamEvent>& out);
    void start_message(std::vector<core::StreamEvent>& out);
    void append_text(Open kind, std::string_view text, std::vector<core::StreamEvent>& out);
    core::Result<void> advance_tools(bool at_end, std::vector<core::StreamEvent>& out);
    core::Result<void> close_open(std::vector<core::StreamEvent>& out);
    core::Result<void> close_all(std::vector<core::StreamEvent>& out);
    core::Result<void> end_message(std::vector<core::StreamEvent>& out);
    template <class View>
    void read_usage(View usage);

    std::string message_id_;
    std::string model_;
    int64_t estimated_input_tokens_;

    bool started_ = false;
    bool finished_ = false;  //!< finish_reason seen; blocks closed
    bool done_ = false;      //!< message_stop emitted
    bool usage_known_ = false;
    std::optional<core::Error> failed_;  //!< after an error every call returns it again
    std::string finish_reason_;
    core::Usage usage_;
    int64_t output_chars_ = 0;  //!< for an output estimate when the upstream sends no usage

    int next_block_ = 0;
    Open open_ = Open::none;
    int open_index_ = -1;
    size_t open_tool_ = 0;                     //!< position in tools_ of the open tool block
    std::vector<ToolCall> tools_;              //!< in order of first appearance
    std::map<int64_t, size_t> tool_by_index_;  //!< upstream index -> position in tools_
    //! Text/reasoning that arrived after tool calls began, emitted after the tool blocks.
    std::vector<std::pair<Open, std::string>> deferred_;
    //! Gives the parser back to this thread's pool (core/scratch.hpp) for the next decoder.
    struct ChunkParserRelease {
        void operator()(ChunkParser* parser) const;
    };
    //! Taken from the pool with the first JSON payload.
    std::unique_ptr<ChunkParser, ChunkParserRelease> parser_;
};

}  // namespace tianshu::protocol::openai_upstream
