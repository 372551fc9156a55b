#pragma once
// What the server needs from a client protocol: decode the request body, encode the answer
// (whole or streamed) and errors, all in that protocol's own shape.

#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"

namespace tianshu::protocol {

enum class ClientProtocol { anthropic_messages, openai_chat, openai_responses, gemini };

//! Encodes one client's stream; stateful (OpenAI chunks need the id and tool-call indexes).
//! One encoder per response; not thread-safe.
class StreamEncoder {
  public:
    virtual ~StreamEncoder() = default;
    //! Appends zero or more complete SSE frames for `e`.
    virtual void encode(const core::StreamEvent& e, std::string& out) = 0;
    //! A mid-stream error in this protocol's shape; the stream must end after it.
    virtual void encode_error(const core::Error& err, std::string& out) = 0;
};

//! One client protocol's codec. Stateless and thread-safe; never throws.
class ClientCodec {
  public:
    virtual ~ClientCodec() = default;
    //! Strict: every problem is an invalid_request error naming its JSON path.
    virtual core::Result<core::Request> decode_request(std::string_view body) const = 0;
    //! The non-streaming response body.
    virtual std::string encode_response(const core::Response& r) const = 0;
    virtual std::unique_ptr<StreamEncoder> stream_encoder() const = 0;
    //! The HTTP error body (the status is core::http_status(err.kind)).
    virtual std::string error_body(const core::Error& err) const = 0;
};

//! The process-wide codec for `p` (static lifetime).
const ClientCodec& codec_for(ClientProtocol p);

//! The frame that keeps a silent stream open: Anthropic's own `ping` event for Anthropic
//! clients, an SSE comment (ignored by every SSE parser) for OpenAI clients (Chat and Responses),
//! whose protocols have no ping event.
std::string_view keepalive_frame(ClientProtocol p);

}  // namespace tianshu::protocol
