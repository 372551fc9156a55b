#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "upstream/http1_response_parser.hpp"

using namespace tianshu;
using upstream::Http1ResponseParser;
using upstream::HttpResponseHead;
using HeadStatus = Http1ResponseParser::HeadStatus;
using Framing = Http1ResponseParser::Framing;

namespace {

//! What a parser made of one response fed in pieces, as the client feeds it: head bytes
//! accumulate until the head is complete, body bytes are decoded in place piece by piece.
struct Parsed {
    HttpResponseHead head;
    bool head_complete = false;
    std::string body;
    int body_calls = 0;  //!< pieces that decoded to at least one body byte
    bool done = false;
    bool keep_alive = false;
    size_t excess = 0;
    std::string error;  //!< empty unless malformed
};

Parsed parse_pieces(std::string_view raw, const std::vector<size_t>& cuts,
                    bool head_request = false) {
    Http1ResponseParser p(head_request);
    Parsed out;
    std::string head_bytes;
    auto decode = [&](std::string piece) {
        size_t decoded = 0;
        if (!p.decode_body(piece.data(), piece.size(), decoded)) {
            out.error = p.error();
            return false;
        }
        REQUIRE(decoded <= piece.size());
        if (decoded) ++out.body_calls;
        out.body.append(piece.data(), decoded);
        return true;
    };
    size_t at = 0;
    std::vector<size_t> ends = cuts;
    ends.push_back(raw.size());
    for (size_t end : ends) {
        const std::string_view piece = raw.substr(at, end - at);
        at = end;
        if (!out.head_complete) {
            head_bytes.append(piece);
            const auto status = p.parse_head(head_bytes, out.head);
            if (status == HeadStatus::malformed) {
                out.error = p.error();
                return out;
            }
            if (status == HeadStatus::incomplete) continue;
            out.head_complete = true;
            if (!decode(head_bytes.substr(p.head_size()))) return out;
        } else if (!decode(std::string(piece))) {
            return out;
        }
    }
    out.done = p.done();
    out.keep_alive = p.keep_alive();
    out.excess = p.excess_bytes();
    return out;
}

Parsed parse_whole(std::string_view raw, bool head_request = false) {
    return parse_pieces(raw, {}, head_request);
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "7\r\ndata: a\r\n"
    "19;ext=1;other=\"x\"\r\ndata: {\"k\":\"bcdefghij\"}\n\n\r\n"
    "b \r\ndata: [END]\r\n"
    "0\r\n"
    "X-Trailer: done\r\n"
    "\r\n";
const std::string kChunkedBody = "data: adata: {\"k\":\"bcdefghij\"}\n\ndata: [END]";

}  // namespace

TEST_CASE("http1 parser: a Content-Length response, headers kept in arrival order",
          "[upstream][http1]") {
    const auto r =
        parse_whole("HTTP/1.1 201 Created\r\nContent-Length: 5\r\nX-B: 2\r\nx-a:  1 \r\n\r\nhello");
    REQUIRE(r.error.empty());
    CHECK(r.head.status == 201);
    REQUIRE(r.head.headers.size() == 3);
    CHECK(r.head.headers[0] == std::pair<std::string, std::string>("Content-Length", "5"));
    CHECK(r.head.headers[1] == std::pair<std::string, std::string>("X-B", "2"));
    CHECK(r.head.headers[2] == std::pair<std::string, std::string>("x-a", "1"));
    CHECK(r.head.header("X-A") == "1");
    CHECK(r.body == "hello");
    CHECK(r.done);
    CHECK(r.keep_alive);
    CHECK(r.excess == 0);
}

TEST_CASE("http1 parser: a chunked body decodes the same at every split point",
          "[upstream][http1]") {
    const auto whole = parse_whole(kChunked);
    REQUIRE(whole.error.empty());
    CHECK(whole.body == kChunkedBody);
    CHECK(whole.done);
    CHECK(whole.excess == 0);
    CHECK(whole.head.header("x-trailer").empty());  // trailers are read, not added to the head

    for (size_t i = 0; i <= kChunked.size(); ++i) {
        INFO("split at " << i);
        const auto r = parse_pieces(kChunked, {i});
        REQUIRE(r.error.empty());
        CHECK(r.head.status == 200);
        CHECK(r.body == kChunkedBody);
        CHECK(r.done);
        CHECK(r.excess == 0);
    }
    for (size_t i = 0; i <= kChunked.size(); ++i) {
        for (size_t j = i; j <= kChunked.size(); ++j) {
            const auto r = parse_pieces(kChunked, {i, j});
            if (!r.error.empty() || r.body != kChunkedBody || !r.done) {
                FAIL_CHECK("split at " << i << " and " << j << ": '" << r.body << "' " << r.error);
                return;
            }
        }
    }
    std::vector<size_t> every;
    for (size_t i = 1; i < kChunked.size(); ++i) every.push_back(i);
    const auto bytewise = parse_pieces(kChunked, every);
    REQUIRE(bytewise.error.empty());
    CHECK(bytewise.body == kChunkedBody);
    CHECK(bytewise.done);
    CHECK(bytewise.body_calls == static_cast<int>(kChunkedBody.size()));
}

TEST_CASE("http1 parser: framing rules", "[upstream][http1]") {
    SECTION("a HEAD answer has no body whatever its Content-Length says") {
        const auto r = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", true);
        CHECK(r.done);
        CHECK(r.body.empty());
    }
    SECTION("204 and 304 have no body") {
        CHECK(parse_whole("HTTP/1.1 204 No Content\r\n\r\n").done);
        CHECK(parse_whole("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n").done);
    }
    SECTION("no length and no chunking: the body runs until the connection closes") {
        const auto r = parse_whole("HTTP/1.1 200 OK\r\n\r\nsome bytes");
        CHECK(r.body == "some bytes");
        CHECK_FALSE(r.done);
    }
    SECTION("Transfer-Encoding wins over Content-Length") {
        const auto r = parse_whole(
            "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
            "4\r\nabcd\r\n0\r\n\r\n");
        CHECK(r.body == "abcd");
        CHECK(r.done);
    }
    SECTION("bytes after the end of the body are counted, not delivered") {
        const auto r = parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA");
        CHECK(r.body == "ok");
        CHECK(r.done);
        CHECK(r.excess == 5);
    }
    SECTION("interim 1xx answers are skipped") {
        const auto r = parse_whole(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: x\r\n\r\n"
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        CHECK(r.head.status == 200);
        REQUIRE(r.head.headers.size() == 1);
        CHECK(r.body == "ok");
    }
    SECTION("bare LF line ends and folded header values") {
        const auto r = parse_whole("HTTP/1.1 200 OK\nX-Long: one\n  two\nContent-Length: 1\n\nz");
        CHECK(r.head.header("x-long") == "one two");
        CHECK(r.body == "z");
    }
}

TEST_CASE("http1 parser: who keeps the connection open", "[upstream][http1]") {
    CHECK(parse_whole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK_FALSE(parse_whole("HTTP/1.1 200 OK\r\nConnection: Close\r\nContent-Length: 0\r\n\r\n")
                    .keep_alive);
    CHECK_FALSE(parse_whole("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive);
    CHECK(parse_whole("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
              .keep_alive);
}

TEST_CASE("http1 parser: malformed responses are errors that say what is wrong",
          "[upstream][http1]") {
    auto error_of = [](std::string_view raw) {
        auto r = parse_whole(raw);
        CHECK_FALSE(r.done);
        return r.error;
    };
    CHECK_THAT(error_of("SSH-2.0-OpenSSH\r\n\r\n"), Catch::Contains("status line"));
    CHECK_THAT(error_of("HTTP/1.1 2x0 OK\r\n\r\n"), Catch::Contains("3-digit status"));
    CHECK_THAT(error_of("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n"),
               Catch::Contains("'no colon here'"));
    CHECK_THAT(error_of("HTTP/1.1 200 OK\r\nContent-Length: 12abc\r\n\r\n"),
               Catch::Contains("Content-Length '12abc'"));
    CHECK_THAT(error_of("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
               Catch::Contains("two different Content-Length"));
    const std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK_THAT(error_of(chunked + "zz\r\n"), Catch::Contains("chunk size starts with 'z'"));
    CHECK_THAT(error_of(chunked + "\r\n"), Catch::Contains("chunk size"));
    CHECK_THAT(error_of(chunked + "5x\r\n"), Catch::Contains("chunk size is followed by 'x'"));
    CHECK_THAT(error_of(chunked + "fffffffffffffffff\r\n"),
               Catch::Contains("more than 15 hex digits"));
    CHECK_THAT(error_of(chunked + "3\r\nabcdef\r\n"), Catch::Contains("not followed by CRLF"));
    CHECK_THAT(error_of(chunked + "3\r\x01"), Catch::Contains("CR without LF"));
    CHECK_THAT(error_of(chunked + "3;" + std::string(5000, 'e')),
               Catch::Contains("chunk size line is longer than"));
    CHECK_THAT(error_of("HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'b')),
               Catch::Contains("exceed 64 KiB"));
    // Unprintable bytes are escaped in messages.
    CHECK_THAT(error_of("\x16\x03\x01 hello\r\n\r\n"), Catch::Contains("'\\x16\\x03\\x01 hello'"));
}
