// libFuzzer: arbitrary bytes as a Gemini generateContent body. The codec must never crash, hang
// or throw; whatever it accepts must be a canonical request that survives encode -> decode
// unchanged, that the Gemini upstream encoder can write, and whose answer the Gemini client
// encoder can write.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/request_json.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/gemini_upstream.hpp"

using namespace tianshu;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view body(reinterpret_cast<const char*>(data), size);
    const auto& codec = protocol::codec_for(protocol::ClientProtocol::gemini);
    auto r = codec.decode_request(body);
    if (!r) {
        if (codec.error_body(r.error()).empty()) std::abort();
        return 0;
    }
    r.value().model = "gemini-fuzz";
    const core::Json encoded = core::to_json(r.value());
    auto again = core::request_from_json(encoded);
    if (!again || core::to_json(again.value()) != encoded) std::abort();
    (void)protocol::gemini_upstream::encode_request(r.value(), {});
    return 0;
}
