#include <catch2/catch.hpp>

#include "protocol/sse.hpp"

using tianshu::protocol::sse_frame;
using tianshu::protocol::SseEvent;
using tianshu::protocol::SseParser;

namespace {

std::vector<SseEvent> parse_whole(std::string_view text) {
    SseParser parser;
    std::vector<SseEvent> out;
    REQUIRE(parser.feed(text, out).ok());
    return out;
}

// A stream mixing everything the grammar allows: named and unnamed events, CRLF, bare CR,
// comments, multi-line data, an event with no data (not dispatched), ids and retry.
const std::string kStream =
    ": keep-alive comment\n"
    "event: message_start\n"
    "data: {\"type\":\"message_start\"}\n"
    "\n"
    "event: content_block_delta\r\n"
    "data: line one\r\n"
    "data:line two\r\n"
    "\r\n"
    "id: 7\r"
    "data: bare CR ends lines too\r"
    "\r"
    "event: ignored-without-data\n"
    "\n"
    "retry: 1000\n"
    "data:\n"
    "\n"
    "data: [DONE]\n"
    "\n";

}  // namespace

TEST_CASE("sse_frame writes one event per blank-line-terminated frame") {
    CHECK(sse_frame("ping", R"({"type":"ping"})") == "event: ping\ndata: {\"type\":\"ping\"}\n\n");
    CHECK(sse_frame("", "[DONE]") == "data: [DONE]\n\n");
    CHECK(sse_frame("e", "a\nb\r\nc") == "event: e\ndata: a\ndata: b\ndata: c\n\n");
}

TEST_CASE("the SSE parser follows the grammar: CRLF, CR, comments, multi-line data") {
    const auto events = parse_whole(kStream);
    REQUIRE(events.size() == 5);
    CHECK(events[0] == SseEvent{"message_start", R"({"type":"message_start"})", ""});
    CHECK(events[1] == SseEvent{"content_block_delta", "line one\nline two", ""});
    CHECK(events[2] == SseEvent{"", "bare CR ends lines too", "7"});
    CHECK(events[3] == SseEvent{"", "", "7"});  // an empty data line still dispatches
    CHECK(events[4] == SseEvent{"", "[DONE]", "7"});
}

TEST_CASE("splitting the stream at every byte boundary yields the same events") {
    const auto whole = parse_whole(kStream);
    for (size_t cut = 0; cut <= kStream.size(); ++cut) {
        SseParser parser;
        std::vector<SseEvent> out;
        REQUIRE(parser.feed(std::string_view(kStream).substr(0, cut), out).ok());
        REQUIRE(parser.feed(std::string_view(kStream).substr(cut), out).ok());
        INFO("cut at byte " << cut);
        CHECK(out == whole);
    }
}

TEST_CASE("feeding one byte at a time yields the same events") {
    SseParser parser;
    std::vector<SseEvent> out;
    for (char c : kStream) REQUIRE(parser.feed(std::string_view(&c, 1), out).ok());
    CHECK(out == parse_whole(kStream));
    CHECK_FALSE(parser.mid_event());
}

TEST_CASE("a stream cut in the middle of an event is detectable") {
    SseParser parser;
    std::vector<SseEvent> out;
    REQUIRE(parser.feed("event: content_block_delta\ndata: {\"partial", out).ok());
    CHECK(out.empty());
    CHECK(parser.mid_event());
}

TEST_CASE("an over-long line fails the stream instead of growing the buffer") {
    SseParser parser(/*max_line=*/64, /*max_event=*/256);
    std::vector<SseEvent> out;
    REQUIRE(parser.feed("data: short\n\n", out).ok());
    REQUIRE(out.size() == 1);
    auto r = parser.feed(std::string(40, 'x'), out);
    REQUIRE(r.ok());
    r = parser.feed(std::string(40, 'x'), out);  // the line now passes 64 bytes without an end
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == tianshu::core::ErrorKind::upstream);
    CHECK(r.error().message.find("longer than 64 bytes") != std::string::npos);
    CHECK_FALSE(parser.feed("data: more\n\n", out).ok());  // stays failed
}

TEST_CASE("an over-long event (many data lines) fails the stream") {
    SseParser parser(/*max_line=*/64, /*max_event=*/100);
    std::vector<SseEvent> out;
    std::string many;
    for (int i = 0; i < 10; ++i) many += "data: 0123456789abcdef\n";
    auto r = parser.feed(many, out);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("event is longer than 100 bytes") != std::string::npos);
}
