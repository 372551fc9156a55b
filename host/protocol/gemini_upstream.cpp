#include "protocol/gemini_upstream.hpp"

#include <algorithm>
#include <map>

#include "protocol/json_text.hpp"

namespace tianshu::protocol::gemini_upstream {

using core::ContentBlock;
using core::Error;
using core::ErrorKind;
using core::Json;
using core::StreamEvent;

namespace {

//! `j[key]` when it is a string, else "": bodies from clients and upstreams are never trusted
//! to have the types they should (nlohmann's value() would throw).
std::string text_of(const Json& j, const char* key) {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

//! Removes the channel's banned keywords from a JSON Schema; property names are kept.
void strip_keywords(Json& s, const std::vector<std::string>& banned) {
    if (banned.empty()) return;
    if (s.is_array()) {
        for (auto& v : s) strip_keywords(v, banned);
        return;
    }
    if (!s.is_object()) return;
    for (const auto& k : banned) s.erase(k);
    for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& k = it.key();
        if (k == "enum" || k == "const" || k == "default" || k == "examples") continue;
        if ((k == "properties" || k == "$defs" || k == "definitions" || k == "patternProperties") &&
            it.value().is_object()) {
            for (auto& [name, sub] : it.value().items()) strip_keywords(sub, banned);
        } else {
            strip_keywords(it.value(), banned);
        }
    }
}

//! Builds one Gemini content's parts, moving each signature onto the next part.
struct PartList {
    Json parts = Json::array();
    std::string pending;  //!< a thinking block's signature, for the next part

    void add(Json part) {
        if (!pending.empty()) {
            part["thoughtSignature"] = std::move(pending);
            pending.clear();
        }
        parts.push_back(std::move(part));
    }
    void end() {
        if (!pending.empty()) add(Json{{"text", ""}});
    }
};

Json response_object(const ContentBlock& result) {
    std::string text;
    for (const auto& c : result.content)
        if (c.type == ContentBlock::Type::text) text += c.text;
    if (!result.is_error) {
        Json j = Json::parse(text, nullptr, false);
        if (j.is_object()) return j;
    }
    return Json{{result.is_error ? "error" : "result", std::move(text)}};
}

Json tool_choice_config(const Json& tc) {
    const std::string type = text_of(tc, "type");
    if (type == "none") return Json{{"mode", "NONE"}};
    if (type == "any") return Json{{"mode", "ANY"}};
    if (type == "tool")
        return Json{{"mode", "ANY"}, {"allowedFunctionNames", Json::array({text_of(tc, "name")})}};
    return Json{{"mode", "AUTO"}};
}

}  // namespace

core::Result<Json> encode_request(const core::Request& r, const UpstreamOptions& o) {
    std::map<std::string, std::string, std::less<>> call_names;  // tool_use id -> name
    for (const auto& m : r.messages)
        for (const auto& b : m.content)
            if (b.type == ContentBlock::Type::tool_use) call_names[b.id] = b.name;

    Json contents = Json::array();
    for (size_t i = 0; i < r.messages.size(); ++i) {
        const auto& m = r.messages[i];
        const bool model = m.role == core::Role::assistant;
        PartList list;
        bool first_call = true;
        for (size_t k = 0; k < m.content.size(); ++k) {
            const auto& b = m.content[k];
            switch (b.type) {
                case ContentBlock::Type::text:
                    if (!b.text.empty()) list.add(Json{{"text", b.text}});
                    break;
                case ContentBlock::Type::thinking:
                    if (model && !b.signature.empty()) list.pending = b.signature;
                    break;
                case ContentBlock::Type::redacted_thinking:
                    break;
                case ContentBlock::Type::image: {
                    if (text_of(b.source, "type") != "base64")
                        return Error::invalid("messages[" + std::to_string(i) + "].content[" +
                                              std::to_string(k) +
                                              "]: a Gemini upstream takes images as base64 data, "
                                              "not by URL or file id: send the image's bytes");
                    list.add(Json{{"inlineData",
                                   {{"mimeType", text_of(b.source, "media_type")},
                                    {"data", text_of(b.source, "data")}}}});
                    break;
                }
                case ContentBlock::Type::tool_use: {
                    const bool had_signature = !list.pending.empty();
                    list.add(Json{{"functionCall",
                                   {{"name", b.name},
                                    {"args", b.input.is_object() ? b.input : Json::object()}}}});
                    if (first_call && !had_signature) {
                        // Gemini 3 wants the first call of each step signed.
                        list.parts.back()["thoughtSignature"] = std::string(kPlaceholderSignature);
                    }
                    first_call = false;
                    break;
                }
                case ContentBlock::Type::tool_result: {
                    auto name = call_names.find(b.id);
                    list.add(Json{{"functionResponse",
                                   {{"name", name == call_names.end() ? b.id : name->second},
                                    {"response", response_object(b)}}}});
                    for (const auto& c : b.content)
                        if (c.type == ContentBlock::Type::image &&
                            text_of(c.source, "type") == "base64")
                            list.add(Json{{"inlineData",
                                           {{"mimeType", text_of(c.source, "media_type")},
                                            {"data", text_of(c.source, "data")}}}});
                    break;
                }
            }
        }
        list.end();
        if (list.parts.empty()) continue;  // Gemini refuses a content without parts
        const char* role = model ? "model" : "user";
        if (!contents.empty() && contents.back()["role"] == role) {
            for (auto& p : list.parts) contents.back()["parts"].push_back(std::move(p));
        } else {
            contents.push_back(Json{{"role", role}, {"parts", std::move(list.parts)}});
        }
    }

    Json body{{"contents", std::move(contents)}};
    if (const std::string sys = r.system_text(); !sys.empty())
        body["systemInstruction"] = Json{{"parts", Json::array({Json{{"text", sys}}})}};
    if (!r.tools.empty()) {
        Json decls = Json::array();
        for (const auto& t : r.tools) {
            Json schema = t.input_schema.json();
            strip_keywords(schema, o.strip_schema_keywords);
            Json d{{"name", t.name}, {"parametersJsonSchema", std::move(schema)}};
            if (!t.description.empty()) d["description"] = t.description;
            decls.push_back(std::move(d));
        }
        body["tools"] = Json::array({Json{{"functionDeclarations", std::move(decls)}}});
        if (r.tool_choice.is_object())
            body["toolConfig"] = Json{{"functionCallingConfig", tool_choice_config(r.tool_choice)}};
    }
    Json gen = Json::object();
    if (r.max_tokens) {
        int64_t n = *r.max_tokens;
        if (o.max_output_tokens) n = std::min(n, *o.max_output_tokens);
        gen["maxOutputTokens"] = n;
    } else if (o.max_output_tokens) {
        gen["maxOutputTokens"] = *o.max_output_tokens;
    }
    if (r.temperature) gen["temperature"] = *r.temperature;
    if (r.top_p) gen["topP"] = *r.top_p;
    if (r.top_k) gen["topK"] = *r.top_k;
    if (!r.stop_sequences.empty()) gen["stopSequences"] = r.stop_sequences;
    if (text_of(r.thinking, "type") == "enabled") {
        auto budget = r.thinking.find("budget_tokens");
        gen["thinkingConfig"] =
            Json{{"includeThoughts", true},
                 {"thinkingBudget", budget != r.thinking.end() && budget->is_number_integer()
                                        ? budget->get<int64_t>()
                                        : int64_t{1024}}};
    }
    if (!gen.empty()) body["generationConfig"] = std::move(gen);
    return body;
}

std::string method_path(std::string_view model, bool stream) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out = "/models/";
    for (unsigned char c : model) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0xF];
        }
    }
    out += stream ? ":streamGenerateContent?alt=sse" : ":generateContent";
    return out;
}

// ---- StreamDecoder ------------------------------------------------------------------------------

StreamDecoder::StreamDecoder(std::string message_id, std::string model)
    : message_id_(std::move(message_id)), model_(std::move(model)) {}

core::Result<void> StreamDecoder::feed(std::string_view data, std::vector<StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    Json j = Json::parse(data.begin(), data.end(), nullptr, false);
    core::Result<void> r;
    if (j.is_discarded() || !j.is_object())
        r = Error{ErrorKind::upstream,
                  "the Gemini upstream sent a chunk that is not a JSON object: " +
                      std::string(data.substr(0, 200)),
                  {}};
    else
        r = chunk(j, out);
    if (!r) failed_ = r.error();
    return r;
}

core::Result<void> StreamDecoder::finish(std::vector<StreamEvent>& out) {
    if (failed_) return *failed_;
    if (done_) return {};
    (void)out;
    failed_ = Error{ErrorKind::upstream,
                    "the Gemini upstream's answer ended before its finishReason: the answer is "
                    "incomplete",
                    {}};
    return *failed_;
}

void StreamDecoder::start(std::vector<StreamEvent>& out) {
    if (started_) return;
    started_ = true;
    StreamEvent e;
    e.type = StreamEvent::Type::message_start;
    e.message.id = message_id_;
    e.message.model = model_;
    e.message.usage = usage_;
    out.push_back(std::move(e));
}

void StreamDecoder::close(std::vector<StreamEvent>& out) {
    if (open_ == Open::none) return;
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_stop;
    e.index = next_block_ - 1;
    out.push_back(std::move(e));
    open_ = Open::none;
    open_signed_ = false;
}

void StreamDecoder::open(Open kind, std::vector<StreamEvent>& out) {
    if (open_ == kind) return;
    close(out);
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_start;
    e.index = next_block_++;
    e.block.type = kind == Open::thinking ? ContentBlock::Type::thinking : ContentBlock::Type::text;
    out.push_back(std::move(e));
    open_ = kind;
}

void StreamDecoder::signature(std::string sig, std::vector<StreamEvent>& out) {
    if (open_ != Open::thinking || open_signed_) {  // a signed block takes no second one
        close(out);
        open(Open::thinking, out);
    }
    StreamEvent e;
    e.type = StreamEvent::Type::content_block_delta;
    e.index = next_block_ - 1;
    e.delta_kind = StreamEvent::DeltaKind::signature;
    e.text = std::move(sig);
    out.push_back(std::move(e));
    open_signed_ = true;
}

void StreamDecoder::read_usage(const Json& u) {
    auto count = [&](const char* key) {
        auto it = u.find(key);
        return it != u.end() && it->is_number_integer() ? it->get<int64_t>() : int64_t{0};
    };
    const int64_t prompt = count("promptTokenCount");
    const int64_t cached = std::min(count("cachedContentTokenCount"), prompt);
    const int64_t thoughts = count("thoughtsTokenCount");
    usage_.input_tokens = prompt - cached;
    usage_.cache_read_tokens = cached;
    usage_.output_tokens = count("candidatesTokenCount") + thoughts;
    usage_.reasoning_tokens = thoughts;
}

namespace {

core::ErrorKind kind_of_status(std::string_view status, int64_t code) {
    if (status == "RESOURCE_EXHAUSTED" || code == 429) return ErrorKind::rate_limited;
    if (status == "UNAVAILABLE" || code == 503) return ErrorKind::overloaded;
    if (status == "DEADLINE_EXCEEDED" || code == 504) return ErrorKind::timeout;
    return ErrorKind::upstream;
}

core::StopReason stop_of(std::string_view finish, bool called) {
    using S = core::StopReason;
    if (finish == "MAX_TOKENS") return S::max_tokens;
    if (finish == "SAFETY" || finish == "RECITATION" || finish == "BLOCKLIST" ||
        finish == "PROHIBITED_CONTENT" || finish == "SPII" || finish == "IMAGE_SAFETY")
        return S::refusal;
    return called ? S::tool_use : S::end_turn;
}

}  // namespace

core::Result<void> StreamDecoder::chunk(const Json& j, std::vector<StreamEvent>& out) {
    if (auto err = j.find("error"); err != j.end()) {
        const Json& e = *err;
        std::string message = e.is_object() ? text_of(e, "message") : e.dump();
        const std::string status = e.is_object() ? text_of(e, "status") : "";
        const int64_t code = e.is_object() && e.contains("code") && e["code"].is_number_integer()
                                 ? e["code"].get<int64_t>()
                                 : 0;
        std::string msg = "the Gemini upstream reported an error mid-answer: " + message;
        if (!status.empty()) msg += " (" + status + ")";
        return Error{kind_of_status(status, code), std::move(msg), {}};
    }
    if (auto u = j.find("usageMetadata"); u != j.end() && u->is_object()) read_usage(*u);
    auto cands = j.find("candidates");
    if (cands == j.end() || !cands->is_array() || cands->empty()) {
        if (auto fb = j.find("promptFeedback");
            fb != j.end() && fb->is_object() && fb->contains("blockReason"))
            return Error{ErrorKind::invalid_request,
                         "the Gemini upstream refused the prompt (blockReason " +
                             text_of(*fb, "blockReason") + ")",
                         {}};
        start(out);
        return {};  // a usage-only chunk
    }
    start(out);
    const Json& cand = (*cands)[0];
    if (auto content = cand.find("content"); content != cand.end() && content->is_object()) {
        if (auto parts = content->find("parts"); parts != content->end() && parts->is_array()) {
            for (const auto& part : *parts) {
                if (!part.is_object()) continue;
                std::string sig = text_of(part, "thoughtSignature");
                auto thought_it = part.find("thought");
                const bool thought =
                    thought_it != part.end() && thought_it->is_boolean() && thought_it->get<bool>();
                auto text = part.find("text");
                if (thought) {
                    if (text != part.end() && text->is_string() &&
                        !text->get_ref<const std::string&>().empty()) {
                        if (open_ != Open::thinking || open_signed_) {
                            close(out);
                            open(Open::thinking, out);
                        }
                        StreamEvent e;
                        e.type = StreamEvent::Type::content_block_delta;
                        e.index = next_block_ - 1;
                        e.delta_kind = StreamEvent::DeltaKind::thinking;
                        e.text = text->get<std::string>();
                        out.push_back(std::move(e));
                    }
                    if (!sig.empty()) signature(std::move(sig), out);
                    continue;
                }
                if (!sig.empty()) signature(std::move(sig), out);
                if (text != part.end() && text->is_string()) {
                    if (text->get_ref<const std::string&>().empty()) continue;
                    open(Open::text, out);
                    out.push_back(
                        StreamEvent::text_delta(next_block_ - 1, text->get<std::string>()));
                } else if (auto fc = part.find("functionCall");
                           fc != part.end() && fc->is_object()) {
                    close(out);
                    StreamEvent s;
                    s.type = StreamEvent::Type::content_block_start;
                    s.index = next_block_++;
                    s.block.type = ContentBlock::Type::tool_use;
                    s.block.id = text_of(*fc, "id");
                    if (s.block.id.empty())
                        s.block.id = message_id_ + "_call_" + std::to_string(calls_);
                    ++calls_;
                    s.block.name = text_of(*fc, "name");
                    s.block.input = Json::object();
                    const int index = s.index;
                    out.push_back(std::move(s));
                    auto args = fc->find("args");
                    StreamEvent d;
                    d.type = StreamEvent::Type::content_block_delta;
                    d.index = index;
                    d.delta_kind = StreamEvent::DeltaKind::input_json;
                    d.text = args != fc->end() && args->is_object() ? dump_json(*args) : "{}";
                    out.push_back(std::move(d));
                    StreamEvent stop;
                    stop.type = StreamEvent::Type::content_block_stop;
                    stop.index = index;
                    out.push_back(std::move(stop));
                }
                // executableCode, codeExecutionResult…: nothing a client of this gateway reads.
            }
        }
    }
    auto finish = cand.find("finishReason");
    if (finish == cand.end() || !finish->is_string() ||
        finish->get_ref<const std::string&>().empty() || *finish == "FINISH_REASON_UNSPECIFIED")
        return {};
    if (*finish == "MALFORMED_FUNCTION_CALL" || *finish == "UNEXPECTED_TOOL_CALL")
        return Error{ErrorKind::upstream,
                     "the Gemini upstream could not produce a valid function call (finishReason " +
                         finish->get<std::string>() + ")",
                     {}};
    close(out);
    StreamEvent d;
    d.type = StreamEvent::Type::message_delta;
    d.stop_reason = stop_of(finish->get<std::string>(), calls_ > 0);
    d.usage = usage_;
    out.push_back(std::move(d));
    StreamEvent stop;
    stop.type = StreamEvent::Type::message_stop;
    out.push_back(std::move(stop));
    done_ = true;
    return {};
}

}  // namespace tianshu::protocol::gemini_upstream
