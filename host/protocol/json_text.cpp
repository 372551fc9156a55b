#include "protocol/json_text.hpp"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

#include "core/json_write.hpp"

namespace tianshu::protocol {

namespace {

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
    core::append_json_quoted(out, s);  // the one JSON string writer (nlohmann's exact output)
}

std::string dump_json(const core::Json& j) {
    std::string out;
    append_json(out, j);
    return out;
}

// The same text as nlohmann's compact dump with error_handler_t::replace, written through
// append_json_string, which copies runs of plain bytes instead of going byte by byte through
// a UTF-8 state machine: several times faster on request-sized documents (bench_codec).
void append_json(std::string& out, const core::Json& j) {
    using V = core::Json::value_t;
    switch (j.type()) {
        case V::object: {
            out += '{';
            bool first = true;
            for (const auto& [key, value] : j.get_ref<const core::Json::object_t&>()) {
                if (!first) out += ',';
                first = false;
                append_json_string(out, key);
                out += ':';
                append_json(out, value);
            }
            out += '}';
            return;
        }
        case V::array: {
            out += '[';
            bool first = true;
            for (const auto& value : j.get_ref<const core::Json::array_t&>()) {
                if (!first) out += ',';
                first = false;
                append_json(out, value);
            }
            out += ']';
            return;
        }
        case V::string:
            append_json_string(out, j.get_ref<const std::string&>());
            return;
        case V::number_integer:
        case V::number_unsigned: {
            char buf[24];
            auto r = j.type() == V::number_integer
                         ? std::to_chars(buf, buf + sizeof buf, j.get<int64_t>())
                         : std::to_chars(buf, buf + sizeof buf, j.get<uint64_t>());
            out.append(buf, r.ptr);
            return;
        }
        case V::boolean:
            out += j.get<bool>() ? "true" : "false";
            return;
        case V::null:
        case V::discarded:
            out += "null";
            return;
        default:  // floating point (nlohmann's shortest round-trip form), binary
            out += j.dump(-1, ' ', false, core::Json::error_handler_t::replace);
            return;
    }
}

namespace {

core::Json from_simdjson(simdjson::dom::element e) {
    using T = simdjson::dom::element_type;
    switch (e.type()) {
        case T::OBJECT: {
            core::Json obj = core::Json::object();
            auto& fields = obj.get_ref<core::Json::object_t&>();
            simdjson::dom::object o = e.get_object().value_unsafe();
            for (auto field : o)
                fields.insert_or_assign(std::string(field.key), from_simdjson(field.value));
            return obj;
        }
        case T::ARRAY: {
            core::Json arr = core::Json::array();
            auto& items = arr.get_ref<core::Json::array_t&>();
            auto a = e.get_array().value_unsafe();
            items.reserve(a.size());
            for (auto item : a) items.push_back(from_simdjson(item));
            return arr;
        }
        case T::STRING:
            return core::Json(std::string(e.get_string().value_unsafe()));
        case T::INT64:
            return core::Json(e.get_int64().value_unsafe());
        case T::UINT64:
            return core::Json(e.get_uint64().value_unsafe());
        case T::DOUBLE:
            return core::Json(e.get_double().value_unsafe());
        case T::BOOL:
            return core::Json(e.get_bool().value_unsafe());
        case T::NULL_VALUE:
            break;
    }
    return core::Json();
}

// Bodies up to this size reuse the thread's parser buffers; larger ones get a parser of their
// own, so one huge request does not pin its buffers to a worker thread for good.
constexpr size_t kReusedParserBytes = 1 << 20;

}  // namespace

core::Json json_from_simdjson(const simdjson::dom::element& e) {
    return from_simdjson(e);
}

void append_compact_json(std::string& out, const simdjson::dom::element& e) {
    using T = simdjson::dom::element_type;
    switch (e.type()) {
        case T::OBJECT: {
            out += '{';
            bool first = true;
            const simdjson::dom::object object(e);
            for (const auto field : object) {
                if (!first) out += ',';
                first = false;
                append_json_string(out, field.key);
                out += ':';
                append_compact_json(out, field.value);
            }
            out += '}';
            return;
        }
        case T::ARRAY: {
            out += '[';
            bool first = true;
            const simdjson::dom::array array(e);
            for (const auto item : array) {
                if (!first) out += ',';
                first = false;
                append_compact_json(out, item);
            }
            out += ']';
            return;
        }
        case T::STRING:
            append_json_string(out, e.get_string().value_unsafe());
            return;
        case T::INT64:
            core::append_json_number(out, e.get_int64().value_unsafe());
            return;
        case T::UINT64:
            core::append_json_number(out, e.get_uint64().value_unsafe());
            return;
        case T::DOUBLE: {
            // simdjson's own shortest round-trip form, as its minify writes it.
            simdjson::internal::mini_formatter number;
            number.number(e.get_double().value_unsafe());
            out += number.str();
            return;
        }
        case T::BOOL:
            out += e.get_bool().value_unsafe() ? "true" : "false";
            return;
        case T::NULL_VALUE:
            out += "null";
            return;
    }
}

namespace {

// Parses `body` with simdjson and calls use(root) while the document is alive (it lives in the
// parser, which is reused by the next body on this thread). Returns simdjson's error code;
// MEMALLOC when the parser's buffers could not be had.
template <class Use>
simdjson::error_code parse_simdjson(std::string_view body, Use&& use) {
    // simdjson parses several times faster than nlohmann's lexer (a 75 KB Claude Code request:
    // see tests/bench/bench_codec.cpp).
    // The padded copy simdjson reads is reused too, like the parser: no allocation per body.
    thread_local simdjson::dom::parser reused;
    thread_local std::unique_ptr<char[]> reused_copy;
    thread_local size_t reused_capacity = 0;
    simdjson::dom::parser own;
    std::unique_ptr<char[]> own_copy;
    const bool small = body.size() <= kReusedParserBytes;
    auto& parser = small ? reused : own;
    auto& copy = small ? reused_copy : own_copy;
    if (!small || !copy || body.size() > reused_capacity) {
        const size_t capacity =
            small ? std::max({body.size(), 2 * reused_capacity, size_t{4096}}) : body.size();
        copy = std::make_unique<char[]>(capacity + simdjson::SIMDJSON_PADDING);
        if (small) reused_capacity = capacity;
    }
    std::memcpy(copy.get(), body.data(), body.size());
    std::memset(copy.get() + body.size(), 0, simdjson::SIMDJSON_PADDING);
    // simdjson enforces the depth limit as it parses (a separate scan cost a pass over every
    // byte: ~300k instructions for a 75 KB request).
    if (parser.capacity() < body.size() || parser.max_depth() != kMaxJsonDepth)
        if (parser.allocate(std::max(body.size(), parser.capacity()), kMaxJsonDepth))
            return simdjson::MEMALLOC;
    simdjson::dom::element root;
    const auto parsed = parser.parse(copy.get(), body.size(), false).get(root);
    if (parsed == simdjson::SUCCESS) use(root);
    return parsed;
}

}  // namespace

bool with_parsed_json(std::string_view body, void (*use)(const simdjson::dom::element&, void*),
                      void* context) {
    return parse_simdjson(body, [&](const simdjson::dom::element& root) { use(root, context); }) ==
           simdjson::SUCCESS;
}

core::Result<core::Json> parse_json_body(std::string_view body) {
    const auto too_deep = [] {
        return core::Error::invalid("request body: JSON nested deeper than " +
                                    std::to_string(kMaxJsonDepth) +
                                    " levels; flatten the document");
    };
    // The tree handed on is the same nlohmann::json nlohmann's parser would build.
    core::Json tree;
    const auto parsed = parse_simdjson(
        body, [&](const simdjson::dom::element& root) { tree = from_simdjson(root); });
    if (parsed == simdjson::SUCCESS) return tree;  // moved (C++20 implicit move)
    if (parsed == simdjson::MEMALLOC)
        return core::Error::internal_error("request body: out of memory to parse it");
    if (parsed == simdjson::DEPTH_ERROR) return too_deep();
    // Invalid (or out of simdjson's range, like integers beyond 64 bits): nlohmann decides, and
    // its message names the line and column. Its tree must not be deeper than simdjson's.
    if (max_depth(body) > kMaxJsonDepth) return too_deep();
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
