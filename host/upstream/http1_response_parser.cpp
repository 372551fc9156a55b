#include "upstream/http1_response_parser.hpp"

#include <algorithm>
#include <cstring>

namespace tianshu::upstream {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\t';
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

//! Untrusted bytes quoted in an error message: printable ASCII only, at most 60 characters.
std::string quote(std::string_view s) {
    std::string out = "'";
    for (char c : s.substr(0, 60)) {
        if (c >= 0x20 && c < 0x7f) {
            out += c;
        } else {
            static constexpr char kHex[] = "0123456789abcdef";
            const auto u = static_cast<unsigned char>(c);
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    if (s.size() > 60) out += "...";
    return out + "'";
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//! The comma-separated `value` lists `token` (case-insensitive).
bool has_token(std::string_view value, std::string_view token) {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (iequals(trim(value.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
    return false;
}

//! The transfer codings end with "chunked" (e.g. "chunked" or "gzip, chunked").
bool ends_chunked(std::string_view value) {
    value = trim(value);
    const auto comma = value.rfind(',');
    if (comma != std::string_view::npos) value = trim(value.substr(comma + 1));
    return iequals(value, "chunked");
}

}  // namespace

void Http1ResponseParser::reset(bool head_request) {
    head_request_ = head_request;
    scanned_ = head_start_ = head_size_ = 0;
    keep_alive_ = false;
    framing_ = Framing::none;
    done_ = false;
    remaining_ = 0;
    chunk_ = ChunkState::size;
    chunk_digits_ = 0;
    chunk_line_ = trailer_bytes_ = excess_ = 0;
    error_.clear();
}

bool Http1ResponseParser::fail(std::string message) {
    error_ = std::move(message);
    return false;
}

Http1ResponseParser::HeadStatus Http1ResponseParser::parse_head(std::string_view data,
                                                                HttpResponseHead& head) {
    while (true) {
        // The head ends at the first empty line: "\n\n" or "\n\r\n".
        size_t end = std::string_view::npos;
        size_t at = std::max(scanned_, head_start_);
        while (at < data.size()) {
            const void* nl = std::memchr(data.data() + at, '\n', data.size() - at);
            if (!nl) {
                at = data.size();
                break;
            }
            at = static_cast<size_t>(static_cast<const char*>(nl) - data.data());
            if (at + 1 < data.size() && data[at + 1] == '\n') {
                end = at + 2;
                break;
            }
            if (at + 2 < data.size() && data[at + 1] == '\r' && data[at + 2] == '\n') {
                end = at + 3;
                break;
            }
            if (at + 2 >= data.size()) break;  // look at this '\n' again with more bytes
            ++at;
        }
        if (end == std::string_view::npos) {
            scanned_ = at;
            if (data.size() - head_start_ > kMaxHeadBytes) {
                fail("its status line and headers exceed " + std::to_string(kMaxHeadBytes / 1024) +
                     " KiB");
                return HeadStatus::malformed;
            }
            return HeadStatus::incomplete;
        }
        if (end - head_start_ > kMaxHeadBytes) {
            fail("its status line and headers exceed " + std::to_string(kMaxHeadBytes / 1024) +
                 " KiB");
            return HeadStatus::malformed;
        }
        head.status = 0;
        head.headers.clear();
        if (!parse_head_lines(data.substr(head_start_, end - head_start_), head))
            return HeadStatus::malformed;
        if (head.status >= 100 && head.status < 200) {
            // An interim answer (100 Continue, 103 Early Hints): the final one follows.
            head_start_ = scanned_ = end;
            continue;
        }
        head_size_ = end;
        if (!choose_framing(head)) return HeadStatus::malformed;
        return HeadStatus::complete;
    }
}

bool Http1ResponseParser::parse_head_lines(std::string_view text, HttpResponseHead& head) {
    auto next_line = [&text]() {
        const auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        return line;
    };

    // Status line: HTTP/1.x SP 3DIGIT [SP reason]
    const std::string_view status_line = next_line();
    if (status_line.size() < 12 || status_line.substr(0, 7) != "HTTP/1." || status_line[8] != ' ' ||
        (status_line.size() > 12 && status_line[12] != ' '))
        return fail("the status line " + quote(status_line) + " is not 'HTTP/1.x NNN reason'");
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
        const char c = status_line[i];
        if (c < '0' || c > '9')
            return fail("the status line " + quote(status_line) + " has no 3-digit status code");
        status = status * 10 + (c - '0');
    }
    if (status < 100)
        return fail("the status line " + quote(status_line) + " has no 3-digit status code");
    head.status = status;
    keep_alive_ = status_line[7] != '0';  // HTTP/1.1 keeps the connection unless told otherwise

    head.headers.reserve(12);
    while (!text.empty()) {
        const std::string_view line = next_line();
        if (line.empty()) break;  // the blank line that ends the head
        if (is_space(line.front())) {
            // Obsolete line folding: the value continues on this line.
            if (head.headers.empty())
                return fail("the header block starts with a continuation line " + quote(line));
            auto& value = head.headers.back().second;
            const std::string_view more = trim(line);
            if (!more.empty()) {
                if (!value.empty()) value += ' ';
                value.append(more);
            }
            continue;
        }
        const auto colon = line.find(':');
        std::string_view name =
            colon == std::string_view::npos ? std::string_view() : trim(line.substr(0, colon));
        if (name.empty()) return fail("the header line " + quote(line) + " is not 'Name: value'");
        head.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
    }
    return true;
}

bool Http1ResponseParser::choose_framing(const HttpResponseHead& head) {
    bool close = false;
    for (const auto& [name, value] : head.headers) {
        if (!iequals(name, "connection")) continue;
        close = close || has_token(value, "close");
        keep_alive_ = keep_alive_ || has_token(value, "keep-alive");
    }
    if (close) keep_alive_ = false;
    if (head_request_ || head.status == 204 || head.status == 304) {
        framing_ = Framing::none;
        done_ = true;
        return true;
    }
    bool has_length = false;
    bool has_encoding = false;
    bool chunked = false;
    uint64_t length = 0;
    for (const auto& [name, value] : head.headers) {
        if (iequals(name, "transfer-encoding")) {
            has_encoding = true;
            chunked = ends_chunked(value);
        } else if (iequals(name, "content-length")) {
            uint64_t n = 0;
            if (value.empty() || value.size() > 18 ||
                !std::all_of(value.begin(), value.end(),
                             [](char c) { return c >= '0' && c <= '9'; }))
                return fail("its Content-Length " + quote(value) + " is not a number");
            for (char c : value) n = n * 10 + static_cast<uint64_t>(c - '0');
            if (has_length && n != length)
                return fail("it has two different Content-Length headers (" +
                            std::to_string(length) + " and " + std::to_string(n) + ")");
            has_length = true;
            length = n;
        }
    }
    if (has_encoding) {
        // Transfer-Encoding overrides Content-Length (RFC 9112 6.3).
        framing_ = chunked ? Framing::chunked : Framing::until_close;
    } else if (has_length) {
        framing_ = Framing::length;
        remaining_ = length;
        done_ = length == 0;
    } else {
        framing_ = Framing::until_close;
    }
    return true;
}

bool Http1ResponseParser::decode_body(char* data, size_t size, size_t& decoded) {
    decoded = 0;
    if (done_) {
        excess_ += size;
        return true;
    }
    switch (framing_) {
        case Framing::none:
            excess_ += size;
            return true;
        case Framing::until_close:
            decoded = size;
            return true;
        case Framing::length: {
            const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, size));
            decoded = n;
            remaining_ -= n;
            excess_ += size - n;
            done_ = remaining_ == 0;
            return true;
        }
        case Framing::chunked:
            return decode_chunked(data, size, decoded);
    }
    return true;
}

bool Http1ResponseParser::decode_chunked(char* data, size_t size, size_t& decoded) {
    size_t r = 0;         // next raw byte
    size_t& w = decoded;  // end of the decoded bytes, always <= r (kept on errors too)
    w = 0;
    auto end_size_line = [this] {
        chunk_line_ = 0;
        chunk_digits_ = 0;
        chunk_ = remaining_ == 0 ? ChunkState::trailer : ChunkState::data;
    };
    auto line_too_long = [this] {
        return fail("a chunk size line is longer than " + std::to_string(kMaxChunkLineBytes) +
                    " bytes");
    };
    while (r < size && !done_) {
        const char c = data[r];
        switch (chunk_) {
            case ChunkState::size: {
                if (++chunk_line_ > kMaxChunkLineBytes) return line_too_long();
                const int v = hex_value(c);
                if (v >= 0) {
                    if (chunk_digits_ == 15)
                        return fail("a chunk size has more than 15 hex digits");
                    remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
                    ++chunk_digits_;
                } else if (chunk_digits_ == 0) {
                    return fail("a chunk size starts with " + quote(std::string_view(&c, 1)) +
                                ", not a hex digit");
                } else if (c == ';' || is_space(c)) {
                    chunk_ = ChunkState::extension;
                } else if (c == '\r') {
                    chunk_ = ChunkState::size_lf;
                } else if (c == '\n') {
                    end_size_line();
                } else {
                    return fail("a chunk size is followed by " + quote(std::string_view(&c, 1)));
                }
                ++r;
                break;
            }
            case ChunkState::extension: {
                const void* nl = std::memchr(data + r, '\n', size - r);
                const size_t stop =
                    nl ? static_cast<size_t>(static_cast<const char*>(nl) - data) + 1 : size;
                chunk_line_ += stop - r;
                if (chunk_line_ > kMaxChunkLineBytes) return line_too_long();
                r = stop;
                if (nl) end_size_line();
                break;
            }
            case ChunkState::size_lf:
                if (c != '\n') return fail("a chunk size line has a CR without LF");
                ++r;
                end_size_line();
                break;
            case ChunkState::data: {
                const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, size - r));
                if (w != r) std::memmove(data + w, data + r, n);
                w += n;
                r += n;
                remaining_ -= n;
                if (remaining_ == 0) chunk_ = ChunkState::data_cr;
                break;
            }
            case ChunkState::data_cr:
            case ChunkState::data_lf:
                if (c == '\r' && chunk_ == ChunkState::data_cr) {
                    chunk_ = ChunkState::data_lf;
                } else if (c == '\n') {
                    chunk_ = ChunkState::size;
                } else {
                    return fail("a chunk's data is not followed by CRLF (its size is wrong)");
                }
                ++r;
                break;
            case ChunkState::trailer:
                ++r;
                if (c == '\r') {
                    chunk_ = ChunkState::trailer_lf;
                } else if (c == '\n') {
                    done_ = true;
                } else {
                    chunk_ = ChunkState::trailer_line;
                    if (++trailer_bytes_ > kMaxTrailerBytes)
                        return fail("its chunked trailers exceed " +
                                    std::to_string(kMaxTrailerBytes / 1024) + " KiB");
                }
                break;
            case ChunkState::trailer_line: {
                const void* nl = std::memchr(data + r, '\n', size - r);
                const size_t stop =
                    nl ? static_cast<size_t>(static_cast<const char*>(nl) - data) + 1 : size;
                trailer_bytes_ += stop - r;
                if (trailer_bytes_ > kMaxTrailerBytes)
                    return fail("its chunked trailers exceed " +
                                std::to_string(kMaxTrailerBytes / 1024) + " KiB");
                r = stop;
                if (nl) chunk_ = ChunkState::trailer;
                break;
            }
            case ChunkState::trailer_lf:
                if (c != '\n') return fail("its chunked trailers end with a CR without LF");
                ++r;
                done_ = true;
                break;
        }
    }
    excess_ += size - r;
    return true;
}

}  // namespace tianshu::upstream
