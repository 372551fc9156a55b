#include "protocol/raw_json.hpp"

#include <cstring>

namespace tianshu::protocol {

namespace {

bool is_space(char c) {
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

//! A position in accepted JSON text. Every step returns false on anything it did not expect, so
//! that text the parser did not accept is never misread as something else.
struct Cursor {
    const char* p;
    const char* end;
    bool saw_space = false;  //!< whitespace outside strings inside a container skipped

    void skip_space() {
        while (p < end && is_space(*p)) ++p;
    }
    bool at(char c) {
        skip_space();
        return p < end && *p == c;
    }
    //! At `"`: moves past the string; `raw` is its text between the quotes, as written.
    bool string(std::string_view& raw) {
        const char* start = ++p;
        for (const char* from = start;;) {
            const auto* q = static_cast<const char*>(std::memchr(from, '"', end - from));
            if (!q) return false;
            size_t backslashes = 0;
            while (q - backslashes > start && q[-1 - static_cast<ptrdiff_t>(backslashes)] == '\\')
                ++backslashes;
            if (backslashes % 2 == 0) {
                raw = std::string_view(start, q - start);
                p = q + 1;
                return true;
            }
            from = q + 1;  // an escaped quote
        }
    }
    //! A key that can be compared as written: false when it has escapes.
    bool plain_key(std::string_view& key) {
        if (!at('"') || !string(key)) return false;
        return key.find('\\') == std::string_view::npos && at(':') && (++p, true);
    }
    bool skip_value() {
        skip_space();
        if (p >= end) return false;
        std::string_view ignored;
        if (*p == '"') return string(ignored);
        if (*p != '{' && *p != '[') {
            while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_space(*p)) ++p;
            return true;
        }
        int depth = 0;
        while (p < end) {
            const char c = *p;
            if (c == '"') {
                if (!string(ignored)) return false;
                continue;
            }
            if (c == '{' || c == '[') {
                ++depth;
            } else if (c == '}' || c == ']') {
                if (--depth == 0) {
                    ++p;
                    return true;
                }
            } else if (is_space(c)) {
                saw_space = true;
            }
            ++p;
        }
        return false;
    }
    //! After a member's value: true at `,` (moved past it), false at the object's end.
    bool next_member(bool& more) {
        skip_space();
        if (p >= end) return false;
        if (*p == ',') {
            ++p;
            more = true;
            return true;
        }
        more = false;
        return *p == '}' || *p == ']' ? (++p, true) : false;
    }
};

//! The item at the cursor (an array element): the raw text of its member `member_key`.
bool member_of_item(Cursor& c, std::string_view member_key, std::string_view& found) {
    found = {};
    if (!c.at('{')) return c.skip_value();
    ++c.p;
    if (c.at('}')) return ++c.p, true;
    for (bool more = true; more;) {
        std::string_view key;
        if (!c.plain_key(key)) return false;
        if (key == member_key) {
            c.skip_space();
            const char* start = c.p;
            c.saw_space = false;
            if (!c.skip_value()) return false;
            found = *start == '{' && !c.saw_space ? std::string_view(start, c.p - start)
                                                  : std::string_view();
        } else if (!c.skip_value()) {
            return false;
        }
        if (!c.next_member(more)) return false;
    }
    return true;
}

}  // namespace

std::optional<std::vector<std::string_view>> raw_member_of_each(std::string_view json,
                                                                std::string_view array_key,
                                                                std::string_view member_key) {
    Cursor c{json.data(), json.data() + json.size()};
    std::optional<std::vector<std::string_view>> result;
    if (!c.at('{')) return std::nullopt;
    ++c.p;
    if (c.at('}')) return std::nullopt;
    for (bool more = true; more;) {
        std::string_view key;
        if (!c.plain_key(key)) return std::nullopt;
        if (key == array_key && c.at('[')) {
            ++c.p;
            result.emplace();
            if (c.at(']')) {
                ++c.p;
            } else {
                for (bool items = true; items;) {
                    std::string_view found;
                    if (!member_of_item(c, member_key, found)) return std::nullopt;
                    result->push_back(found);
                    if (!c.next_member(items)) return std::nullopt;
                }
            }
        } else if (!c.skip_value()) {
            return std::nullopt;
        }
        if (!c.next_member(more)) return std::nullopt;
    }
    return result;
}

}  // namespace tianshu::protocol
