#pragma once
// The UPSTREAM direction of Google Gemini generateContent: a canonical request becomes a
// GenerateContentRequest, and the answer (streamGenerateContent?alt=sse chunks, or one
// generateContent response) becomes canonical events in Anthropic's grammar.
//
// Conventions:
// - The model is in the URL: method_path() builds "/models/{model}:streamGenerateContent?alt=sse"
//   (or ":generateContent"), appended to the channel's base URL (".../v1beta"). The key goes in
//   the x-goog-api-key header, never in the URL.
// - Tools go as functionDeclarations with `parametersJsonSchema` (the JSON Schema verbatim, less
//   the channel's strip_schema_keywords). tool_choice auto/any/none/tool -> functionCallingConfig
//   AUTO/ANY/NONE/ANY with allowedFunctionNames [name].
// - tool_use -> functionCall {name, args}; tool_result -> functionResponse {name (of the call it
//   answers), response}: the result's text when it is a JSON object, otherwise {"result": text}
//   ({"error": text} when is_error). Ids are not sent: Gemini pairs calls and responses by order.
// - Thinking text is not sent back (Gemini does not need its thought summaries); a thinking
//   block's signature goes on the next part as thoughtSignature (see protocol/gemini.hpp). A
//   model turn's first functionCall that has no signature (the conversation came from another
//   provider) gets Google's documented placeholder "skip_thought_signature_validator", which
//   Gemini 3 accepts in place of a signature it never issued.
// - thinking enabled -> thinkingConfig {thinkingBudget, includeThoughts: true}.
// - Answer: thought parts -> thinking blocks; a part's thoughtSignature -> the signature of the
//   thinking block before that part's block (a new empty one when needed); functionCall ->
//   tool_use with the call's id, or "<message id>_call_<n>" when Gemini gives none.
//   finishReason STOP -> end_turn (tool_use when calls came), MAX_TOKENS -> max_tokens,
//   SAFETY/RECITATION/BLOCKLIST/PROHIBITED_CONTENT/SPII -> refusal, anything else -> end_turn.
//   usageMetadata: input = promptTokenCount - cachedContentTokenCount, cache read =
//   cachedContentTokenCount, output = candidatesTokenCount + thoughtsTokenCount, reasoning =
//   thoughtsTokenCount. An `error` object in the stream is an Error.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"
#include "protocol/openai_upstream.hpp"

namespace tianshu::protocol::gemini_upstream {

//! The channel quirks that apply: max_output_tokens, strip_schema_keywords, always_stream.
using UpstreamOptions = openai_upstream::UpstreamOptions;

//! The placeholder signature Gemini 3 accepts on a function call it did not issue.
inline constexpr std::string_view kPlaceholderSignature = "skip_thought_signature_validator";

//! The GenerateContentRequest for `r`. Errors (invalid_request) name the block that Gemini
//! cannot take (an image given by URL).
core::Result<core::Json> encode_request(const core::Request& r, const UpstreamOptions& o);

//! "/models/{model}:streamGenerateContent?alt=sse" or "/models/{model}:generateContent", the
//! model percent-encoded.
std::string method_path(std::string_view model, bool stream);

//! Gemini's answer, chunk by chunk, into canonical events.
class StreamDecoder {
  public:
    StreamDecoder(std::string message_id, std::string model);
    //! One SSE `data:` payload (a GenerateContentResponse chunk), or a whole generateContent
    //! body.
    core::Result<void> feed(std::string_view data, std::vector<core::StreamEvent>& out);
    //! The end of the body: a stream that never gave a finishReason was cut short.
    core::Result<void> finish(std::vector<core::StreamEvent>& out);
    bool done() const { return done_; }

  private:
    enum class Open { none, thinking, text };
    core::Result<void> chunk(const core::Json& j, std::vector<core::StreamEvent>& out);
    void start(std::vector<core::StreamEvent>& out);
    void open(Open kind, std::vector<core::StreamEvent>& out);
    void close(std::vector<core::StreamEvent>& out);
    void signature(std::string sig, std::vector<core::StreamEvent>& out);
    void read_usage(const core::Json& u);

    std::string message_id_, model_;
    bool started_ = false, done_ = false;
    std::optional<core::Error> failed_;
    Open open_ = Open::none;
    bool open_signed_ = false;  //!< the open thinking block has its signature
    int next_block_ = 0;
    int calls_ = 0;
    core::Usage usage_;
};

}  // namespace tianshu::protocol::gemini_upstream
