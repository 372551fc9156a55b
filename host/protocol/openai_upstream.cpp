#include "protocol/openai_upstream.hpp"

#include "core/model_capabilities.hpp"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <set>

#include "core/json_write.hpp"
#include "core/scratch.hpp"
#include "protocol/image_url.hpp"
#include "protocol/json_text.hpp"

namespace tianshu::protocol::openai_upstream {

using core::ContentBlock;
using core::Json;
using core::StreamEvent;
using BT = ContentBlock::Type;

namespace {

// ---------------------------------------------------------------------------------------------
// Small readers that never throw.

std::string string_or_empty(const Json& obj, const char* key) {
    if (!obj.is_object()) return {};
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t int_or_zero(const Json& obj, const char* key) {
    if (!obj.is_object()) return 0;
    auto it = obj.find(key);
    if (it == obj.end()) return 0;
    if (it->is_number_integer()) return it->get<int64_t>();
    if (it->is_number_unsigned()) return static_cast<int64_t>(it->get<uint64_t>());
    return 0;
}

const Json* member(const Json& obj, const char* key) {
    if (!obj.is_object()) return nullptr;
    auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
}

//! At most `max` bytes of `s`, for quoting a provider's words in an error message.
std::string snippet(std::string_view s, size_t max = 300) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\n' || s.front() == '\r'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\n' || s.back() == '\r'))
        s.remove_suffix(1);
    if (s.size() <= max) return std::string(s);
    return std::string(s.substr(0, max)) + "…";
}

core::Error upstream_failure(std::string message) {
    return core::Error{core::ErrorKind::upstream, std::move(message), {}};
}

// ---------------------------------------------------------------------------------------------
// Request encoding.

std::string join_text(const std::vector<ContentBlock>& blocks) {
    std::string out;
    bool first = true;
    for (const auto& b : blocks) {
        if (b.type != BT::text) continue;
        if (!first) out += '\n';
        out += b.text;
        first = false;
    }
    return out;
}

//! The text blocks of `blocks` joined with newlines: the one block's own text when there is only
//! one (most tool results), else joined into `storage`.
std::string_view joined_text(const std::vector<ContentBlock>& blocks, std::string& storage) {
    const ContentBlock* only = nullptr;
    for (const auto& b : blocks) {
        if (b.type != BT::text) continue;
        if (only) {
            storage = join_text(blocks);
            return storage;
        }
        only = &b;
    }
    return only ? std::string_view(only->text) : std::string_view();
}

// The body is written as text, field by field, straight from the canonical request: building
// a nlohmann tree (a map node per key, a copy of every tool schema) and dumping it cost more
// than the rest of the upstream call's CPU (see tests/bench/README.md).

//! Writes a JSON object's members: key() before each value.
struct ObjectOut {
    std::string& out;
    bool first = true;
    void key(std::string_view k) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
    }
    void string(std::string_view k, std::string_view v) {
        key(k);
        append_json_string(out, v);
    }
};

//! Writes a JSON array's elements: next() before each.
struct ArrayOut {
    std::string& out;
    bool first = true;
    void next() {
        if (!first) out += ',';
        first = false;
    }
};

void write_image_part(std::string& out, std::string_view url) {
    out += R"({"image_url":{"url":)";
    append_json_string(out, url);
    out += R"(},"type":"image_url"})";
}

void write_text_part(std::string& out, std::string_view text, const Json* cache_control) {
    ObjectOut o{out};
    out += '{';
    if (cache_control) {
        o.key("cache_control");
        append_json(out, *cache_control);
    }
    o.string("text", text);
    o.string("type", "text");
    out += '}';
}

//! A message's `content` from its text and image blocks: a string when text alone says it all,
//! content parts when there are images (or cache_control to keep).
struct Content {
    bool is_string = true;
    const std::string* single = nullptr;  //!< the one text block's text, when that is the string
    std::string joined;                   //!< the text blocks joined, when there are several
    std::string parts;                    //!< the parts' JSON, comma-separated, when not a string
    //! The string, when is_string (the block's own text when there is one: never copied).
    std::string_view text() const { return single ? std::string_view(*single) : joined; }
};

//! `where` names the message; `base` is its first block, so errors can name the block.
core::Result<Content> content_of(const std::vector<const ContentBlock*>& blocks,
                                 const UpstreamOptions& o, const std::string& where,
                                 const ContentBlock* base) {
    Content c;
    for (const auto* b : blocks) {
        if (b->type == BT::image) c.is_string = false;
        if (!o.strip_cache_control && !b->cache_control.is_null()) c.is_string = false;
    }
    if (c.is_string) {
        size_t count = 0;
        for (const auto* b : blocks)
            if (b->type == BT::text && count++ == 0) c.single = &b->text;
        if (count < 2) return c;
        c.single = nullptr;
        bool first = true;
        for (const auto* b : blocks) {
            if (b->type != BT::text) continue;
            if (!first) c.joined += '\n';
            c.joined += b->text;
            first = false;
        }
        return c;
    }
    ArrayOut parts{c.parts};
    for (const auto* b : blocks) {
        if (b->type == BT::text) {
            parts.next();
            const bool keep = !o.strip_cache_control && !b->cache_control.is_null();
            write_text_part(c.parts, b->text, keep ? &b->cache_control : nullptr);
        } else if (b->type == BT::image) {
            auto url = image_url_of(*b, where + ".content[" + std::to_string(b - base) + "]",
                                    "an OpenAI-compatible upstream");
            if (!url) return url.take_error();
            parts.next();
            write_image_part(c.parts, url.value());
        }
    }
    return c;
}

void write_content(std::string& out, const Content& c) {
    if (c.is_string) {
        append_json_string(out, c.text());
        return;
    }
    out += '[';
    out += c.parts;
    out += ']';
}

const char* image_count_text(size_t n) {
    return n == 1 ? " image" : " images";
}

//! The body's `messages` array as it is written: user and assistant messages go straight into
//! the body (no copy per message); a mid-conversation system message waits in `held` while the
//! tool replies of an assistant's tool_calls are due (strict providers want them adjacent).
struct MessageList {
    std::string& out;
    ArrayOut list{out};
    bool after_tool_calls = false;  //!< the last message written is an assistant's tool_calls
    std::vector<std::string> held;

    //! Starts the next message: the caller writes it into the returned body, then close()s it.
    std::string& open() {
        list.next();
        return out;
    }
    void close(bool has_tool_calls) { after_tool_calls = has_tool_calls; }
    void add(const std::string& msg) {
        open() += msg;
        close(false);
    }
    void release_held() {
        for (const auto& msg : held) add(msg);
        held.clear();
    }
};

//! One user message: its tool_result blocks become `tool` messages (in order); every other
//! block follows as one user message.
core::Result<void> encode_user(const core::Message& m, size_t mi, const UpstreamOptions& o,
                               MessageList& messages) {
    using TRI = UpstreamOptions::ToolResultImages;
    const std::string where = "messages[" + std::to_string(mi) + "]";
    std::vector<const ContentBlock*> rest;
    std::string moved_images;  // separate_user_message: parts for the next user message
    ArrayOut moved{moved_images};
    std::string storage;
    for (size_t bi = 0; bi < m.content.size(); ++bi) {
        const auto& b = m.content[bi];
        if (b.type == BT::text || b.type == BT::image) {
            rest.push_back(&b);
            continue;
        }
        if (b.type != BT::tool_result) continue;  // thinking in a user turn has no OpenAI form
        std::vector<std::string> images;
        for (size_t ci = 0; ci < b.content.size(); ++ci) {
            if (b.content[ci].type != BT::image) continue;
            auto url = image_url_of(
                b.content[ci],
                where + ".content[" + std::to_string(bi) + "].content[" + std::to_string(ci) + "]",
                "an OpenAI-compatible upstream");
            if (!url) return url.take_error();
            images.push_back(std::move(url).value());
        }
        std::string_view text = joined_text(b.content, storage);
        std::string edited;  // the text when something is added to it
        if (b.is_error) {
            edited = "Error: ";
            edited += text;
            text = edited;
        }
        auto with_note = [&](const std::string& note) {
            if (edited.data() != text.data()) edited = std::string(text);
            if (!edited.empty()) edited += '\n';
            edited += note;
            text = edited;
        };
        std::string& msg = messages.open();
        msg += R"({"content":)";
        if (images.empty()) {
            append_json_string(msg, text);
        } else if (o.tool_result_images == TRI::inline_parts) {
            msg += '[';
            ArrayOut parts{msg};
            if (!text.empty()) {
                parts.next();
                write_text_part(msg, text, nullptr);
            }
            for (const auto& u : images) {
                parts.next();
                write_image_part(msg, u);
            }
            msg += ']';
        } else if (o.tool_result_images == TRI::separate_user_message) {
            with_note("[" + std::to_string(images.size()) + image_count_text(images.size()) +
                      " attached in the next user message]");
            append_json_string(msg, text);
            moved.next();
            write_text_part(moved_images, "Image(s) returned by tool call " + b.id + ":", nullptr);
            for (const auto& u : images) {
                moved.next();
                write_image_part(moved_images, u);
            }
        } else {
            with_note("[" + std::to_string(images.size()) + image_count_text(images.size()) +
                      " omitted]");
            append_json_string(msg, text);
        }
        msg += R"(,"role":"tool","tool_call_id":)";
        append_json_string(msg, b.id);
        msg += '}';
        messages.close(false);
    }
    if (rest.empty() && moved_images.empty()) return {};
    auto content = content_of(rest, o, where, m.content.data());
    if (!content) return content.take_error();
    std::string& msg = messages.open();
    msg += R"({"content":)";
    if (!moved_images.empty()) {
        msg += '[';
        msg += moved_images;
        if (content->is_string) {
            if (!content->text().empty()) {
                msg += ',';
                write_text_part(msg, content->text(), nullptr);
            }
        } else if (!content->parts.empty()) {
            msg += ',';
            msg += content->parts;
        }
        msg += ']';
    } else {
        write_content(msg, content.value());
    }
    msg += R"(,"role":"user"})";
    messages.close(false);
    return {};
}

core::Result<void> encode_assistant(const core::Message& m, size_t mi, const UpstreamOptions& o,
                                    MessageList& messages) {
    std::vector<const ContentBlock*> text;
    std::string tool_calls;
    ArrayOut calls{tool_calls};
    std::string reasoning;
    for (const auto& b : m.content) {
        switch (b.type) {
            case BT::text:
                text.push_back(&b);
                break;
            case BT::tool_use: {
                calls.next();
                ObjectOut call{tool_calls};
                tool_calls += '{';
                call.key("function");
                tool_calls += '{';
                ObjectOut fn{tool_calls};
                fn.string("arguments", b.input.is_null() ? std::string("{}") : dump_json(b.input));
                fn.string("name", b.name);
                tool_calls += '}';
                call.string("id", b.id);
                call.string("type", "function");
                tool_calls += '}';
                break;
            }
            case BT::thinking:
                reasoning += b.text;
                break;
            default:
                break;  // images and redacted thinking have no assistant-side OpenAI form
        }
    }
    auto content = content_of(text, o, "messages[" + std::to_string(mi) + "]", m.content.data());
    if (!content) return content.take_error();
    const bool has_calls = !tool_calls.empty();
    const bool empty_text = content->is_string && content->text().empty();
    std::string& msg = messages.open();
    msg += R"({"content":)";
    if (empty_text && has_calls)
        msg += "null";
    else
        write_content(msg, content.value());
    if (has_calls && o.reasoning_on_tool_turns && !reasoning.empty()) {
        msg += R"(,"reasoning_content":)";
        append_json_string(msg, reasoning);
    }
    msg += R"(,"role":"assistant")";
    if (has_calls) {
        msg += R"(,"tool_calls":[)";
        msg += tool_calls;
        msg += ']';
    }
    msg += '}';
    messages.close(has_calls);
    return {};
}

//! Removes `keywords` from a JSON Schema, recursing into subschemas but never into data
//! (enum, const, default, examples) and never treating a property NAME as a keyword.
void strip_schema(Json& schema, const std::set<std::string, std::less<>>& keywords) {
    static const std::set<std::string_view> kNamed = {"properties", "patternProperties", "$defs",
                                                      "definitions", "dependentSchemas"};
    static const std::set<std::string_view> kData = {"enum", "const", "default", "examples",
                                                     "required"};
    if (schema.is_array()) {
        for (auto& s : schema) strip_schema(s, keywords);
        return;
    }
    if (!schema.is_object()) return;
    for (auto it = schema.begin(); it != schema.end();) {
        if (keywords.count(it.key())) {
            it = schema.erase(it);
            continue;
        }
        if (kNamed.count(it.key()) && it->is_object()) {
            for (auto& [name, sub] : it->items()) strip_schema(sub, keywords);
        } else if (!kData.count(it.key())) {
            strip_schema(*it, keywords);
        }
        ++it;
    }
}

//! Writes `schema` as strip_schema would leave it, without copying it first.
void write_stripped_schema(std::string& out, const Json& schema,
                           const std::set<std::string, std::less<>>& keywords) {
    static const std::set<std::string_view> kNamed = {"properties", "patternProperties", "$defs",
                                                      "definitions", "dependentSchemas"};
    static const std::set<std::string_view> kData = {"enum", "const", "default", "examples",
                                                     "required"};
    if (schema.is_array()) {
        out += '[';
        ArrayOut a{out};
        for (const auto& s : schema) {
            a.next();
            write_stripped_schema(out, s, keywords);
        }
        out += ']';
        return;
    }
    if (!schema.is_object()) {
        append_json(out, schema);
        return;
    }
    out += '{';
    ObjectOut o{out};
    for (auto it = schema.begin(); it != schema.end(); ++it) {
        if (keywords.count(it.key())) continue;
        o.key(it.key());
        if (kNamed.count(it.key()) && it->is_object()) {
            out += '{';
            ObjectOut named{out};
            for (auto sub = it->begin(); sub != it->end(); ++sub) {
                named.key(sub.key());
                write_stripped_schema(out, *sub, keywords);
            }
            out += '}';
        } else if (kData.count(it.key())) {
            append_json(out, *it);
        } else {
            write_stripped_schema(out, *it, keywords);
        }
    }
    out += '}';
}

std::optional<std::string> effort_from_extra(const Json& extra) {
    std::string e;
    if (const Json* oc = member(extra, "output_config")) e = string_or_empty(*oc, "effort");
    if (e.empty()) e = string_or_empty(extra, "reasoning_effort");
    if (e == "low" || e == "medium" || e == "high") return e;
    if (e == "max") return "high";
    if (e == "minimal") return "low";
    return std::nullopt;
}

std::optional<std::string> effort_from_thinking(const Json& thinking) {
    if (string_or_empty(thinking, "type") != "enabled") return std::nullopt;
    const int64_t budget = int_or_zero(thinking, "budget_tokens");
    if (budget < 8000) return "low";
    if (budget < 24000) return "medium";
    return "high";
}

}  // namespace

core::Result<UpstreamOptions> options_from_json(const Json& j) {
    UpstreamOptions o;
    if (j.is_null()) return o;
    if (!j.is_object()) return core::Error::invalid("upstream options: must be an object");
    auto strings = [](const Json& v, std::vector<std::string>& out) {
        if (!v.is_array()) return false;
        for (const auto& s : v) {
            if (!s.is_string()) return false;
            out.push_back(s.get<std::string>());
        }
        return true;
    };
    for (const auto& [key, v] : j.items()) {
        const std::string path = "upstream options: " + key;
        if (key == "max_output_tokens") {
            if (!v.is_number_integer() || v.get<int64_t>() <= 0)
                return core::Error::invalid(path + ": must be a positive integer");
            o.max_output_tokens = v.get<int64_t>();
        } else if (key == "strip_fields" || key == "strip_schema_keywords") {
            if (!strings(v, key == "strip_fields" ? o.strip_fields : o.strip_schema_keywords))
                return core::Error::invalid(path + ": must be an array of strings");
        } else if (key == "strip_cache_control" || key == "reasoning_on_tool_turns" ||
                   key == "include_usage" || key == "always_stream") {
            if (!v.is_boolean()) return core::Error::invalid(path + ": must be a boolean");
            (key == "strip_cache_control"       ? o.strip_cache_control
             : key == "reasoning_on_tool_turns" ? o.reasoning_on_tool_turns
             : key == "include_usage"           ? o.include_usage
                                                : o.always_stream) = v.get<bool>();
        } else if (key == "tool_result_images") {
            const std::string s = v.is_string() ? v.get<std::string>() : "";
            using TRI = UpstreamOptions::ToolResultImages;
            if (s == "inline_parts")
                o.tool_result_images = TRI::inline_parts;
            else if (s == "separate_user_message")
                o.tool_result_images = TRI::separate_user_message;
            else if (s == "drop")
                o.tool_result_images = TRI::drop;
            else
                return core::Error::invalid(
                    path + ": must be inline_parts, separate_user_message or drop");
        } else if (key == "thinking_switch") {
            const std::string s = v.is_string() ? v.get<std::string>() : "";
            using TS = UpstreamOptions::ThinkingSwitch;
            if (s == "none")
                o.thinking_switch = TS::none;
            else if (s == "enable_thinking")
                o.thinking_switch = TS::enable_thinking;
            else if (s == "thinking_type")
                o.thinking_switch = TS::thinking_type;
            else
                return core::Error::invalid(path +
                                            ": must be none, enable_thinking or thinking_type");
        } else if (key == "ca_file") {
            const std::string file = v.is_string() ? v.get<std::string>() : "";
            if (file.empty() || file.front() != '/')
                return core::Error::invalid(
                    path + ": must be the absolute path of a PEM file of CA certificates");
            o.ca_file = file;
        } else if (core::is_capability_field(key)) {
            // A capability override (context_window, vision, thinking, ...): the capability
            // table reads it (pipeline/capability_table.hpp); the wire only checks it.
            core::ModelCapabilities ignored;
            if (auto ok = core::read_capability_field(ignored, key, v, path); !ok)
                return ok.take_error();
        } else {
            return core::Error::invalid("upstream options: unknown option '" + key + "'");
        }
    }
    return o;
}

core::Result<std::string> encode_request_body(const core::Request& r, const UpstreamOptions& o) {
    auto stripped = [&](std::string_view field) {
        return std::find(o.strip_fields.begin(), o.strip_fields.end(), field) !=
               o.strip_fields.end();
    };
    // One buffer for the whole body, sized up front: every text is escaped once, straight into
    // it (no message, messages or tools buffer copied in afterwards; no regrowth of 75 KB).
    size_t estimate = 256 + r.model.size();
    for (const auto& b : r.system) estimate += b.text.size() + 16;
    for (const auto& m : r.messages)
        for (const auto& b : m.content) {
            estimate += b.text.size() + b.id.size() + b.name.size() + 64;
            for (const auto& c : b.content) estimate += c.text.size() + 16;
        }
    for (const auto& t : r.tools)
        estimate += t.name.size() + t.description.size() + 64 +
                    (t.input_schema.is_object() ? t.input_schema.text().size() : 0);
    estimate += estimate / 32;  // escapes
    std::string out;
    out.reserve(estimate);
    out += '{';
    ObjectOut body{out};

    // messages (a stripped field is still written, elsewhere, so that its errors are reported)
    std::string unsent;
    const bool send_messages = !stripped("messages");
    if (send_messages) body.key("messages");
    std::string& list_out = send_messages ? out : unsent;
    list_out += '[';
    MessageList messages{list_out, {list_out}, false, {}};
    if (!r.system.empty()) {
        std::vector<const ContentBlock*> sys;
        for (const auto& b : r.system) sys.push_back(&b);
        auto content = content_of(sys, o, "system", r.system.data());
        if (!content) return content.take_error();
        std::string& msg = messages.open();
        msg += R"({"content":)";
        write_content(msg, content.value());
        msg += R"(,"role":"system"})";
        messages.close(false);
    }
    for (size_t i = 0; i < r.messages.size(); ++i) {
        const auto& m = r.messages[i];
        if (m.role == core::Role::system) {
            // A mid-conversation system message becomes OpenAI's system role in place — except
            // between an assistant's tool_calls and their tool replies, which strict providers
            // require to be adjacent: there it waits until the replies are out.
            std::string text;
            for (const auto& b : m.content)
                if (b.type == ContentBlock::Type::text) text += (text.empty() ? "" : "\n") + b.text;
            std::string msg = R"({"content":)";
            append_json_string(msg, text);
            msg += R"(,"role":"system"})";
            if (messages.after_tool_calls || !messages.held.empty())
                messages.held.push_back(std::move(msg));
            else
                messages.add(msg);
            continue;
        }
        auto done = m.role == core::Role::user ? encode_user(m, i, o, messages)
                                               : encode_assistant(m, i, o, messages);
        if (!done) return done.take_error();
        messages.release_held();
    }
    messages.release_held();
    list_out += ']';

    if (!stripped("model")) body.string("model", r.model);
    if (r.max_tokens && !stripped("max_tokens")) {
        int64_t n = *r.max_tokens;
        if (o.max_output_tokens) n = std::min(n, *o.max_output_tokens);
        body.key("max_tokens");
        core::append_json_number(out, n);
    }
    if (r.temperature && !stripped("temperature")) {
        body.key("temperature");
        core::append_json_number(out, *r.temperature);
    }
    if (r.top_p && !stripped("top_p")) {
        body.key("top_p");
        core::append_json_number(out, *r.top_p);
    }
    if (!r.stop_sequences.empty() && !stripped("stop")) {
        body.key("stop");
        out += '[';
        ArrayOut stops{out};
        for (const auto& s : r.stop_sequences) {
            stops.next();
            append_json_string(out, s);
        }
        out += ']';
    }
    auto effort = effort_from_extra(r.extra);
    if (!effort) effort = effort_from_thinking(r.thinking);
    if (effort && !stripped("reasoning_effort")) body.string("reasoning_effort", *effort);
    if (o.thinking_switch != UpstreamOptions::ThinkingSwitch::none) {
        // The client's thinking decides: asked for (enabled, adaptive) turns it on, anything
        // else off, so a provider whose default is on does not think unasked.
        const std::string asked = string_or_empty(r.thinking, "type");
        const bool on = asked == "enabled" || asked == "adaptive";
        if (o.thinking_switch == UpstreamOptions::ThinkingSwitch::enable_thinking) {
            if (!stripped("enable_thinking")) {
                body.key("enable_thinking");
                out += on ? "true" : "false";
            }
        } else if (!stripped("thinking")) {
            body.key("thinking");
            out += on ? R"({"type":"enabled"})" : R"({"type":"disabled"})";
        }
    }

    const std::set<std::string, std::less<>> keywords(o.strip_schema_keywords.begin(),
                                                      o.strip_schema_keywords.end());
    // Server tools (web_search_…, bash_…) run at Anthropic; an OpenAI upstream cannot.
    auto is_function = [](const core::Tool& t) {
        const std::string type = string_or_empty(t.extra, "type");
        return type.empty() || type == "custom";
    };
    if (std::any_of(r.tools.begin(), r.tools.end(), is_function)) {
        if (!stripped("tools")) {
            body.key("tools");
            out += '[';
            ArrayOut tool_list{out};
            for (const auto& t : r.tools) {
                if (!is_function(t)) continue;
                tool_list.next();
                out += R"({"function":{)";
                ObjectOut fn{out};
                if (!t.description.empty()) fn.string("description", t.description);
                fn.string("name", t.name);
                fn.key("parameters");
                static const Json kNoParameters{{"type", "object"}, {"properties", Json::object()}};
                if (!t.input_schema.is_object())
                    append_json(out, kNoParameters);
                else if (keywords.empty())
                    out += t.input_schema.text();  // the client's text: no tree built
                else
                    write_stripped_schema(out, t.input_schema.json(), keywords);
                out += R"(},"type":"function"})";
            }
            out += ']';
        }
        if (r.tool_choice.is_object()) {
            const std::string type = string_or_empty(r.tool_choice, "type");
            if (!stripped("tool_choice")) {
                if (type == "auto" || type == "none") {
                    body.string("tool_choice", type);
                } else if (type == "any") {
                    body.string("tool_choice", "required");
                } else if (type == "tool") {
                    body.key("tool_choice");
                    out += R"({"function":{"name":)";
                    append_json_string(out, string_or_empty(r.tool_choice, "name"));
                    out += R"(},"type":"function"})";
                }
            }
            if (const Json* d = member(r.tool_choice, "disable_parallel_tool_use");
                d && d->is_boolean() && d->get<bool>() && type != "none" &&
                !stripped("parallel_tool_calls")) {
                body.key("parallel_tool_calls");
                out += "false";
            }
        }
    }
    if (const std::string user = string_or_empty(r.metadata, "user_id");
        !user.empty() && !stripped("user"))
        body.string("user", user);
    if (r.stream) {
        if (!stripped("stream")) {
            body.key("stream");
            out += "true";
        }
        if (o.include_usage && !stripped("stream_options")) {
            body.key("stream_options");
            out += R"({"include_usage":true})";
        }
    }
    out += '}';
    return out;
}

core::Result<Json> encode_request(const core::Request& r, const UpstreamOptions& o) {
    auto body = encode_request_body(r, o);
    if (!body) return body.take_error();
    return Json::parse(body.value());
}

// ---------------------------------------------------------------------------------------------
// Errors.

namespace {

//! The provider's own words from an error body, whatever shape it uses.
std::string provider_message(const Json& j) {
    if (const Json* e = member(j, "error")) {
        if (e->is_string()) return e->get<std::string>();
        if (auto m = string_or_empty(*e, "message"); !m.empty()) return m;
    }
    for (const char* key : {"message", "msg", "detail"})
        if (auto m = string_or_empty(j, key); !m.empty()) return m;
    if (const Json* b = member(j, "base_resp"))
        if (auto m = string_or_empty(*b, "status_msg"); !m.empty()) return m;
    return {};
}

//! An error object inside a stream or a 200 body: kind from its type/code.
core::Error error_in_body(const Json& j, std::string_view when) {
    const Json* e = member(j, "error");
    const Json& obj = e && e->is_object() ? *e : j;
    std::string type = string_or_empty(obj, "type");
    std::string code = string_or_empty(obj, "code");
    if (code.empty() && member(obj, "code") && member(obj, "code")->is_number())
        code = member(obj, "code")->dump();
    const std::string tag = type + " " + code;
    core::ErrorKind kind = core::ErrorKind::upstream;
    if (tag.find("rate_limit") != std::string::npos || code == "429")
        kind = core::ErrorKind::rate_limited;
    else if (tag.find("overload") != std::string::npos || tag.find("busy") != std::string::npos ||
             code == "503" || code == "529")
        kind = core::ErrorKind::overloaded;
    else if (tag.find("timeout") != std::string::npos)
        kind = core::ErrorKind::timeout;
    std::string msg = provider_message(j);
    if (msg.empty()) msg = snippet(dump_json(j));
    std::string out = "the upstream reported an error ";
    out += when;
    out += ": ";
    out += snippet(msg, 500);
    if (!type.empty() || !code.empty()) {
        out += " (";
        if (!type.empty()) out += "type " + type;
        if (!type.empty() && !code.empty()) out += ", ";
        if (!code.empty()) out += "code " + code;
        out += ')';
    }
    return core::Error{kind, std::move(out), {}};
}

bool is_error_body(const Json& j) {
    if (!j.is_object()) return false;
    if (const Json* e = member(j, "error"); e && !e->is_null()) return true;
    return string_or_empty(j, "object") == "error";
}

// ---------------------------------------------------------------------------------------------
// Read-only views of a stream chunk. The decoder reads each chunk through one of them: SimdView
// over simdjson's DOM (the fast path), NlohmannView over nlohmann's tree (payloads simdjson
// refuses, which nlohmann may still accept: integers beyond 64 bits, a NUL after the object,
// nesting deeper than kChunkDepth). Both answer exactly as nlohmann's tree would: a missing
// member and a member of another type read as absent/empty/zero, every integer is read as
// int64_t (unsigned ones cast), and of duplicate keys the last one counts.

template <class It, class View>
class ViewRange {
  public:
    struct iterator {
        It it;
        View operator*() const { return View(*it); }
        iterator& operator++() {
            ++it;
            return *this;
        }
        bool operator!=(const iterator& o) const { return it != o.it; }
    };
    ViewRange(It b, It e) : begin_{b}, end_{e} {}
    iterator begin() const { return begin_; }
    iterator end() const { return end_; }

  private:
    iterator begin_, end_;
};

class NlohmannView {
  public:
    NlohmannView() = default;
    explicit NlohmannView(const Json& j) : j_(&j) {}
    bool present() const { return j_ != nullptr; }
    bool is_object() const { return j_ && j_->is_object(); }
    bool is_array() const { return j_ && j_->is_array(); }
    bool is_string() const { return j_ && j_->is_string(); }
    bool is_null() const { return j_ && j_->is_null(); }
    bool is_integer() const { return j_ && j_->is_number_integer(); }
    //! Needs is_integer().
    int64_t integer() const {
        return j_->is_number_unsigned() ? static_cast<int64_t>(j_->get<uint64_t>())
                                        : j_->get<int64_t>();
    }
    //! Needs is_string().
    std::string_view string() const { return j_->get_ref<const std::string&>(); }
    NlohmannView operator[](std::string_view key) const {
        if (!is_object()) return {};
        auto it = j_->find(key);
        return it == j_->end() ? NlohmannView() : NlohmannView(*it);
    }
    //! The members named `keys`, absent where missing (or when this is not an object).
    template <size_t N>
    std::array<NlohmannView, N> members(const std::array<std::string_view, N>& keys) const {
        std::array<NlohmannView, N> found{};
        for (size_t i = 0; i < N; ++i) found[i] = (*this)[keys[i]];
        return found;
    }
    //! Needs is_array().
    ViewRange<Json::const_iterator, NlohmannView> items() const {
        return {j_->cbegin(), j_->cend()};
    }
    //! Needs present().
    std::string dump() const { return dump_json(*j_); }

  private:
    const Json* j_ = nullptr;
};

class SimdView {
  public:
    using T = simdjson::dom::element_type;
    SimdView() = default;
    explicit SimdView(simdjson::dom::element e) : e_(e), present_(true) {}
    bool present() const { return present_; }
    bool is_object() const { return present_ && e_.type() == T::OBJECT; }
    bool is_array() const { return present_ && e_.type() == T::ARRAY; }
    bool is_string() const { return present_ && e_.type() == T::STRING; }
    bool is_null() const { return present_ && e_.type() == T::NULL_VALUE; }
    bool is_integer() const {
        return present_ && (e_.type() == T::INT64 || e_.type() == T::UINT64);
    }
    int64_t integer() const {
        return e_.type() == T::UINT64 ? static_cast<int64_t>(e_.get_uint64().value_unsafe())
                                      : e_.get_int64().value_unsafe();
    }
    std::string_view string() const { return e_.get_string().value_unsafe(); }
    SimdView operator[](std::string_view key) const { return members<1>({key})[0]; }
    //! The members named `keys`, in one pass over the object; of duplicate keys the last one
    //! wins, as in nlohmann's tree.
    template <size_t N>
    std::array<SimdView, N> members(const std::array<std::string_view, N>& keys) const {
        std::array<SimdView, N> found{};
        if (!is_object()) return found;
        const simdjson::dom::object fields = e_.get_object().value_unsafe();
        for (auto field : fields) {
            for (size_t i = 0; i < N; ++i) {
                if (field.key.size() == keys[i].size() && field.key == keys[i]) {
                    found[i] = SimdView(field.value);
                    break;
                }
            }
        }
        return found;
    }
    ViewRange<simdjson::dom::array::iterator, SimdView> items() const {
        const simdjson::dom::array a = e_.get_array().value_unsafe();
        return {a.begin(), a.end()};
    }
    //! Through nlohmann's tree, for the same text (key order, number format) as before.
    std::string dump() const { return dump_json(json_from_simdjson(e_)); }

  private:
    simdjson::dom::element e_;
    bool present_ = false;
};

//! The string, or empty for anything else.
template <class View>
std::string_view text_of(View v) {
    return v.is_string() ? v.string() : std::string_view();
}

//! The integer, or 0 for anything else.
template <class View>
int64_t integer_of(View v) {
    return v.is_integer() ? v.integer() : 0;
}

//! Deeper chunks (never seen from a real provider) are read by nlohmann instead.
constexpr size_t kChunkDepth = 64;
//! The parser's first capacity: a typical chunk is 150-400 bytes.
constexpr size_t kChunkCapacity = 1024;

}  // namespace

struct StreamDecoder::ChunkParser {
    simdjson::dom::parser parser;
    std::unique_ptr<char[]> padded;  //!< the payload, followed by SIMDJSON_PADDING bytes
    size_t padded_capacity = 0;

    simdjson::error_code parse(std::string_view data, simdjson::dom::element& root) {
        // Grow geometrically: chunk sizes vary, and simdjson would reallocate to the exact size
        // of every chunk larger than the last.
        if (!padded || data.size() > padded_capacity) {  // an empty payload needs padding too
            padded_capacity = std::max({data.size(), 2 * padded_capacity, kChunkCapacity});
            padded = std::make_unique<char[]>(padded_capacity + simdjson::SIMDJSON_PADDING);
        }
        if (data.size() > parser.capacity() || data.size() > parser.doc.capacity()) {
            if (auto e = parser.allocate(padded_capacity, kChunkDepth); e) return e;
            if (auto e = parser.doc.allocate(padded_capacity); e) return e;
        }
        std::memcpy(padded.get(), data.data(), data.size());
        std::memset(padded.get() + data.size(), 0, simdjson::SIMDJSON_PADDING);
        return parser.parse(padded.get(), data.size(), false).get(root);
    }
};

namespace {
//! A parser keeps its buffers for the next decoder on this thread, unless one huge answer grew
//! them past what is worth pinning to a worker thread.
bool reusable(StreamDecoder::ChunkParser& p) {
    return p.padded_capacity <= (1u << 20);
}
using ChunkParsers = core::Scratch<StreamDecoder::ChunkParser, &reusable>;
}  // namespace

void StreamDecoder::ChunkParserRelease::operator()(ChunkParser* parser) const {
    ChunkParsers::Release{}(parser);
}

void strip_schema_keywords(Json& schema, const std::vector<std::string>& keywords) {
    if (keywords.empty()) return;
    strip_schema(schema, std::set<std::string, std::less<>>(keywords.begin(), keywords.end()));
}

core::Error upstream_error(int status, std::string_view body, std::string_view channel) {
    using K = core::ErrorKind;
    K kind = K::upstream;
    switch (status) {
        case 400:
        case 422:
            kind = K::invalid_request;
            break;
        case 413:
            kind = K::request_too_large;
            break;
        case 429:
            kind = K::rate_limited;
            break;
        case 408:
        case 504:
            kind = K::timeout;
            break;
        case 503:
        case 529:
            kind = K::overloaded;
            break;
        default:
            break;
    }
    std::string said;
    Json j = Json::parse(body.begin(), body.end(), nullptr, false);
    if (!j.is_discarded()) said = provider_message(j);
    if (said.empty()) said = snippet(body);
    if (said.empty()) said = "(empty body)";
    std::string msg = "upstream channel '";
    msg += channel;
    msg += "' answered HTTP " + std::to_string(status) + ": " + snippet(said, 500);
    if (status == 401 || status == 403)
        msg += " (the channel's API key was refused; an operator must fix the channel)";
    return core::Error{kind, std::move(msg), {}};
}

// ---------------------------------------------------------------------------------------------
// The stream state machine.

StreamDecoder::StreamDecoder(std::string message_id, std::string model,
                             int64_t estimated_input_tokens)
    : message_id_(std::move(message_id)),
      model_(std::move(model)),
      estimated_input_tokens_(estimated_input_tokens) {}

StreamDecoder::~StreamDecoder() = default;
StreamDecoder::StreamDecoder(StreamDecoder&&) noexcept = default;
StreamDecoder& StreamDecoder::operator=(StreamDecoder&&) noexcept = default;

core::Result<void> StreamDecoder::feed(std::string_view data, std::vector<StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    auto r = feed_payload(data, out);
    if (!r) failed_ = r.error();
    return r;
}

core::Result<void> StreamDecoder::finish(std::vector<StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    core::Result<void> r;
    if (!started_)
        r = upstream_failure("the upstream closed the stream without sending any chunk");
    else if (!finished_)
        r = upstream_failure(
            "the upstream stream ended before the model finished (no finish_reason and no "
            "[DONE]); the answer is incomplete");
    else
        r = end_message(out);
    if (!r) failed_ = r.error();
    return r;
}

core::Result<void> StreamDecoder::feed_completion(std::string_view body,
                                                  std::vector<StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    auto r = completion(body, out);
    if (!r) failed_ = r.error();
    return r;
}

core::Result<void> StreamDecoder::completion(std::string_view body, std::vector<StreamEvent>& out) {
    const auto not_an_object = [&] {
        return upstream_failure("the upstream answered with a body that is not a JSON object: " +
                                snippet(body, 200));
    };
    const auto no_choice = [&](std::string_view shown) {
        return upstream_failure("the upstream answered without any choice: " + snippet(shown, 200));
    };
    auto adopt = [&](auto id, auto model) {
        if (message_id_.empty()) message_id_.assign(text_of(id));
        if (model_.empty()) model_.assign(text_of(model));
    };
    core::Result<void> walked;
    bool read = false;
    if (!parser_) parser_.reset(ChunkParsers::acquire().release());
    simdjson::dom::element root;
    if (parser_->parse(body, root) == simdjson::SUCCESS) {
        if (root.type() != simdjson::dom::element_type::OBJECT) return not_an_object();
        const auto [error, object, usage, choices, id, model] =
            SimdView(root).members<6>({"error", "object", "usage", "choices", "id", "model"});
        const bool is_error = (error.present() && !error.is_null()) || text_of(object) == "error";
        if (!is_error) {
            if (!choices.is_array() || !(choices.items().begin() != choices.items().end()))
                return no_choice(body);
            adopt(id, model);
            walked = on_chunk(usage, choices, out, "message");
            read = true;
        }
    }
    if (!read) {  // an error object, or what only nlohmann reads (see the views)
        Json j = Json::parse(body.begin(), body.end(), nullptr, false);
        if (j.is_discarded() || !j.is_object()) return not_an_object();
        if (is_error_body(j)) return error_in_body(j, "in its answer");
        const NlohmannView view(j);
        const auto choices = view["choices"];
        if (!choices.is_array() || j["choices"].empty()) return no_choice(dump_json(j));
        adopt(view["id"], view["model"]);
        walked = on_chunk(view["usage"], choices, out, "message");
    }
    if (!walked) return walked;
    if (done_) return {};  // finish_reason and usage ended it already
    if (!finished_) {
        auto closed = close_all(out);
        if (!closed) return closed;
    }
    return end_message(out);
}

core::Result<void> StreamDecoder::feed_payload(std::string_view data,
                                               std::vector<StreamEvent>& out) {
    while (!data.empty() && (data.front() == ' ' || data.front() == '\n')) data.remove_prefix(1);
    while (!data.empty() && (data.back() == ' ' || data.back() == '\n' || data.back() == '\r'))
        data.remove_suffix(1);
    if (data.empty()) return {};
    if (data == "[DONE]") {
        if (!started_)
            return upstream_failure("the upstream ended the stream ([DONE]) without any chunk");
        if (!finished_) {
            auto closed = close_all(out);
            if (!closed) return closed;
        }
        return end_message(out);
    }
    const auto not_an_object = [&] {
        return upstream_failure("the upstream sent a stream chunk that is not a JSON object: " +
                                snippet(data, 200));
    };
    if (!parser_) parser_.reset(ChunkParsers::acquire().release());
    simdjson::dom::element root;
    if (parser_->parse(data, root) == simdjson::SUCCESS) {
        if (root.type() != simdjson::dom::element_type::OBJECT) return not_an_object();
        const auto [error, object, usage, choices] =
            SimdView(root).members<4>({"error", "object", "usage", "choices"});
        const bool is_error = (error.present() && !error.is_null()) || text_of(object) == "error";
        if (!is_error) return on_chunk(usage, choices, out);
        // Rare: the error's message is built from nlohmann's tree, as for a whole body.
    }
    // Everything simdjson accepts, nlohmann accepts too; the reverse is not true (see the views).
    Json chunk = Json::parse(data.begin(), data.end(), nullptr, false);
    if (chunk.is_discarded() || !chunk.is_object()) return not_an_object();
    if (is_error_body(chunk)) return error_in_body(chunk, "mid-stream");
    const NlohmannView view(chunk);
    return on_chunk(view["usage"], view["choices"], out);
}

void StreamDecoder::start_message(std::vector<StreamEvent>& out) {
    StreamEvent e;
    e.type = StreamEvent::Type::message_start;
    e.message.id = message_id_;
    e.message.model = model_;
    e.message.stop_reason = core::StopReason::none;
    e.message.usage.input_tokens = estimated_input_tokens_;
    out.push_back(std::move(e));
    started_ = true;
}

template <class View>
void StreamDecoder::read_usage(View u) {
    const auto [prompt_tokens, prompt_details, cache_hit, cached_tokens, completion_tokens,
                completion_details] =
        u.template members<6>({"prompt_tokens", "prompt_tokens_details", "prompt_cache_hit_tokens",
                               "cached_tokens", "completion_tokens", "completion_tokens_details"});
    const int64_t prompt = integer_of(prompt_tokens);
    int64_t cached = integer_of(prompt_details["cached_tokens"]);
    if (!cached) cached = integer_of(cache_hit);      // DeepSeek
    if (!cached) cached = integer_of(cached_tokens);  // Kimi
    usage_.input_tokens = std::max<int64_t>(0, prompt - cached);
    usage_.cache_read_tokens = cached;
    usage_.output_tokens = integer_of(completion_tokens);
    usage_.reasoning_tokens = integer_of(completion_details["reasoning_tokens"]);
    usage_known_ = true;
}

template <class View>
core::Result<void> StreamDecoder::on_chunk(View usage, View choices, std::vector<StreamEvent>& out,
                                           std::string_view delta_key) {
    if (!started_) start_message(out);
    if (usage.is_object()) read_usage(usage);
    if (choices.is_array()) {
        for (View choice : choices.items()) {
            const auto [index, delta, finish_reason] =
                choice.template members<3>({"index", delta_key, "finish_reason"});
            // n > 1 is never requested; only the first choice makes the message.
            if (integer_of(index) != 0) continue;
            if (delta.is_object()) {
                const auto [reasoning_content, reasoning_field, content, refusal, tool_calls] =
                    delta.template members<5>(
                        {"reasoning_content", "reasoning", "content", "refusal", "tool_calls"});
                std::string_view reasoning = text_of(reasoning_content);
                if (reasoning.empty()) reasoning = text_of(reasoning_field);
                std::string_view text = text_of(content);
                std::string joined;  // content parts (some providers): their text, joined
                if (content.is_array()) {
                    for (View part : content.items()) joined += text_of(part["text"]);
                    text = joined;
                }
                if (text.empty()) text = text_of(refusal);
                output_chars_ += static_cast<int64_t>(reasoning.size() + text.size());
                append_text(Open::thinking, reasoning, out);
                append_text(Open::text, text, out);
                if (tool_calls.is_array()) {
                    size_t position = 0;
                    for (View call : tool_calls.items()) {
                        auto r = on_tool_delta(call, position++, out);
                        if (!r) return r;
                    }
                }
            }
            if (std::string_view reason = text_of(finish_reason); !reason.empty()) {
                finish_reason_.assign(reason);
                if (!finished_) {
                    auto r = close_all(out);
                    if (!r) return r;
                }
            }
        }
    }
    if (finished_ && usage_known_) return end_message(out);
    return {};
}

void StreamDecoder::append_text(Open kind, std::string_view text, std::vector<StreamEvent>& out) {
    if (text.empty()) return;
    const bool tools_active =
        std::any_of(tools_.begin(), tools_.end(), [](const ToolCall& t) { return !t.closed; });
    if (tools_active) {
        if (!deferred_.empty() && deferred_.back().first == kind)
            deferred_.back().second += text;
        else
            deferred_.emplace_back(kind, std::string(text));
        return;
    }
    if (open_ != kind) {
        (void)close_open(out);  // a text or thinking block never fails to close
        StreamEvent s;
        s.type = StreamEvent::Type::content_block_start;
        s.index = next_block_++;
        s.block.type = kind == Open::thinking ? BT::thinking : BT::text;
        out.push_back(std::move(s));
        open_ = kind;
        open_index_ = out.back().index;
    }
    StreamEvent d = StreamEvent::text_delta(open_index_, std::string(text));
    if (kind == Open::thinking) d.delta_kind = StreamEvent::DeltaKind::thinking;
    out.push_back(std::move(d));
}

template <class View>
core::Result<void> StreamDecoder::on_tool_delta(View call, size_t position,
                                                std::vector<StreamEvent>& out) {
    if (!call.is_object())
        return upstream_failure("the upstream sent a tool call that is not an object");
    const auto [id_field, idx, function] = call.template members<3>({"id", "index", "function"});
    const std::string_view id = text_of(id_field);
    // Which call this fragment belongs to: by index; without one (some providers), by id,
    // else the position in this chunk's array when new, else the latest call.
    int64_t key = static_cast<int64_t>(position);
    if (idx.is_integer()) {
        key = idx.integer();
    } else if (!id.empty()) {
        key = -1 - static_cast<int64_t>(tools_.size());  // a new call unless the id is known
        for (const auto& [k, pos] : tool_by_index_)
            if (tools_[pos].id == id) key = k;
    } else if (!tools_.empty()) {
        for (const auto& [k, pos] : tool_by_index_)
            if (pos == tools_.size() - 1) key = k;
    }
    auto found = tool_by_index_.find(key);
    if (found == tool_by_index_.end()) {
        if (finished_)
            return upstream_failure("the upstream streamed a new tool call after finish_reason");
        found = tool_by_index_.emplace(key, tools_.size()).first;
        tools_.emplace_back();
    }
    ToolCall& t = tools_[found->second];
    if (t.closed)
        return upstream_failure("the upstream streamed arguments for a tool call after it ended");
    if (t.id.empty() && !id.empty()) t.id = id;
    if (function.is_object()) {
        const auto [name_field, args] = function.template members<2>({"name", "arguments"});
        if (std::string_view name = text_of(name_field); t.name.empty() && !name.empty())
            t.name = name;
        if (args.present() && !args.is_null()) {
            std::string fragment = args.is_string() ? std::string(args.string()) : args.dump();
            if (!fragment.empty()) {
                output_chars_ += static_cast<int64_t>(fragment.size());
                t.arguments += fragment;
                t.pending.push_back(std::move(fragment));
            }
        }
    }
    // Tools have begun: an open text or thinking block ends here.
    if (open_ == Open::text || open_ == Open::thinking) (void)close_open(out);
    return advance_tools(false, out);
}

core::Result<void> StreamDecoder::advance_tools(bool at_end, std::vector<StreamEvent>& out) {
    for (;;) {
        if (open_ == Open::tool) {
            ToolCall& t = tools_[open_tool_];
            for (auto& fragment : t.pending) {
                StreamEvent d;
                d.type = StreamEvent::Type::content_block_delta;
                d.index = t.block;
                d.delta_kind = StreamEvent::DeltaKind::input_json;
                d.text = std::move(fragment);
                out.push_back(std::move(d));
            }
            t.pending.clear();
            if (!at_end) return {};
            auto closed = close_open(out);
            if (!closed) return closed;
        }
        auto next =
            std::find_if(tools_.begin(), tools_.end(), [](const ToolCall& t) { return !t.closed; });
        if (next == tools_.end()) return {};
        const size_t position = static_cast<size_t>(next - tools_.begin());
        if (next->name.empty()) {
            if (!at_end) return {};
            return upstream_failure("the upstream streamed tool call #" + std::to_string(position) +
                                    " without a function name");
        }
        if (next->id.empty()) {
            if (!at_end) return {};  // the id may still come; some providers never send one
            next->id = "call_" + message_id_ + "_" + std::to_string(position);
        }
        StreamEvent s;
        s.type = StreamEvent::Type::content_block_start;
        s.index = next_block_++;
        s.block.type = BT::tool_use;
        s.block.id = next->id;
        s.block.name = next->name;
        s.block.input = Json::object();
        next->block = s.index;
        out.push_back(std::move(s));
        open_ = Open::tool;
        open_tool_ = position;
        open_index_ = next->block;
    }
}

core::Result<void> StreamDecoder::close_open(std::vector<StreamEvent>& out) {
    if (open_ == Open::none) return {};
    if (open_ == Open::tool) {
        ToolCall& t = tools_[open_tool_];
        t.closed = true;
        if (!t.arguments.empty() && Json::accept(t.arguments) == false)
            return upstream_failure("the upstream sent arguments for tool call '" + t.name +
                                    "' that are not valid JSON: " + snippet(t.arguments, 200));
    }
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_stop;
    e.index = open_index_;
    out.push_back(std::move(e));
    open_ = Open::none;
    open_index_ = -1;
    return {};
}

core::Result<void> StreamDecoder::close_all(std::vector<StreamEvent>& out) {
    if (open_ == Open::text || open_ == Open::thinking) (void)close_open(out);
    auto tools = advance_tools(true, out);
    if (!tools) return tools;
    auto deferred = std::move(deferred_);
    deferred_.clear();
    for (auto& [kind, text] : deferred) append_text(kind, text, out);
    (void)close_open(out);
    finished_ = true;
    return {};
}

core::Result<void> StreamDecoder::end_message(std::vector<StreamEvent>& out) {
    using S = core::StopReason;
    const bool any_tool = !tools_.empty();
    S stop = any_tool ? S::tool_use : S::end_turn;
    const std::string& f = finish_reason_;
    if (f == "length")
        stop = S::max_tokens;
    else if (f == "content_filter" || f == "sensitive")
        stop = S::refusal;
    else if (f == "insufficient_system_resource")
        return core::Error{core::ErrorKind::overloaded,
                           "the upstream interrupted the answer (finish_reason "
                           "insufficient_system_resource); retry later",
                           {}};
    else if (f == "network_error")
        return upstream_failure(
            "the upstream interrupted the answer (finish_reason network_error)");
    StreamEvent md;
    md.type = StreamEvent::Type::message_delta;
    md.stop_reason = stop;
    if (usage_known_)
        md.usage = usage_;
    else {
        md.usage.output_tokens = (output_chars_ + 3) / 4;  // no usage sent: a rough estimate
        md.usage.output_estimated = true;
    }
    out.push_back(std::move(md));
    StreamEvent ms;
    ms.type = StreamEvent::Type::message_stop;
    out.push_back(std::move(ms));
    done_ = true;
    return {};
}

// ---------------------------------------------------------------------------------------------
// Non-streaming: the chat.completion object is replayed as one chunk through the decoder.

core::Result<core::Response> decode_response(std::string_view body,
                                             const std::string& fallback_model) {
    StreamDecoder decoder({}, {}, 0);
    std::vector<StreamEvent> events;
    if (auto r = decoder.feed_completion(body, events); !r) return r.take_error();
    core::ResponseAssembler assembler;
    for (const auto& e : events)
        if (auto r = assembler.add(e); !r) return r.take_error();
    core::Response response = assembler.response();
    if (response.model.empty()) response.model = fallback_model;
    return response;
}

}  // namespace tianshu::protocol::openai_upstream
