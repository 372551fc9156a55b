// The canonical codec: Anthropic Messages' JSON shape <-> core::Request.
//
// Decoding is strict and reports every problem (up to a cap) with its JSON path and what to
// change, because the client is the one who must fix it. Paths are only rendered when a
// problem is found, so the happy path costs no string building.
//
// The decoder is one template over `const Json` (copies) and `Json` (moves strings and
// subtrees out of a body that is thrown away afterwards: the hot path).

#include "core/request_json.hpp"

#include "core/json_path.hpp"

#include <string_view>
#include <type_traits>

namespace tianshu::core {

namespace {

using Type = ContentBlock::Type;

using Path = JsonPath;
using Problems = ProblemList;

// Moves out of a mutable JSON value, copies out of a const one.
template <class J>
Json take_json(J& j) {
    if constexpr (std::is_const_v<J>) {
        return j;
    } else {
        return std::move(j);
    }
}

std::string_view block_type_name(Type t) {
    switch (t) {
        case Type::text:
            return "text";
        case Type::image:
            return "image";
        case Type::tool_use:
            return "tool_use";
        case Type::tool_result:
            return "tool_result";
        case Type::thinking:
            return "thinking";
        case Type::redacted_thinking:
            return "redacted_thinking";
    }
    return "text";
}

}  // namespace

bool block_type_from_string(std::string_view s, Type& out) {
    if (s == "text")
        out = Type::text;
    else if (s == "image")
        out = Type::image;
    else if (s == "tool_use")
        out = Type::tool_use;
    else if (s == "tool_result")
        out = Type::tool_result;
    else if (s == "thinking")
        out = Type::thinking;
    else if (s == "redacted_thinking")
        out = Type::redacted_thinking;
    else
        return false;
    return true;
}

bool allowed_in(BlockPlace place, Type t) {
    switch (place) {
        case BlockPlace::message:
            return true;
        case BlockPlace::tool_result:
            return t == Type::text || t == Type::image;
        case BlockPlace::system:
            return t == Type::text;
    }
    return false;
}

namespace {

std::string_view allowed_types(BlockPlace place) {
    switch (place) {
        case BlockPlace::message:
            return "text, image, tool_use, tool_result, thinking, redacted_thinking";
        case BlockPlace::tool_result:
            return "text, image";
        case BlockPlace::system:
            return "text";
    }
    return "";
}

std::string_view allowed_fields(Type t) {
    switch (t) {
        case Type::text:
            return "type, text, cache_control, citations";
        case Type::image:
            return "type, source, cache_control";
        case Type::tool_use:
            return "type, id, name, input, cache_control";
        case Type::tool_result:
            return "type, tool_use_id, content, is_error, cache_control";
        case Type::thinking:
            return "type, thinking, signature";
        case Type::redacted_thinking:
            return "type, data";
    }
    return "";
}

}  // namespace

void check_image_source(const Json& src, const Path& path, Problems& p) {
    if (!src.is_object()) {
        p.add(path, must_be("an object such as "
                            "{\"type\":\"base64\",\"media_type\":\"image/png\",\"data\":\"...\"}",
                            src));
        return;
    }
    auto t = src.find("type");
    if (t == src.end() || !t->is_string()) {
        p.add(path.field("type"), "required (expected base64, url or file)");
        return;
    }
    const auto& type = t->get_ref<const std::string&>();
    auto need_string = [&](const char* key) {
        auto it = src.find(key);
        if (it == src.end())
            p.add(path.field(key), "required for a " + type + " image source");
        else if (!it->is_string())
            p.add(path.field(key), must_be("a string", *it));
    };
    if (type == "base64") {
        need_string("media_type");
        need_string("data");
    } else if (type == "url") {
        need_string("url");
    } else if (type == "file") {
        need_string("file_id");
    } else {
        p.add(path.field("type"),
              "unknown image source type '" + type + "' (expected base64, url or file)");
    }
}

namespace {

template <class J>
void decode_blocks(J& j, const Path& path, BlockPlace place, std::vector<ContentBlock>& out,
                   Problems& p);

template <class J>
bool decode_block(J& j, const Path& path, BlockPlace place, ContentBlock& b, Problems& p) {
    if (!j.is_object()) {
        p.add(path, must_be("a content block object with a \"type\"", j));
        return false;
    }
    auto type_it = j.find("type");
    if (type_it == j.end()) {
        p.add(path.field("type"),
              std::string("required (expected ") + std::string(allowed_types(place)) + ")");
        return false;
    }
    if (!type_it->is_string()) {
        p.add(path.field("type"), must_be("a string", *type_it));
        return false;
    }
    const auto& type_str = type_it->template get_ref<const std::string&>();
    if (!block_type_from_string(type_str, b.type) || !allowed_in(place, b.type)) {
        std::string msg = "unknown content block type '" + type_str + "'";
        if (place != BlockPlace::message && block_type_from_string(type_str, b.type))
            msg = "content block type '" + type_str + "' is not allowed here";
        msg += " (expected ";
        msg += allowed_types(place);
        msg += ')';
        p.add(path.field("type"), msg);
        return false;
    }

    bool has_required = false;  // the type's main field
    bool has_id = false, has_name = false, has_input = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        auto& v = it.value();
        const Path fp = path.field(key);
        if (key == "type") continue;
        if (key == "cache_control" && b.type != Type::thinking &&
            b.type != Type::redacted_thinking) {
            if (!v.is_object() && !v.is_null())
                p.add(fp, must_be("an object such as {\"type\":\"ephemeral\"}", v));
            else
                b.cache_control = take_json(v);
            continue;
        }
        switch (b.type) {
            case Type::text:
                if (key == "text") {
                    has_required = true;
                    read_string(v, fp, b.text, p);
                    continue;
                }
                if (key ==
                    "citations") {  // accepted from echoed history; the canonical model drops them
                    if (!v.is_array() && !v.is_null()) p.add(fp, must_be("an array or null", v));
                    continue;
                }
                break;
            case Type::image:
                if (key == "source") {
                    has_required = true;
                    check_image_source(v, fp, p);
                    b.source = take_json(v);
                    continue;
                }
                break;
            case Type::tool_use:
                if (key == "id") {
                    has_id = true;
                    read_string(v, fp, b.id, p);
                    continue;
                }
                if (key == "name") {
                    has_name = true;
                    read_string(v, fp, b.name, p);
                    continue;
                }
                if (key == "input") {
                    has_input = true;
                    if (!v.is_object())
                        p.add(fp, must_be("an object (the tool's arguments)", v));
                    else
                        b.input = take_json(v);
                    continue;
                }
                break;
            case Type::tool_result:
                if (key == "tool_use_id") {
                    has_id = true;
                    read_string(v, fp, b.id, p);
                    continue;
                }
                if (key == "content") {
                    if (v.is_string()) {
                        if (!v.template get_ref<const std::string&>().empty())
                            b.content.push_back(ContentBlock::make_text(take_string(v)));
                    } else if (v.is_array()) {
                        decode_blocks(v, fp, BlockPlace::tool_result, b.content, p);
                    } else if (!v.is_null()) {
                        p.add(fp, must_be("a string or an array of text and image blocks", v));
                    }
                    continue;
                }
                if (key == "is_error") {
                    if (!v.is_boolean())
                        p.add(fp, must_be("a boolean", v));
                    else
                        b.is_error = v.template get<bool>();
                    continue;
                }
                break;
            case Type::thinking:
                if (key == "thinking") {
                    has_required = true;
                    read_string(v, fp, b.text, p);
                    continue;
                }
                if (key == "signature") {
                    read_string(v, fp, b.signature, p);
                    continue;
                }
                break;
            case Type::redacted_thinking:
                if (key == "data") {
                    has_required = true;
                    read_string(v, fp, b.text, p);
                    continue;
                }
                break;
        }
        p.add(fp, std::string("unknown field for a ") + std::string(block_type_name(b.type)) +
                      " block (allowed: " + std::string(allowed_fields(b.type)) + ")");
    }

    switch (b.type) {
        case Type::text:
            if (!has_required) p.add(path.field("text"), "required for a text block");
            break;
        case Type::image:
            if (!has_required) p.add(path.field("source"), "required for an image block");
            break;
        case Type::tool_use:
            if (!has_id)
                p.add(path.field("id"),
                      "required for a tool_use block (the id its tool_result will answer)");
            if (!has_name) p.add(path.field("name"), "required for a tool_use block");
            if (!has_input)
                p.add(path.field("input"),
                      "required for a tool_use block (use {} for no arguments)");
            break;
        case Type::tool_result:
            if (!has_id)
                p.add(path.field("tool_use_id"),
                      "required for a tool_result block (the id of the tool_use it answers)");
            break;
        case Type::thinking:
            if (!has_required) p.add(path.field("thinking"), "required for a thinking block");
            break;
        case Type::redacted_thinking:
            if (!has_required) p.add(path.field("data"), "required for a redacted_thinking block");
            break;
    }
    return true;
}

template <class J>
void decode_blocks(J& j, const Path& path, BlockPlace place, std::vector<ContentBlock>& out,
                   Problems& p) {
    out.reserve(out.size() + j.size());
    size_t i = 0;
    for (auto& item : j) {
        ContentBlock b;
        if (decode_block(item, path.at(i), place, b, p)) out.push_back(std::move(b));
        ++i;
    }
}

template <class J>
void decode_message(J& j, const Path& path, Message& m, Problems& p) {
    if (!j.is_object()) {
        p.add(path, must_be("an object with \"role\" and \"content\"", j));
        return;
    }
    bool has_role = false, has_content = false;
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        auto& v = it.value();
        const Path fp = path.field(key);
        if (key == "role") {
            has_role = true;
            if (!v.is_string()) {
                p.add(fp, must_be("\"user\" or \"assistant\"", v));
                continue;
            }
            const auto& r = v.template get_ref<const std::string&>();
            if (r == "user")
                m.role = Role::user;
            else if (r == "assistant")
                m.role = Role::assistant;
            else if (r == "system")
                m.role = Role::system;
            else
                p.add(fp, "unknown role '" + r + "' (expected user, assistant or system)");
        } else if (key == "content") {
            has_content = true;
            if (v.is_string())
                m.content.push_back(ContentBlock::make_text(take_string(v)));
            else if (v.is_array())
                decode_blocks(v, fp, BlockPlace::message, m.content, p);
            else
                p.add(fp, must_be("a string or an array of content blocks", v));
        } else {
            p.add(fp, "unknown field for a message (allowed: role, content)");
        }
    }
    if (!has_role) p.add(path.field("role"), "required (user or assistant)");
    if (!has_content)
        p.add(path.field("content"), "required (a string or an array of content blocks)");
}

}  // namespace

// A tool_result must answer a tool_use of the assistant message right before it, as the
// Anthropic API demands; catching it here gives the client the path instead of an upstream 400.
void check_tool_pairing(const std::vector<Message>& messages, const Path& path, Problems& p) {
    for (size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        for (size_t k = 0; k < m.content.size(); ++k) {
            const auto& b = m.content[k];
            if (b.type != Type::tool_result) continue;
            // Each step is a named local: a JsonPath points at its parent, so no temporaries.
            const Path mp = path.at(i);
            const Path cp = mp.field("content");
            const Path blockp = cp.at(k);
            const Path bp = blockp.field("tool_use_id");
            if (m.role != Role::user) {
                p.add(blockp, "tool_result blocks belong in a user message");
                continue;
            }
            bool found = false;
            // System messages inside the conversation do not break a tool_use/tool_result pair.
            size_t before = i;
            while (before > 0 && messages[before - 1].role == Role::system) --before;
            if (before > 0 && messages[before - 1].role == Role::assistant) {
                for (const auto& prev : messages[before - 1].content)
                    if (prev.type == Type::tool_use && prev.id == b.id) {
                        found = true;
                        break;
                    }
            }
            if (!found)
                p.add(bp, "no tool_use with id '" + b.id +
                              "' in the previous assistant message (messages[" +
                              std::to_string(i == 0 ? 0 : i - 1) +
                              "]); each tool_result must answer a tool_use of the message right "
                              "before it");
        }
    }
}

namespace {

template <class J>
void decode_tool(J& j, const Path& path, Tool& t, Problems& p) {
    if (!j.is_object()) {
        p.add(path, must_be("an object with \"name\" and \"input_schema\"", j));
        return;
    }
    // A typed tool other than "custom" is a server tool (web_search_…, bash_…): no schema needed.
    auto type_it = j.find("type");
    const bool custom = type_it == j.end() || (type_it->is_string() && *type_it == "custom");
    bool has_name = false, has_schema = false;
    t.extra = Json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
        const std::string& key = it.key();
        auto& v = it.value();
        const Path fp = path.field(key);
        if (key == "name") {
            has_name = true;
            if (read_string(v, fp, t.name, p) && t.name.empty()) p.add(fp, "must not be empty");
        } else if (key == "description") {
            read_string(v, fp, t.description, p);
        } else if (key == "input_schema") {
            has_schema = true;
            if (!v.is_object())
                p.add(
                    fp,
                    must_be("a JSON Schema object such as {\"type\":\"object\",\"properties\":{}}",
                            v));
            else
                t.input_schema = take_json(v);
        } else {
            t.extra[key] = take_json(v);
        }
    }
    if (!has_name) p.add(path.field("name"), "required");
    if (custom && !has_schema)
        p.add(path.field("input_schema"),
              "required (a JSON Schema object such as {\"type\":\"object\",\"properties\":{}})");
}

}  // namespace

void check_tool_choice(const Json& v, const Path& path, Problems& p) {
    if (!v.is_object()) {
        p.add(path, must_be("an object such as {\"type\":\"auto\"}", v));
        return;
    }
    auto t = v.find("type");
    if (t == v.end() || !t->is_string()) {
        p.add(path.field("type"), "required (auto, any, tool or none)");
        return;
    }
    const auto& type = t->get_ref<const std::string&>();
    if (type == "tool") {
        auto n = v.find("name");
        if (n == v.end() || !n->is_string())
            p.add(path.field("name"), "required when type is 'tool' (the tool to call)");
    } else if (type != "auto" && type != "any" && type != "none") {
        p.add(path.field("type"),
              "unknown tool_choice type '" + type + "' (expected auto, any, tool or none)");
    }
}

void check_thinking(const Json& v, const Path& path, Problems& p) {
    auto t = v.find("type");
    if (t == v.end() || !t->is_string()) {
        p.add(path.field("type"), "required (enabled or disabled)");
    } else if (*t == "enabled") {
        auto b = v.find("budget_tokens");
        int64_t n = 0;
        if (b == v.end() || !json_positive_integer(*b, n))
            p.add(path.field("budget_tokens"),
                  "must be a positive integer when thinking is enabled");
    }
}

namespace {

template <class J>
Result<Request> decode_request(J& body) {
    if (!body.is_object())
        return Error::invalid("request body: must be a JSON object (got " +
                              std::string(json_type_name(body)) + ")");
    Request r;
    Problems p;
    const Path root;
    bool has_model = false, has_messages = false;
    r.extra = Json::object();

    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string& key = it.key();
        auto& v = it.value();
        const Path fp = root.field(key);
        if (key == "model") {
            has_model = true;
            if (read_string(v, fp, r.model, p) && r.model.empty()) p.add(fp, "must not be empty");
        } else if (key == "messages") {
            has_messages = true;
            if (!v.is_array()) {
                p.add(fp, must_be("an array of messages", v));
                continue;
            }
            r.messages.resize(v.size());
            size_t i = 0;
            for (auto& m : v) {
                decode_message(m, fp.at(i), r.messages[i], p);
                ++i;
            }
        } else if (key == "system") {
            if (v.is_string()) {
                if (!v.template get_ref<const std::string&>().empty())
                    r.system.push_back(ContentBlock::make_text(take_string(v)));
            } else if (v.is_array()) {
                decode_blocks(v, fp, BlockPlace::system, r.system, p);
            } else if (!v.is_null()) {
                p.add(fp, must_be("a string or an array of text blocks", v));
            }
        } else if (key == "max_tokens") {
            int64_t n = 0;
            if (!json_positive_integer(v, n))
                p.add(fp, "must be a positive integer");
            else
                r.max_tokens = n;
        } else if (key == "temperature" || key == "top_p") {
            if (!v.is_number()) {
                p.add(fp, must_be("a number", v));
                continue;
            }
            const double d = v.template get<double>();
            const double hi = key == "temperature" ? 2.0 : 1.0;
            if (!(d >= 0.0 && d <= hi)) {
                p.add(fp, "must be between 0 and " + std::string(key == "temperature" ? "2" : "1"));
                continue;
            }
            (key == "temperature" ? r.temperature : r.top_p) = d;
        } else if (key == "top_k") {
            int64_t n = 0;
            if (!json_positive_integer(v, n))
                p.add(fp, "must be a positive integer");
            else
                r.top_k = n;
        } else if (key == "stop_sequences") {
            if (!v.is_array()) {
                p.add(fp, must_be("an array of strings", v));
                continue;
            }
            r.stop_sequences.reserve(v.size());
            size_t i = 0;
            for (auto& s : v) {
                std::string str;
                if (read_string(s, fp.at(i), str, p)) r.stop_sequences.push_back(std::move(str));
                ++i;
            }
        } else if (key == "stream") {
            if (!v.is_boolean())
                p.add(fp, must_be("true or false", v));
            else
                r.stream = v.template get<bool>();
        } else if (key == "tools") {
            if (!v.is_array()) {
                p.add(fp, must_be("an array of tools", v));
                continue;
            }
            r.tools.resize(v.size());
            size_t i = 0;
            for (auto& t : v) {
                decode_tool(t, fp.at(i), r.tools[i], p);
                ++i;
            }
        } else if (key == "tool_choice") {
            if (v.is_null()) continue;
            check_tool_choice(v, fp, p);
            r.tool_choice = take_json(v);
        } else if (key == "thinking") {
            if (v.is_null()) continue;
            if (!v.is_object()) {
                p.add(fp, must_be("an object such as {\"type\":\"enabled\",\"budget_tokens\":2048}",
                                  v));
                continue;
            }
            check_thinking(v, fp, p);
            r.thinking = take_json(v);
        } else if (key == "metadata") {
            if (v.is_null()) continue;
            if (!v.is_object()) {
                p.add(fp, must_be("an object such as {\"user_id\":\"...\"}", v));
                continue;
            }
            r.metadata = take_json(v);
        } else {
            r.extra[key] = take_json(v);
        }
    }
    if (!has_model)
        p.add(root.field("model"), "required (the model to answer, e.g. \"claude-sonnet-4-5\")");
    if (!has_messages)
        p.add(root.field("messages"), "required (an array of {\"role\",\"content\"} messages)");
    else if (r.messages.empty() && p.empty())
        p.add(root.field("messages"), "must contain at least one message");
    if (p.empty()) check_tool_pairing(r.messages, root.field("messages"), p);
    if (!p.empty()) return p.to_error();
    return r;
}

Json blocks_to_json(const std::vector<ContentBlock>& blocks) {
    Json arr = Json::array();
    arr.get_ref<Json::array_t&>().reserve(blocks.size());
    for (const auto& b : blocks) arr.push_back(to_json(b));
    return arr;
}

}  // namespace

Result<Request> request_from_json(const Json& body) {
    return decode_request(body);
}
Result<Request> request_from_json(Json&& body) {
    return decode_request(body);
}

Json to_json(const ContentBlock& b) {
    Json j = Json::object();
    j["type"] = block_type_name(b.type);
    switch (b.type) {
        case Type::text:
            j["text"] = b.text;
            break;
        case Type::image:
            j["source"] = b.source;
            break;
        case Type::tool_use:
            j["id"] = b.id;
            j["name"] = b.name;
            j["input"] = b.input.is_null() ? Json::object() : b.input;
            break;
        case Type::tool_result:
            j["tool_use_id"] = b.id;
            if (!b.content.empty()) j["content"] = blocks_to_json(b.content);
            if (b.is_error) j["is_error"] = true;
            break;
        case Type::thinking:
            j["thinking"] = b.text;
            if (!b.signature.empty()) j["signature"] = b.signature;
            break;
        case Type::redacted_thinking:
            j["data"] = b.text;
            break;
    }
    if (!b.cache_control.is_null() && b.type != Type::thinking && b.type != Type::redacted_thinking)
        j["cache_control"] = b.cache_control;
    return j;
}

//! Top-level names the canonical model owns; an `extra` entry never overrides one of them
//! (another protocol's decoder may have kept a same-named field of a different meaning).
bool is_modelled_field(std::string_view k) {
    static constexpr std::string_view kNames[] = {
        "model",          "messages", "system", "max_tokens",  "temperature", "top_p",   "top_k",
        "stop_sequences", "stream",   "tools",  "tool_choice", "thinking",    "metadata"};
    for (auto n : kNames)
        if (n == k) return true;
    return false;
}

Json to_json(const Request& r) {
    Json j = Json::object();
    if (r.extra.is_object())
        for (auto it = r.extra.begin(); it != r.extra.end(); ++it)
            if (!is_modelled_field(it.key())) j[it.key()] = it.value();
    j["model"] = r.model;
    Json messages = Json::array();
    messages.get_ref<Json::array_t&>().reserve(r.messages.size());
    for (const auto& m : r.messages)
        messages.push_back(Json{{"role", m.role == Role::user        ? "user"
                                         : m.role == Role::assistant ? "assistant"
                                                                     : "system"},
                                {"content", blocks_to_json(m.content)}});
    j["messages"] = std::move(messages);
    if (!r.system.empty()) j["system"] = blocks_to_json(r.system);
    if (!r.tools.empty()) {
        Json tools = Json::array();
        for (const auto& t : r.tools) {
            Json tj = t.extra.is_object() ? t.extra : Json::object();
            tj["name"] = t.name;
            if (!t.description.empty()) tj["description"] = t.description;
            if (!t.input_schema.is_null()) tj["input_schema"] = t.input_schema.json();
            tools.push_back(std::move(tj));
        }
        j["tools"] = std::move(tools);
    }
    if (!r.tool_choice.is_null()) j["tool_choice"] = r.tool_choice;
    if (r.max_tokens) j["max_tokens"] = *r.max_tokens;
    if (r.temperature) j["temperature"] = *r.temperature;
    if (r.top_p) j["top_p"] = *r.top_p;
    if (r.top_k) j["top_k"] = *r.top_k;
    if (!r.stop_sequences.empty()) j["stop_sequences"] = r.stop_sequences;
    if (r.stream) j["stream"] = true;
    if (!r.thinking.is_null()) j["thinking"] = r.thinking;
    if (!r.metadata.is_null()) j["metadata"] = r.metadata;
    return j;
}

Json to_json(const Usage& u) {
    return Json{{"input_tokens", u.input_tokens},
                {"output_tokens", u.output_tokens},
                {"cache_creation_input_tokens", u.cache_write_tokens},
                {"cache_read_input_tokens", u.cache_read_tokens}};
}

Json to_json(const Response& r) {
    Json j = Json::object();
    j["id"] = r.id;
    j["type"] = "message";
    j["role"] = "assistant";
    j["model"] = r.model;
    j["content"] = blocks_to_json(r.content);
    j["stop_reason"] =
        r.stop_reason == StopReason::none ? Json(nullptr) : Json(to_string(r.stop_reason));
    j["stop_sequence"] = r.stop_sequence.empty() ? Json(nullptr) : Json(r.stop_sequence);
    j["usage"] = to_json(r.usage);
    return j;
}

}  // namespace tianshu::core
