// libFuzzer: arbitrary bytes as the three things the OpenAI Responses codecs read from the
// network: a client's /v1/responses body (strict decoder), an upstream's SSE event stream and an
// upstream's whole `response` object. Nothing may crash; a body the decoder accepts must encode
// to canonical JSON that decodes again; whatever the upstream decoder accepts must be a
// well-formed event sequence that assembles into one response.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/request_json.hpp"
#include "core/stream_event.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/responses_upstream.hpp"
#include "protocol/sse.hpp"

using tianshu::core::ResponseAssembler;
using tianshu::core::StreamEvent;
namespace protocol = tianshu::protocol;

namespace {
void check_assembles(const std::vector<StreamEvent>& events) {
    ResponseAssembler assembler;
    for (const auto& e : events)
        if (!assembler.add(e).ok()) std::abort();
    if (!assembler.finished()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    {
        auto r =
            protocol::codec_for(protocol::ClientProtocol::openai_responses).decode_request(bytes);
        if (r.ok()) {
            const auto text = tianshu::core::to_json(r.value()).dump();
            if (!protocol::codec_for(protocol::ClientProtocol::anthropic_messages)
                     .decode_request(text)
                     .ok())
                std::abort();
            // The upstream body for it must encode without crashing (errors are allowed).
            (void)protocol::responses_upstream::encode_request_body(r.value(), {});
        }
    }
    {
        protocol::responses_upstream::StreamDecoder whole("msg_fuzz", "m", 10);
        std::vector<StreamEvent> events;
        if (whole.feed_response(bytes, events).ok()) {
            if (!whole.done()) std::abort();
            check_assembles(events);
        }
    }
    protocol::SseParser parser;
    protocol::responses_upstream::StreamDecoder decoder("msg_fuzz", "m", 10);
    std::vector<protocol::SseEvent> frames;
    std::vector<StreamEvent> events;
    if (!parser.feed(bytes, frames).ok()) return 0;
    for (const auto& f : frames)
        if (!decoder.feed(f, events).ok()) return 0;
    if (!decoder.finish(events).ok()) return 0;
    check_assembles(events);
    return 0;
}
