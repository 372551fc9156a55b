#pragma once
// Parses one HTTP/1.1 response as its bytes arrive: the status line and headers, then the body
// framed by Transfer-Encoding: chunked, Content-Length or the end of the connection. Pure (no
// sockets), so it can be tested and fuzzed byte by byte.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "upstream/http_client.hpp"

namespace tianshu::upstream {

//! One response's parser; reset() before reusing it for the next response on a connection.
//! Errors are plain strings saying what was malformed; the caller names the upstream.
class Http1ResponseParser {
  public:
    static constexpr size_t kMaxHeadBytes = 64 * 1024;      //!< status line + headers
    static constexpr size_t kMaxChunkLineBytes = 4 * 1024;  //!< chunk size + extensions
    static constexpr size_t kMaxTrailerBytes = 64 * 1024;

    //! How the body ends, known once the head is parsed.
    enum class Framing {
        none,         //!< HEAD request, 1xx/204/304: no body at all
        length,       //!< Content-Length bytes
        chunked,      //!< Transfer-Encoding: chunked, up to the zero chunk and its trailers
        until_close,  //!< neither: the body ends when the server closes the connection
    };

    //! What parse_head() found.
    enum class HeadStatus {
        incomplete,  //!< call again with more bytes (all of them from the start of the response)
        complete,    //!< `head` is filled; head_size() bytes of the input were the head
        malformed,   //!< error() says what; the connection cannot be used any more
    };

    //! `head_request`: the request was HEAD, so the response has no body whatever it says.
    explicit Http1ResponseParser(bool head_request = false) { reset(head_request); }
    void reset(bool head_request);

    //! Parses the status line and headers from `data`: every byte received so far, from the
    //! start of the response. Interim 1xx responses before the final one are skipped. On
    //! `complete`, the bytes after head_size() are the first body bytes.
    HeadStatus parse_head(std::string_view data, HttpResponseHead& head);
    size_t head_size() const { return head_size_; }
    //! The server keeps the connection open after this response: HTTP/1.1 without
    //! `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    bool keep_alive() const { return keep_alive_; }
    Framing framing() const { return framing_; }

    //! Decodes `size` raw body bytes at `data` in place: the decoded body is written to the
    //! front of the same buffer and its length returned (never more than `size`). Returns
    //! false on a malformed body (error() says what; `decoded` still counts the good bytes
    //! before the fault). Bytes past the end of the body are counted in excess_bytes(), never
    //! decoded.
    bool decode_body(char* data, size_t size, size_t& decoded);

    //! The whole body has been read (for until_close: only the caller knows, at EOF).
    bool done() const { return done_; }
    //! Bytes the server sent after the end of the response: the connection is not reusable.
    size_t excess_bytes() const { return excess_; }
    const std::string& error() const { return error_; }

  private:
    enum class ChunkState : uint8_t {
        size,       //!< hex digits of the chunk size
        extension,  //!< `;name=value` after the size, up to the line end
        size_lf,    //!< '\r' seen after the size line, '\n' expected
        data,       //!< chunk payload
        data_cr,    //!< CRLF after the payload
        data_lf,    //!< '\n' of that CRLF
        trailer,    //!< start of a trailer line (or of the final empty line)
        trailer_line,
        trailer_lf,  //!< '\r' of the final empty line seen
    };

    bool parse_head_lines(std::string_view head_text, HttpResponseHead& head);
    bool choose_framing(const HttpResponseHead& head);
    bool decode_chunked(char* data, size_t size, size_t& decoded);
    bool fail(std::string message);

    bool head_request_ = false;
    size_t scanned_ = 0;     //!< head bytes already searched for the blank line
    size_t head_start_ = 0;  //!< start of the current head (after skipped 1xx heads)
    size_t head_size_ = 0;
    bool keep_alive_ = false;
    Framing framing_ = Framing::none;
    bool done_ = false;
    uint64_t remaining_ = 0;  //!< Content-Length left, or bytes left in the current chunk
    ChunkState chunk_ = ChunkState::size;
    unsigned chunk_digits_ = 0;
    size_t chunk_line_ = 0;  //!< bytes of the current chunk size line
    size_t trailer_bytes_ = 0;
    size_t excess_ = 0;
    std::string error_;
};

//! Case-insensitive ASCII equality (header names, tokens). Inline: most calls differ in
//! length and end at the first comparison.
inline bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        const char x = a[i];
        const char y = b[i];
        if (x != y && ((x | 0x20) != (y | 0x20) || (x | 0x20) < 'a' || (x | 0x20) > 'z'))
            return false;
    }
    return true;
}

}  // namespace tianshu::upstream
