#include "protocol/anthropic_upstream.hpp"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <optional>

#include "protocol/json_text.hpp"

#include "core/request_json.hpp"
#include "protocol/anthropic.hpp"

namespace tianshu::protocol::anthropic_upstream {

using core::Error;
using core::ErrorKind;
using core::Json;

namespace {
void strip_key_everywhere(Json& j, const std::string& key) {
    if (j.is_object()) {
        j.erase(key);
        for (auto& [k, v] : j.items()) strip_key_everywhere(v, key);
    } else if (j.is_array()) {
        for (auto& v : j) strip_key_everywhere(v, key);
    }
}

ErrorKind kind_of(const std::string& type) {
    if (type == "overloaded_error") return ErrorKind::overloaded;
    if (type == "rate_limit_error") return ErrorKind::rate_limited;
    if (type == "invalid_request_error") return ErrorKind::invalid_request;
    if (type == "request_too_large") return ErrorKind::request_too_large;
    return ErrorKind::upstream;
}
}  // namespace

core::Result<UpstreamOptions> options_from_json(const Json& j) {
    auto o = openai_upstream::options_from_json(j);
    if (!o) return o;
    if (!j.is_object() || !j.contains("strip_cache_control")) o->strip_cache_control = false;
    return o;
}

core::Result<Json> encode_request(const core::Request& r, const UpstreamOptions& o) {
    Json body = core::to_json(r);
    for (const auto& field : o.strip_fields) body.erase(field);
    if (o.strip_cache_control) strip_key_everywhere(body, "cache_control");
    if (o.max_output_tokens && body.contains("max_tokens") &&
        body["max_tokens"].is_number_integer() &&
        body["max_tokens"].get<int64_t>() > *o.max_output_tokens)
        body["max_tokens"] = *o.max_output_tokens;
    if (!body.contains("max_tokens")) body["max_tokens"] = o.max_output_tokens.value_or(4096);
    if (body.contains("tools"))
        for (auto& tool : body["tools"])
            if (tool.contains("input_schema"))
                openai_upstream::strip_schema_keywords(tool["input_schema"],
                                                       o.strip_schema_keywords);
    return body;
}

namespace {
// A value's JSON text as it appears in the document (objects and arrays whole).
simdjson::simdjson_result<std::string_view> raw_text(simdjson::ondemand::value& value) {
    simdjson::ondemand::json_type type;
    if (auto e = value.type().get(type)) return e;
    if (type == simdjson::ondemand::json_type::object) {
        simdjson::ondemand::object object;
        if (auto e = value.get_object().get(object)) return e;
        return object.raw_json();
    }
    if (type == simdjson::ondemand::json_type::array) {
        simdjson::ondemand::array array;
        if (auto e = value.get_array().get(array)) return e;
        return array.raw_json();
    }
    return value.raw_json_token();
}
}  // namespace

core::Result<std::string> encode_body(const core::Request& r, const UpstreamOptions& o,
                                      bool stream) {
    auto canonical_text = [&]() -> core::Result<std::string> {
        auto body = anthropic_upstream::encode_request(r, o);
        if (!body) return body.take_error();
        body.value()["stream"] = stream;
        return dump_json(body.value());
    };
    if (!r.client_body || r.changed("*")) return canonical_text();

    // Which top-level fields cannot come from the client's bytes.
    const bool rewrite_tools = !o.strip_schema_keywords.empty() || o.strip_cache_control;
    auto from_canonical = [&](std::string_view key) {
        return r.changed(key) ||
               (o.strip_cache_control && (key == "system" || key == "messages")) ||
               (rewrite_tools && key == "tools");
    };
    auto stripped = [&](std::string_view key) {
        return std::find(o.strip_fields.begin(), o.strip_fields.end(), key) != o.strip_fields.end();
    };
    std::optional<Json> canonical;  // built only when some field needs it
    auto canonical_field = [&](const std::string& key) -> const Json* {
        if (!canonical) {
            auto body = anthropic_upstream::encode_request(r, o);
            if (!body) return nullptr;
            canonical = std::move(body).value();
        }
        auto it = canonical->find(key);
        return it == canonical->end() ? nullptr : &*it;
    };
    int64_t max_tokens = r.max_tokens.value_or(o.max_output_tokens.value_or(4096));
    if (o.max_output_tokens) max_tokens = std::min(max_tokens, *o.max_output_tokens);

    thread_local simdjson::ondemand::parser parser;
    simdjson::padded_string padded(*r.client_body);
    std::string out;
    out.reserve(r.client_body->size() + 64);
    out += '{';
    std::vector<std::string> written;
    auto field = [&](std::string_view key) {
        if (out.size() > 1) out += ',';
        append_json_string(out, key);
        out += ':';
    };
    auto walk = [&]() -> bool {
        simdjson::ondemand::document doc;
        simdjson::ondemand::object object;
        if (parser.iterate(padded).get(doc) || doc.get_object().get(object)) return false;
        for (auto member : object) {
            std::string_view raw_key, raw_value;
            simdjson::ondemand::value value;
            if (member.unescaped_key().get(raw_key) || member.value().get(value) ||
                raw_text(value).get(raw_value))
                return false;
            std::string key(raw_key);
            written.push_back(key);
            if (key == "model" || key == "stream" || key == "max_tokens" || stripped(key)) continue;
            if (from_canonical(key)) {
                const Json* value = canonical_field(key);
                if (!value) continue;  // the chain removed it
                field(key);
                append_json(out, *value);
                continue;
            }
            while (!raw_value.empty() && std::isspace(static_cast<unsigned char>(raw_value.back())))
                raw_value.remove_suffix(1);
            field(key);
            out += raw_value;
        }
        return true;
    };
    if (!walk()) return canonical_text();
    field("model");
    append_json_string(out, r.model);
    field("stream");
    out += stream ? "true" : "false";
    if (!stripped("max_tokens")) {
        field("max_tokens");
        out += std::to_string(max_tokens);
    }
    // Fields the chain added that the client did not send.
    for (const auto& key : r.changed_fields) {
        if (std::find(written.begin(), written.end(), key) != written.end() || key == "model" ||
            key == "stream" || key == "max_tokens" || stripped(key))
            continue;
        if (const Json* value = canonical_field(key)) {
            field(key);
            append_json(out, *value);
        }
    }
    out += '}';
    return out;
}

core::Result<void> decode_message(std::string_view body, std::vector<core::StreamEvent>& out) {
    Json m = Json::parse(body.begin(), body.end(), nullptr, false);
    if (m.is_discarded() || !m.is_object()) {
        std::string shown(body.substr(0, 200));
        if (body.size() > 200) shown += "…";
        return Error{ErrorKind::upstream,
                     "the upstream answered with a body that is not a JSON object: " + shown,
                     {}};
    }
    if (m.value("type", "") == "error" || (m.contains("error") && m["error"].is_object())) {
        const Json& e = m.contains("error") && m["error"].is_object() ? m["error"] : m;
        return Error{kind_of(e.value("type", "")),
                     "the upstream failed: " + e.value("message", std::string("(no message)")),
                     {}};
    }
    auto message = anthropic::response_from_json(m);
    if (!message)
        return Error{
            ErrorKind::upstream,
            "the upstream sent an answer this gateway cannot read: " + message.error().message,
            {}};
    for (auto& e : core::events_for(message.value())) out.push_back(std::move(e));
    return {};
}

core::Result<void> StreamDecoder::feed(const SseEvent& event, std::vector<core::StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    Json data = Json::parse(event.data, nullptr, false);
    if (data.is_discarded() || !data.is_object()) {
        failed_ =
            Error{ErrorKind::upstream, "the upstream sent a stream event that is not JSON", {}};
        return *failed_;
    }
    const std::string type = data.value("type", event.event);
    if (type == "error" || event.event == "error") {
        const Json& e = data.contains("error") && data["error"].is_object() ? data["error"] : data;
        failed_ = Error{
            kind_of(e.value("type", "")),
            "the upstream failed mid-answer: " + e.value("message", std::string("(no message)")),
            {}};
        return *failed_;
    }
    auto parsed = anthropic::stream_event_from_json(data);
    if (!parsed) {
        failed_ =
            Error{ErrorKind::upstream,
                  "the upstream sent an event this gateway cannot read: " + parsed.error().message,
                  {}};
        return *failed_;
    }
    if (parsed->type == core::StreamEvent::Type::message_stop) done_ = true;
    out.push_back(std::move(parsed).value());
    return {};
}

core::Result<void> StreamDecoder::finish(std::vector<core::StreamEvent>&) {
    if (failed_) return *failed_;
    if (!done_)
        failed_ = Error{ErrorKind::upstream,
                        "the upstream closed the stream before message_stop (answer cut short)",
                        {}};
    if (failed_) return *failed_;
    return {};
}

}  // namespace tianshu::protocol::anthropic_upstream
