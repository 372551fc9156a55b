// HTTP/1.1 request heads and chunked bodies as the server parses them: every edge case here
// would otherwise be a smuggling bug, a hang, or a crash on a hostile client.
#include <catch2/catch.hpp>

#include <string>

#include "server/http_wire.hpp"

using namespace tianshu::server::wire;

namespace {
ParseResult parse(std::string_view text, RequestHead& head, size_t max = 64 * 1024) {
    return parse_request_head(text, head, max);
}
}  // namespace

TEST_CASE("a complete head is parsed with its headers, body framing and keep-alive",
          "[unit][http_wire]") {
    const std::string text =
        "POST /v1/messages?beta=true HTTP/1.1\r\nHost: x\r\nX-Api-Key:  sk-1  \r\n"
        "Content-Length: 12\r\nExpect: 100-continue\r\n\r\n{\"a\":\"body\"}";
    RequestHead head;
    auto r = parse(text, head);
    REQUIRE(r.status == ParseStatus::complete);
    CHECK(r.head_bytes == text.size() - 12);
    CHECK(head.method == "POST");
    CHECK(head.target == "/v1/messages?beta=true");
    CHECK(head.path == "/v1/messages");
    CHECK(head.minor_version == 1);
    CHECK(head.content_length == 12);
    CHECK_FALSE(head.chunked);
    CHECK(head.expect_continue);
    CHECK(head.keep_alive);
    CHECK(head.header("x-api-key") == "sk-1");
    CHECK(head.header("X-API-KEY") == "sk-1");
    CHECK(head.header("authorization").empty());
    CHECK_FALSE(head.has("authorization"));
}

TEST_CASE("a head split anywhere is incomplete until its blank line arrives", "[unit][http_wire]") {
    const std::string text = "GET /healthz HTTP/1.1\r\nHost: x\r\nA: b\r\n\r\n";
    for (size_t cut = 0; cut < text.size(); ++cut) {
        RequestHead head;
        INFO("cut at " << cut);
        CHECK(parse(text.substr(0, cut), head).status == ParseStatus::incomplete);
    }
    RequestHead head;
    CHECK(parse(text, head).status == ParseStatus::complete);
}

TEST_CASE("connection persistence follows the version and the Connection header",
          "[unit][http_wire]") {
    RequestHead head;
    REQUIRE(parse("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", head).status ==
            ParseStatus::complete);
    CHECK_FALSE(head.keep_alive);
    REQUIRE(parse("GET / HTTP/1.0\r\n\r\n", head).status == ParseStatus::complete);
    CHECK(head.minor_version == 0);
    CHECK_FALSE(head.keep_alive);
    REQUIRE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", head).status ==
            ParseStatus::complete);
    CHECK(head.keep_alive);
    REQUIRE(parse("GET / HTTP/1.1\r\nConnection: upgrade, CLOSE\r\n\r\n", head).status ==
            ParseStatus::complete);
    CHECK_FALSE(head.keep_alive);
}

TEST_CASE("malformed or ambiguous heads are refused with the right status", "[unit][http_wire]") {
    struct Case {
        std::string text;
        int status;
    };
    const Case cases[] = {
        {"GARBAGE\r\n\r\n", 400},
        {"GET  / HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/2.0\r\n\r\n", 505},
        {"GET / FTP/1.0\r\n\r\n", 400},
        {"G(T / HTTP/1.1\r\n\r\n", 400},
        {"GET /a\x01 HTTP/1.1\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nNo colon here\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\n: empty name\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", 400},
        {"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 12abc\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400},
        // Request smuggling: both framings at once.
        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501},
        {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 501},
    };
    for (const auto& c : cases) {
        RequestHead head;
        auto r = parse(c.text, head);
        INFO(c.text);
        CHECK(r.status == ParseStatus::invalid);
        CHECK(r.error_status == c.status);
        CHECK_FALSE(r.error.empty());
    }
    RequestHead head;
    auto same = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n", head);
    CHECK(same.status == ParseStatus::complete);
    CHECK(head.content_length == 3);
}

TEST_CASE("a header value with a NUL or another control character is refused; tab is allowed",
          "[unit][http_wire]") {
    using namespace std::string_literals;
    for (const std::string& bad : {"X-A: a\0b"s, "X-A: \x01"s, "X-A: a\rb"s,
                                   "X-A: a\x1f"
                                   "b"s,
                                   "X-A: a\x7f"s, "X-A: a\r\r"s}) {
        RequestHead head;
        auto r = parse("GET / HTTP/1.1\r\n" + bad + "\r\n\r\n", head);
        INFO(bad);
        CHECK(r.status == ParseStatus::invalid);
        CHECK(r.error_status == 400);
        CHECK(r.error.find("'X-A'") != std::string::npos);
        CHECK(r.error.find("control character") != std::string::npos);
    }
    RequestHead head;
    auto nul = parse("GET / HTTP/1.1\r\nX-A: a\0b\r\n\r\n"s, head);
    CHECK(nul.error.find("0x00") != std::string::npos);
    REQUIRE(parse("GET / HTTP/1.1\r\nX-A: a\tb\xc3\xa9\r\n\r\n", head).status ==
            ParseStatus::complete);
    CHECK(head.header("x-a") == "a\tb\xc3\xa9");
}

TEST_CASE("an oversized head is refused with 431 whether or not it is complete",
          "[unit][http_wire]") {
    std::string big = "GET / HTTP/1.1\r\nX-Big: " + std::string(2000, 'a') + "\r\n";
    RequestHead head;
    auto incomplete = parse(big, head, 1024);
    CHECK(incomplete.status == ParseStatus::invalid);
    CHECK(incomplete.error_status == 431);
    auto complete = parse(big + "\r\n", head, 1024);
    CHECK(complete.status == ParseStatus::invalid);
    CHECK(complete.error_status == 431);
    CHECK(parse(big + "\r\n", head, 4096).status == ParseStatus::complete);
}

TEST_CASE("leading blank lines and bare LF line ends are tolerated", "[unit][http_wire]") {
    RequestHead head;
    auto r = parse("\r\n\r\nGET /x HTTP/1.1\nHost: y\n\n", head);
    REQUIRE(r.status == ParseStatus::complete);
    CHECK(head.path == "/x");
    CHECK(head.header("host") == "y");
}

TEST_CASE("chunked bodies decode whatever the split, with extensions and trailers",
          "[unit][http_wire]") {
    const std::string wire_body =
        "5;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
    // Every split point of the input into two feeds.
    for (size_t cut = 0; cut <= wire_body.size(); ++cut) {
        ChunkedBodyDecoder d;
        std::string out;
        std::string_view a(wire_body.data(), cut);
        std::string_view b(wire_body.data() + cut, wire_body.size() - cut);
        REQUIRE(d.feed(a, out));
        if (!d.done()) {
            CHECK(a.empty());
            REQUIRE(d.feed(b, out));
        } else {
            b = std::string_view(a.data(), a.size() + b.size());
        }
        INFO("cut at " << cut);
        REQUIRE(d.done());
        CHECK(out == "hello 0123456789");
        CHECK(b == "NEXT");  // the next request is left untouched
    }
    // One byte at a time.
    ChunkedBodyDecoder d;
    std::string out;
    size_t i = 0;
    for (; i < wire_body.size() && !d.done(); ++i) {
        std::string_view one(wire_body.data() + i, 1);
        REQUIRE(d.feed(one, out));
        CHECK(one.empty());
    }
    CHECK(d.done());
    CHECK(out == "hello 0123456789");
    CHECK(wire_body.substr(i) == "NEXT");
}

TEST_CASE("malformed chunked bodies are errors, never overreads", "[unit][http_wire]") {
    for (std::string bad : {"zz\r\n", "\r\n", "5\r\nhelloX\r\n", "5\rX", "1234567890abcdef0\r\n",
                            "3\r\nabc\rX", "0\r\nX-T: t\rX"}) {
        ChunkedBodyDecoder d;
        std::string out;
        std::string_view in(bad);
        INFO(bad);
        CHECK_FALSE(d.feed(in, out));
        CHECK_FALSE(d.error().empty());
        CHECK_FALSE(d.done());
    }
}

TEST_CASE("response heads and chunks are written in wire form", "[unit][http_wire]") {
    std::string out;
    append_status_line(out, 404);
    append_header(out, "Content-Type", "application/json");
    CHECK(out == "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\n");
    out.clear();
    append_chunk(out, std::string(26, 'x'));
    CHECK(out == "1a\r\n" + std::string(26, 'x') + "\r\n");
    out.clear();
    append_chunk(out, "");
    CHECK(out.empty());
    CHECK(reason_phrase(529) == "Overloaded");
    CHECK(reason_phrase(299) == "OK");
}
