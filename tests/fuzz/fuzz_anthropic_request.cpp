// libFuzzer: arbitrary bytes as an Anthropic /v1/messages body. The codec must never crash,
// hang or throw; whatever it accepts must survive encode -> decode unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/request_json.hpp"
#include "protocol/client_codec.hpp"

using namespace tianshu;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    for (auto p :
         {protocol::ClientProtocol::anthropic_messages, protocol::ClientProtocol::openai_chat}) {
        auto r = protocol::codec_for(p).decode_request(body);
        if (!r) continue;
        const core::Json encoded = core::to_json(r.value());
        auto again = core::request_from_json(encoded);
        if (!again || core::to_json(again.value()) != encoded) std::abort();
    }
    return 0;
}
