#include "protocol/openai_responses.hpp"

#include <ctime>
#include <random>

#include "core/json_path.hpp"
#include "protocol/image_url.hpp"
#include "protocol/json_text.hpp"
#include "protocol/openai_chat.hpp"

namespace tianshu::protocol {

using core::ContentBlock;
using core::Json;
using core::JsonPath;
using core::ProblemList;
using core::read_string;
using core::Request;
using core::StreamEvent;
using core::take_string;

namespace openai_responses {

namespace {

//! Refuses every member of `obj` not in `allowed`, naming it and the allowed ones.
void only_fields(const Json& obj, std::initializer_list<std::string_view> allowed,
                 const JsonPath& path, ProblemList& p) {
    for (auto it = obj.begin(); it != obj.end(); ++it) {
        bool known = false;
        for (auto a : allowed) known = known || it.key() == a;
        if (known) continue;
        std::string list;
        for (auto a : allowed) {
            if (!list.empty()) list += ", ";
            list += a;
        }
        p.add(path.field(it.key()), "unknown field (expected one of: " + list + ")");
    }
}

enum class PartsOf { user, assistant, system, tool_output };

std::string_view allowed_parts(PartsOf who) {
    switch (who) {
        case PartsOf::user:
        case PartsOf::tool_output:
            return "input_text, input_image";
        case PartsOf::assistant:
            return "output_text, refusal";
        case PartsOf::system:
            return "input_text";
    }
    return "input_text";
}

//! Content as a string or an array of parts; appends canonical blocks to `out`.
void decode_content(Json& v, const JsonPath& path, PartsOf who, std::vector<ContentBlock>& out,
                    ProblemList& p) {
    if (v.is_string()) {
        if (v.get_ref<const std::string&>().empty() && who == PartsOf::assistant) return;
        out.push_back(ContentBlock::make_text(take_string(v)));
        return;
    }
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
        const std::string type = t->get<std::string>();
        ContentBlock b;
        // Earlier answers come back as output_text; clients also send input_text for them.
        const bool text_part = type == "input_text" ||
                               (type == "output_text" && who == PartsOf::assistant) ||
                               (type == "refusal" && who == PartsOf::assistant);
        if (text_part) {
            if (type == "output_text")
                only_fields(part, {"type", "text", "annotations", "logprobs"}, pp, p);
            else
                only_fields(part, {"type", type == "refusal" ? "refusal" : "text"}, pp, p);
            const char* key = type == "refusal" ? "refusal" : "text";
            auto text = part.find(key);
            if (text == part.end()) {
                p.add(pp.field(key), "required for an " + type + " part");
                continue;
            }
            if (!read_string(*text, pp.field(key), b.text, p)) continue;
            if (b.text.empty() && who == PartsOf::assistant) continue;
        } else if (type == "input_image" && (who == PartsOf::user || who == PartsOf::tool_output)) {
            only_fields(part, {"type", "image_url", "detail", "file_id"}, pp, p);
            b.type = ContentBlock::Type::image;
            auto url = part.find("image_url");
            if (url == part.end() || url->is_null()) {
                p.add(pp.field("image_url"),
                      "required (an https URL or a data: URL; file_id needs the Files API, "
                      "which this gateway does not offer)");
                continue;
            }
            if (!url->is_string()) {
                p.add(pp.field("image_url"),
                      core::must_be("a string (an https URL or a data: URL)", *url));
                continue;
            }
            b.source = image_source_of_url(take_string(*url));
        } else {
            p.add(pp.field("type"), "unsupported content part type '" + type + "' (expected " +
                                        std::string(allowed_parts(who)) + ")");
            continue;
        }
        out.push_back(std::move(b));
    }
}

//! A function_call's `arguments`: a string holding a JSON object (empty means {}).
Json arguments_of(Json& args, const JsonPath& path, ProblemList& p) {
    if (args.is_object()) return std::move(args);
    if (!args.is_string()) {
        p.add(path, core::must_be("a string holding a JSON object", args));
        return Json::object();
    }
    const auto& text = args.get_ref<const std::string&>();
    if (text.empty()) return Json::object();
    Json parsed = Json::parse(text, nullptr, false);
    if (parsed.is_discarded()) {
        p.add(path, "not valid JSON (must be a string holding a JSON object, e.g. \"{}\")");
        return Json::object();
    }
    if (!parsed.is_object()) {
        p.add(path,
              "must hold a JSON object (got " + std::string(core::json_type_name(parsed)) + ")");
        return Json::object();
    }
    return parsed;
}

//! Turns the flat item list into canonical alternating turns.
class InputFolder {
  public:
    InputFolder(Request& r, ProblemList& p) : r_(r), p_(p) {}

    void add(Json& item, const JsonPath& path) {
        if (!item.is_object()) {
            p_.add(path, core::must_be("an item object (a message, function_call, "
                                       "function_call_output or reasoning)",
                                       item));
            return;
        }
        std::string type = "message";  // an "easy input message" has only role and content
        if (auto t = item.find("type"); t != item.end()) {
            if (!t->is_string()) {
                p_.add(path.field("type"), core::must_be("a string", *t));
                return;
            }
            type = t->get<std::string>();
        }
        if (type == "message")
            add_message(item, path);
        else if (type == "function_call")
            add_function_call(item, path);
        else if (type == "function_call_output")
            add_function_call_output(item, path);
        else if (type == "reasoning")
            add_reasoning(item, path);
        else if (type == "item_reference")
            p_.add(path.field("type"),
                   "item_reference needs stored responses, which this gateway does not keep: "
                   "send the item itself");
        else
            p_.add(path.field("type"),
                   "unsupported item type '" + type +
                       "' (expected message, function_call, function_call_output or reasoning)");
    }

  private:
    void add_message(Json& m, const JsonPath& path) {
        only_fields(m, {"type", "role", "content", "id", "status"}, path, p_);
        auto role_it = m.find("role");
        if (role_it == m.end() || !role_it->is_string()) {
            p_.add(path.field("role"), "required (user, assistant, system or developer)");
            return;
        }
        const std::string role = role_it->get<std::string>();
        auto content = m.find("content");
        const JsonPath cp = path.field("content");
        if (content == m.end()) {
            p_.add(cp, "required (a string or an array of content parts)");
            return;
        }
        if (role == "system" || role == "developer") {
            decode_content(*content, cp, PartsOf::system, r_.system, p_);
        } else if (role == "user") {
            auto& target = open_tool_turn_ ? r_.messages.back() : new_message(core::Role::user);
            decode_content(*content, cp, PartsOf::user, target.content, p_);
            open_tool_turn_ = false;
            calls_open_ = false;
        } else if (role == "assistant") {
            decode_content(*content, cp, PartsOf::assistant, assistant_turn(path).content, p_);
        } else {
            p_.add(path.field("role"),
                   "unknown role '" + role + "' (expected user, assistant, system or developer)");
        }
    }

    void add_function_call(Json& c, const JsonPath& path) {
        only_fields(c, {"type", "call_id", "name", "arguments", "id", "status"}, path, p_);
        ContentBlock b;
        b.type = ContentBlock::Type::tool_use;
        auto id = c.find("call_id");
        if (id == c.end())
            p_.add(path.field("call_id"),
                   "required (the id a function_call_output's call_id answers)");
        else if (read_string(*id, path.field("call_id"), b.id, p_) && b.id.empty())
            p_.add(path.field("call_id"), "must not be empty");
        auto name = c.find("name");
        if (name == c.end())
            p_.add(path.field("name"), "required (the function called)");
        else
            read_string(*name, path.field("name"), b.name, p_);
        b.input = Json::object();
        if (auto args = c.find("arguments"); args != c.end() && !args->is_null())
            b.input = arguments_of(*args, path.field("arguments"), p_);
        assistant_turn(path).content.push_back(std::move(b));
    }

    void add_function_call_output(Json& o, const JsonPath& path) {
        only_fields(o, {"type", "call_id", "output", "id", "status"}, path, p_);
        ContentBlock result;
        result.type = ContentBlock::Type::tool_result;
        auto id = o.find("call_id");
        if (id == o.end())
            p_.add(path.field("call_id"), "required (the call_id of the function_call it answers)");
        else if (read_string(*id, path.field("call_id"), result.id, p_))
            check_answers_a_call(result.id, path);
        auto out = o.find("output");
        if (out == o.end())
            p_.add(path.field("output"), "required (a string or an array of input_text parts)");
        else
            decode_content(*out, path.field("output"), PartsOf::tool_output, result.content, p_);
        // Consecutive outputs answer one assistant turn: one user message, order kept.
        auto& target = open_tool_turn_ ? r_.messages.back() : new_message(core::Role::user);
        target.content.push_back(std::move(result));
        open_tool_turn_ = true;
    }

    void add_reasoning(Json& item, const JsonPath& path) {
        only_fields(item, {"type", "id", "summary", "content", "encrypted_content", "status"}, path,
                    p_);
        ContentBlock b;
        b.type = ContentBlock::Type::thinking;
        auto read_texts = [&](const char* key, const char* part_type) {
            auto list = item.find(key);
            if (list == item.end() || list->is_null()) return;
            const JsonPath lp = path.field(key);
            if (!list->is_array()) {
                p_.add(lp, core::must_be("an array of {\"type\":\"" + std::string(part_type) +
                                             "\",\"text\"} parts",
                                         *list));
                return;
            }
            size_t i = 0;
            for (auto& part : *list) {
                const JsonPath pp = lp.at(i++);
                if (!part.is_object() || part.value("type", "") != part_type) {
                    p_.add(pp.field("type"), "must be " + std::string(part_type));
                    continue;
                }
                only_fields(part, {"type", "text"}, pp, p_);
                std::string text;
                auto t = part.find("text");
                if (t == part.end()) {
                    p_.add(pp.field("text"), "required");
                    continue;
                }
                if (!read_string(*t, pp.field("text"), text, p_)) continue;
                if (!b.text.empty() && !text.empty()) b.text += "\n\n";
                b.text += text;
            }
        };
        read_texts("summary", "summary_text");
        if (b.text.empty()) read_texts("content", "reasoning_text");
        if (auto enc = item.find("encrypted_content"); enc != item.end() && !enc->is_null())
            read_string(*enc, path.field("encrypted_content"), b.signature, p_);
        if (b.text.empty() && b.signature.empty()) return;  // nothing to send back
        assistant_turn(path).content.push_back(std::move(b));
    }

    //! The assistant turn the next output item joins: the last message when it is one.
    core::Message& assistant_turn(const JsonPath& path) {
        open_tool_turn_ = false;
        last_assistant_ = path.index;
        if (!r_.messages.empty() && r_.messages.back().role == core::Role::assistant && calls_open_)
            return r_.messages.back();
        calls_open_ = true;
        return new_message(core::Role::assistant);
    }

    //! As the Responses API demands: an output answers a function_call of the assistant turn
    //! before it, with only other outputs in between.
    void check_answers_a_call(const std::string& id, const JsonPath& path) {
        if (calls_open_ && !r_.messages.empty()) {
            const auto& blocks = open_tool_turn_ ? r_.messages[r_.messages.size() - 2].content
                                                 : r_.messages.back().content;
            for (const auto& b : blocks)
                if (b.type == ContentBlock::Type::tool_use && b.id == id) return;
        }
        std::string msg = "no function_call with call_id '" + id + "' before it";
        if (calls_open_)
            msg += " (the assistant turn ending at input[" + std::to_string(last_assistant_) + "])";
        msg +=
            "; each function_call_output must answer a function_call item sent earlier in the "
            "same input (this gateway keeps no stored responses)";
        p_.add(path.field("call_id"), msg);
    }

    core::Message& new_message(core::Role role) {
        r_.messages.emplace_back();
        r_.messages.back().role = role;
        return r_.messages.back();
    }

    Request& r_;
    ProblemList& p_;
    bool open_tool_turn_ = false;  //!< the last canonical message holds tool results
    bool calls_open_ = false;      //!< the last canonical message is an open assistant turn
    size_t last_assistant_ = 0;    //!< index of the last assistant item
};

Json tool_choice_from(Json& v, const JsonPath& path, ProblemList& p) {
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s == "auto") return Json{{"type", "auto"}};
        if (s == "none") return Json{{"type", "none"}};
        if (s == "required") return Json{{"type", "any"}};
        p.add(path, "unknown tool_choice '" + s +
                        "' (expected auto, none, required or {\"type\":\"function\",\"name\":…})");
        return nullptr;
    }
    if (v.is_object()) {
        if (v.value("type", "") != "function") {
            p.add(path.field("type"), "unsupported (expected \"function\" with a \"name\")");
            return nullptr;
        }
        auto name = v.find("name");
        if (name != v.end() && name->is_string())
            return Json{{"type", "tool"}, {"name", std::move(*name)}};
        p.add(path.field("name"), "required (the function the model must call)");
        return nullptr;
    }
    p.add(path, core::must_be(
                    "\"auto\", \"none\", \"required\" or {\"type\":\"function\",\"name\":…}", v));
    return nullptr;
}

//! Tool types the Responses API defines that no upstream behind the gateway can run (OpenAI's
//! hosted tools, freeform `custom` tools, `namespace` groups): left out of the request, so that a
//! client offering them by default (Codex offers web_search and a multi-agent namespace) still
//! works. The model never sees them.
bool unservable_tool_type(std::string_view type) {
    for (std::string_view t :
         {"web_search", "web_search_preview", "web_search_2025_08_26", "file_search",
          "code_interpreter", "image_generation", "computer_use_preview", "computer_use", "mcp",
          "local_shell", "shell", "apply_patch", "custom", "namespace"})
        if (type == t) return true;
    return false;
}

void decode_tools(Json& v, const JsonPath& path, std::vector<core::Tool>& out, ProblemList& p) {
    if (!v.is_array()) {
        p.add(path, core::must_be("an array of {\"type\":\"function\",\"name\",…}", v));
        return;
    }
    size_t i = 0;
    for (auto& t : v) {
        const JsonPath tp = path.at(i++);
        if (!t.is_object()) {
            p.add(tp, core::must_be("an object {\"type\":\"function\",\"name\",…}", t));
            continue;
        }
        auto type = t.find("type");
        if (type != t.end() && type->is_string() &&
            unservable_tool_type(type->get_ref<const std::string&>()))
            continue;
        if (type == t.end() || *type != "function") {
            p.add(tp.field("type"),
                  "unsupported tool type" +
                      (type != t.end() && type->is_string() ? " '" + type->get<std::string>() + "'"
                                                            : std::string()) +
                      " (expected function; hosted tools such as web_search are left out)");
            continue;
        }
        only_fields(t, {"type", "name", "description", "parameters", "strict"}, tp, p);
        core::Tool tool;
        auto name = t.find("name");
        if (name == t.end())
            p.add(tp.field("name"), "required");
        else if (read_string(*name, tp.field("name"), tool.name, p) && tool.name.empty())
            p.add(tp.field("name"), "must not be empty");
        if (auto d = t.find("description"); d != t.end() && !d->is_null())
            read_string(*d, tp.field("description"), tool.description, p);
        if (auto s = t.find("strict"); s != t.end() && !s->is_null() && !s->is_boolean())
            p.add(tp.field("strict"), core::must_be("true or false", *s));
        if (auto params = t.find("parameters"); params != t.end() && !params->is_null()) {
            if (!params->is_object())
                p.add(tp.field("parameters"), core::must_be("a JSON Schema object", *params));
            else
                tool.input_schema = std::move(*params);
        } else {
            tool.input_schema = Json{{"type", "object"}, {"properties", Json::object()}};
        }
        out.push_back(std::move(tool));
    }
}

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

void read_bool(Json& v, const JsonPath& path, std::optional<bool>& out, ProblemList& p) {
    if (v.is_null()) return;
    if (!v.is_boolean())
        p.add(path, core::must_be("true or false", v));
    else
        out = v.get<bool>();
}

//! reasoning: {effort, summary}; the effort is kept as Anthropic's output_config.effort.
void decode_reasoning(Json& v, const JsonPath& path, Request& r, ProblemList& p) {
    if (v.is_null()) return;
    if (!v.is_object()) {
        p.add(path, core::must_be("an object {\"effort\",\"summary\"}", v));
        return;
    }
    only_fields(v, {"effort", "summary", "generate_summary"}, path, p);
    auto effort = v.find("effort");
    if (effort == v.end() || effort->is_null()) return;
    const std::string e = effort->is_string() ? effort->get<std::string>() : std::string();
    std::string mapped;
    if (e == "minimal" || e == "low")
        mapped = "low";
    else if (e == "medium" || e == "high")
        mapped = e;
    else if (e == "xhigh")
        mapped = "max";
    else if (e == "none")
        return;
    else {
        p.add(path.field("effort"), "must be none, minimal, low, medium, high or xhigh");
        return;
    }
    r.extra["output_config"] = Json{{"effort", mapped}};
}

//! Fields the Responses API defines that change nothing here (accepted, not forwarded).
bool accepted_and_ignored(const std::string& key) {
    return key == "include" || key == "prompt_cache_key" || key == "service_tier" ||
           key == "truncation" || key == "safety_identifier" || key == "stream_options" ||
           key == "store" || key == "top_logprobs" || key == "background" ||
           key == "client_metadata";
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
    bool has_model = false, has_input = false;
    std::optional<bool> parallel_tool_calls;
    std::vector<ContentBlock> instructions;
    Json metadata;
    std::optional<std::string> user_id;

    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string& key = it.key();
        Json& v = it.value();
        const JsonPath fp = root.field(key);
        if (key == "model") {
            has_model = true;
            if (read_string(v, fp, r.model, p) && r.model.empty()) p.add(fp, "must not be empty");
        } else if (key == "input") {
            has_input = true;
            if (v.is_string()) {
                r.messages.emplace_back();
                r.messages.back().content.push_back(ContentBlock::make_text(take_string(v)));
            } else if (v.is_array()) {
                InputFolder folder(r, p);
                size_t i = 0;
                for (auto& item : v) folder.add(item, fp.at(i++));
            } else {
                p.add(fp, core::must_be("a string or an array of input items", v));
            }
        } else if (key == "instructions") {
            if (v.is_null()) continue;
            std::string text;
            if (read_string(v, fp, text, p) && !text.empty())
                instructions.push_back(ContentBlock::make_text(std::move(text)));
        } else if (key == "tools") {
            if (!v.is_null()) decode_tools(v, fp, r.tools, p);
        } else if (key == "tool_choice") {
            if (!v.is_null()) r.tool_choice = tool_choice_from(v, fp, p);
        } else if (key == "max_output_tokens") {
            if (v.is_null()) continue;
            int64_t n = 0;
            if (!core::json_positive_integer(v, n))
                p.add(fp, "must be a positive integer");
            else
                r.max_tokens = n;
        } else if (key == "temperature") {
            read_sampling(v, fp, 2.0, r.temperature, p);
        } else if (key == "top_p") {
            read_sampling(v, fp, 1.0, r.top_p, p);
        } else if (key == "stream") {
            std::optional<bool> s;
            read_bool(v, fp, s, p);
            r.stream = s.value_or(false);
        } else if (key == "parallel_tool_calls") {
            read_bool(v, fp, parallel_tool_calls, p);
        } else if (key == "reasoning") {
            decode_reasoning(v, fp, r, p);
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
        } else if (key == "previous_response_id" || key == "conversation") {
            if (v.is_null()) continue;
            p.add(fp,
                  "not supported: this gateway keeps no stored responses (store: true is accepted "
                  "but nothing is stored); send the whole conversation in `input` instead");
        } else if (key == "text") {
            if (v.is_null()) continue;
            if (!v.is_object()) {
                p.add(fp, core::must_be("an object {\"format\":{\"type\":\"text\"}}", v));
                continue;
            }
            only_fields(v, {"format", "verbosity"}, fp, p);
            if (auto f = v.find("format"); f != v.end() && !f->is_null() &&
                                           !(f->is_object() && f->value("type", "") == "text"))
                p.add(fp.field("format").field("type"),
                      "only \"text\" is supported (structured output is not offered here)");
        } else if (accepted_and_ignored(key)) {
            if (key == "background" && v == true)
                p.add(fp, "background responses are not supported (they need stored responses)");
        } else {
            p.add(fp,
                  "unknown field (the Responses fields this gateway accepts: model, input, "
                  "instructions, tools, tool_choice, max_output_tokens, temperature, top_p, "
                  "stream, parallel_tool_calls, reasoning, metadata, user, store, text, include, "
                  "prompt_cache_key, service_tier, truncation, safety_identifier, "
                  "client_metadata)");
        }
    }
    if (!has_model) p.add(root.field("model"), "required (the model to answer)");
    if (!has_input)
        p.add(root.field("input"), "required (a string or an array of input items)");
    else if (r.messages.empty() && p.empty())
        p.add(root.field("input"), "must contain at least one user or assistant message");
    if (!p.empty()) return p.to_error();

    if (!instructions.empty()) {
        for (auto& b : r.system) instructions.push_back(std::move(b));
        r.system = std::move(instructions);
    }
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

std::string response_id(const std::string& message_id) {
    if (message_id.rfind("resp_", 0) == 0) return message_id;
    if (message_id.rfind("msg_", 0) == 0) return "resp_" + message_id.substr(4);
    if (!message_id.empty()) return "resp_" + message_id;
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "resp_";
    for (int i = 0; i < 2; ++i) {
        uint64_t v = rng();
        for (int k = 0; k < 16; ++k, v >>= 4) out += kHex[v & 0xF];
    }
    return out;
}

namespace {

std::string item_id(std::string_view prefix, const std::string& resp_id, size_t output_index) {
    std::string id(prefix);
    id += '_';
    id += std::string_view(resp_id).substr(5);  // after "resp_"
    id += '_';
    id += std::to_string(output_index);
    return id;
}

Json usage_json(const core::Usage& u) {
    // The Responses API's input_tokens include cached tokens; Anthropic's do not.
    const int64_t input = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    return Json{{"input_tokens", input},
                {"input_tokens_details", {{"cached_tokens", u.cache_read_tokens}}},
                {"output_tokens", u.output_tokens},
                {"output_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}},
                {"total_tokens", input + u.output_tokens}};
}

//! "completed", or "incomplete" with its reason, for a stop reason.
std::pair<std::string_view, Json> status_of(core::StopReason r) {
    if (r == core::StopReason::max_tokens)
        return {"incomplete", Json{{"reason", "max_output_tokens"}}};
    if (r == core::StopReason::refusal) return {"incomplete", Json{{"reason", "content_filter"}}};
    return {"completed", nullptr};
}

Json response_skeleton(const std::string& id, const std::string& model, int64_t created_at,
                       std::string_view status) {
    return Json{{"id", id},
                {"object", "response"},
                {"created_at", created_at},
                {"status", status},
                {"error", nullptr},
                {"incomplete_details", nullptr},
                {"instructions", nullptr},
                {"max_output_tokens", nullptr},
                {"model", model},
                {"output", Json::array()},
                {"parallel_tool_calls", true},
                {"previous_response_id", nullptr},
                {"reasoning", {{"effort", nullptr}, {"summary", nullptr}}},
                {"store", false},
                {"temperature", nullptr},
                {"text", {{"format", {{"type", "text"}}}}},
                {"tool_choice", "auto"},
                {"tools", Json::array()},
                {"top_p", nullptr},
                {"truncation", "disabled"},
                {"usage", nullptr},
                {"metadata", Json::object()}};
}

Json text_part(std::string text) {
    return Json{{"type", "output_text"},
                {"text", std::move(text)},
                {"annotations", Json::array()},
                {"logprobs", Json::array()}};
}

Json message_item(std::string id, std::string_view status, Json content) {
    return Json{{"id", std::move(id)},
                {"type", "message"},
                {"status", status},
                {"role", "assistant"},
                {"content", std::move(content)}};
}

Json reasoning_item(std::string id, Json summary, const std::string& signature) {
    Json item{{"id", std::move(id)}, {"type", "reasoning"}, {"summary", std::move(summary)}};
    if (!signature.empty()) item["encrypted_content"] = signature;
    return item;
}

Json function_call_item(std::string id, std::string_view status, const std::string& call_id,
                        const std::string& name, std::string arguments) {
    return Json{{"id", std::move(id)}, {"type", "function_call"},
                {"status", status},    {"arguments", std::move(arguments)},
                {"call_id", call_id},  {"name", name}};
}

}  // namespace

Json response_to_json(const core::Response& r, int64_t created_at) {
    const std::string id = response_id(r.id);
    auto [status, incomplete] = status_of(r.stop_reason);
    Json out = response_skeleton(id, r.model, created_at, status);
    out["incomplete_details"] = std::move(incomplete);
    Json& output = out["output"];
    for (const auto& b : r.content) {
        const size_t n = output.size();
        switch (b.type) {
            case ContentBlock::Type::text:
                // Adjacent text blocks are one message with several parts.
                if (n > 0 && output[n - 1]["type"] == "message")
                    output[n - 1]["content"].push_back(text_part(b.text));
                else
                    output.push_back(message_item(item_id("msg", id, n), "completed",
                                                  Json::array({text_part(b.text)})));
                break;
            case ContentBlock::Type::thinking:
                output.push_back(reasoning_item(
                    item_id("rs", id, n),
                    b.text.empty()
                        ? Json::array()
                        : Json::array({Json{{"type", "summary_text"}, {"text", b.text}}}),
                    b.signature));
                break;
            case ContentBlock::Type::tool_use:
                output.push_back(
                    function_call_item(item_id("fc", id, n), "completed", b.id, b.name,
                                       dump_json(b.input.is_null() ? Json::object() : b.input)));
                break;
            default:
                break;  // images, redacted thinking: no Responses output item carries them
        }
    }
    out["usage"] = usage_json(r.usage);
    return out;
}

namespace {

//! Maps the canonical event grammar onto the Responses API's typed events. Each canonical
//! content block is one output item (text -> message with one output_text part, thinking ->
//! reasoning with one summary part, tool_use -> function_call); the items are also kept whole
//! for response.completed, which repeats the full output as the real API does.
class ResponsesStreamEncoder final : public StreamEncoder {
  public:
    explicit ResponsesStreamEncoder(int64_t created_at) : created_at_(created_at) {}

    // StreamEncoder
    void encode(const StreamEvent& e, std::string& out) override {
        using T = StreamEvent::Type;
        switch (e.type) {
            case T::message_start:
                start(e.message.id, e.message.model, out);
                usage_ = e.message.usage;
                return;
            case T::content_block_start:
                open_block(e, out);
                return;
            case T::content_block_delta:
                delta(e, out);
                return;
            case T::content_block_stop:
                close_block(e.index, out);
                return;
            case T::message_delta:
                stop_reason_ = e.stop_reason;
                usage_.output_tokens = e.usage.output_tokens;
                if (e.usage.input_tokens) usage_.input_tokens = e.usage.input_tokens;
                if (e.usage.cache_read_tokens) usage_.cache_read_tokens = e.usage.cache_read_tokens;
                if (e.usage.cache_write_tokens)
                    usage_.cache_write_tokens = e.usage.cache_write_tokens;
                if (e.usage.reasoning_tokens) usage_.reasoning_tokens = e.usage.reasoning_tokens;
                return;
            case T::message_stop: {
                ensure_started(out);
                for (size_t i = 0; i < blocks_.size(); ++i)
                    if (blocks_[i].open) close_block(static_cast<int>(i), out);
                auto [status, incomplete] = status_of(stop_reason_);
                Json resp = skeleton(status);
                resp["incomplete_details"] = std::move(incomplete);
                resp["output"] = output_;
                resp["usage"] = usage_json(usage_);
                emit(status == "completed" ? "response.completed" : "response.incomplete",
                     Json{{"response", std::move(resp)}}, out);
                return;
            }
            case T::ping:
                out += ": ping\n\n";
                return;
            case T::error:
                encode_error(e.error, out);
                return;
        }
    }

    void encode_error(const core::Error& err, std::string& out) override {
        ensure_started(out);
        Json obj = openai_chat::error_object(err);
        emit("error",
             Json{{"code", obj["code"]}, {"message", obj["message"]}, {"param", obj["param"]}},
             out);
        Json resp = skeleton("failed");
        for (const auto& item : output_)  // items that finished before the failure
            if (!item.is_null()) resp["output"].push_back(item);
        resp["error"] = Json{{"code", obj["code"].is_null() ? Json(obj["type"]) : obj["code"]},
                             {"message", err.message}};
        resp["usage"] = usage_json(usage_);
        emit("response.failed", Json{{"response", std::move(resp)}}, out);
    }

  private:
    struct Block {
        enum class Kind { none, message, reasoning, function_call } kind = Kind::none;
        size_t output_index = 0;
        std::string item_id;
        std::string text;  //!< text, summary or arguments so far
        std::string signature;
        std::string call_id, name;
        bool open = false;
    };

    Json skeleton(std::string_view status) const {
        return response_skeleton(id_, model_, created_at_, status);
    }

    void emit(std::string_view type, Json body, std::string& out) {
        body["type"] = type;
        body["sequence_number"] = sequence_++;
        out += "event: ";
        out += type;
        out += "\ndata: ";
        append_json(out, body);
        out += "\n\n";
    }

    void start(const std::string& message_id, const std::string& model, std::string& out) {
        if (started_) return;
        started_ = true;
        id_ = response_id(message_id);
        model_ = model;
        emit("response.created", Json{{"response", skeleton("in_progress")}}, out);
        emit("response.in_progress", Json{{"response", skeleton("in_progress")}}, out);
    }
    void ensure_started(std::string& out) {
        if (!started_) start({}, {}, out);
    }

    Block* block_at(int index) {
        if (index < 0 || static_cast<size_t>(index) >= blocks_.size()) return nullptr;
        Block& b = blocks_[static_cast<size_t>(index)];
        return b.open ? &b : nullptr;
    }

    void open_block(const StreamEvent& e, std::string& out) {
        if (e.index < 0 || e.index > 4096) return;
        ensure_started(out);
        const auto idx = static_cast<size_t>(e.index);
        if (blocks_.size() <= idx) blocks_.resize(idx + 1);
        Block& b = blocks_[idx];
        b = Block{};
        b.output_index = output_.size();
        using BT = ContentBlock::Type;
        switch (e.block.type) {
            case BT::text:
                b.kind = Block::Kind::message;
                b.item_id = item_id("msg", id_, b.output_index);
                emit("response.output_item.added",
                     Json{{"output_index", b.output_index},
                          {"item", message_item(b.item_id, "in_progress", Json::array())}},
                     out);
                emit("response.content_part.added",
                     Json{{"item_id", b.item_id},
                          {"output_index", b.output_index},
                          {"content_index", 0},
                          {"part", text_part({})}},
                     out);
                break;
            case BT::thinking:
                b.kind = Block::Kind::reasoning;
                b.item_id = item_id("rs", id_, b.output_index);
                b.signature = e.block.signature;
                emit("response.output_item.added",
                     Json{{"output_index", b.output_index},
                          {"item", reasoning_item(b.item_id, Json::array(), {})}},
                     out);
                emit("response.reasoning_summary_part.added",
                     Json{{"item_id", b.item_id},
                          {"output_index", b.output_index},
                          {"summary_index", 0},
                          {"part", {{"type", "summary_text"}, {"text", ""}}}},
                     out);
                break;
            case BT::tool_use:
                b.kind = Block::Kind::function_call;
                b.item_id = item_id("fc", id_, b.output_index);
                b.call_id = e.block.id;
                b.name = e.block.name;
                emit("response.output_item.added",
                     Json{{"output_index", b.output_index},
                          {"item",
                           function_call_item(b.item_id, "in_progress", b.call_id, b.name, {})}},
                     out);
                break;
            default:
                return;  // images, redacted thinking: no output item
        }
        b.open = true;
        output_.push_back(nullptr);  // filled in when the item is done
    }

    void delta(const StreamEvent& e, std::string& out) {
        Block* b = block_at(e.index);
        if (b == nullptr) return;
        using DK = StreamEvent::DeltaKind;
        if (e.delta_kind == DK::signature) {
            b->signature += e.text;
            return;
        }
        if (e.text.empty()) return;
        b->text += e.text;
        Json body{{"item_id", b->item_id}, {"output_index", b->output_index}};
        switch (b->kind) {
            case Block::Kind::message:
                if (e.delta_kind != DK::text) return;
                body["content_index"] = 0;
                body["delta"] = e.text;
                body["logprobs"] = Json::array();
                emit("response.output_text.delta", std::move(body), out);
                return;
            case Block::Kind::reasoning:
                if (e.delta_kind != DK::thinking) return;
                body["summary_index"] = 0;
                body["delta"] = e.text;
                emit("response.reasoning_summary_text.delta", std::move(body), out);
                return;
            case Block::Kind::function_call:
                if (e.delta_kind != DK::input_json) return;
                body["delta"] = e.text;
                emit("response.function_call_arguments.delta", std::move(body), out);
                return;
            case Block::Kind::none:
                return;
        }
    }

    void close_block(int index, std::string& out) {
        Block* b = block_at(index);
        if (b == nullptr) return;
        b->open = false;
        Json base{{"item_id", b->item_id}, {"output_index", b->output_index}};
        Json item;
        switch (b->kind) {
            case Block::Kind::message: {
                Json done = base;
                done["content_index"] = 0;
                done["text"] = b->text;
                done["logprobs"] = Json::array();
                emit("response.output_text.done", std::move(done), out);
                Json part_done = base;
                part_done["content_index"] = 0;
                part_done["part"] = text_part(b->text);
                emit("response.content_part.done", std::move(part_done), out);
                item = message_item(b->item_id, "completed", Json::array({text_part(b->text)}));
                break;
            }
            case Block::Kind::reasoning: {
                Json done = base;
                done["summary_index"] = 0;
                done["text"] = b->text;
                emit("response.reasoning_summary_text.done", std::move(done), out);
                Json part_done = base;
                part_done["summary_index"] = 0;
                part_done["part"] = Json{{"type", "summary_text"}, {"text", b->text}};
                emit("response.reasoning_summary_part.done", std::move(part_done), out);
                item = reasoning_item(
                    b->item_id,
                    b->text.empty()
                        ? Json::array()
                        : Json::array({Json{{"type", "summary_text"}, {"text", b->text}}}),
                    b->signature);
                break;
            }
            case Block::Kind::function_call: {
                if (b->text.empty()) b->text = "{}";
                Json done = base;
                done["arguments"] = b->text;
                emit("response.function_call_arguments.done", std::move(done), out);
                item = function_call_item(b->item_id, "completed", b->call_id, b->name, b->text);
                break;
            }
            case Block::Kind::none:
                return;
        }
        output_[b->output_index] = item;
        emit("response.output_item.done",
             Json{{"output_index", b->output_index}, {"item", std::move(item)}}, out);
    }

    int64_t created_at_;
    bool started_ = false;
    std::string id_, model_;
    int64_t sequence_ = 0;
    std::vector<Block> blocks_;  //!< by canonical block index
    Json output_ = Json::array();
    core::Usage usage_;
    core::StopReason stop_reason_ = core::StopReason::end_turn;
};

}  // namespace

std::unique_ptr<StreamEncoder> make_stream_encoder(int64_t created_at) {
    return std::make_unique<ResponsesStreamEncoder>(created_at);
}

}  // namespace openai_responses

core::Result<Request> OpenAiResponsesCodec::decode_request(std::string_view body) const {
    auto parsed = parse_json_body(body);
    if (!parsed) return parsed.take_error();
    return openai_responses::request_from_json(std::move(parsed).value());
}

std::string OpenAiResponsesCodec::encode_response(const core::Response& r) const {
    return dump_json(
        openai_responses::response_to_json(r, static_cast<int64_t>(std::time(nullptr))));
}

std::unique_ptr<StreamEncoder> OpenAiResponsesCodec::stream_encoder() const {
    return openai_responses::make_stream_encoder(static_cast<int64_t>(std::time(nullptr)));
}

std::string OpenAiResponsesCodec::error_body(const core::Error& err) const {
    return dump_json(Json{{"error", openai_chat::error_object(err)}});
}

}  // namespace tianshu::protocol
