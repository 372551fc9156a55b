#pragma once
// The upstream direction for Anthropic-compatible providers (DeepSeek, Kimi, GLM, Qwen and
// MiniMax all offer /anthropic endpoints): the canonical request is already Anthropic's
// shape, so the body is the request as the chain left it, minus what the channel's quirks
// strip; the stream is Anthropic's own events, read back into canonical events as they come.

#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/sse.hpp"

namespace tianshu::protocol::anthropic_upstream {

//! The same quirk settings as OpenAI-compatible channels; for Anthropic upstreams
//! strip_cache_control defaults to false (they understand it), reasoning_on_tool_turns,
//! include_usage and tool_result_images do not apply.
using UpstreamOptions = openai_upstream::UpstreamOptions;
core::Result<UpstreamOptions> options_from_json(const core::Json& j);

//! The request body: canonical JSON (unknown fields the client sent are kept, as the upstream
//! speaks the client's protocol), max_tokens clamped, listed fields and schema keywords removed.
core::Result<core::Json> encode_request(const core::Request& r, const UpstreamOptions& o);

//! The request body as text, asking to stream or not as `stream` says. When the client spoke
//! Anthropic too
//! (r.client_body is set) its own bytes pass through field by field: only `model`, `stream`,
//! a clamped `max_tokens`, the fields the chain changed (r.changed_fields) and the fields a
//! channel quirk rewrites (cache_control stripping, schema keywords) are re-encoded; fields the
//! channel strips are left out. Otherwise (or if the body no longer parses) the canonical
//! encoding. Both give the same JSON value; passthrough keeps the client's exact bytes.
core::Result<std::string> encode_body(const core::Request& r, const UpstreamOptions& o,
                                      bool stream);

//! A whole (non-streaming) Anthropic message into the canonical events of the same answer.
//! Errors (`upstream`, or the kind an error object names): a body that is not a JSON object, an
//! error object, a message this gateway cannot read.
core::Result<void> decode_message(std::string_view body, std::vector<core::StreamEvent>& out);

//! An Anthropic SSE stream into canonical events. Pings pass through (they keep slow clients'
//! connections alive); an `error` event or a stream that ends before message_stop is an Error.
class StreamDecoder {
  public:
    core::Result<void> feed(const SseEvent& event, std::vector<core::StreamEvent>& out);
    core::Result<void> finish(std::vector<core::StreamEvent>& out);
    bool done() const { return done_; }

  private:
    bool done_ = false;
    std::optional<core::Error> failed_;
};

}  // namespace tianshu::protocol::anthropic_upstream
