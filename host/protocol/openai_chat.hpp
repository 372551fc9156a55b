#pragma once
// OpenAI Chat Completions (/v1/chat/completions): requests are mapped onto the canonical
// (Anthropic-shaped) model; answers and streams are mapped back to chat.completion objects
// and chat.completion.chunk frames.

#include <cstdint>

#include "protocol/client_codec.hpp"

namespace tianshu::protocol {

//! The OpenAI Chat Completions client codec.
class OpenAiChatCodec final : public ClientCodec {
  public:
    // ClientCodec
    core::Result<core::Request> decode_request(std::string_view body) const override;
    std::string encode_response(const core::Response& r) const override;
    std::unique_ptr<StreamEncoder> stream_encoder() const override;
    std::string error_body(const core::Error& err) const override;
};

namespace openai_chat {

//! Decodes an already parsed body, moving strings out of it.
core::Result<core::Request> request_from_json(core::Json&& body);

//! The chat.completion object for `r`, with `created` as given (tests pass a fixed time).
core::Json response_to_json(const core::Response& r, int64_t created);

//! A stream encoder stamping every chunk with `created`.
std::unique_ptr<StreamEncoder> make_stream_encoder(int64_t created);

//! "stop", "length", "tool_calls" or "content_filter".
std::string_view finish_reason(core::StopReason r);

//! OpenAI's error object {"message","type","param","code"} for `err`.
core::Json error_object(const core::Error& err);

}  // namespace openai_chat
}  // namespace tianshu::protocol
