#include "argument_repair.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "text_scan.hpp"

namespace tianshu::tool_repair {

using nlohmann::json;

namespace {

void note(std::vector<std::string>& repairs, const char* kind) {
    if (std::find(repairs.begin(), repairs.end(), kind) == repairs.end()) repairs.push_back(kind);
}

//! "```json\n{...}\n```" -> "{...}"; anything else unchanged.
std::string_view strip_code_fence(std::string_view s, bool& stripped) {
    s = trim(s);
    stripped = false;
    if (s.size() < 6 || s.substr(0, 3) != "```" || s.substr(s.size() - 3) != "```") return s;
    size_t nl = s.find('\n');
    if (nl == std::string_view::npos || nl > s.size() - 3) return s;
    stripped = true;
    return trim(s.substr(nl + 1, s.size() - 3 - (nl + 1)));
}

//! Rewrites the usual deviations of model-written JSON into JSON. Never invents content:
//! it only re-quotes, escapes, drops commas before a closer and renames Python literals.
std::string rewrite_lenient(std::string_view in, std::vector<std::string>& repairs) {
    std::string out;
    out.reserve(in.size() + 8);
    char quote = 0;  // the quote of the string we are in, 0 outside strings
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (quote) {
            if (c == '\\' && i + 1 < in.size()) {
                char next = in[i + 1];
                if (quote == '\'' && next == '\'') {
                    out += '\'';
                } else {
                    out += '\\';
                    out += next;
                }
                ++i;
            } else if (c == quote) {
                out += '"';
                quote = 0;
            } else if (c == '"') {
                out += "\\\"";
            } else if (c == '\n') {
                out += "\\n";
                note(repairs, "raw_newline");
            } else if (c == '\r') {
                out += "\\r";
                note(repairs, "raw_newline");
            } else if (c == '\t') {
                out += "\\t";
                note(repairs, "raw_newline");
            } else if (static_cast<unsigned char>(c) < 0x20) {
                char esc[8];
                std::snprintf(esc, sizeof esc, "\\u%04x", static_cast<unsigned>(c));
                out += esc;
                note(repairs, "raw_newline");
            } else {
                out += c;
            }
            continue;
        }
        if (c == '"' || c == '\'') {
            if (c == '\'') note(repairs, "single_quotes");
            quote = c;
            out += '"';
        } else if (c == ',') {
            size_t j = i + 1;
            while (j < in.size() && is_space(in[j])) ++j;
            if (j < in.size() && (in[j] == '}' || in[j] == ']')) {
                note(repairs, "trailing_comma");
            } else {
                out += c;
            }
        } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
            size_t j = i;
            while (j < in.size() &&
                   (std::isalnum(static_cast<unsigned char>(in[j])) || in[j] == '_'))
                ++j;
            std::string_view word = in.substr(i, j - i);
            if (word == "True") {
                out += "true";
                note(repairs, "python_literal");
            } else if (word == "False") {
                out += "false";
                note(repairs, "python_literal");
            } else if (word == "None") {
                out += "null";
                note(repairs, "python_literal");
            } else {
                out.append(word);
            }
            i = j - 1;
        } else {
            out += c;
        }
    }
    return out;
}

bool parse_integer(std::string_view s, int64_t& out) {
    s = trim(s);
    if (s.empty()) return false;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
}

bool parse_number(std::string_view s, double& out) {
    s = trim(s);
    if (s.empty()) return false;
    // JSON's own number grammar, so "1e3" passes and "0x10", "nan", "1." do not.
    try {
        json j = json::parse(s);
        if (!j.is_number()) return false;
        out = j.get<double>();
        return std::isfinite(out);
    } catch (const json::exception&) {
        return false;
    }
}

std::vector<std::string> schema_types(const json& schema) {
    std::vector<std::string> types;
    if (!schema.is_object()) return types;
    auto t = schema.find("type");
    if (t == schema.end()) return types;
    if (t->is_string()) types.push_back(t->get<std::string>());
    if (t->is_array())
        for (const auto& e : *t)
            if (e.is_string()) types.push_back(e.get<std::string>());
    return types;
}

bool has_type(const std::vector<std::string>& types, std::string_view t) {
    return std::find(types.begin(), types.end(), t) != types.end();
}

bool is_whole(double d) {
    return std::isfinite(d) && std::floor(d) == d;
}

bool matches_type(const json& v, std::string_view t) {
    if (t == "string") return v.is_string();
    if (t == "integer")
        return v.is_number_integer() || (v.is_number_float() && is_whole(v.get<double>()));
    if (t == "number") return v.is_number();
    if (t == "boolean") return v.is_boolean();
    if (t == "object") return v.is_object();
    if (t == "array") return v.is_array();
    if (t == "null") return v.is_null();
    return true;  // an unknown type word is not ours to reject
}

const char* type_name(const json& v) {
    switch (v.type()) {
        case json::value_t::string:
            return "string";
        case json::value_t::number_integer:
        case json::value_t::number_unsigned:
            return "integer";
        case json::value_t::number_float:
            return "number";
        case json::value_t::boolean:
            return "boolean";
        case json::value_t::object:
            return "object";
        case json::value_t::array:
            return "array";
        case json::value_t::null:
            return "null";
        default:
            return "value";
    }
}

std::string shown(const json& v) {
    std::string s = v.dump();
    if (s.size() > 40) s = s.substr(0, 37) + "...";
    return s;
}

std::string at(const std::string& pointer) {
    return "`" + (pointer.empty() ? std::string("/") : pointer) + "`";
}

size_t utf8_length(const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
}

//! A null (Python's None) for an optional property whose schema has no null: the model meant
//! "not given", so the property is left out.
void drop_optional_nulls(json& object, const json& schema, std::vector<std::string>& repairs) {
    auto props = schema.find("properties");
    if (props == schema.end() || !props->is_object()) return;
    auto req = schema.find("required");
    for (auto it = object.begin(); it != object.end();) {
        bool required = req != schema.end() && req->is_array() &&
                        std::find(req->begin(), req->end(), it.key()) != req->end();
        auto prop = props->find(it.key());
        if (it->is_null() && !required && prop != props->end() && prop->is_object()) {
            std::vector<std::string> types = schema_types(*prop);
            if (!types.empty() && !has_type(types, "null")) {
                it = object.erase(it);
                note(repairs, "dropped_null");
                continue;
            }
        }
        ++it;
    }
}

}  // namespace

std::optional<json> parse_lenient_json(std::string_view text, std::vector<std::string>& repairs,
                                       std::string& error) {
    bool fenced = false;
    std::string_view body = strip_code_fence(text, fenced);
    if (fenced) note(repairs, "code_fence");
    try {
        return json::parse(body);
    } catch (const json::exception&) {
    }
    std::string rewritten = rewrite_lenient(body, repairs);
    try {
        return json::parse(rewritten);
    } catch (const json::exception& e) {
        error = std::string("the arguments are not JSON even after repair (") + e.what() + ")";
        return std::nullopt;
    }
}

void coerce_to_schema(json& value, const json& schema, std::vector<std::string>& repairs) {
    if (!schema.is_object()) return;
    std::vector<std::string> types = schema_types(schema);
    bool fits = types.empty();
    for (const auto& t : types) fits = fits || matches_type(value, t);
    if (!fits && value.is_string()) {
        const std::string s = value.get<std::string>();
        int64_t i = 0;
        double d = 0;
        if (has_type(types, "integer") && parse_integer(s, i)) {
            value = i;
            note(repairs, "coerced_type");
        } else if (has_type(types, "number") && parse_number(s, d)) {
            value = is_whole(d) && std::fabs(d) < 9e15 ? json(static_cast<int64_t>(d)) : json(d);
            note(repairs, "coerced_type");
        } else if (has_type(types, "boolean") &&
                   (s == "true" || s == "false" || s == "True" || s == "False")) {
            value = (s == "true" || s == "True");
            note(repairs, "coerced_type");
        } else if (has_type(types, "null") && (s == "null" || s == "None")) {
            value = nullptr;
            note(repairs, "coerced_type");
        } else if (has_type(types, "object") || has_type(types, "array")) {
            std::vector<std::string> inner;
            std::string err;
            if (auto parsed = parse_lenient_json(s, inner, err)) {
                if ((parsed->is_object() && has_type(types, "object")) ||
                    (parsed->is_array() && has_type(types, "array"))) {
                    value = std::move(*parsed);
                    note(repairs, "stringified_json");
                }
            }
        }
    } else if (!fits && (value.is_number() || value.is_boolean()) && has_type(types, "string")) {
        value = value.dump();
        note(repairs, "coerced_type");
    }
    if (value.is_object()) {
        auto props = schema.find("properties");
        auto extra = schema.find("additionalProperties");
        drop_optional_nulls(value, schema, repairs);
        for (auto& [key, v] : value.items()) {
            if (props != schema.end() && props->is_object() && props->contains(key)) {
                coerce_to_schema(v, (*props)[key], repairs);
            } else if (extra != schema.end() && extra->is_object()) {
                coerce_to_schema(v, *extra, repairs);
            }
        }
    } else if (value.is_array()) {
        auto items = schema.find("items");
        if (items != schema.end() && items->is_object())
            for (auto& v : value) coerce_to_schema(v, *items, repairs);
    }
}

std::optional<std::string> validate_against_schema(const json& value, const json& schema,
                                                   const std::string& pointer) {
    if (schema.is_boolean()) {
        if (schema.get<bool>()) return std::nullopt;
        return at(pointer) + ": no value is allowed here";
    }
    if (!schema.is_object()) return std::nullopt;

    std::vector<std::string> types = schema_types(schema);
    if (!types.empty()) {
        bool ok = false;
        for (const auto& t : types) ok = ok || matches_type(value, t);
        if (!ok) {
            std::string want;
            for (const auto& t : types) want += (want.empty() ? "" : " or ") + t;
            return at(pointer) + ": expected " + want + ", got " + type_name(value) + " " +
                   shown(value);
        }
    }
    if (auto e = schema.find("enum"); e != schema.end() && e->is_array()) {
        if (std::find(e->begin(), e->end(), value) == e->end())
            return at(pointer) + ": " + shown(value) + " is not one of " + shown(*e);
    }
    if (auto c = schema.find("const"); c != schema.end() && *c != value)
        return at(pointer) + ": must be " + shown(*c);

    if (value.is_object()) {
        if (auto req = schema.find("required"); req != schema.end() && req->is_array()) {
            for (const auto& name : *req)
                if (name.is_string() && !value.contains(name.get<std::string>()))
                    return at(pointer) + ": the required property `" + name.get<std::string>() +
                           "` is missing";
        }
        auto props = schema.find("properties");
        auto extra = schema.find("additionalProperties");
        for (const auto& [key, v] : value.items()) {
            std::string child = pointer + "/" + key;
            if (props != schema.end() && props->is_object() && props->contains(key)) {
                if (auto err = validate_against_schema(v, (*props)[key], child)) return err;
            } else if (extra != schema.end()) {
                if (extra->is_boolean() && !extra->get<bool>())
                    return at(child) + ": the property `" + key + "` is not allowed";
                if (auto err = validate_against_schema(v, *extra, child)) return err;
            }
        }
    }
    if (value.is_array()) {
        if (auto items = schema.find("items"); items != schema.end() && items->is_object()) {
            for (size_t i = 0; i < value.size(); ++i)
                if (auto err = validate_against_schema(value[i], *items,
                                                       pointer + "/" + std::to_string(i)))
                    return err;
        }
        if (auto m = schema.find("minItems");
            m != schema.end() && m->is_number() && value.size() < m->get<double>())
            return at(pointer) + ": needs at least " + m->dump() + " items";
        if (auto m = schema.find("maxItems");
            m != schema.end() && m->is_number() && value.size() > m->get<double>())
            return at(pointer) + ": allows at most " + m->dump() + " items";
    }
    if (value.is_string()) {
        size_t n = utf8_length(value.get_ref<const std::string&>());
        if (auto m = schema.find("minLength");
            m != schema.end() && m->is_number() && n < m->get<double>())
            return at(pointer) + ": needs at least " + m->dump() + " characters";
        if (auto m = schema.find("maxLength");
            m != schema.end() && m->is_number() && n > m->get<double>())
            return at(pointer) + ": allows at most " + m->dump() + " characters";
    }
    if (value.is_number()) {
        double d = value.get<double>();
        if (auto m = schema.find("minimum");
            m != schema.end() && m->is_number() && d < m->get<double>())
            return at(pointer) + ": " + shown(value) + " is below the minimum " + m->dump();
        if (auto m = schema.find("maximum");
            m != schema.end() && m->is_number() && d > m->get<double>())
            return at(pointer) + ": " + shown(value) + " is above the maximum " + m->dump();
        if (auto m = schema.find("exclusiveMinimum");
            m != schema.end() && m->is_number() && d <= m->get<double>())
            return at(pointer) + ": " + shown(value) + " must be above " + m->dump();
        if (auto m = schema.find("exclusiveMaximum");
            m != schema.end() && m->is_number() && d >= m->get<double>())
            return at(pointer) + ": " + shown(value) + " must be below " + m->dump();
    }
    if (auto all = schema.find("allOf"); all != schema.end() && all->is_array()) {
        for (const auto& s : *all)
            if (auto err = validate_against_schema(value, s, pointer)) return err;
    }
    if (auto any = schema.find("anyOf"); any != schema.end() && any->is_array() && !any->empty()) {
        std::optional<std::string> first;
        bool ok = false;
        for (const auto& s : *any) {
            auto err = validate_against_schema(value, s, pointer);
            if (!err)
                ok = true;
            else if (!first)
                first = err;
        }
        if (!ok) return first;
    }
    if (auto one = schema.find("oneOf"); one != schema.end() && one->is_array() && !one->empty()) {
        size_t matched = 0;
        std::optional<std::string> first;
        for (const auto& s : *one) {
            auto err = validate_against_schema(value, s, pointer);
            if (!err)
                ++matched;
            else if (!first)
                first = err;
        }
        if (matched == 0) return first;
        if (matched > 1) return at(pointer) + ": matches more than one alternative of oneOf";
    }
    return std::nullopt;
}

RepairedArguments repair_arguments(json value, const json& schema) {
    RepairedArguments r;
    coerce_to_schema(value, schema, r.repairs);
    if (!value.is_object()) {
        r.error = std::string("the arguments must be a JSON object, got ") + type_name(value);
        r.arguments = std::move(value);
        return r;
    }
    if (auto err = validate_against_schema(value, schema)) {
        r.error = *err;
        r.arguments = std::move(value);
        return r;
    }
    r.ok = true;
    r.arguments = std::move(value);
    return r;
}

RepairedArguments repair_argument_text(std::string_view text, const json& schema) {
    std::vector<std::string> repairs;
    std::string error;
    std::string_view body = trim(text);
    if (body.empty()) {
        // No arguments written at all: an empty object, which the schema then judges (a tool
        // without required parameters accepts it; others fail with the missing field named).
        return repair_arguments(json::object(), schema);
    }
    auto parsed = parse_lenient_json(body, repairs, error);
    if (!parsed) {
        RepairedArguments r;
        r.error = error;
        r.repairs = std::move(repairs);
        return r;
    }
    RepairedArguments r = repair_arguments(std::move(*parsed), schema);
    repairs.insert(repairs.end(), r.repairs.begin(), r.repairs.end());
    r.repairs = std::move(repairs);
    return r;
}

json value_from_text(std::string_view text, const json& property_schema) {
    std::vector<std::string> types = schema_types(property_schema);
    if (has_type(types, "string")) return json(std::string(text));
    std::string_view t = trim(text);
    std::vector<std::string> repairs;
    std::string error;
    if (auto parsed = parse_lenient_json(t, repairs, error)) return *parsed;
    return json(std::string(text));
}

}  // namespace tianshu::tool_repair
