#pragma once
// OpenAI Responses (/v1/responses) as a client protocol: a request's `input` items (messages,
// function_call, function_call_output, reasoning) are folded onto the canonical
// (Anthropic-shaped) model; answers become a `response` object, streams the typed
// `response.*` events (each with its sequence_number) that the openai SDKs and the Codex CLI
// read.
//
// Conventions:
// - `instructions` and system/developer messages join the system prompt, in order.
// - A function_call joins the assistant turn before it (or opens one); function_call_output
//   items answer a function_call of the assistant turn before them, like OpenAI Chat's tool
//   messages; a user message after them joins their user turn.
// - A reasoning item becomes a thinking block: its summary texts (or content texts) joined,
//   its encrypted_content as the signature.
// - reasoning.effort is kept as `output_config.effort` (Anthropic's name, which every upstream
//   codec reads): minimal -> low, xhigh -> max, none -> no effort.
// - previous_response_id and conversation are refused: no response is stored (store: true is
//   accepted and stores nothing); the client must send the whole input.
// - Item ids are derived from the response id: msg_/fc_/rs_<id>_<output index>.

#include <cstdint>

#include "protocol/client_codec.hpp"

namespace tianshu::protocol {

//! The OpenAI Responses client codec.
class OpenAiResponsesCodec final : public ClientCodec {
  public:
    // ClientCodec
    core::Result<core::Request> decode_request(std::string_view body) const override;
    std::string encode_response(const core::Response& r) const override;
    std::unique_ptr<StreamEncoder> stream_encoder() const override;
    std::string error_body(const core::Error& err) const override;
};

namespace openai_responses {

//! Decodes an already parsed body, moving strings out of it.
core::Result<core::Request> request_from_json(core::Json&& body);

//! The `response` object for `r`, with `created_at` as given (tests pass a fixed time).
core::Json response_to_json(const core::Response& r, int64_t created_at);

//! A stream encoder stamping the response with `created_at`.
std::unique_ptr<StreamEncoder> make_stream_encoder(int64_t created_at);

//! "resp_…" for a canonical message id ("msg_abc" -> "resp_abc"; a random one when empty).
std::string response_id(const std::string& message_id);

}  // namespace openai_responses
}  // namespace tianshu::protocol
