#include "protocol/client_codec.hpp"

#include "protocol/anthropic.hpp"
#include "protocol/openai_chat.hpp"

namespace tianshu::protocol {

const ClientCodec& codec_for(ClientProtocol p) {
    static const AnthropicCodec anthropic;
    static const OpenAiChatCodec openai;
    switch (p) {
        case ClientProtocol::anthropic_messages:
            return anthropic;
        case ClientProtocol::openai_chat:
            return openai;
    }
    return anthropic;
}

}  // namespace tianshu::protocol
