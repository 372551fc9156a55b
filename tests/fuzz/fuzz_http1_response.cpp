// libFuzzer: arbitrary bytes as an upstream's HTTP/1.1 response. Http1ResponseParser must never
// crash, never decode more bytes than it was given, and give the same head, body and verdict
// whether the bytes come at once or in the pieces a socket delivers them in. Errors it reports
// quote untrusted bytes, so they must stay printable.
//
// Input: byte 0 picks the piece size (1 + low 6 bits) and whether the request was HEAD (bit 7);
// the rest is the response as it comes off the socket.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "upstream/http1_response_parser.hpp"

using tianshu::upstream::Http1ResponseParser;
using tianshu::upstream::HttpResponseHead;

namespace {

//! What one parse of a whole response produced.
struct Outcome {
    Http1ResponseParser::HeadStatus status = Http1ResponseParser::HeadStatus::incomplete;
    HttpResponseHead head;
    std::string body;
    bool body_ok = true;
    bool done = false;
    bool keep_alive = false;
    Http1ResponseParser::Framing framing = Http1ResponseParser::Framing::none;
    size_t excess = 0;
    std::string error;
};

//! Decodes `raw` body bytes in a buffer of exactly their size (so ASan sees any overrun).
bool decode(Http1ResponseParser& parser, std::string_view raw, Outcome& out) {
    std::vector<char> buffer(raw.begin(), raw.end());
    size_t decoded = 0;
    const bool ok = parser.decode_body(buffer.data(), buffer.size(), decoded);
    if (decoded > raw.size()) std::abort();
    out.body.append(buffer.data(), decoded);
    return ok;
}

//! Feeds `response` to a fresh parser `piece` bytes at a time, as the client does: every head
//! byte so far to parse_head(), then each later piece to decode_body().
Outcome parse(std::string_view response, size_t piece, bool head_request) {
    Outcome out;
    Http1ResponseParser parser(head_request);
    size_t received = 0;
    bool head_done = false;
    while (received < response.size() && out.body_ok) {
        const size_t from = received;
        received = std::min(response.size(), received + piece);
        if (head_done) {
            out.body_ok = decode(parser, response.substr(from, received - from), out);
            continue;
        }
        out.status = parser.parse_head(response.substr(0, received), out.head);
        if (out.status == Http1ResponseParser::HeadStatus::malformed) break;
        if (out.status == Http1ResponseParser::HeadStatus::incomplete) continue;
        head_done = true;
        if (parser.head_size() > received) std::abort();
        out.body_ok =
            decode(parser, response.substr(parser.head_size(), received - parser.head_size()), out);
    }
    out.done = parser.done();
    out.keep_alive = parser.keep_alive();
    out.framing = parser.framing();
    out.excess = parser.excess_bytes();
    out.error = parser.error();
    return out;
}

bool printable(const std::string& s) {
    for (char c : s)
        if (c < 0x20 || c > 0x7e) return false;
    return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0) return 0;
    const size_t piece = 1 + (data[0] & 0x3f);
    const bool head_request = (data[0] & 0x80) != 0;
    const std::string_view response(reinterpret_cast<const char*>(data + 1), size - 1);

    const Outcome whole = parse(response, response.size() + 1, head_request);
    const Outcome split = parse(response, piece, head_request);

    using Status = Http1ResponseParser::HeadStatus;
    const bool failed = whole.status == Status::malformed || !whole.body_ok;
    if (failed == whole.error.empty()) std::abort();  // only a failure, and always, says what
    if (!printable(whole.error) || whole.error.size() > 400) std::abort();
    if (whole.body.size() > response.size()) std::abort();

    // The pieces change nothing: same verdict, head, body and state.
    if (split.status != whole.status || split.body_ok != whole.body_ok ||
        split.error != whole.error)
        std::abort();
    if (whole.status == Status::complete) {
        if (split.head.status != whole.head.status || split.head.headers != whole.head.headers ||
            split.body != whole.body || split.done != whole.done ||
            split.keep_alive != whole.keep_alive || split.framing != whole.framing ||
            split.excess != whole.excess)
            std::abort();
        if (whole.head.status < 200) std::abort();  // interim 1xx heads are skipped
        if (head_request && (!whole.body.empty() || !whole.done)) std::abort();
    }
    return 0;
}
