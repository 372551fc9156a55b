// libFuzzer: arbitrary bytes as an upstream SSE stream. The parser must never crash or grow
// past its limits, and splitting the input anywhere must not change the events.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "protocol/sse.hpp"

using tianshu::protocol::SseEvent;
using tianshu::protocol::SseParser;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view bytes(reinterpret_cast<const char*>(data), size);
    constexpr size_t kLine = 256, kEvent = 1024;

    SseParser whole(kLine, kEvent);
    std::vector<SseEvent> a;
    const bool ok_whole = whole.feed(bytes, a).ok();

    SseParser split(kLine, kEvent);
    std::vector<SseEvent> b;
    const size_t cut = size == 0 ? 0 : data[0] % (size + 1);
    bool ok_split = split.feed(bytes.substr(0, cut), b).ok();
    if (ok_split) ok_split = split.feed(bytes.substr(cut), b).ok();

    if (ok_whole != ok_split) std::abort();
    if (ok_whole && a != b) std::abort();
    for (const auto& e : a)
        if (e.data.size() > kEvent) std::abort();
    return 0;
}
