#pragma once
// HTTP/1.1 on the wire, for the server side: parsing a request head, decoding a chunked request
// body, and writing response heads and chunks. Pure functions over buffers (no sockets), so
// every edge case is unit-tested without a network.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::server::wire {

//! ASCII case-insensitive equality (header names, tokens).
bool iequals(std::string_view a, std::string_view b);

//! A parsed request head. The views point into the buffer the head was parsed from and stay
//! valid only while that buffer is unchanged.
struct RequestHead {
    std::string_view method;
    std::string_view target;  //!< as sent: path and query
    std::string_view path;    //!< target without the query
    int minor_version = 1;    //!< HTTP/1.x
    std::vector<std::pair<std::string_view, std::string_view>> headers;

    //! -1 when the request has no Content-Length.
    int64_t content_length = -1;
    bool chunked = false;
    bool expect_continue = false;
    //! HTTP/1.1 unless `Connection: close`; HTTP/1.0 only with `Connection: keep-alive`.
    bool keep_alive = true;

    //! Case-insensitive; empty when absent.
    std::string_view header(std::string_view name) const;
    bool has(std::string_view name) const;
};

enum class ParseStatus { complete, incomplete, invalid };

struct ParseResult {
    ParseStatus status = ParseStatus::incomplete;
    size_t head_bytes = 0;  //!< bytes of the head, including the blank line (when complete)
    int error_status = 0;   //!< 400, 414, 431, 501 or 505 (when invalid)
    std::string error;      //!< what was wrong, for the 4xx body (when invalid)
};

//! Parses the head at the start of `buffer`. `max_head_bytes` bounds the head: a head that is
//! still incomplete beyond it is invalid (431).
ParseResult parse_request_head(std::string_view buffer, RequestHead& head,
                               size_t max_head_bytes = 64 * 1024);

//! Decodes a `Transfer-Encoding: chunked` request body incrementally.
class ChunkedBodyDecoder {
  public:
    //! Consumes bytes from `in` (advancing it) and appends decoded data to `out`. Stops at the
    //! end of the body (done()) or when `in` is exhausted. Returns false on malformed input
    //! (error() says what).
    bool feed(std::string_view& in, std::string& out);
    bool done() const { return state_ == State::done; }
    const std::string& error() const { return error_; }

  private:
    enum class State { size, size_ext, size_lf, data, data_cr, data_lf, trailer, trailer_lf, done };
    bool fail(std::string message);
    State state_ = State::size;
    uint64_t remaining_ = 0;
    int size_digits_ = 0;
    size_t trailer_line_ = 0;
    std::string error_;
};

//! The reason phrase for a status code ("OK", "Not Found", …).
std::string_view reason_phrase(int status);

//! Appends "HTTP/1.1 <status> <reason>\r\n".
void append_status_line(std::string& out, int status);
//! Appends "<name>: <value>\r\n".
void append_header(std::string& out, std::string_view name, std::string_view value);
//! Appends one chunk of a chunked body ("<hex size>\r\n<data>\r\n"); nothing for empty data.
void append_chunk(std::string& out, std::string_view data);
//! The last chunk of a chunked body.
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";

}  // namespace tianshu::server::wire
