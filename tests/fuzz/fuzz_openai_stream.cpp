// libFuzzer: arbitrary bytes as an OpenAI-compatible upstream's stream, one SSE data payload per
// line, and the same bytes as one whole (non-streaming) chat.completion body. The decoder must
// never crash, and whatever it accepts must be a well-formed Anthropic event sequence: it
// assembles into one response, with every block started before its deltas.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "core/stream_event.hpp"
#include "protocol/openai_upstream.hpp"

using tianshu::core::ResponseAssembler;
using tianshu::core::StreamEvent;
using tianshu::protocol::openai_upstream::StreamDecoder;

namespace {
//! Aborts unless `events` assemble into one finished response.
void check_assembles(const std::vector<StreamEvent>& events) {
    ResponseAssembler assembler;
    for (const auto& e : events)
        if (!assembler.add(e).ok()) std::abort();
    if (!assembler.finished()) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view rest(reinterpret_cast<const char*>(data), size);
    {
        StreamDecoder whole("msg_fuzz", "m", 10);
        std::vector<StreamEvent> events;
        if (whole.feed_completion(rest, events).ok()) {
            if (!whole.done()) std::abort();
            check_assembles(events);
        }
    }
    StreamDecoder decoder("msg_fuzz", "m", 10);
    std::vector<StreamEvent> events;
    bool ok = true;
    while (ok && !rest.empty()) {
        const size_t nl = rest.find('\n');
        const std::string_view line = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
        ok = decoder.feed(line, events).ok();
    }
    if (ok) ok = decoder.finish(events).ok();
    if (!ok) return 0;
    check_assembles(events);
    return 0;
}
