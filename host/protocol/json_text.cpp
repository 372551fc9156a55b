#include "protocol/json_text.hpp"

#include <cstring>

namespace tianshu::protocol {

namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence starting at s[i], or 0 when it is invalid.
size_t utf8_sequence_length(std::string_view s, size_t i) {
    const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
    const unsigned char c = b(i);
    if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (i + 1 >= s.size()) return 0;
        const unsigned char c1 = b(i + 1);
        if (c == 0xE0 && c1 < 0xA0) return 0;
        if (c == 0xED && c1 > 0x9F) return 0;  // surrogates
        return cont(i + 1) && cont(i + 2) ? 3 : 0;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (i + 1 >= s.size()) return 0;
        const unsigned char c1 = b(i + 1);
        if (c == 0xF0 && c1 < 0x90) return 0;
        if (c == 0xF4 && c1 > 0x8F) return 0;
        return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
    }
    return 0;
}

size_t max_depth(std::string_view body) {
    size_t depth = 0, deepest = 0;
    bool in_string = false;
    for (size_t i = 0; i < body.size(); ++i) {
        const char c = body[i];
        if (in_string) {
            if (c == '\\')
                ++i;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > deepest) deepest = depth;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    size_t run = 0;  // start of the pending run of bytes copied verbatim
    size_t i = 0;
    while (i < s.size()) {
        const unsigned char c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            ++i;
            continue;
        }
        if (c >= 0x80) {
            const size_t len = utf8_sequence_length(s, i);
            if (len != 0) {
                i += len;
                continue;
            }
            out.append(s.data() + run, i - run);
            out += "\xEF\xBF\xBD";
            run = ++i;
            continue;
        }
        out.append(s.data() + run, i - run);
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\f':
                out += "\\f";
                break;
            default:
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 0xF];
        }
        run = ++i;
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

std::string dump_json(const core::Json& j) {
    return j.dump(-1, ' ', false, core::Json::error_handler_t::replace);
}

void append_json(std::string& out, const core::Json& j) {
    out += dump_json(j);
}

core::Result<core::Json> parse_json_body(std::string_view body) {
    if (max_depth(body) > kMaxJsonDepth)
        return core::Error::invalid("request body: JSON nested deeper than " +
                                    std::to_string(kMaxJsonDepth) +
                                    " levels; flatten the document");
    try {
        return core::Json::parse(body.begin(), body.end());
    } catch (const core::Json::exception& e) {
        // what() reads "[json.exception.parse_error.101] parse error at line 1, column 9: …"
        std::string what = e.what();
        if (auto pos = what.find("] "); pos != std::string::npos) what.erase(0, pos + 2);
        return core::Error::invalid("request body: not valid JSON: " + what);
    }
}

}  // namespace tianshu::protocol
