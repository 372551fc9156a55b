// libFuzzer: arbitrary bytes as a Gemini upstream's answer, one SSE data payload per line, and
// the same bytes as one whole generateContent body. The decoder must never crash, and whatever
// it accepts must be a well-formed Anthropic event sequence that assembles into one response
// and that the Gemini client encoder can write.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/stream_event.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/gemini_upstream.hpp"

using tianshu::core::ResponseAssembler;
using tianshu::core::StreamEvent;
using tianshu::protocol::gemini_upstream::StreamDecoder;

namespace {
void check_assembles(const std::vector<StreamEvent>& events) {
    ResponseAssembler assembler;
    for (const auto& e : events)
        if (!assembler.add(e).ok()) std::abort();
    if (!assembler.finished()) std::abort();
    auto encoder =
        tianshu::protocol::codec_for(tianshu::protocol::ClientProtocol::gemini).stream_encoder();
    std::string out;
    for (const auto& e : events) encoder->encode(e, out);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    {
        StreamDecoder whole("msg_fuzz", "m");
        std::vector<StreamEvent> events;
        auto r = whole.feed(rest, events);
        if (r && !whole.done()) r = whole.finish(events);
        if (r) check_assembles(events);
    }
    StreamDecoder decoder("msg_fuzz", "m");
    std::vector<StreamEvent> events;
    bool ok = true;
    while (ok && !rest.empty()) {
        const size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        ok = decoder.feed(line, events).ok();
    }
    if (ok && !decoder.done()) ok = decoder.finish(events).ok();
    if (!ok) return 0;
    check_assembles(events);
    return 0;
}
