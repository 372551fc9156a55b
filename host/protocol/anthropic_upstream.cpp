#include "protocol/anthropic_upstream.hpp"

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
    if (o.max_output_tokens && body.contains("max_tokens") && body["max_tokens"].is_number_integer() &&
        body["max_tokens"].get<int64_t>() > *o.max_output_tokens)
        body["max_tokens"] = *o.max_output_tokens;
    if (!body.contains("max_tokens")) body["max_tokens"] = o.max_output_tokens.value_or(4096);
    if (body.contains("tools"))
        for (auto& tool : body["tools"])
            if (tool.contains("input_schema"))
                openai_upstream::strip_schema_keywords(tool["input_schema"], o.strip_schema_keywords);
    return body;
}

core::Result<void> StreamDecoder::feed(const SseEvent& event, std::vector<core::StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    Json data = Json::parse(event.data, nullptr, false);
    if (data.is_discarded() || !data.is_object()) {
        failed_ = Error{ErrorKind::upstream, "the upstream sent a stream event that is not JSON", {}};
        return *failed_;
    }
    const std::string type = data.value("type", event.event);
    if (type == "error" || event.event == "error") {
        const Json& e = data.contains("error") && data["error"].is_object() ? data["error"] : data;
        failed_ = Error{kind_of(e.value("type", "")),
                        "the upstream failed mid-answer: " + e.value("message", std::string("(no message)")), {}};
        return *failed_;
    }
    auto parsed = anthropic::stream_event_from_json(data);
    if (!parsed) {
        failed_ = Error{ErrorKind::upstream, "the upstream sent an event this gateway cannot read: " +
                                                 parsed.error().message, {}};
        return *failed_;
    }
    if (parsed->type == core::StreamEvent::Type::message_stop) done_ = true;
    out.push_back(std::move(parsed).value());
    return {};
}

core::Result<void> StreamDecoder::finish(std::vector<core::StreamEvent>&) {
    if (failed_) return *failed_;
    if (!done_)
        failed_ = Error{ErrorKind::upstream, "the upstream closed the stream before message_stop (answer cut short)", {}};
    if (failed_) return *failed_;
    return {};
}

}  // namespace tianshu::protocol::anthropic_upstream
