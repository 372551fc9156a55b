#pragma once
// Server-sent events, both directions: framing what we send to clients, and an incremental
// parser for what upstreams send us (fed arbitrary byte chunks straight from the socket).

#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tianshu::protocol {

//! `event: <event>\ndata: <data>\n\n`; no event line when `event` is empty; data containing
//! line breaks is split over several `data:` lines, as the SSE grammar requires.
std::string sse_frame(std::string_view event, std::string_view data);
void append_sse_frame(std::string& out, std::string_view event, std::string_view data);

//! One dispatched event. `event` is empty when the stream named none (OpenAI-style streams);
//! `id` is the last id the stream set, if any.
struct SseEvent {
    std::string event;
    std::string data;
    std::string id;

    bool operator==(const SseEvent&) const = default;
};

//! Incremental SSE parser (WHATWG grammar): lines end in `\n`, `\r\n` or `\r`; `:` starts a
//! comment; several `data:` lines join with `\n`; an event is dispatched on a blank line.
//! Memory is bounded: a line or an event longer than its limit fails the stream with an
//! `upstream` error instead of growing without end.
class SseParser {
  public:
    static constexpr size_t kDefaultMaxLine = 8u << 20;    //!< one line (8 MiB)
    static constexpr size_t kDefaultMaxEvent = 32u << 20;  //!< one event's joined data (32 MiB)

    explicit SseParser(size_t max_line = kDefaultMaxLine, size_t max_event = kDefaultMaxEvent)
        : max_line_(max_line), max_event_(max_event) {}

    //! Consumes `bytes` and appends every event completed by them to `out`. After an error the
    //! parser stays failed and returns the same error on every call.
    core::Result<void> feed(std::string_view bytes, std::vector<SseEvent>& out);

    //! True when bytes of an unfinished event are pending: a stream that ends now was cut short.
    bool mid_event() const { return !line_.empty() || has_data_ || !current_.event.empty(); }

  private:
    core::Result<void> fail(std::string message);
    core::Result<void> line(std::string_view line, std::vector<SseEvent>& out);

    size_t max_line_;
    size_t max_event_;
    std::string line_;      //!< the unfinished line carried across chunks
    bool skip_lf_ = false;  //!< the previous chunk ended in `\r`: a leading `\n` belongs to it
    SseEvent current_;
    bool has_data_ = false;
    bool failed_ = false;
    core::Error error_;
};

}  // namespace tianshu::protocol
