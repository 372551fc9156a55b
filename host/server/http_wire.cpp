#include "server/http_wire.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

namespace tianshu::server::wire {

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

namespace {

//! RFC 9110 token characters (method and header names).
bool is_tchar(char c) {
    if (std::isalnum(static_cast<unsigned char>(c))) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '.':
        case '^':
        case '_':
        case '`':
        case '|':
        case '~':
            return true;
        default:
            return false;
    }
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

//! Calls `f(token)` for each comma-separated, trimmed, non-empty token of a header value.
template <class F>
void for_each_token(std::string_view value, F&& f) {
    while (!value.empty()) {
        size_t comma = value.find(',');
        std::string_view token = trim(value.substr(0, comma));
        if (!token.empty()) f(token);
        if (comma == std::string_view::npos) break;
        value.remove_prefix(comma + 1);
    }
}

ParseResult invalid(int status, std::string message) {
    ParseResult r;
    r.status = ParseStatus::invalid;
    r.error_status = status;
    r.error = std::move(message);
    return r;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

}  // namespace

std::string_view RequestHead::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

bool RequestHead::has(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return true;
    return false;
}

ParseResult parse_request_head(std::string_view buffer, RequestHead& head, size_t max_head_bytes) {
    head = RequestHead{};
    size_t pos = 0;
    // A server should ignore empty lines before the request line (RFC 9112 §2.2).
    while (pos < buffer.size() && (buffer[pos] == '\r' || buffer[pos] == '\n')) ++pos;

    auto next_line = [&](std::string_view& line) -> bool {
        size_t lf = buffer.find('\n', pos);
        if (lf == std::string_view::npos) return false;
        line = buffer.substr(pos, lf - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        pos = lf + 1;
        return true;
    };
    auto incomplete = [&]() {
        if (buffer.size() > max_head_bytes)
            return invalid(431, "the request head exceeds " +
                                    std::to_string(max_head_bytes / 1024) +
                                    " KiB: send fewer or shorter headers");
        return ParseResult{};
    };

    std::string_view line;
    if (!next_line(line)) return incomplete();
    // METHOD SP request-target SP HTTP-version
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp1 == std::string_view::npos || sp2 == std::string_view::npos || sp1 == 0 ||
        sp2 == sp1 + 1)
        return invalid(400, "malformed request line: expected 'METHOD /path HTTP/1.1'");
    head.method = line.substr(0, sp1);
    head.target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string_view version = line.substr(sp2 + 1);
    if (!std::all_of(head.method.begin(), head.method.end(), is_tchar))
        return invalid(400, "malformed request line: the method is not a token");
    for (char c : head.target)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f)
            return invalid(400, "malformed request line: the target contains spaces or controls");
    if (version == "HTTP/1.1")
        head.minor_version = 1;
    else if (version == "HTTP/1.0")
        head.minor_version = 0;
    else if (version.substr(0, 5) == "HTTP/")
        return invalid(
            505, "HTTP version '" + std::string(version) + "' is not supported: use HTTP/1.1");
    else
        return invalid(400, "malformed request line: expected 'METHOD /path HTTP/1.1'");
    head.path = head.target.substr(0, head.target.find('?'));
    head.keep_alive = head.minor_version == 1;

    bool saw_length = false;
    bool saw_transfer_encoding = false;
    for (;;) {
        if (!next_line(line)) return incomplete();
        if (line.empty()) break;
        if (line.front() == ' ' || line.front() == '\t')
            return invalid(400, "folded header lines are not allowed: put each header on one line");
        size_t colon = line.find(':');
        if (colon == std::string_view::npos || colon == 0)
            return invalid(400, "malformed header line: expected 'Name: value'");
        std::string_view name = line.substr(0, colon);
        if (!std::all_of(name.begin(), name.end(), is_tchar))
            return invalid(400, "malformed header name '" + std::string(name.substr(0, 64)) + "'");
        std::string_view value = trim(line.substr(colon + 1));
        // RFC 9110 §5.5: a field value is visible characters, spaces, tabs and obs-text. A NUL,
        // a bare CR or another control would be read differently by the next hop.
        for (char c : value) {
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t') || u == 0x7f) {
                char code[8];
                std::snprintf(code, sizeof code, "0x%02X", u);
                return invalid(400, "header '" + std::string(name.substr(0, 64)) +
                                        "' contains the control character " + code +
                                        " in its value: remove it (only tab is allowed)");
            }
        }
        head.headers.emplace_back(name, value);

        if (iequals(name, "content-length")) {
            int64_t n = -1;
            auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
            if (ec != std::errc{} || end != value.data() + value.size() || n < 0 || value.empty())
                return invalid(400, "Content-Length '" + std::string(value.substr(0, 32)) +
                                        "' is not a non-negative whole number");
            if (saw_length && n != head.content_length)
                return invalid(400, "two different Content-Length headers: send one");
            saw_length = true;
            head.content_length = n;
        } else if (iequals(name, "transfer-encoding")) {
            saw_transfer_encoding = true;
            std::string_view last;
            for_each_token(value, [&](std::string_view t) { last = t; });
            if (!iequals(last, "chunked"))
                return invalid(501, "Transfer-Encoding '" + std::string(value.substr(0, 64)) +
                                        "' is not supported: send Content-Length or chunked");
            head.chunked = true;
        } else if (iequals(name, "connection")) {
            for_each_token(value, [&](std::string_view t) {
                if (iequals(t, "close")) head.keep_alive = false;
                if (iequals(t, "keep-alive") && head.minor_version == 0) head.keep_alive = true;
            });
        } else if (iequals(name, "expect")) {
            if (iequals(value, "100-continue")) head.expect_continue = true;
        }
    }
    if (saw_transfer_encoding && saw_length)
        return invalid(
            400, "both Transfer-Encoding and Content-Length were sent: send only one of them");
    if (pos > max_head_bytes)
        return invalid(431, "the request head exceeds " + std::to_string(max_head_bytes / 1024) +
                                " KiB: send fewer or shorter headers");
    ParseResult r;
    r.status = ParseStatus::complete;
    r.head_bytes = pos;
    return r;
}

bool ChunkedBodyDecoder::fail(std::string message) {
    error_ = std::move(message);
    return false;
}

bool ChunkedBodyDecoder::feed(std::string_view& in, std::string& out) {
    if (!error_.empty()) return false;
    while (!in.empty() && state_ != State::done) {
        char c = in.front();
        switch (state_) {
            case State::size: {
                int v = hex_value(c);
                if (v >= 0) {
                    if (++size_digits_ > 15)
                        return fail("chunk size has too many digits (at most 15 hex digits)");
                    remaining_ = remaining_ * 16 + static_cast<uint64_t>(v);
                    in.remove_prefix(1);
                } else if (size_digits_ == 0) {
                    return fail("malformed chunk size: expected hex digits");
                } else if (c == ';' || c == ' ' || c == '\t') {
                    state_ = State::size_ext;
                    in.remove_prefix(1);
                } else if (c == '\r') {
                    state_ = State::size_lf;
                    in.remove_prefix(1);
                } else if (c == '\n') {
                    in.remove_prefix(1);
                    state_ = remaining_ ? State::data : State::trailer;
                } else {
                    return fail("malformed chunk size: unexpected character");
                }
                break;
            }
            case State::size_ext: {
                // Chunk extensions are ignored, up to the end of the line.
                size_t lf = in.find('\n');
                if (lf == std::string_view::npos) {
                    in = {};
                    break;
                }
                in.remove_prefix(lf + 1);
                state_ = remaining_ ? State::data : State::trailer;
                break;
            }
            case State::size_lf:
                if (c != '\n') return fail("malformed chunk size line: expected CRLF");
                in.remove_prefix(1);
                state_ = remaining_ ? State::data : State::trailer;
                break;
            case State::data: {
                size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size()));
                out.append(in.data(), n);
                in.remove_prefix(n);
                remaining_ -= n;
                if (remaining_ == 0) state_ = State::data_cr;
                break;
            }
            case State::data_cr:
                if (c == '\n') {  // tolerate a bare LF after the data
                    in.remove_prefix(1);
                    state_ = State::size;
                    size_digits_ = 0;
                    break;
                }
                if (c != '\r') return fail("chunk data is longer than its declared size");
                in.remove_prefix(1);
                state_ = State::data_lf;
                break;
            case State::data_lf:
                if (c != '\n') return fail("malformed chunk: expected CRLF after the data");
                in.remove_prefix(1);
                state_ = State::size;
                size_digits_ = 0;
                break;
            case State::trailer: {
                // Trailer fields end with an empty line; they are read and dropped.
                if (c == '\r') {
                    in.remove_prefix(1);
                    state_ = State::trailer_lf;
                    break;
                }
                if (c == '\n' && trailer_line_ == 0) {
                    in.remove_prefix(1);
                    state_ = State::done;
                    break;
                }
                in.remove_prefix(1);
                if (c == '\n')
                    trailer_line_ = 0;
                else if (++trailer_line_ > 8192)
                    return fail("chunked trailer line too long");
                break;
            }
            case State::trailer_lf:
                if (c != '\n') return fail("malformed chunked trailer: expected CRLF");
                in.remove_prefix(1);
                if (trailer_line_ == 0) {
                    state_ = State::done;
                } else {
                    trailer_line_ = 0;
                    state_ = State::trailer;
                }
                break;
            case State::done:
                break;
        }
    }
    return true;
}

std::string_view reason_phrase(int status) {
    switch (status) {
        case 100:
            return "Continue";
        case 200:
            return "OK";
        case 201:
            return "Created";
        case 204:
            return "No Content";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 402:
            return "Payment Required";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 408:
            return "Request Timeout";
        case 409:
            return "Conflict";
        case 413:
            return "Content Too Large";
        case 414:
            return "URI Too Long";
        case 415:
            return "Unsupported Media Type";
        case 422:
            return "Unprocessable Content";
        case 429:
            return "Too Many Requests";
        case 431:
            return "Request Header Fields Too Large";
        case 499:
            return "Client Closed Request";
        case 500:
            return "Internal Server Error";
        case 501:
            return "Not Implemented";
        case 502:
            return "Bad Gateway";
        case 503:
            return "Service Unavailable";
        case 504:
            return "Gateway Timeout";
        case 505:
            return "HTTP Version Not Supported";
        case 529:
            return "Overloaded";
        default:
            return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
    }
}

void append_status_line(std::string& out, int status) {
    out += "HTTP/1.1 ";
    char digits[8];
    auto [end, ec] = std::to_chars(digits, digits + sizeof digits, status);
    out.append(digits, end);
    out += ' ';
    out += reason_phrase(status);
    out += "\r\n";
}

void append_header(std::string& out, std::string_view name, std::string_view value) {
    out += name;
    out += ": ";
    out += value;
    out += "\r\n";
}

void append_chunk(std::string& out, std::string_view data) {
    if (data.empty()) return;
    char size[20];
    auto [end, ec] = std::to_chars(size, size + sizeof size, data.size(), 16);
    out.append(size, end);
    out += "\r\n";
    out += data;
    out += "\r\n";
}

}  // namespace tianshu::server::wire
