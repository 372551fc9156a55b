// libFuzzer: arbitrary bytes as an Anthropic /v1/messages body. The codec must never crash,
// hang or throw; whatever it accepts must survive encode -> decode unchanged; and whatever the
// direct decoder (no JSON tree) accepts, the strict decoder must accept and decode identically.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "core/request_json.hpp"
#include "protocol/anthropic_request.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/json_text.hpp"

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
    std::optional<core::Request> direct;
    protocol::with_parsed_json(body, [&](const simdjson::dom::element& root) {
        direct = protocol::decode_request_direct(root, body);
    });
    if (direct) {
        auto tree = protocol::parse_json_body(body);
        if (!tree) std::abort();
        auto strict = core::request_from_json(std::move(tree).value());
        if (!strict || protocol::dump_json(core::to_json(strict.value())) !=
                           protocol::dump_json(core::to_json(*direct)))
            std::abort();
    }
    return 0;
}
