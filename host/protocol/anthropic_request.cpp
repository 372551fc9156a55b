// The Anthropic request decoded straight from simdjson's document, without first building the
// nlohmann tree that the strict decoder (core/request_json.cpp) walks: on a small request that
// tree is half the cost of decoding. Only the JSON values the canonical model keeps as JSON
// (tool schemas, tool inputs, image sources, unknown fields…) are still converted to trees.
//
// It decodes the requests clients send; anything it would have to report, it does not report:
// it gives up (nullopt) and the codec runs the strict decoder, which finds and words every
// problem. So there is one place that writes errors, and this file only has to be right about
// what it accepts, which must be decoded exactly as the strict decoder decodes it (of duplicate
// keys the last one wins there, so every field here overwrites what an earlier duplicate set).
// anthropic_request_direct_test.cpp and the fuzz target compare the two.

#include "protocol/anthropic_request.hpp"

#include <simdjson.h>

#include <cstdint>

#include "core/json_path.hpp"
#include "core/request_json.hpp"
#include "protocol/json_text.hpp"
#include "protocol/raw_json.hpp"

namespace tianshu::protocol {

namespace {

using core::ContentBlock;
using core::Json;
using simdjson::dom::element;
using Kind = simdjson::dom::element_type;
using Type = ContentBlock::Type;
using Place = core::BlockPlace;

bool is(element e, Kind k) {
    return e.type() == k;
}

// Copies out of simdjson_result: value_unsafe() hands out a reference into the temporary result,
// which a range-for over it would outlive.
std::string_view string_of(element e) {
    return e.get_string().value_unsafe();
}
simdjson::dom::object object_of(element e) {
    return e.get_object().value_unsafe();
}
simdjson::dom::array array_of(element e) {
    return e.get_array().value_unsafe();
}

bool read_string(element e, std::string& out) {
    if (!is(e, Kind::STRING)) return false;
    out.assign(string_of(e));
    return true;
}

//! A JSON integer > 0 (5.0 is refused, as the strict decoder's json_positive_integer does).
bool read_positive_integer(element e, int64_t& out) {
    if (is(e, Kind::INT64)) {
        const int64_t v = e.get_int64().value_unsafe();
        if (v <= 0) return false;
        out = v;
        return true;
    }
    if (is(e, Kind::UINT64)) {
        const uint64_t v = e.get_uint64().value_unsafe();
        if (v == 0 || v > static_cast<uint64_t>(INT64_MAX)) return false;
        out = static_cast<int64_t>(v);
        return true;
    }
    return false;
}

bool read_number(element e, double& out) {
    switch (e.type()) {
        case Kind::INT64:
            out = static_cast<double>(e.get_int64().value_unsafe());
            return true;
        case Kind::UINT64:
            out = static_cast<double>(e.get_uint64().value_unsafe());
            return true;
        case Kind::DOUBLE:
            out = e.get_double().value_unsafe();
            return true;
        default:
            return false;
    }
}

//! The strict decoder's own check of `j`: true when it finds nothing to report.
bool passes(void (*check)(const Json&, const core::JsonPath&, core::ProblemList&), const Json& j) {
    core::ProblemList problems;
    check(j, core::JsonPath{}, problems);
    return problems.empty();
}

bool decode_blocks(element e, Place place, std::vector<ContentBlock>& out);

bool decode_block(element e, Place place, ContentBlock& b) {
    if (!is(e, Kind::OBJECT)) return false;
    const simdjson::dom::object o = object_of(e);
    bool has_type = false;
    for (auto field : o) {
        if (field.key != "type") continue;
        if (!is(field.value, Kind::STRING) ||
            !core::block_type_from_string(string_of(field.value), b.type))
            return false;
        has_type = true;
    }
    if (!has_type || !core::allowed_in(place, b.type)) return false;

    bool has_required = false, has_id = false, has_name = false, has_input = false;
    for (auto field : o) {
        const std::string_view key = field.key;
        const element v = field.value;
        if (key == "type") continue;
        if (key == "cache_control" && b.type != Type::thinking &&
            b.type != Type::redacted_thinking) {
            if (!is(v, Kind::OBJECT) && !is(v, Kind::NULL_VALUE)) return false;
            b.cache_control = json_from_simdjson(v);
            continue;
        }
        bool known = false;
        switch (b.type) {
            case Type::text:
                if (key == "text") {
                    known = has_required = read_string(v, b.text);
                } else if (key == "citations") {  // dropped, as by the strict decoder
                    known = is(v, Kind::ARRAY) || is(v, Kind::NULL_VALUE);
                }
                break;
            case Type::image:
                if (key == "source") {
                    b.source = json_from_simdjson(v);
                    known = has_required = passes(core::check_image_source, b.source);
                }
                break;
            case Type::tool_use:
                if (key == "id") {
                    known = has_id = read_string(v, b.id);
                } else if (key == "name") {
                    known = has_name = read_string(v, b.name);
                } else if (key == "input" && is(v, Kind::OBJECT)) {
                    b.input = json_from_simdjson(v);
                    known = has_input = true;
                }
                break;
            case Type::tool_result:
                if (key == "tool_use_id") {
                    known = has_id = read_string(v, b.id);
                } else if (key == "content") {
                    b.content.clear();
                    if (is(v, Kind::STRING)) {
                        if (!string_of(v).empty())
                            b.content.push_back(ContentBlock::make_text(std::string(string_of(v))));
                        known = true;
                    } else if (is(v, Kind::ARRAY)) {
                        known = decode_blocks(v, Place::tool_result, b.content);
                    } else {
                        known = is(v, Kind::NULL_VALUE);
                    }
                } else if (key == "is_error" && is(v, Kind::BOOL)) {
                    b.is_error = v.get_bool().value_unsafe();
                    known = true;
                }
                break;
            case Type::thinking:
                if (key == "thinking")
                    known = has_required = read_string(v, b.text);
                else if (key == "signature")
                    known = read_string(v, b.signature);
                break;
            case Type::redacted_thinking:
                if (key == "data") known = has_required = read_string(v, b.text);
                break;
        }
        if (!known) return false;
    }
    switch (b.type) {
        case Type::tool_use:
            return has_id && has_name && has_input;
        case Type::tool_result:
            return has_id;
        default:
            return has_required;
    }
}

bool decode_blocks(element e, Place place, std::vector<ContentBlock>& out) {
    const simdjson::dom::array items = array_of(e);
    out.clear();
    out.reserve(items.size());
    for (element item : items) {
        ContentBlock b;
        if (!decode_block(item, place, b)) return false;
        out.push_back(std::move(b));
    }
    return true;
}

bool decode_message(element e, core::Message& m) {
    if (!is(e, Kind::OBJECT)) return false;
    bool has_role = false, has_content = false;
    for (auto field : object_of(e)) {
        const element v = field.value;
        if (field.key == "role") {
            if (!is(v, Kind::STRING)) return false;
            const std::string_view r = string_of(v);
            if (r == "user")
                m.role = core::Role::user;
            else if (r == "assistant")
                m.role = core::Role::assistant;
            else if (r == "system")
                m.role = core::Role::system;
            else
                return false;
            has_role = true;
        } else if (field.key == "content") {
            if (is(v, Kind::STRING)) {
                m.content.clear();
                m.content.push_back(ContentBlock::make_text(std::string(string_of(v))));
            } else if (!is(v, Kind::ARRAY) || !decode_blocks(v, Place::message, m.content)) {
                return false;
            }
            has_content = true;
        } else {
            return false;
        }
    }
    return has_role && has_content;
}

//! `raw_schema`: the client's own text of the tool's input_schema when it could be cut out of the
//! body (raw_member_of_each), else empty and the schema is written from the document.
bool decode_tool(element e, core::Tool& t, std::string_view raw_schema) {
    if (!is(e, Kind::OBJECT)) return false;
    bool has_name = false, has_schema = false;
    t.extra = Json::object();
    for (auto field : object_of(e)) {
        const element v = field.value;
        if (field.key == "name") {
            if (!read_string(v, t.name) || t.name.empty()) return false;
            has_name = true;
        } else if (field.key == "description") {
            if (!read_string(v, t.description)) return false;
        } else if (field.key == "input_schema") {
            if (!is(v, Kind::OBJECT)) return false;
            // Kept as text: most requests send it upstream without looking inside.
            std::string text;
            if (raw_schema.empty())
                append_compact_json(text, v);
            else
                text = raw_schema;
            t.input_schema = core::LazyJson::from_text(std::move(text));
            has_schema = true;
        } else {
            t.extra[std::string(field.key)] = json_from_simdjson(v);
        }
    }
    // A typed tool other than "custom" is a server tool (web_search_…, bash_…): no schema needed.
    const auto type = t.extra.find("type");
    const bool custom = type == t.extra.end() || (type->is_string() && *type == "custom");
    return has_name && (has_schema || !custom);
}

//! The value of a top-level field the canonical model keeps as JSON: null when the client sent
//! null, otherwise an object that passes `check` (nullptr: any object).
bool read_json_object(element v, Json& out,
                      void (*check)(const Json&, const core::JsonPath&, core::ProblemList&)) {
    if (is(v, Kind::NULL_VALUE)) {
        out = Json();
        return true;
    }
    if (!is(v, Kind::OBJECT)) return false;
    out = json_from_simdjson(v);
    return !check || passes(check, out);
}

//! An array decoded item by item into `out`, replacing what an earlier duplicate key put there.
//! `decode(item, out[i], i)`.
template <class T, class Decode>
bool decode_each(element v, std::vector<T>& out, Decode&& decode) {
    if (!is(v, Kind::ARRAY)) return false;
    const simdjson::dom::array items = array_of(v);
    out.clear();
    out.resize(items.size());
    size_t i = 0;
    for (element item : items) {
        if (!decode(item, out[i], i)) return false;
        ++i;
    }
    return true;
}

//! `raw_schemas`: the tools' input_schema texts as the body has them (see decode_tool), when
//! they could be cut out.
bool decode_field(std::string_view key, element v, core::Request& r,
                  const std::optional<std::vector<std::string_view>>& raw_schemas) {
    if (key == "model") return read_string(v, r.model) && !r.model.empty();
    if (key == "messages")
        return decode_each(v, r.messages, [](element e, core::Message& m, size_t) {
            return decode_message(e, m);
        });
    if (key == "system") {
        if (is(v, Kind::ARRAY)) return decode_blocks(v, Place::system, r.system);
        r.system.clear();
        if (is(v, Kind::STRING)) {
            if (!string_of(v).empty())
                r.system.push_back(ContentBlock::make_text(std::string(string_of(v))));
            return true;
        }
        return is(v, Kind::NULL_VALUE);
    }
    if (key == "max_tokens" || key == "top_k") {
        int64_t n = 0;
        if (!read_positive_integer(v, n)) return false;
        (key == "max_tokens" ? r.max_tokens : r.top_k) = n;
        return true;
    }
    if (key == "temperature" || key == "top_p") {
        double d = 0;
        const double hi = key == "temperature" ? 2.0 : 1.0;
        if (!read_number(v, d) || !(d >= 0.0 && d <= hi)) return false;
        (key == "temperature" ? r.temperature : r.top_p) = d;
        return true;
    }
    if (key == "stop_sequences") {
        if (!is(v, Kind::ARRAY)) return false;
        r.stop_sequences.clear();
        for (element s : array_of(v)) {
            if (!is(s, Kind::STRING)) return false;
            r.stop_sequences.emplace_back(string_of(s));
        }
        return true;
    }
    if (key == "stream") {
        if (!is(v, Kind::BOOL)) return false;
        r.stream = v.get_bool().value_unsafe();
        return true;
    }
    if (key == "tools")
        return decode_each(v, r.tools, [&](element e, core::Tool& t, size_t i) {
            const bool raw = raw_schemas && i < raw_schemas->size();
            return decode_tool(e, t, raw ? (*raw_schemas)[i] : std::string_view());
        });
    if (key == "tool_choice") return read_json_object(v, r.tool_choice, core::check_tool_choice);
    if (key == "thinking") return read_json_object(v, r.thinking, core::check_thinking);
    if (key == "metadata") return read_json_object(v, r.metadata, nullptr);
    r.extra[std::string(key)] = json_from_simdjson(v);
    return true;
}

}  // namespace

std::optional<core::Request> decode_request_direct(const simdjson::dom::element& root,
                                                   std::string_view body) {
    if (!is(root, Kind::OBJECT)) return std::nullopt;
    // Of duplicate "tools" keys both decoders keep the last, as raw_member_of_each does: an
    // earlier one may be handed the last one's texts, and is then replaced whole.
    const auto raw_schemas = raw_member_of_each(body, "tools", "input_schema");
    core::Request r;
    r.extra = Json::object();
    bool has_model = false, has_messages = false;
    for (auto field : object_of(root)) {
        if (!decode_field(field.key, field.value, r, raw_schemas)) return std::nullopt;
        has_model = has_model || field.key == "model";
        has_messages = has_messages || field.key == "messages";
    }
    if (!has_model || !has_messages || r.messages.empty()) return std::nullopt;
    core::ProblemList problems;
    const core::JsonPath root_path;
    core::check_tool_pairing(r.messages, root_path.field("messages"), problems);
    if (!problems.empty()) return std::nullopt;
    return r;
}

}  // namespace tianshu::protocol
