#include "protocol/sse.hpp"

#include <cstring>

namespace tianshu::protocol {

namespace {
//! The first '\r' or '\n' at or after `from` (npos if none): memchr for the '\n', then for a
//! '\r' before it (streams rarely carry one), so each byte is looked at by glibc's vector code
//! instead of a byte loop.
size_t find_line_break(std::string_view s, size_t from) {
    if (from >= s.size()) return std::string_view::npos;
    const char* p = s.data() + from;
    const size_t n = s.size() - from;
    const auto* lf = static_cast<const char*>(std::memchr(p, '\n', n));
    const size_t before_lf = lf ? static_cast<size_t>(lf - p) : n;
    if (const auto* cr = static_cast<const char*>(std::memchr(p, '\r', before_lf)))
        return from + static_cast<size_t>(cr - p);
    return lf ? from + before_lf : std::string_view::npos;
}
}  // namespace

void append_sse_frame(std::string& out, std::string_view event, std::string_view data) {
    if (!event.empty()) {
        out += "event: ";
        out += event;
        out += '\n';
    }
    size_t start = 0;
    while (true) {
        const size_t end = find_line_break(data, start);
        out += "data: ";
        out.append(data.substr(
            start, end == std::string_view::npos ? std::string_view::npos : end - start));
        out += '\n';
        if (end == std::string_view::npos) break;
        start = end + 1;
        if (data[end] == '\r' && start < data.size() && data[start] == '\n') ++start;
    }
    out += '\n';
}

std::string sse_frame(std::string_view event, std::string_view data) {
    std::string out;
    out.reserve(event.size() + data.size() + 18);
    append_sse_frame(out, event, data);
    return out;
}

core::Result<void> SseParser::fail(std::string message) {
    failed_ = true;
    error_ = core::Error{core::ErrorKind::upstream, std::move(message), {}};
    line_.clear();
    line_.shrink_to_fit();
    current_ = {};
    return error_;
}

core::Result<void> SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
    if (failed_) return error_;
    size_t i = 0;
    if (skip_lf_ && !bytes.empty()) {
        if (bytes[0] == '\n') i = 1;
        skip_lf_ = false;
    }
    while (i < bytes.size()) {
        const size_t end = find_line_break(bytes, i);
        if (end == std::string_view::npos) {
            if (line_.size() + (bytes.size() - i) > max_line_)
                return fail("upstream stream: an SSE line is longer than " +
                            std::to_string(max_line_) + " bytes");
            line_.append(bytes.substr(i));
            break;
        }
        std::string_view piece = bytes.substr(i, end - i);
        if (line_.size() + piece.size() > max_line_)
            return fail("upstream stream: an SSE line is longer than " + std::to_string(max_line_) +
                        " bytes");
        core::Result<void> r;
        if (line_.empty()) {
            r = line(piece, out);
        } else {
            line_.append(piece);
            r = line(line_, out);
            line_.clear();
        }
        if (!r) return r;
        i = end + 1;
        if (bytes[end] == '\r') {
            if (i < bytes.size()) {
                if (bytes[i] == '\n') ++i;
            } else {
                skip_lf_ = true;
            }
        }
    }
    return {};
}

core::Result<void> SseParser::line(std::string_view l, std::vector<SseEvent>& out) {
    if (l.empty()) {
        if (has_data_) {
            out.push_back(std::move(current_));
            std::string id = out.back().id;
            current_ = SseEvent{};
            current_.id = std::move(id);
        } else {
            current_.event.clear();
        }
        has_data_ = false;
        return {};
    }
    if (l.front() == ':') return {};  // comment (keep-alive)
    std::string_view field = l, value;
    if (const size_t colon = l.find(':'); colon != std::string_view::npos) {
        field = l.substr(0, colon);
        value = l.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    }
    if (field == "data") {
        if (current_.data.size() + value.size() + 1 > max_event_)
            return fail("upstream stream: an SSE event is longer than " +
                        std::to_string(max_event_) + " bytes");
        if (has_data_) current_.data += '\n';
        current_.data.append(value);
        has_data_ = true;
    } else if (field == "event") {
        current_.event.assign(value);
    } else if (field == "id") {
        if (value.find('\0') == std::string_view::npos) current_.id.assign(value);
    }
    // "retry" and unknown fields are ignored, as the grammar says.
    return {};
}

}  // namespace tianshu::protocol
