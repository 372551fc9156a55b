#include "protocol/responses_upstream.hpp"

#include <algorithm>

#include "protocol/image_url.hpp"
#include "protocol/json_text.hpp"

namespace tianshu::protocol::responses_upstream {

using core::ContentBlock;
using core::Json;
using core::StreamEvent;

namespace {

std::string string_or_empty(const Json& j, const char* key) {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t int_or_zero(const Json& j, const char* key) {
    if (!j.is_object()) return 0;
    auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::optional<std::string> effort_of(const core::Request& r) {
    std::string e;
    if (r.extra.is_object()) {
        if (auto oc = r.extra.find("output_config"); oc != r.extra.end())
            e = string_or_empty(*oc, "effort");
        if (e.empty()) e = string_or_empty(r.extra, "reasoning_effort");
    }
    if (e == "low" || e == "medium" || e == "high") return e;
    if (e == "max") return "high";
    if (e == "minimal") return "low";
    if (string_or_empty(r.thinking, "type") != "enabled") return std::nullopt;
    const int64_t budget = int_or_zero(r.thinking, "budget_tokens");
    if (budget < 8000) return "low";
    if (budget < 24000) return "medium";
    return "high";
}

//! Appends the items of one canonical message to `input`.
core::Result<void> add_message(const core::Message& m, size_t mi, Json& input) {
    const std::string where = "messages[" + std::to_string(mi) + "]";
    if (m.role == core::Role::system) {
        std::string text;
        for (const auto& b : m.content)
            if (b.type == ContentBlock::Type::text) text += b.text;
        if (!text.empty()) input.push_back(Json{{"role", "developer"}, {"content", text}});
        return {};
    }
    const bool assistant = m.role == core::Role::assistant;
    Json parts = Json::array();  // the current run of user/assistant content
    auto flush = [&] {
        if (parts.empty()) return;
        input.push_back(Json{{"type", "message"},
                             {"role", assistant ? "assistant" : "user"},
                             {"content", std::move(parts)}});
        parts = Json::array();
    };
    for (size_t bi = 0; bi < m.content.size(); ++bi) {
        const ContentBlock& b = m.content[bi];
        const std::string bw = where + ".content[" + std::to_string(bi) + "]";
        switch (b.type) {
            case ContentBlock::Type::text:
                if (b.text.empty()) break;
                parts.push_back(
                    Json{{"type", assistant ? "output_text" : "input_text"}, {"text", b.text}});
                break;
            case ContentBlock::Type::image: {
                if (assistant) break;
                auto url = image_url_of(b, bw, "an OpenAI Responses upstream");
                if (!url) return url.take_error();
                parts.push_back(Json{{"type", "input_image"}, {"image_url", url.value()}});
                break;
            }
            case ContentBlock::Type::tool_use:
                flush();
                input.push_back(
                    Json{{"type", "function_call"},
                         {"call_id", b.id},
                         {"name", b.name},
                         {"arguments", dump_json(b.input.is_null() ? Json::object() : b.input)}});
                break;
            case ContentBlock::Type::tool_result: {
                flush();
                bool images = false;
                for (const auto& c : b.content)
                    images = images || c.type == ContentBlock::Type::image;
                Json output;
                if (!images) {
                    std::string text = b.is_error ? "Error: " : "";
                    for (const auto& c : b.content) text += c.text;
                    output = text;
                } else {
                    output = Json::array();
                    if (b.is_error)
                        output.push_back(Json{{"type", "input_text"}, {"text", "Error: "}});
                    for (size_t ci = 0; ci < b.content.size(); ++ci) {
                        const auto& c = b.content[ci];
                        if (c.type == ContentBlock::Type::image) {
                            auto url = image_url_of(c, bw + ".content[" + std::to_string(ci) + "]",
                                                    "an OpenAI Responses upstream");
                            if (!url) return url.take_error();
                            output.push_back(
                                Json{{"type", "input_image"}, {"image_url", url.value()}});
                        } else if (!c.text.empty()) {
                            output.push_back(Json{{"type", "input_text"}, {"text", c.text}});
                        }
                    }
                }
                input.push_back(Json{{"type", "function_call_output"},
                                     {"call_id", b.id},
                                     {"output", std::move(output)}});
                break;
            }
            case ContentBlock::Type::thinking:
                // Only the provider's own reasoning (its encrypted_content) can go back.
                if (!assistant || b.signature.empty()) break;
                flush();
                {
                    Json summary = Json::array();
                    if (!b.text.empty())
                        summary.push_back(Json{{"type", "summary_text"}, {"text", b.text}});
                    input.push_back(Json{{"type", "reasoning"},
                                         {"summary", std::move(summary)},
                                         {"encrypted_content", b.signature}});
                }
                break;
            case ContentBlock::Type::redacted_thinking:
                break;
        }
    }
    flush();
    return {};
}

}  // namespace

core::Result<Json> encode_request(const core::Request& r, const UpstreamOptions& o) {
    Json body = Json::object();
    body["model"] = r.model;
    const std::string system = r.system_text();
    if (!system.empty()) body["instructions"] = system;
    Json input = Json::array();
    for (size_t i = 0; i < r.messages.size(); ++i)
        if (auto added = add_message(r.messages[i], i, input); !added) return added.take_error();
    body["input"] = std::move(input);
    if (!r.tools.empty()) {
        Json tools = Json::array();
        for (const auto& t : r.tools) {
            Json schema = t.input_schema.is_null()
                              ? Json{{"type", "object"}, {"properties", Json::object()}}
                              : t.input_schema.json();
            if (!o.strip_schema_keywords.empty())
                openai_upstream::strip_schema_keywords(schema, o.strip_schema_keywords);
            Json tool{{"type", "function"},
                      {"name", t.name},
                      {"parameters", std::move(schema)},
                      {"strict", false}};
            if (!t.description.empty()) tool["description"] = t.description;
            tools.push_back(std::move(tool));
        }
        body["tools"] = std::move(tools);
    }
    if (r.tool_choice.is_object()) {
        const std::string type = string_or_empty(r.tool_choice, "type");
        if (type == "auto" || type == "none")
            body["tool_choice"] = type;
        else if (type == "any")
            body["tool_choice"] = "required";
        else if (type == "tool")
            body["tool_choice"] =
                Json{{"type", "function"}, {"name", string_or_empty(r.tool_choice, "name")}};
        if (auto d = r.tool_choice.find("disable_parallel_tool_use");
            d != r.tool_choice.end() && *d == true && !r.tools.empty())
            body["parallel_tool_calls"] = false;
    }
    if (r.max_tokens) {
        int64_t n = *r.max_tokens;
        if (o.max_output_tokens) n = std::min(n, *o.max_output_tokens);
        body["max_output_tokens"] = n;
    }
    if (r.temperature) body["temperature"] = *r.temperature;
    if (r.top_p) body["top_p"] = *r.top_p;
    if (auto effort = effort_of(r)) {
        body["reasoning"] = Json{{"effort", *effort}, {"summary", "auto"}};
        // Nothing is stored upstream: the reasoning comes back encrypted, to be sent back whole.
        body["include"] = Json::array({"reasoning.encrypted_content"});
    }
    body["stream"] = r.stream;
    body["store"] = false;
    for (const auto& f : o.strip_fields) body.erase(f);
    return body;
}

core::Result<std::string> encode_request_body(const core::Request& r, const UpstreamOptions& o) {
    auto j = responses_upstream::encode_request(r, o);
    if (!j) return j.take_error();
    return dump_json(j.value());
}

// ---------------------------------------------------------------------------------------------
// The stream.

namespace {

core::Error error_from(const Json& obj, std::string_view when) {
    const std::string code = string_or_empty(obj, "code");
    const std::string type = string_or_empty(obj, "type");
    std::string message = string_or_empty(obj, "message");
    if (message.empty()) message = dump_json(obj).substr(0, 500);
    const std::string tag = code + " " + type;
    auto kind = core::ErrorKind::upstream;
    if (tag.find("rate_limit") != std::string::npos)
        kind = core::ErrorKind::rate_limited;
    else if (tag.find("overload") != std::string::npos)
        kind = core::ErrorKind::overloaded;
    else if (tag.find("context_length") != std::string::npos ||
             tag.find("invalid_prompt") != std::string::npos)
        kind = core::ErrorKind::invalid_request;
    std::string msg = "the upstream reported an error ";
    msg += when;
    msg += ": " + message.substr(0, 500);
    if (!code.empty()) msg += " (code " + code + ")";
    return core::Error{kind, std::move(msg), {}};
}

std::string key_of(const Json& data, const Json* item) {
    if (item != nullptr) {
        if (auto id = string_or_empty(*item, "id"); !id.empty()) return id;
    }
    if (auto id = string_or_empty(data, "item_id"); !id.empty()) return id;
    return "#" + std::to_string(int_or_zero(data, "output_index"));
}

}  // namespace

StreamDecoder::StreamDecoder(std::string message_id, std::string model,
                             int64_t estimated_input_tokens)
    : message_id_(std::move(message_id)),
      model_(std::move(model)),
      estimated_input_tokens_(estimated_input_tokens) {}

core::Result<void> StreamDecoder::fail(core::Error e) {
    failed_ = e;
    return e;
}

void StreamDecoder::start(std::vector<StreamEvent>& out) {
    if (started_) return;
    started_ = true;
    StreamEvent e;
    e.type = StreamEvent::Type::message_start;
    e.message.id = message_id_;
    e.message.model = model_;
    e.message.usage.input_tokens = estimated_input_tokens_;
    out.push_back(std::move(e));
}

void StreamDecoder::close(std::vector<StreamEvent>& out) {
    if (open_ == Open::none) return;
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_stop;
    e.index = open_index_;
    out.push_back(std::move(e));
    open_ = Open::none;
    open_item_.clear();
    arguments_.clear();
    open_streamed_ = false;
}

void StreamDecoder::open(Open kind, const Json& item, std::vector<StreamEvent>& out) {
    close(out);
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_start;
    e.index = next_block_++;
    switch (kind) {
        case Open::text:
            e.block.type = ContentBlock::Type::text;
            break;
        case Open::thinking:
            e.block.type = ContentBlock::Type::thinking;
            break;
        case Open::tool:
            e.block.type = ContentBlock::Type::tool_use;
            e.block.id = string_or_empty(item, "call_id");
            e.block.name = string_or_empty(item, "name");
            e.block.input = Json::object();
            break;
        case Open::none:
            return;
    }
    open_ = kind;
    open_index_ = e.index;
    out.push_back(std::move(e));
}

void StreamDecoder::delta(Open kind, StreamEvent::DeltaKind dk, const std::string& text,
                          std::vector<StreamEvent>& out) {
    if (text.empty()) return;
    if (open_ != kind) open(kind, Json::object(), out);
    open_streamed_ = true;
    if (kind == Open::tool) arguments_ += text;
    if (dk != StreamEvent::DeltaKind::signature) output_chars_ += static_cast<int64_t>(text.size());
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_delta;
    e.index = open_index_;
    e.delta_kind = dk;
    e.text = text;
    out.push_back(std::move(e));
}

core::Result<void> StreamDecoder::item_done(const Json& item, std::vector<StreamEvent>& out) {
    const std::string type = string_or_empty(item, "type");
    using DK = StreamEvent::DeltaKind;
    if (type == "message") {
        std::string text;
        if (auto c = item.find("content"); c != item.end() && c->is_array())
            for (const auto& part : *c) {
                text += string_or_empty(part, "text");
                text += string_or_empty(part, "refusal");
            }
        if (!(open_ == Open::text && open_streamed_)) {
            close(out);
            delta(Open::text, DK::text, text, out);
        }
        close(out);
    } else if (type == "reasoning") {
        std::string text;
        for (const char* key : {"summary", "content"}) {
            if (!text.empty()) break;
            if (auto c = item.find(key); c != item.end() && c->is_array())
                for (const auto& part : *c) {
                    const std::string t = string_or_empty(part, "text");
                    if (!text.empty() && !t.empty()) text += "\n\n";
                    text += t;
                }
        }
        if (!(open_ == Open::thinking && open_streamed_)) {
            close(out);
            delta(Open::thinking, DK::thinking, text, out);
        }
        const std::string enc = string_or_empty(item, "encrypted_content");
        if (!enc.empty()) {
            if (open_ != Open::thinking) open(Open::thinking, item, out);
            delta(Open::thinking, DK::signature, enc, out);
        }
        close(out);
    } else if (type == "function_call") {
        saw_call_ = true;
        if (open_ != Open::tool) open(Open::tool, item, out);
        if (!open_streamed_)
            delta(Open::tool, DK::input_json, string_or_empty(item, "arguments"), out);
        const std::string args = arguments_.empty() ? "{}" : arguments_;
        Json parsed = Json::parse(args, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object())
            return fail(core::Error{
                core::ErrorKind::upstream,
                "the upstream's function_call '" + string_or_empty(item, "name") +
                    "' has arguments that are not a JSON object: " + args.substr(0, 200),
                {}});
        close(out);
    }
    // Other items (web_search_call, …) carry nothing a canonical answer holds.
    return {};
}

core::Result<void> StreamDecoder::end(const Json& response, std::vector<StreamEvent>& out) {
    start(out);
    close(out);
    StreamEvent d;
    d.type = StreamEvent::Type::message_delta;
    d.stop_reason = saw_call_ ? core::StopReason::tool_use : core::StopReason::end_turn;
    if (string_or_empty(response, "status") == "incomplete") {
        const std::string reason = response.contains("incomplete_details")
                                       ? string_or_empty(response["incomplete_details"], "reason")
                                       : std::string();
        if (reason == "max_output_tokens") d.stop_reason = core::StopReason::max_tokens;
        if (reason == "content_filter") d.stop_reason = core::StopReason::refusal;
    }
    auto u = response.is_object() ? response.find("usage") : response.end();
    if (response.is_object() && u != response.end() && u->is_object()) {
        int64_t cached = 0, reasoning = 0;
        if (auto it = u->find("input_tokens_details"); it != u->end())
            cached = int_or_zero(*it, "cached_tokens");
        if (auto it = u->find("output_tokens_details"); it != u->end())
            reasoning = int_or_zero(*it, "reasoning_tokens");
        d.usage.input_tokens = std::max<int64_t>(0, int_or_zero(*u, "input_tokens") - cached);
        d.usage.cache_read_tokens = cached;
        d.usage.output_tokens = int_or_zero(*u, "output_tokens");
        d.usage.reasoning_tokens = reasoning;
    } else {
        d.usage.input_tokens = estimated_input_tokens_;
        d.usage.output_tokens = (output_chars_ + 3) / 4;
        d.usage.output_estimated = true;
    }
    out.push_back(std::move(d));
    StreamEvent stop;
    stop.type = StreamEvent::Type::message_stop;
    out.push_back(std::move(stop));
    done_ = true;
    return {};
}

core::Result<void> StreamDecoder::on_event(const Json& data, std::vector<StreamEvent>& out) {
    const std::string type = string_or_empty(data, "type");
    using DK = StreamEvent::DeltaKind;
    if (type == "error")
        return fail(
            error_from(data.contains("error") && data["error"].is_object() ? data["error"] : data,
                       "mid-stream"));
    if (type == "response.failed") {
        const Json& resp = data.contains("response") ? data["response"] : data;
        return fail(
            error_from(resp.is_object() && resp.contains("error") ? resp["error"] : Json::object(),
                       "mid-stream (response.failed)"));
    }
    start(out);
    if (type == "response.output_item.added") {
        const Json& item = data.contains("item") ? data["item"] : Json::object();
        if (string_or_empty(item, "type") == "function_call") {
            open(Open::tool, item, out);
            open_item_ = key_of(data, &item);
        }
    } else if (type == "response.output_text.delta" || type == "response.refusal.delta") {
        const std::string key = key_of(data, nullptr);
        if (open_ != Open::text || open_item_ != key) {
            close(out);
            open(Open::text, data, out);
            open_item_ = key;
        }
        delta(Open::text, DK::text, string_or_empty(data, "delta"), out);
    } else if (type == "response.reasoning_summary_text.delta" ||
               type == "response.reasoning_text.delta") {
        const std::string key = key_of(data, nullptr);
        const int64_t part = int_or_zero(data, "summary_index");
        if (open_ != Open::thinking || open_item_ != key) {
            close(out);
            open(Open::thinking, data, out);
            open_item_ = key;
            summary_index_ = part;
        }
        // Summary parts are joined as the whole item's are: with a blank line.
        if (part != summary_index_ && open_streamed_)
            delta(Open::thinking, DK::thinking, "\n\n", out);
        summary_index_ = part;
        delta(Open::thinking, DK::thinking, string_or_empty(data, "delta"), out);
    } else if (type == "response.function_call_arguments.delta") {
        if (open_ != Open::tool || open_item_ != key_of(data, nullptr))
            return fail(core::Error{core::ErrorKind::upstream,
                                    "the upstream sent function_call_arguments.delta for item '" +
                                        key_of(data, nullptr) +
                                        "' outside its function_call item (items must not "
                                        "interleave)",
                                    {}});
        delta(Open::tool, DK::input_json, string_or_empty(data, "delta"), out);
    } else if (type == "response.output_item.done") {
        const Json& item = data.contains("item") ? data["item"] : Json::object();
        const std::string key = key_of(data, &item);
        if (open_ != Open::none && open_item_ != key) close(out);
        if (auto r = item_done(item, out); !r) return r;
    } else if (type == "response.completed" || type == "response.incomplete") {
        return end(data.contains("response") ? data["response"] : Json::object(), out);
    }
    // response.created / in_progress, *.added, *.done of parts and texts: nothing new.
    return {};
}

core::Result<void> StreamDecoder::feed(const SseEvent& event, std::vector<StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    if (event.data.empty() || event.data == "[DONE]") return {};
    Json data = Json::parse(event.data, nullptr, false);
    if (data.is_discarded() || !data.is_object())
        return fail(core::Error{
            core::ErrorKind::upstream,
            "the upstream sent an event that is not a JSON object: " + event.data.substr(0, 200),
            {}});
    if (!data.contains("type") && !event.event.empty()) data["type"] = event.event;
    if (data.contains("error") && !data.contains("type")) data["type"] = "error";
    return on_event(data, out);
}

core::Result<void> StreamDecoder::finish(std::vector<StreamEvent>& out) {
    (void)out;
    if (failed_) return *failed_;
    if (done_) return {};
    return fail(core::Error{core::ErrorKind::upstream,
                            "the upstream's stream ended before response.completed; the answer "
                            "is incomplete",
                            {}});
}

core::Result<void> StreamDecoder::feed_response(std::string_view body,
                                                std::vector<StreamEvent>& out) {
    Json j = Json::parse(body.begin(), body.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return fail(core::Error{
            core::ErrorKind::upstream,
            "the upstream's answer is not a JSON object: " + std::string(body.substr(0, 200)),
            {}});
    if (auto e = j.find("error"); e != j.end() && e->is_object())
        return fail(error_from(*e, "in its answer"));
    if (string_or_empty(j, "status") == "failed")
        return fail(error_from(Json::object(), "in its answer (status failed)"));
    auto output = j.find("output");
    if (output == j.end() || !output->is_array())
        return fail(core::Error{
            core::ErrorKind::upstream, "the upstream's answer has no output array", {}});
    if (model_.empty()) model_ = string_or_empty(j, "model");
    start(out);
    for (const auto& item : *output)
        if (auto r = item_done(item, out); !r) return r;
    return end(j, out);
}

}  // namespace tianshu::protocol::responses_upstream
