// libFuzzer: arbitrary bytes as a client's HTTP/1.1 request head. parse_request_head must never
// crash or read past its buffer, must agree with itself whatever the head limit, and a head it
// accepts must mean one thing: written back in canonical form (request line, "Name: value"
// lines, blank line) and parsed again, it gives the same method, target, version, headers and
// body framing. A difference is a head that two readers could see differently (smuggling).
//
// Input: the bytes as they come off the socket.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "server/http_wire.hpp"

namespace wire = tianshu::server::wire;

namespace {

constexpr size_t kNoLimit = ~size_t{0};

[[noreturn]] void differ(const char* what) {
    __builtin_printf("request head re-parse differs: %s\n", what);
    std::abort();
}

//! The head written back as a sender that follows RFC 9112 would write it.
std::string serialise(const wire::RequestHead& head) {
    std::string out;
    out += head.method;
    out += ' ';
    out += head.target;
    out += head.minor_version == 1 ? " HTTP/1.1\r\n" : " HTTP/1.0\r\n";
    for (const auto& [name, value] : head.headers) {
        out += name;
        out += ": ";
        out += value;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // A buffer of exactly the input's size, so ASan sees any read past the end.
    std::vector<char> bytes(data, data + size);
    const std::string_view input(bytes.data(), bytes.size());

    wire::RequestHead head;
    const wire::ParseResult first = wire::parse_request_head(input, head, kNoLimit);
    if (first.status == wire::ParseStatus::invalid) {
        if (first.error.empty()) differ("an invalid head without an error message");
        if (first.error_status < 400 || first.error_status > 599) differ("error status");
        return 0;
    }
    if (first.status == wire::ParseStatus::incomplete) return 0;
    if (first.head_bytes == 0 || first.head_bytes > size) differ("head_bytes out of range");

    // Only the head's own bytes matter: what follows it (a body) changes nothing.
    wire::RequestHead alone;
    const auto cut = wire::parse_request_head(input.substr(0, first.head_bytes), alone, kNoLimit);
    if (cut.status != wire::ParseStatus::complete || cut.head_bytes != first.head_bytes)
        differ("the head alone parses differently");

    // A limit below the head's size turns it into a 431, never into another head.
    if (first.head_bytes > 1) {
        wire::RequestHead limited;
        const auto small = wire::parse_request_head(input, limited, first.head_bytes - 1);
        if (small.status != wire::ParseStatus::invalid || small.error_status != 431)
            differ("a head over the limit is not a 431");
    }

    const std::string again_text = serialise(head);
    wire::RequestHead again;
    const auto second = wire::parse_request_head(again_text, again, kNoLimit);
    if (second.status != wire::ParseStatus::complete) differ("the canonical form is not accepted");
    if (second.head_bytes != again_text.size()) differ("canonical head_bytes");
    if (again.method != head.method) differ("method");
    if (again.target != head.target) differ("target");
    if (again.path != head.path) differ("path");
    if (again.minor_version != head.minor_version) differ("version");
    if (again.headers.size() != head.headers.size()) differ("number of headers");
    for (size_t i = 0; i < head.headers.size(); ++i) {
        if (again.headers[i].first != head.headers[i].first) differ("header name");
        if (again.headers[i].second != head.headers[i].second) differ("header value");
    }
    if (again.content_length != head.content_length) differ("Content-Length");
    if (again.chunked != head.chunked) differ("chunked");
    if (again.expect_continue != head.expect_continue) differ("Expect");
    if (again.keep_alive != head.keep_alive) differ("keep-alive");
    return 0;
}
