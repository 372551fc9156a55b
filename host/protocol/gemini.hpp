#pragma once
// Google Gemini generateContent (POST /v1beta/models/{model}:generateContent and
// :streamGenerateContent?alt=sse) as a client protocol: requests are mapped onto the canonical
// (Anthropic-shaped) model, answers and streams back to GenerateContentResponse objects.
//
// The model and whether to stream are in the URL, not the body: the server sets
// Request::model and Request::stream from the route after decoding.
//
// Thought signatures: Gemini puts `thoughtSignature` on the part that follows its reasoning (a
// functionCall, a text part, or an empty text part at the end of a turn). The canonical model
// keeps signatures on thinking blocks only, so a signature travels as the signature of the
// thinking block right before the block of that part: the preceding thinking block when it has
// none yet (Anthropic's thinking {text, signature} pair), otherwise a thinking block with empty
// text inserted before it. Encoding does the reverse: a thinking block's signature goes on the
// next part that is not a thought (an empty text part when none follows). So a Gemini client's
// signatures survive any chain, and a Gemini upstream receives them back where it put them.

#include "protocol/client_codec.hpp"

namespace tianshu::protocol {

//! The Gemini generateContent client codec.
class GeminiCodec final : public ClientCodec {
  public:
    // ClientCodec
    core::Result<core::Request> decode_request(std::string_view body) const override;
    std::string encode_response(const core::Response& r) const override;
    std::unique_ptr<StreamEncoder> stream_encoder() const override;
    std::string error_body(const core::Error& err) const override;
};

namespace gemini {

//! Decodes an already parsed GenerateContentRequest (model and stream are left unset).
core::Result<core::Request> request_from_json(core::Json&& body);

//! The GenerateContentResponse for `r`.
core::Json response_to_json(const core::Response& r);

//! "STOP", "MAX_TOKENS" or "SAFETY".
std::string_view finish_reason(core::StopReason r);

//! Google's error object {"code","message","status"} for `err`.
core::Json error_object(const core::Error& err);

//! Google's canonical status name for an HTTP status ("INVALID_ARGUMENT", "NOT_FOUND"…).
std::string_view status_name(int http_status);

//! The usageMetadata object for `u`: promptTokenCount includes cached tokens,
//! candidatesTokenCount excludes thoughts (thoughtsTokenCount), as Gemini counts them.
core::Json usage_json(const core::Usage& u);

}  // namespace gemini
}  // namespace tianshu::protocol
