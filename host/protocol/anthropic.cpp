#include "protocol/anthropic.hpp"

#include "core/json_path.hpp"
#include "core/request_json.hpp"
#include "protocol/anthropic_request.hpp"
#include "protocol/json_text.hpp"
#include "protocol/sse.hpp"

namespace tianshu::protocol {

using core::ContentBlock;
using core::Json;
using core::StreamEvent;

namespace anthropic {

std::string_view error_type(core::ErrorKind kind) {
    using K = core::ErrorKind;
    switch (kind) {
        case K::invalid_request:
            return "invalid_request_error";
        case K::authentication:
            return "authentication_error";
        case K::permission:
            return "permission_error";
        case K::not_found:
            return "not_found_error";
        case K::request_too_large:
            return "request_too_large";
        case K::rate_limited:
            return "rate_limit_error";
        case K::insufficient_quota:
            return "billing_error";
        case K::overloaded:
            return "overloaded_error";
        case K::plugin_failure:
        case K::script_failure:
        case K::internal:
        case K::upstream:
        case K::unavailable:
        case K::timeout:
        case K::client_closed:
            return "api_error";
    }
    return "api_error";
}

std::string_view event_name(const StreamEvent& e) {
    return core::to_string(e.type);
}

namespace {

void append_error_json(const core::Error& err, std::string& out) {
    out += R"({"type":"error","error":{"type":")";
    out += error_type(err.kind);
    out += R"(","message":)";
    append_json_string(out, err.message);
    out += "}}";
}

void append_int(std::string& out, int64_t v) {
    out += std::to_string(v);
}

void append_block_start(const ContentBlock& b, std::string& out) {
    using BT = ContentBlock::Type;
    switch (b.type) {
        case BT::text:
            out += R"({"type":"text","text":""})";
            return;
        case BT::tool_use:
            out += R"({"type":"tool_use","id":)";
            append_json_string(out, b.id);
            out += R"(,"name":)";
            append_json_string(out, b.name);
            out += R"(,"input":{}})";
            return;
        case BT::thinking:
            out += R"({"type":"thinking","thinking":""})";
            return;
        default:
            append_json(out, core::to_json(b));
            return;  // redacted_thinking arrives whole
    }
}

std::string_view delta_type(StreamEvent::DeltaKind k, std::string_view& field) {
    switch (k) {
        case StreamEvent::DeltaKind::text:
            field = "text";
            return "text_delta";
        case StreamEvent::DeltaKind::input_json:
            field = "partial_json";
            return "input_json_delta";
        case StreamEvent::DeltaKind::thinking:
            field = "thinking";
            return "thinking_delta";
        case StreamEvent::DeltaKind::signature:
            field = "signature";
            return "signature_delta";
    }
    field = "text";
    return "text_delta";
}

}  // namespace

void append_event_data(const StreamEvent& e, std::string& out) {
    using T = StreamEvent::Type;
    switch (e.type) {
        case T::message_start: {
            Json message = core::to_json(e.message);
            message["content"] = Json::array();
            message["stop_reason"] = nullptr;
            message["stop_sequence"] = nullptr;
            out += R"({"type":"message_start","message":)";
            append_json(out, message);
            out += '}';
            return;
        }
        case T::content_block_start:
            out += R"({"type":"content_block_start","index":)";
            append_int(out, e.index);
            out += R"(,"content_block":)";
            append_block_start(e.block, out);
            out += '}';
            return;
        case T::content_block_delta: {
            std::string_view field;
            const std::string_view type = delta_type(e.delta_kind, field);
            out += R"({"type":"content_block_delta","index":)";
            append_int(out, e.index);
            out += R"(,"delta":{"type":")";
            out += type;
            out += R"(",")";
            out += field;
            out += R"(":)";
            append_json_string(out, e.text);
            out += "}}";
            return;
        }
        case T::content_block_stop:
            out += R"({"type":"content_block_stop","index":)";
            append_int(out, e.index);
            out += '}';
            return;
        case T::message_delta:
            out += R"({"type":"message_delta","delta":{"stop_reason":)";
            if (e.stop_reason == core::StopReason::none)
                out += "null";
            else
                append_json_string(out, core::to_string(e.stop_reason));
            out += R"(,"stop_sequence":)";
            if (e.stop_sequence.empty())
                out += "null";
            else
                append_json_string(out, e.stop_sequence);
            out += R"(},"usage":{)";
            // Input and cache counts only when known at the end (some upstreams send them late).
            if (e.usage.input_tokens) {
                out += R"("input_tokens":)";
                append_int(out, e.usage.input_tokens);
                out += ',';
            }
            if (e.usage.cache_write_tokens) {
                out += R"("cache_creation_input_tokens":)";
                append_int(out, e.usage.cache_write_tokens);
                out += ',';
            }
            if (e.usage.cache_read_tokens) {
                out += R"("cache_read_input_tokens":)";
                append_int(out, e.usage.cache_read_tokens);
                out += ',';
            }
            out += R"("output_tokens":)";
            append_int(out, e.usage.output_tokens);
            out += "}}";
            return;
        case T::message_stop:
            out += R"({"type":"message_stop"})";
            return;
        case T::ping:
            out += R"({"type":"ping"})";
            return;
        case T::error:
            append_error_json(e.error, out);
            return;
    }
}

namespace {

core::Error bad_event(std::string what) {
    return core::Error{core::ErrorKind::upstream, "upstream stream event: " + std::move(what), {}};
}

int64_t int_or_zero(const Json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

core::Usage usage_from_json(const Json& u) {
    core::Usage usage;
    if (!u.is_object()) return usage;
    usage.input_tokens = int_or_zero(u, "input_tokens");
    usage.output_tokens = int_or_zero(u, "output_tokens");
    usage.cache_write_tokens = int_or_zero(u, "cache_creation_input_tokens");
    usage.cache_read_tokens = int_or_zero(u, "cache_read_input_tokens");
    return usage;
}

std::string string_or_empty(const Json& obj, const char* key) {
    auto it = obj.find(key);
    return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

core::Result<StreamEvent> stream_event_from_json(const Json& data) {
    if (!data.is_object()) return bad_event("not a JSON object");
    const std::string type = string_or_empty(data, "type");
    StreamEvent e;
    using T = StreamEvent::Type;
    if (type == "message_start") {
        e.type = T::message_start;
        auto m = data.find("message");
        if (m == data.end() || !m->is_object()) return bad_event("message_start without a message");
        e.message.id = string_or_empty(*m, "id");
        e.message.model = string_or_empty(*m, "model");
        if (auto u = m->find("usage"); u != m->end()) e.message.usage = usage_from_json(*u);
        e.message.stop_reason = core::StopReason::none;
    } else if (type == "content_block_start") {
        e.type = T::content_block_start;
        e.index = static_cast<int>(int_or_zero(data, "index"));
        auto b = data.find("content_block");
        if (b == data.end() || !b->is_object())
            return bad_event("content_block_start without a content_block");
        // A start block is a request-shaped block with empty payload; reuse the strict decoder.
        Json probe = {{"model", "x"},
                      {"messages", {{{"role", "assistant"}, {"content", Json::array({*b})}}}}};
        auto decoded = core::request_from_json(std::move(probe));
        if (!decoded) return bad_event("content_block_start: " + decoded.error().message);
        e.block = std::move(decoded.value().messages[0].content[0]);
    } else if (type == "content_block_delta") {
        e.type = T::content_block_delta;
        e.index = static_cast<int>(int_or_zero(data, "index"));
        auto d = data.find("delta");
        if (d == data.end() || !d->is_object())
            return bad_event("content_block_delta without a delta");
        const std::string dt = string_or_empty(*d, "type");
        const char* field = nullptr;
        if (dt == "text_delta")
            e.delta_kind = StreamEvent::DeltaKind::text, field = "text";
        else if (dt == "input_json_delta")
            e.delta_kind = StreamEvent::DeltaKind::input_json, field = "partial_json";
        else if (dt == "thinking_delta")
            e.delta_kind = StreamEvent::DeltaKind::thinking, field = "thinking";
        else if (dt == "signature_delta")
            e.delta_kind = StreamEvent::DeltaKind::signature, field = "signature";
        else
            return bad_event("unknown delta type '" + dt + "'");
        e.text = string_or_empty(*d, field);
    } else if (type == "content_block_stop") {
        e.type = T::content_block_stop;
        e.index = static_cast<int>(int_or_zero(data, "index"));
    } else if (type == "message_delta") {
        e.type = T::message_delta;
        if (auto d = data.find("delta"); d != data.end() && d->is_object()) {
            e.stop_reason = core::stop_reason_from_string(string_or_empty(*d, "stop_reason"));
            e.stop_sequence = string_or_empty(*d, "stop_sequence");
        }
        if (auto u = data.find("usage"); u != data.end()) e.usage = usage_from_json(*u);
    } else if (type == "message_stop") {
        e.type = T::message_stop;
    } else if (type == "ping") {
        e.type = T::ping;
    } else if (type == "error") {
        e.type = T::error;
        e.error.kind = core::ErrorKind::upstream;
        if (auto err = data.find("error"); err != data.end() && err->is_object()) {
            const std::string et = string_or_empty(*err, "type");
            using K = core::ErrorKind;
            if (et == "overloaded_error")
                e.error.kind = K::overloaded;
            else if (et == "rate_limit_error")
                e.error.kind = K::rate_limited;
            else if (et == "invalid_request_error")
                e.error.kind = K::invalid_request;
            e.error.message = string_or_empty(*err, "message");
        }
    } else {
        return bad_event("unknown event type '" + type + "'");
    }
    return e;
}

core::Result<core::Response> response_from_json(const Json& m) {
    if (!m.is_object()) return bad_event("message is not a JSON object");
    core::Response r;
    r.id = string_or_empty(m, "id");
    r.model = string_or_empty(m, "model");
    r.stop_reason = core::stop_reason_from_string(string_or_empty(m, "stop_reason"));
    r.stop_sequence = string_or_empty(m, "stop_sequence");
    if (auto u = m.find("usage"); u != m.end()) r.usage = usage_from_json(*u);
    auto content = m.find("content");
    if (content == m.end() || !content->is_array())
        return bad_event("message without a content array");
    if (content->empty()) return r;
    Json probe = {{"model", "x"}, {"messages", {{{"role", "assistant"}, {"content", *content}}}}};
    auto decoded = core::request_from_json(std::move(probe));
    if (!decoded) return bad_event("message content: " + decoded.error().message);
    r.content = std::move(decoded.value().messages[0].content);
    return r;
}

}  // namespace anthropic

namespace {

//! Anthropic's stream is the canonical grammar: each event is one frame, no state needed.
class AnthropicStreamEncoder final : public StreamEncoder {
  public:
    // StreamEncoder
    void encode(const StreamEvent& e, std::string& out) override {
        const std::string_view name = anthropic::event_name(e);
        out += "event: ";
        out += name;
        out += "\ndata: ";
        anthropic::append_event_data(e, out);  // one line: JSON text never holds a raw newline
        out += "\n\n";
    }
    void encode_error(const core::Error& err, std::string& out) override {
        out += "event: error\ndata: ";
        anthropic::append_error_json(err, out);
        out += "\n\n";
    }
};

}  // namespace

core::Result<core::Request> AnthropicCodec::decode_request(std::string_view body) const {
    // Requests as clients send them are decoded from simdjson's document without a JSON tree;
    // anything else (a problem to report included) goes through the strict decoder, on the tree
    // of the same document (the body is parsed again only when simdjson could not parse it, so
    // that parse_json_body says why).
    std::optional<core::Request> direct;
    std::optional<core::Json> tree;
    with_parsed_json(body, [&](const simdjson::dom::element& root) {
        direct = decode_request_direct(root, body);
        if (!direct) tree = json_from_simdjson(root);
    });
    if (direct) return std::move(*direct);
    if (!tree) {
        auto parsed = parse_json_body(body);
        if (!parsed) return parsed.take_error();
        tree = std::move(parsed).value();
    }
    return core::request_from_json(std::move(*tree));
}

std::string AnthropicCodec::encode_response(const core::Response& r) const {
    // Written directly, keys in the same (sorted) order core::to_json + dump_json produce;
    // only blocks other than plain text go through the JSON tree.
    std::string out;
    out.reserve(256 + [&] {
        size_t n = 0;
        for (const auto& b : r.content) n += b.text.size() + 32;
        return n;
    }());
    out += R"({"content":[)";
    bool first = true;
    for (const auto& b : r.content) {
        if (!first) out += ',';
        first = false;
        if (b.type == core::ContentBlock::Type::text && b.cache_control.is_null()) {
            out += R"({"text":)";
            append_json_string(out, b.text);
            out += R"(,"type":"text"})";
        } else {
            append_json(out, core::to_json(b));
        }
    }
    out += R"(],"id":)";
    append_json_string(out, r.id);
    out += R"(,"model":)";
    append_json_string(out, r.model);
    out += R"(,"role":"assistant","stop_reason":)";
    if (r.stop_reason == core::StopReason::none)
        out += "null";
    else
        append_json_string(out, core::to_string(r.stop_reason));
    out += R"(,"stop_sequence":)";
    if (r.stop_sequence.empty())
        out += "null";
    else
        append_json_string(out, r.stop_sequence);
    out += R"(,"type":"message","usage":{"cache_creation_input_tokens":)";
    out += std::to_string(r.usage.cache_write_tokens);
    out += R"(,"cache_read_input_tokens":)";
    out += std::to_string(r.usage.cache_read_tokens);
    out += R"(,"input_tokens":)";
    out += std::to_string(r.usage.input_tokens);
    out += R"(,"output_tokens":)";
    out += std::to_string(r.usage.output_tokens);
    out += "}}";
    return out;
}

std::unique_ptr<StreamEncoder> AnthropicCodec::stream_encoder() const {
    return std::make_unique<AnthropicStreamEncoder>();
}

std::string AnthropicCodec::error_body(const core::Error& err) const {
    std::string out;
    anthropic::append_error_json(err, out);
    return out;
}

}  // namespace tianshu::protocol
