#pragma once
// Anthropic Messages (/v1/messages): the canonical model's own shape, so decoding is
// core::request_from_json and streaming writes core::StreamEvent out as Anthropic's events.

#include "protocol/client_codec.hpp"

namespace tianshu::protocol {

//! The Anthropic Messages client codec.
class AnthropicCodec final : public ClientCodec {
  public:
    // ClientCodec
    core::Result<core::Request> decode_request(std::string_view body) const override;
    std::string encode_response(const core::Response& r) const override;
    std::unique_ptr<StreamEncoder> stream_encoder() const override;
    std::string error_body(const core::Error& err) const override;
};

namespace anthropic {

//! Anthropic's error type for `kind` ("invalid_request_error", "overloaded_error", …).
std::string_view error_type(core::ErrorKind kind);

//! The SSE event name Anthropic uses for `e` ("message_start", "content_block_delta", …).
std::string_view event_name(const core::StreamEvent& e);

//! Appends the JSON `data:` payload Anthropic sends for `e`.
void append_event_data(const core::StreamEvent& e, std::string& out);

//! Reads one Anthropic stream event's JSON data back into a StreamEvent (for
//! Anthropic-compatible upstreams and for tests); unknown event or delta types are errors.
core::Result<core::StreamEvent> stream_event_from_json(const core::Json& data);

//! Reads Anthropic's non-streaming message object (an Anthropic-compatible upstream's answer,
//! or a test fixture) into a Response; content blocks are checked as strictly as requests.
core::Result<core::Response> response_from_json(const core::Json& message);

}  // namespace anthropic
}  // namespace tianshu::protocol
