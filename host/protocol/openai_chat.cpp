#include "protocol/openai_chat.hpp"

#include <ctime>
#include <random>

#include "core/json_path.hpp"
#include "protocol/image_url.hpp"
#include "protocol/json_text.hpp"
#include "protocol/sse.hpp"

namespace tianshu::protocol {

using core::ContentBlock;
using core::Json;
using core::JsonPath;
using core::ProblemList;
using core::read_string;
using core::Request;
using core::StreamEvent;
using core::take_string;

namespace openai_chat {

namespace {

enum class PartsOf { user, assistant, system, tool };

std::string_view allowed_parts(PartsOf who) {
    switch (who) {
        case PartsOf::user:
            return "text, image_url";
        case PartsOf::assistant:
            return "text, refusal";
        case PartsOf::system:
        case PartsOf::tool:
            return "text";
    }
    return "text";
}

//! Content as a string or an array of parts; appends canonical blocks to `out`.
void decode_content(Json& v, const JsonPath& path, PartsOf who, std::vector<ContentBlock>& out,
                    ProblemList& p) {
    if (v.is_string()) {
        // Clients send "" beside tool_calls; Anthropic-shaped upstreams refuse empty text blocks.
        if (who == PartsOf::assistant && v.get_ref<const std::string&>().empty()) return;
        out.push_back(ContentBlock::make_text(take_string(v)));
        return;
    }
    if (v.is_null() && who == PartsOf::assistant) return;
    if (!v.is_array()) {
        p.add(path, core::must_be("a string or an array of content parts", v));
        return;
    }
    size_t i = 0;
    for (auto& part : v) {
        const JsonPath pp = path.at(i++);
        if (!part.is_object()) {
            p.add(pp, core::must_be("a content part object with a \"type\"", part));
            continue;
        }
        auto t = part.find("type");
        if (t == part.end() || !t->is_string()) {
            p.add(pp.field("type"), "required (expected " + std::string(allowed_parts(who)) + ")");
            continue;
        }
        const std::string& type = t->get_ref<const std::string&>();
        ContentBlock b;
        if (type == "text" || (type == "refusal" && who == PartsOf::assistant)) {
            auto text = part.find(type);  // the text lives under "text" or "refusal"
            if (text == part.end()) {
                p.add(pp.field(type), "required for a " + type + " part");
                continue;
            }
            if (!read_string(*text, pp.field(type), b.text, p)) continue;
        } else if (type == "image_url" && who == PartsOf::user) {
            b.type = ContentBlock::Type::image;
            auto img = part.find("image_url");
            if (img == part.end()) {
                p.add(pp.field("image_url"),
                      "required for an image_url part ({\"url\":\"https://…\" or "
                      "\"data:image/png;base64,…\"})");
                continue;
            }
            Json* url = &*img;
            if (img->is_object()) {
                auto u = img->find("url");
                if (u == img->end()) {
                    p.add(pp.field("image_url").field("url"),
                          "required (an https URL or a data: URL)");
                    continue;
                }
                url = &*u;
            }
            if (!url->is_string()) {
                p.add(pp.field("image_url").field("url"),
                      core::must_be("a string (an https URL or a data: URL)", *url));
                continue;
            }
            b.source = image_source_of_url(take_string(*url));
        } else {
            p.add(pp.field("type"), "unsupported content part type '" + type + "' (expected " +
                                        std::string(allowed_parts(who)) + ")");
            continue;
        }
        if (auto cc = part.find("cache_control"); cc != part.end() && cc->is_object())
            b.cache_control = std::move(*cc);
        out.push_back(std::move(b));
    }
}

void decode_tool_calls(Json& v, const JsonPath& path, std::vector<ContentBlock>& out,
                       ProblemList& p) {
    if (v.is_null()) return;
    if (!v.is_array()) {
        p.add(path, core::must_be("an array of tool calls", v));
        return;
    }
    size_t i = 0;
    for (auto& call : v) {
        const JsonPath cp = path.at(i++);
        if (!call.is_object()) {
            p.add(cp, core::must_be(
                          "an object "
                          "{\"id\",\"type\":\"function\",\"function\":{\"name\",\"arguments\"}}",
                          call));
            continue;
        }
        ContentBlock b;
        b.type = ContentBlock::Type::tool_use;
        auto id = call.find("id");
        if (id == call.end())
            p.add(cp.field("id"), "required (the id the tool message's tool_call_id answers)");
        else
            read_string(*id, cp.field("id"), b.id, p);
        if (auto t = call.find("type"); t != call.end() && *t != "function")
            p.add(cp.field("type"), "unsupported tool call type (expected function)");
        auto fn = call.find("function");
        if (fn == call.end() || !fn->is_object()) {
            p.add(cp.field("function"), "required (an object {\"name\",\"arguments\"})");
            continue;
        }
        const JsonPath fp = cp.field("function");
        auto name = fn->find("name");
        if (name == fn->end())
            p.add(fp.field("name"), "required");
        else
            read_string(*name, fp.field("name"), b.name, p);
        b.input = Json::object();
        if (auto args = fn->find("arguments"); args != fn->end() && !args->is_null()) {
            const JsonPath ap = fp.field("arguments");
            if (args->is_object()) {
                b.input = std::move(*args);  // lenient clients send the object itself
            } else if (!args->is_string()) {
                p.add(ap, core::must_be("a string holding a JSON object", *args));
            } else if (const auto& text = args->get_ref<const std::string&>(); !text.empty()) {
                Json parsed = Json::parse(text, nullptr, false);
                if (parsed.is_discarded())
                    p.add(ap,
                          "not valid JSON (must be a string holding a JSON object, e.g. \"{}\")");
                else if (!parsed.is_object())
                    p.add(ap, "must hold a JSON object (got " +
                                  std::string(core::json_type_name(parsed)) + ")");
                else
                    b.input = std::move(parsed);
            }
        }
        out.push_back(std::move(b));
    }
}

Json tool_choice_from(Json& v, const JsonPath& path, ProblemList& p) {
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s == "auto") return Json{{"type", "auto"}};
        if (s == "none") return Json{{"type", "none"}};
        if (s == "required") return Json{{"type", "any"}};
        p.add(path, "unknown tool_choice '" + s +
                        "' (expected auto, none, required or "
                        "{\"type\":\"function\",\"function\":{\"name\":…}})");
        return nullptr;
    }
    if (v.is_object()) {
        auto fn = v.find("function");
        if (fn != v.end() && fn->is_object()) {
            auto name = fn->find("name");
            if (name != fn->end() && name->is_string())
                return Json{{"type", "tool"}, {"name", std::move(*name)}};
        }
        p.add(path.field("function").field("name"), "required (the function the model must call)");
        return nullptr;
    }
    p.add(
        path,
        core::must_be(
            "\"auto\", \"none\", \"required\" or {\"type\":\"function\",\"function\":{\"name\":…}}",
            v));
    return nullptr;
}

void decode_tools(Json& v, const JsonPath& path, std::vector<core::Tool>& out, ProblemList& p) {
    if (!v.is_array()) {
        p.add(path, core::must_be("an array of {\"type\":\"function\",\"function\":{…}}", v));
        return;
    }
    out.reserve(v.size());
    size_t i = 0;
    for (auto& t : v) {
        const JsonPath tp = path.at(i++);
        if (!t.is_object()) {
            p.add(tp, core::must_be("an object {\"type\":\"function\",\"function\":{…}}", t));
            continue;
        }
        if (auto type = t.find("type"); type != t.end() && *type != "function") {
            p.add(tp.field("type"), "unsupported tool type (expected function)");
            continue;
        }
        auto fn = t.find("function");
        if (fn == t.end() || !fn->is_object()) {
            p.add(tp.field("function"),
                  "required (an object {\"name\",\"description\",\"parameters\"})");
            continue;
        }
        const JsonPath fp = tp.field("function");
        core::Tool tool;
        auto name = fn->find("name");
        if (name == fn->end())
            p.add(fp.field("name"), "required");
        else if (read_string(*name, fp.field("name"), tool.name, p) && tool.name.empty())
            p.add(fp.field("name"), "must not be empty");
        if (auto d = fn->find("description"); d != fn->end() && !d->is_null())
            read_string(*d, fp.field("description"), tool.description, p);
        if (auto params = fn->find("parameters"); params != fn->end() && !params->is_null()) {
            if (!params->is_object())
                p.add(fp.field("parameters"), core::must_be("a JSON Schema object", *params));
            else
                tool.input_schema = std::move(*params);
        } else {
            tool.input_schema = Json{{"type", "object"}, {"properties", Json::object()}};
        }
        out.push_back(std::move(tool));
    }
}

//! Turns OpenAI's flat message list into canonical alternating turns.
class MessageFolder {
  public:
    MessageFolder(Request& r, ProblemList& p) : r_(r), p_(p) {}

    void add(Json& m, const JsonPath& path) {
        if (!m.is_object()) {
            p_.add(path, core::must_be("an object with \"role\" and \"content\"", m));
            return;
        }
        auto role_it = m.find("role");
        if (role_it == m.end() || !role_it->is_string()) {
            p_.add(path.field("role"), "required (system, developer, user, assistant or tool)");
            return;
        }
        const std::string& role = role_it->get_ref<const std::string&>();
        auto content = m.find("content");
        const JsonPath cp = path.field("content");
        if (role == "system" || role == "developer") {
            // Anthropic has one top-level system prompt: every system message joins it, in order.
            if (content == m.end())
                p_.add(cp, "required");
            else
                decode_content(*content, cp, PartsOf::system, r_.system, p_);
        } else if (role == "user") {
            if (content == m.end()) {
                p_.add(cp, "required (a string or an array of content parts)");
                return;
            }
            // Text after tool results joins their user turn: Anthropic needs turns to alternate.
            auto& target = open_tool_turn_ ? r_.messages.back() : new_message(core::Role::user);
            decode_content(*content, cp, PartsOf::user, target.content, p_);
            open_tool_turn_ = false;
            calls_open_ = false;
        } else if (role == "assistant") {
            open_tool_turn_ = false;
            last_assistant_ = path.index;
            auto& msg = new_message(core::Role::assistant);
            if (auto rc = m.find("reasoning_content");
                rc != m.end() && rc->is_string() && !rc->get_ref<const std::string&>().empty()) {
                ContentBlock thinking;
                thinking.type = ContentBlock::Type::thinking;
                thinking.text = take_string(*rc);
                msg.content.push_back(std::move(thinking));
            }
            if (content != m.end())
                decode_content(*content, cp, PartsOf::assistant, msg.content, p_);
            if (auto calls = m.find("tool_calls"); calls != m.end())
                decode_tool_calls(*calls, path.field("tool_calls"), msg.content, p_);
            calls_open_ = true;
        } else if (role == "tool") {
            ContentBlock result;
            result.type = ContentBlock::Type::tool_result;
            auto id = m.find("tool_call_id");
            if (id == m.end())
                p_.add(path.field("tool_call_id"),
                       "required (the id of the assistant tool call this answers)");
            else if (read_string(*id, path.field("tool_call_id"), result.id, p_))
                check_answers_a_call(result.id, path);
            if (content != m.end() && !content->is_null())
                decode_content(*content, cp, PartsOf::tool, result.content, p_);
            // Consecutive tool messages answer one assistant turn: one user message, order kept.
            auto& target = open_tool_turn_ ? r_.messages.back() : new_message(core::Role::user);
            target.content.push_back(std::move(result));
            open_tool_turn_ = true;
        } else if (role == "function") {
            p_.add(path.field("role"),
                   "role 'function' is deprecated and not supported (send role 'tool' with a "
                   "tool_call_id)");
        } else {
            p_.add(path.field("role"),
                   "unknown role '" + role +
                       "' (expected system, developer, user, assistant or tool)");
        }
    }

  private:
    //! As OpenAI demands (and Anthropic after conversion): a tool message answers a tool call
    //! of the assistant message before it, with only other tool messages in between.
    void check_answers_a_call(const std::string& id, const JsonPath& path) {
        if (calls_open_ && !r_.messages.empty()) {
            const auto& blocks = open_tool_turn_ ? r_.messages[r_.messages.size() - 2].content
                                                 : r_.messages.back().content;
            for (const auto& b : blocks)
                if (b.type == ContentBlock::Type::tool_use && b.id == id) return;
        }
        std::string msg = "no tool call with id '" + id + "' in the assistant message before it";
        if (calls_open_) msg += " (messages[" + std::to_string(last_assistant_) + "])";
        msg +=
            "; each tool message must answer a tool_calls entry of the preceding assistant message";
        p_.add(path.field("tool_call_id"), msg);
    }

    core::Message& new_message(core::Role role) {
        r_.messages.emplace_back();
        r_.messages.back().role = role;
        return r_.messages.back();
    }

    Request& r_;
    ProblemList& p_;
    bool open_tool_turn_ = false;  //!< the last canonical message holds tool results
    bool calls_open_ = false;      //!< tool messages may still answer the last assistant's calls
    size_t last_assistant_ = 0;    //!< index (in the OpenAI list) of the last assistant message
};

void read_sampling(Json& v, const JsonPath& path, double hi, std::optional<double>& out,
                   ProblemList& p) {
    if (v.is_null()) return;
    if (!v.is_number()) {
        p.add(path, core::must_be("a number", v));
        return;
    }
    const double d = v.get<double>();
    if (!(d >= 0.0 && d <= hi)) {
        p.add(path, hi == 2.0 ? "must be between 0 and 2" : "must be between 0 and 1");
        return;
    }
    out = d;
}

}  // namespace

core::Result<Request> request_from_json(Json&& body) {
    if (!body.is_object())
        return core::Error::invalid("request body: must be a JSON object (got " +
                                    std::string(core::json_type_name(body)) + ")");
    Request r;
    ProblemList p;
    const JsonPath root;
    r.extra = Json::object();
    bool has_model = false, has_messages = false;
    std::optional<int64_t> max_tokens, max_completion_tokens;
    std::optional<bool> parallel_tool_calls;
    Json metadata;
    std::optional<std::string> user_id;

    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string& key = it.key();
        Json& v = it.value();
        const JsonPath fp = root.field(key);
        if (key == "model") {
            has_model = true;
            if (read_string(v, fp, r.model, p) && r.model.empty()) p.add(fp, "must not be empty");
        } else if (key == "messages") {
            has_messages = true;
            if (!v.is_array()) {
                p.add(fp, core::must_be("an array of messages", v));
                continue;
            }
            r.messages.reserve(v.size());
            MessageFolder folder(r, p);
            size_t i = 0;
            for (auto& m : v) folder.add(m, fp.at(i++));
        } else if (key == "max_tokens" || key == "max_completion_tokens") {
            if (v.is_null()) continue;
            int64_t n = 0;
            if (!core::json_positive_integer(v, n))
                p.add(fp, "must be a positive integer");
            else
                (key == "max_tokens" ? max_tokens : max_completion_tokens) = n;
        } else if (key == "temperature") {
            read_sampling(v, fp, 2.0, r.temperature, p);
        } else if (key == "top_p") {
            read_sampling(v, fp, 1.0, r.top_p, p);
        } else if (key == "stop") {
            if (v.is_null()) continue;
            if (v.is_string()) {
                r.stop_sequences.push_back(take_string(v));
            } else if (v.is_array()) {
                size_t i = 0;
                for (auto& s : v) {
                    std::string str;
                    if (read_string(s, fp.at(i++), str, p))
                        r.stop_sequences.push_back(std::move(str));
                }
            } else {
                p.add(fp, core::must_be("a string or an array of strings", v));
            }
        } else if (key == "stream") {
            if (v.is_null()) continue;
            if (!v.is_boolean())
                p.add(fp, core::must_be("true or false", v));
            else
                r.stream = v.get<bool>();
        } else if (key == "tools") {
            if (!v.is_null()) decode_tools(v, fp, r.tools, p);
        } else if (key == "tool_choice") {
            if (!v.is_null()) r.tool_choice = tool_choice_from(v, fp, p);
        } else if (key == "parallel_tool_calls") {
            if (v.is_null()) continue;
            if (!v.is_boolean())
                p.add(fp, core::must_be("true or false", v));
            else
                parallel_tool_calls = v.get<bool>();
        } else if (key == "top_k") {  // accepted by many OpenAI-compatible servers
            if (v.is_null()) continue;
            int64_t n = 0;
            if (!core::json_positive_integer(v, n))
                p.add(fp, "must be a positive integer");
            else
                r.top_k = n;
        } else if (key == "metadata") {
            if (v.is_null()) continue;
            if (!v.is_object())
                p.add(fp, core::must_be("an object of string values", v));
            else
                metadata = std::move(v);
        } else if (key == "user") {
            if (v.is_null()) continue;
            std::string user;
            if (read_string(v, fp, user, p)) user_id = std::move(user);
        } else {
            r.extra[key] = std::move(v);
        }
    }
    if (!has_model) p.add(root.field("model"), "required (the model to answer)");
    if (!has_messages)
        p.add(root.field("messages"), "required (an array of {\"role\",\"content\"} messages)");
    else if (r.messages.empty() && p.empty())
        p.add(root.field("messages"), "must contain at least one user or assistant message");
    if (!p.empty()) return p.to_error();

    r.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
    if (!metadata.is_null() || user_id) {
        r.metadata = metadata.is_null() ? Json::object() : std::move(metadata);
        if (user_id) r.metadata["user_id"] = std::move(*user_id);
    }
    if (parallel_tool_calls == false && !r.tools.empty()) {
        if (r.tool_choice.is_null()) r.tool_choice = Json{{"type", "auto"}};
        if (r.tool_choice["type"] != "none") r.tool_choice["disable_parallel_tool_use"] = true;
    }
    return r;
}

std::string_view finish_reason(core::StopReason r) {
    using S = core::StopReason;
    switch (r) {
        case S::max_tokens:
            return "length";
        case S::tool_use:
            return "tool_calls";
        case S::refusal:
            return "content_filter";
        case S::none:
        case S::end_turn:
        case S::stop_sequence:
        case S::pause_turn:
            return "stop";
    }
    return "stop";
}

namespace {

Json usage_json(const core::Usage& u) {
    // OpenAI's prompt_tokens include cached tokens; Anthropic's input_tokens do not.
    const int64_t prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    Json j{{"prompt_tokens", prompt},
           {"completion_tokens", u.output_tokens},
           {"total_tokens", prompt + u.output_tokens}};
    if (u.cache_read_tokens)
        j["prompt_tokens_details"] = Json{{"cached_tokens", u.cache_read_tokens}};
    if (u.reasoning_tokens)
        j["completion_tokens_details"] = Json{{"reasoning_tokens", u.reasoning_tokens}};
    return j;
}

std::string completion_id(const std::string& id) {
    if (!id.empty()) return id;
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "chatcmpl-";
    for (int i = 0; i < 2; ++i) {
        uint64_t v = rng();
        for (int k = 0; k < 16; ++k, v >>= 4) out += kHex[v & 0xF];
    }
    return out;
}

std::string_view error_type(core::ErrorKind kind, std::string_view& code) {
    using K = core::ErrorKind;
    switch (kind) {
        case K::invalid_request:
            code = "";
            return "invalid_request_error";
        case K::authentication:
            code = "invalid_api_key";
            return "authentication_error";
        case K::permission:
            code = "permission_denied";
            return "permission_error";
        case K::not_found:
            code = "not_found";
            return "invalid_request_error";
        case K::request_too_large:
            code = "request_too_large";
            return "invalid_request_error";
        case K::rate_limited:
            code = "rate_limit_exceeded";
            return "rate_limit_error";
        case K::insufficient_quota:
            code = "insufficient_quota";
            return "insufficient_quota";
        case K::overloaded:
            code = "overloaded";
            return "server_error";
        case K::plugin_failure:
        case K::script_failure:
        case K::internal:
        case K::upstream:
        case K::unavailable:
        case K::timeout:
        case K::client_closed:
            code = core::to_string(kind);
            return "server_error";
    }
    code = "internal";
    return "server_error";
}

}  // namespace

Json error_object(const core::Error& err) {
    std::string_view code;
    const std::string_view type = error_type(err.kind, code);
    return Json{{"message", err.message},
                {"type", type},
                {"param", nullptr},
                {"code", code.empty() ? Json(nullptr) : Json(code)}};
}

Json response_to_json(const core::Response& r, int64_t created) {
    Json message{{"role", "assistant"}};
    std::string text, reasoning;
    Json tool_calls = Json::array();
    for (const auto& b : r.content) {
        switch (b.type) {
            case ContentBlock::Type::text:
                text += b.text;
                break;
            case ContentBlock::Type::thinking:
                reasoning += b.text;
                break;
            case ContentBlock::Type::tool_use:
                tool_calls.push_back(Json{
                    {"id", b.id},
                    {"type", "function"},
                    {"function",
                     {{"name", b.name},
                      {"arguments", dump_json(b.input.is_null() ? Json::object() : b.input)}}}});
                break;
            default:
                break;  // images, redacted thinking: nothing in OpenAI's shape carries them
        }
    }
    message["content"] =
        text.empty() && !tool_calls.empty() ? Json(nullptr) : Json(std::move(text));
    if (!reasoning.empty()) message["reasoning_content"] = std::move(reasoning);
    if (!tool_calls.empty()) message["tool_calls"] = std::move(tool_calls);
    return Json{{"id", completion_id(r.id)},
                {"object", "chat.completion"},
                {"created", created},
                {"model", r.model},
                {"choices", Json::array({Json{{"index", 0},
                                              {"message", std::move(message)},
                                              {"logprobs", nullptr},
                                              {"finish_reason", finish_reason(r.stop_reason)}}})},
                {"usage", usage_json(r.usage)}};
}

namespace {

//! Maps the canonical event grammar onto chat.completion.chunk frames. Remembers the
//! completion id and model (every chunk repeats them) and which content block is which
//! tool call (OpenAI numbers tool calls 0, 1, … independently of text blocks).
class OpenAiStreamEncoder final : public StreamEncoder {
  public:
    explicit OpenAiStreamEncoder(int64_t created) : created_(created) {}

    // StreamEncoder
    void encode(const StreamEvent& e, std::string& out) override {
        using T = StreamEvent::Type;
        switch (e.type) {
            case T::message_start:
                usage_ = e.message.usage;
                start_prefix(e.message.id, e.message.model);
                begin_chunk(out);
                out += R"({"role":"assistant","content":""})";
                end_chunk(out, {});
                return;
            case T::content_block_start: {
                if (e.index < 0 || e.index > 4096) return;
                const auto idx = static_cast<size_t>(e.index);
                if (tool_index_.size() <= idx) tool_index_.resize(idx + 1, -1);
                if (e.block.type != ContentBlock::Type::tool_use) return;
                tool_index_[idx] = next_tool_++;
                begin_chunk(out);
                out += R"({"tool_calls":[{"index":)";
                out += std::to_string(tool_index_[idx]);
                out += R"(,"id":)";
                append_json_string(out, e.block.id);
                out += R"(,"type":"function","function":{"name":)";
                append_json_string(out, e.block.name);
                out += R"(,"arguments":""}}]})";
                end_chunk(out, {});
                return;
            }
            case T::content_block_delta:
                if (e.text.empty()) return;  // an empty fragment carries nothing for OpenAI clients
                switch (e.delta_kind) {
                    case StreamEvent::DeltaKind::text:
                        begin_chunk(out);
                        out += R"({"content":)";
                        append_json_string(out, e.text);
                        out += '}';
                        end_chunk(out, {});
                        return;
                    case StreamEvent::DeltaKind::thinking:
                        begin_chunk(out);
                        out += R"({"reasoning_content":)";
                        append_json_string(out, e.text);
                        out += '}';
                        end_chunk(out, {});
                        return;
                    case StreamEvent::DeltaKind::input_json: {
                        if (e.index < 0 || static_cast<size_t>(e.index) >= tool_index_.size())
                            return;
                        const int tool = tool_index_[static_cast<size_t>(e.index)];
                        if (tool < 0) return;
                        begin_chunk(out);
                        out += R"({"tool_calls":[{"index":)";
                        out += std::to_string(tool);
                        out += R"(,"function":{"arguments":)";
                        append_json_string(out, e.text);
                        out += "}}]}";
                        end_chunk(out, {});
                        return;
                    }
                    case StreamEvent::DeltaKind::signature:
                        return;  // no OpenAI equivalent
                }
                return;
            case T::content_block_stop:
                return;
            case T::message_delta: {
                usage_.output_tokens = e.usage.output_tokens;
                if (e.usage.input_tokens) usage_.input_tokens = e.usage.input_tokens;
                if (e.usage.cache_read_tokens) usage_.cache_read_tokens = e.usage.cache_read_tokens;
                if (e.usage.cache_write_tokens)
                    usage_.cache_write_tokens = e.usage.cache_write_tokens;
                if (e.usage.reasoning_tokens) usage_.reasoning_tokens = e.usage.reasoning_tokens;
                begin_chunk(out);
                out += "{}";
                end_chunk(out, finish_reason(e.stop_reason));
                // The usage chunk: empty choices, as OpenAI sends with
                // stream_options.include_usage.
                ensure_prefix();
                out += "data: ";
                out += prefix_;
                out += R"(],"usage":)";
                append_json(out, usage_json(usage_));
                out += "}\n\n";
                return;
            }
            case T::message_stop:
                out += "data: [DONE]\n\n";
                return;
            case T::ping:
                out += ": ping\n\n";
                return;  // an SSE comment keeps proxies from timing out
            case T::error:
                encode_error(e.error, out);
                return;
        }
    }

    void encode_error(const core::Error& err, std::string& out) override {
        out += "data: ";
        append_json(out, Json{{"error", error_object(err)}});
        out += "\n\ndata: [DONE]\n\n";
    }

  private:
    void start_prefix(const std::string& id, const std::string& model) {
        prefix_ = R"({"id":)";
        append_json_string(prefix_, completion_id(id));
        prefix_ += R"(,"object":"chat.completion.chunk","created":)";
        prefix_ += std::to_string(created_);
        prefix_ += R"(,"model":)";
        append_json_string(prefix_, model);
        prefix_ += R"(,"choices":[)";
    }
    void ensure_prefix() {
        if (prefix_.empty()) start_prefix({}, {});
    }
    void begin_chunk(std::string& out) {
        ensure_prefix();
        out += "data: ";
        out += prefix_;
        out += R"({"index":0,"delta":)";
    }
    static void end_chunk(std::string& out, std::string_view finish) {
        out += R"(,"logprobs":null,"finish_reason":)";
        if (finish.empty()) {
            out += "null";
        } else {
            out += '"';
            out += finish;
            out += '"';
        }
        out += "}]}\n\n";
    }

    int64_t created_;
    std::string prefix_;  //!< `{"id":…,"object":…,"created":…,"model":…,"choices":[`
    std::vector<int> tool_index_;  //!< content block index -> tool call index (-1: not a tool)
    int next_tool_ = 0;
    core::Usage usage_;
};

}  // namespace

std::unique_ptr<StreamEncoder> make_stream_encoder(int64_t created) {
    return std::make_unique<OpenAiStreamEncoder>(created);
}

}  // namespace openai_chat

core::Result<Request> OpenAiChatCodec::decode_request(std::string_view body) const {
    auto parsed = parse_json_body(body);
    if (!parsed) return parsed.take_error();
    return openai_chat::request_from_json(std::move(parsed).value());
}

std::string OpenAiChatCodec::encode_response(const core::Response& r) const {
    return dump_json(openai_chat::response_to_json(r, static_cast<int64_t>(std::time(nullptr))));
}

std::unique_ptr<StreamEncoder> OpenAiChatCodec::stream_encoder() const {
    return openai_chat::make_stream_encoder(static_cast<int64_t>(std::time(nullptr)));
}

std::string OpenAiChatCodec::error_body(const core::Error& err) const {
    return dump_json(Json{{"error", openai_chat::error_object(err)}});
}

}  // namespace tianshu::protocol
