#include "protocol/client_codec.hpp"

#include "protocol/anthropic.hpp"
#include "protocol/gemini.hpp"
#include "protocol/openai_chat.hpp"
#include "protocol/openai_responses.hpp"

namespace tianshu::protocol {

const ClientCodec& codec_for(ClientProtocol p) {
    static const AnthropicCodec anthropic;
    static const OpenAiChatCodec openai;
    switch (p) {
        case ClientProtocol::anthropic_messages:
            return anthropic;
        case ClientProtocol::openai_chat:
            return openai;
        case ClientProtocol::openai_responses: {
            static const OpenAiResponsesCodec responses;
            return responses;
        }
        case ClientProtocol::gemini: {
            static const GeminiCodec gemini;
            return gemini;
        }
    }
    return anthropic;
}

std::string_view keepalive_frame(ClientProtocol p) {
    if (p == ClientProtocol::openai_chat || p == ClientProtocol::openai_responses ||
        p == ClientProtocol::gemini)
        return ": ping\n\n";
    return "event: ping\ndata: {\"type\":\"ping\"}\n\n";
}

}  // namespace tianshu::protocol
