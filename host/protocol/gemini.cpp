#include "protocol/gemini.hpp"

#include <algorithm>
#include <cctype>

#include "core/json_path.hpp"
#include "protocol/json_text.hpp"

namespace tianshu::protocol {

using core::ContentBlock;
using core::Json;
using core::JsonPath;
using core::ProblemList;
using core::read_string;
using core::Request;
using core::StreamEvent;
using core::take_string;

namespace gemini {

namespace {

using Blocks = std::vector<ContentBlock>;

//! A part's thoughtSignature, kept as the canonical model keeps signatures (see gemini.hpp):
//! on the thinking block just before the part's own block.
void add_signature(Blocks& out, std::string sig) {
    if (!out.empty() && out.back().type == ContentBlock::Type::thinking &&
        out.back().signature.empty()) {
        out.back().signature = std::move(sig);
        return;
    }
    ContentBlock t;
    t.type = ContentBlock::Type::thinking;
    t.signature = std::move(sig);
    out.push_back(std::move(t));
}

bool read_bool(Json& v, const JsonPath& path, bool& out, ProblemList& p) {
    if (!v.is_boolean()) {
        p.add(path, core::must_be("true or false", v));
        return false;
    }
    out = v.get<bool>();
    return true;
}

//! Gemini's Schema (an OpenAPI subset) names types in capitals ("OBJECT"); JSON Schema, which
//! every other upstream reads, in lower case. Literal values (enum, default…) are left alone.
void lower_schema_types(Json& s) {
    if (s.is_array()) {
        for (auto& v : s) lower_schema_types(v);
        return;
    }
    if (!s.is_object()) return;
    for (auto it = s.begin(); it != s.end(); ++it) {
        const std::string& k = it.key();
        if (k == "enum" || k == "default" || k == "example" || k == "const") continue;
        if (k == "type" && it.value().is_string()) {
            std::string& t = it.value().get_ref<std::string&>();
            for (char& c : t) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        } else {
            lower_schema_types(it.value());
        }
    }
}

//! A functionCall of the last model turn, waiting for its functionResponse.
struct PendingCall {
    std::string id;
    std::string name;
    std::string path;  //!< rendered, for the error when nothing answers it
    bool answered = false;
};

//! Turns Gemini's contents into canonical messages: consecutive contents of one role join one
//! message; every functionCall is answered by a functionResponse of the next user turn.
class ContentFolder {
  public:
    ContentFolder(Request& r, ProblemList& p) : r_(r), p_(p) {}

    void add(Json& c, const JsonPath& path, size_t index) {
        if (!c.is_object()) {
            p_.add(path, core::must_be("a Content object {\"role\",\"parts\"}", c));
            return;
        }
        core::Role role = core::Role::user;
        Json* parts = nullptr;
        for (auto it = c.begin(); it != c.end(); ++it) {
            const std::string& key = it.key();
            if (key == "role") {
                if (!it.value().is_string()) {
                    p_.add(path.field("role"), core::must_be("\"user\" or \"model\"", it.value()));
                    continue;
                }
                const std::string& s = it.value().get_ref<const std::string&>();
                if (s == "model")
                    role = core::Role::assistant;
                else if (s != "user" && s != "function" && !s.empty())
                    p_.add(path.field("role"), "unknown role '" + s + "' (expected user or model)");
            } else if (key == "parts") {
                parts = &it.value();
            } else {
                p_.add(path.field(key), "unknown field (a Content has role and parts)");
            }
        }
        if (!parts) {
            p_.add(path.field("parts"), "required (an array of parts)");
            return;
        }
        if (!parts->is_array() || parts->empty()) {
            p_.add(path.field("parts"), parts->is_array()
                                            ? "must contain at least one part"
                                            : core::must_be("an array of parts", *parts));
            return;
        }
        if (r_.messages.empty() || r_.messages.back().role != role) {
            if (role == core::Role::user) {
                pending_ = std::move(model_calls_);  // the next user turn answers these
            } else {
                check_answered();
            }
            model_calls_.clear();
            r_.messages.emplace_back();
            r_.messages.back().role = role;
        }
        Blocks& out = r_.messages.back().content;
        size_t j = 0;
        for (auto& part : *parts) {
            add_part(part, path.field("parts").at(j), index, j, role, out);
            ++j;
        }
        if (role == core::Role::user)
            std::stable_partition(out.begin(), out.end(), [](const ContentBlock& b) {
                return b.type == ContentBlock::Type::tool_result;
            });
    }

    void finish(const JsonPath& contents) {
        if (r_.messages.empty()) return;
        if (r_.messages.back().role == core::Role::user) {
            check_answered();
            return;
        }
        if (!model_calls_.empty())
            p_.add(contents, "the conversation ends with a model turn holding functionCall '" +
                                 model_calls_.front().name + "' (" + model_calls_.front().path +
                                 "): add a user turn with its functionResponse at the end");
    }

  private:
    void add_part(Json& part, const JsonPath& pp, size_t ci, size_t pi, core::Role role,
                  Blocks& out) {
        if (!part.is_object()) {
            p_.add(pp, core::must_be("a Part object (text, inlineData, functionCall or "
                                     "functionResponse)",
                                     part));
            return;
        }
        bool thought = false;
        std::string signature;
        Json* data = nullptr;
        std::string kind;
        for (auto it = part.begin(); it != part.end(); ++it) {
            const std::string& key = it.key();
            const JsonPath fp = pp.field(key);
            if (key == "thought") {
                read_bool(it.value(), fp, thought, p_);
            } else if (key == "thoughtSignature") {
                read_string(it.value(), fp, signature, p_);
            } else if (key == "text" || key == "inlineData" || key == "functionCall" ||
                       key == "functionResponse") {
                if (data) {
                    p_.add(fp,
                           "a part holds one of text, inlineData, functionCall and "
                           "functionResponse (this one also has " +
                               kind + "): split it into two parts");
                    continue;
                }
                data = &it.value();
                kind = key;
            } else if (key == "fileData" || key == "executableCode" ||
                       key == "codeExecutionResult" || key == "videoMetadata") {
                p_.add(fp,
                       "not supported by this gateway (send text, inlineData images, "
                       "functionCall or functionResponse parts)");
            } else {
                p_.add(fp,
                       "unknown field (a Part has text, thought, thoughtSignature, "
                       "inlineData, functionCall or functionResponse)");
            }
        }
        if (!data) {
            if (!signature.empty()) {  // a bare signature part: nothing but the signature
                add_signature(out, std::move(signature));
                return;
            }
            p_.add(pp, "empty part: set one of text, inlineData, functionCall, functionResponse");
            return;
        }
        const JsonPath dp = pp.field(kind);
        if (thought) {
            if (kind != "text") {
                p_.add(pp.field("thought"), "only a text part can be a thought");
                return;
            }
            std::string text;
            if (!read_string(*data, dp, text, p_)) return;
            if (role != core::Role::assistant) return;  // nothing for the model in a user turn
            // A streamed thought comes in many parts: one thinking block until it is signed.
            if (out.empty() || out.back().type != ContentBlock::Type::thinking ||
                !out.back().signature.empty()) {
                out.emplace_back();
                out.back().type = ContentBlock::Type::thinking;
            }
            out.back().text += text;
            out.back().signature = std::move(signature);
            return;
        }
        if (!signature.empty()) add_signature(out, std::move(signature));
        if (kind == "text") {
            std::string text;
            if (!read_string(*data, dp, text, p_)) return;
            // Anthropic-shaped upstreams refuse empty text blocks; an empty part says nothing.
            if (!text.empty()) out.push_back(ContentBlock::make_text(std::move(text)));
        } else if (kind == "inlineData") {
            decode_inline_data(*data, dp, role, out);
        } else if (kind == "functionCall") {
            if (role != core::Role::assistant) {
                p_.add(dp, "a functionCall belongs in a model turn (role \"model\")");
                return;
            }
            decode_call(*data, dp, ci, pi, out);
        } else {
            if (role != core::Role::user) {
                p_.add(dp, "a functionResponse belongs in a user turn (role \"user\")");
                return;
            }
            decode_response(*data, dp, out);
        }
    }

    void decode_inline_data(Json& v, const JsonPath& dp, core::Role role, Blocks& out) {
        if (!v.is_object()) {
            p_.add(dp, core::must_be("an object {\"mimeType\",\"data\"}", v));
            return;
        }
        if (role != core::Role::user) {
            p_.add(dp, "inlineData is accepted in user turns only");
            return;
        }
        std::string mime, bytes;
        for (auto it = v.begin(); it != v.end(); ++it) {
            if (it.key() == "mimeType")
                read_string(it.value(), dp.field("mimeType"), mime, p_);
            else if (it.key() == "data")
                read_string(it.value(), dp.field("data"), bytes, p_);
            else
                p_.add(dp.field(it.key()), "unknown field (inlineData has mimeType and data)");
        }
        if (mime.rfind("image/", 0) != 0) {
            p_.add(dp.field("mimeType"),
                   "required: an image type such as image/png (only "
                   "images pass through this gateway)");
            return;
        }
        if (bytes.empty()) {
            p_.add(dp.field("data"), "required (the image's bytes, base64)");
            return;
        }
        ContentBlock b;
        b.type = ContentBlock::Type::image;
        b.source =
            Json{{"type", "base64"}, {"media_type", std::move(mime)}, {"data", std::move(bytes)}};
        out.push_back(std::move(b));
    }

    void decode_call(Json& v, const JsonPath& dp, size_t ci, size_t pi, Blocks& out) {
        if (!v.is_object()) {
            p_.add(dp, core::must_be("an object {\"name\",\"args\"}", v));
            return;
        }
        ContentBlock b;
        b.type = ContentBlock::Type::tool_use;
        b.input = Json::object();
        for (auto it = v.begin(); it != v.end(); ++it) {
            const std::string& key = it.key();
            if (key == "name") {
                read_string(it.value(), dp.field("name"), b.name, p_);
            } else if (key == "args") {
                if (it.value().is_null()) continue;
                if (!it.value().is_object())
                    p_.add(dp.field("args"), core::must_be("an object", it.value()));
                else
                    b.input = std::move(it.value());
            } else if (key == "id") {
                read_string(it.value(), dp.field("id"), b.id, p_);
            } else {
                p_.add(dp.field(key), "unknown field (a functionCall has name, args and id)");
            }
        }
        if (b.name.empty()) p_.add(dp.field("name"), "required (the function the model called)");
        // Gemini's calls usually have no id; the canonical model pairs calls and results by id.
        if (b.id.empty()) b.id = "call_" + std::to_string(ci) + "_" + std::to_string(pi);
        model_calls_.push_back(
            {b.id, b.name,
             "contents[" + std::to_string(ci) + "].parts[" + std::to_string(pi) + "].functionCall",
             false});
        out.push_back(std::move(b));
    }

    void decode_response(Json& v, const JsonPath& dp, Blocks& out) {
        if (!v.is_object()) {
            p_.add(dp, core::must_be("an object {\"name\",\"response\"}", v));
            return;
        }
        std::string name, id;
        Json response;
        for (auto it = v.begin(); it != v.end(); ++it) {
            const std::string& key = it.key();
            if (key == "name") {
                read_string(it.value(), dp.field("name"), name, p_);
            } else if (key == "id") {
                read_string(it.value(), dp.field("id"), id, p_);
            } else if (key == "response") {
                if (!it.value().is_object())
                    p_.add(dp.field("response"), core::must_be("an object", it.value()));
                else
                    response = std::move(it.value());
            } else {
                p_.add(dp.field(key),
                       "unknown field (a functionResponse has name, response and id)");
            }
        }
        if (name.empty()) {
            p_.add(dp.field("name"), "required (the function whose result this is)");
            return;
        }
        if (response.is_null()) p_.add(dp.field("response"), "required (the result, an object)");
        PendingCall* call = nullptr;
        for (auto& c : pending_) {
            if (c.answered) continue;
            if (id.empty() ? c.name == name : c.id == id) {
                call = &c;
                break;
            }
        }
        if (!call) {
            p_.add(dp, "no unanswered functionCall " +
                           (id.empty() ? "named '" + name + "'" : "with id '" + id + "'") +
                           " in the model turn before it; each functionResponse answers a "
                           "functionCall of the preceding model turn");
            return;
        }
        call->answered = true;
        ContentBlock b;
        b.type = ContentBlock::Type::tool_result;
        b.id = call->id;
        b.content.push_back(ContentBlock::make_text(dump_json(response)));
        out.push_back(std::move(b));
    }

    void check_answered() {
        for (const auto& c : pending_)
            if (!c.answered) {
                p_.add(JsonPath{}.field(c.path),
                       "functionCall '" + c.name + "' (id " + c.id +
                           ") has no functionResponse in the user turn after it: send one "
                           "functionResponse part per functionCall");
            }
        pending_.clear();
    }

    Request& r_;
    ProblemList& p_;
    std::vector<PendingCall> pending_;      //!< calls the current user turn must answer
    std::vector<PendingCall> model_calls_;  //!< calls of the current model turn
};

void decode_system(Json& v, const JsonPath& path, Request& r, ProblemList& p) {
    if (v.is_string()) {
        r.system.push_back(ContentBlock::make_text(take_string(v)));
        return;
    }
    if (!v.is_object()) {
        p.add(path, core::must_be("a Content object {\"parts\":[{\"text\"}]}", v));
        return;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.key() == "role") continue;
        if (it.key() != "parts") {
            p.add(path.field(it.key()), "unknown field (systemInstruction has parts)");
            continue;
        }
        Json& parts = it.value();
        if (!parts.is_array()) {
            p.add(path.field("parts"), core::must_be("an array of text parts", parts));
            continue;
        }
        size_t i = 0;
        const JsonPath parts_path = path.field("parts");
        for (auto& part : parts) {
            const JsonPath pp = parts_path.at(i++);
            auto text = part.is_object() ? part.find("text") : part.end();
            if (!part.is_object() || text == part.end() || part.size() != 1) {
                p.add(pp, "must be a text part {\"text\":…} (systemInstruction holds text only)");
                continue;
            }
            std::string s;
            if (read_string(*text, pp.field("text"), s, p) && !s.empty())
                r.system.push_back(ContentBlock::make_text(std::move(s)));
        }
    }
}

void decode_declaration(Json& d, const JsonPath& path, std::vector<core::Tool>& out,
                        ProblemList& p) {
    if (!d.is_object()) {
        p.add(path, core::must_be("a FunctionDeclaration {\"name\",\"description\",…}", d));
        return;
    }
    core::Tool tool;
    bool has_schema = false;
    for (auto it = d.begin(); it != d.end(); ++it) {
        const std::string& key = it.key();
        Json& v = it.value();
        const JsonPath fp = path.field(key);
        if (key == "name") {
            if (read_string(v, fp, tool.name, p) && tool.name.empty())
                p.add(fp, "must not be empty");
        } else if (key == "description") {
            read_string(v, fp, tool.description, p);
        } else if (key == "parameters" || key == "parametersJsonSchema") {
            if (v.is_null()) continue;
            if (has_schema) {
                p.add(fp, "set parameters or parametersJsonSchema, not both");
                continue;
            }
            if (!v.is_object()) {
                p.add(fp, core::must_be("a schema object", v));
                continue;
            }
            has_schema = true;
            if (key == "parameters") lower_schema_types(v);
            tool.input_schema = std::move(v);
        } else if (key == "response" || key == "responseJsonSchema" || key == "behavior") {
            // How the function answers: nothing an upstream's tool definition carries.
        } else {
            p.add(fp,
                  "unknown field (a FunctionDeclaration has name, description, parameters "
                  "or parametersJsonSchema)");
        }
    }
    if (tool.name.empty() && d.find("name") == d.end()) p.add(path.field("name"), "required");
    if (!has_schema) tool.input_schema = Json{{"type", "object"}, {"properties", Json::object()}};
    out.push_back(std::move(tool));
}

void decode_tools(Json& v, const JsonPath& path, std::vector<core::Tool>& out, ProblemList& p) {
    if (!v.is_array()) {
        p.add(path, core::must_be("an array of {\"functionDeclarations\":[…]}", v));
        return;
    }
    size_t i = 0;
    for (auto& t : v) {
        const JsonPath tp = path.at(i++);
        if (!t.is_object()) {
            p.add(tp, core::must_be("a Tool object {\"functionDeclarations\":[…]}", t));
            continue;
        }
        for (auto it = t.begin(); it != t.end(); ++it) {
            const JsonPath fp = tp.field(it.key());
            if (it.key() != "functionDeclarations") {
                p.add(fp, "tool '" + it.key() +
                              "' is not supported by this gateway (only functionDeclarations "
                              "pass through to every upstream)");
                continue;
            }
            if (!it.value().is_array()) {
                p.add(fp, core::must_be("an array of FunctionDeclarations", it.value()));
                continue;
            }
            size_t k = 0;
            for (auto& d : it.value()) decode_declaration(d, fp.at(k++), out, p);
        }
    }
}

void decode_tool_config(Json& v, const JsonPath& path, Request& r, ProblemList& p,
                        std::vector<std::string>& allowed) {
    if (!v.is_object()) {
        p.add(path, core::must_be("an object {\"functionCallingConfig\":{…}}", v));
        return;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        const JsonPath fp = path.field(it.key());
        if (it.key() != "functionCallingConfig") {
            p.add(fp, "unknown field (toolConfig has functionCallingConfig)");
            continue;
        }
        Json& fc = it.value();
        if (!fc.is_object()) {
            p.add(fp, core::must_be("an object {\"mode\",\"allowedFunctionNames\"}", fc));
            continue;
        }
        std::string mode = "AUTO";
        for (auto f = fc.begin(); f != fc.end(); ++f) {
            const JsonPath mp = fp.field(f.key());
            if (f.key() == "mode") {
                read_string(f.value(), mp, mode, p);
            } else if (f.key() == "allowedFunctionNames") {
                if (!f.value().is_array()) {
                    p.add(mp, core::must_be("an array of function names", f.value()));
                    continue;
                }
                size_t k = 0;
                for (auto& n : f.value()) {
                    std::string s;
                    if (read_string(n, mp.at(k++), s, p)) allowed.push_back(std::move(s));
                }
            } else {
                p.add(mp,
                      "unknown field (functionCallingConfig has mode and "
                      "allowedFunctionNames)");
            }
        }
        if (mode == "AUTO" || mode == "MODE_UNSPECIFIED") {
            r.tool_choice = Json{{"type", "auto"}};
        } else if (mode == "NONE") {
            r.tool_choice = Json{{"type", "none"}};
        } else if (mode == "ANY") {
            r.tool_choice = allowed.size() == 1 ? Json{{"type", "tool"}, {"name", allowed[0]}}
                                                : Json{{"type", "any"}};
        } else {
            p.add(fp.field("mode"), "unsupported mode '" + mode + "' (expected AUTO, ANY or NONE)");
        }
        if (!allowed.empty() && mode != "ANY")
            p.add(fp.field("allowedFunctionNames"), "only allowed with mode ANY");
    }
}

void read_number(Json& v, const JsonPath& path, double lo, double hi, std::optional<double>& out,
                 ProblemList& p) {
    if (v.is_null()) return;
    if (!v.is_number()) {
        p.add(path, core::must_be("a number", v));
        return;
    }
    const double d = v.get<double>();
    if (!(d >= lo && d <= hi)) {
        p.add(path, "must be between " + std::to_string(static_cast<int>(lo)) + " and " +
                        std::to_string(static_cast<int>(hi)));
        return;
    }
    out = d;
}

void decode_thinking_config(Json& v, const JsonPath& path, Request& r, ProblemList& p) {
    if (!v.is_object()) {
        p.add(path, core::must_be("an object {\"thinkingBudget\",\"includeThoughts\"}", v));
        return;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        Json& x = it.value();
        const JsonPath fp = path.field(key);
        if (key == "thinkingBudget") {
            if (!x.is_number_integer()) {
                p.add(fp, core::must_be("an integer (0 off, -1 dynamic, or tokens)", x));
                continue;
            }
            const int64_t n = x.get<int64_t>();
            if (n == 0)
                r.thinking = Json{{"type", "disabled"}};
            else if (n > 0)
                r.thinking = Json{{"type", "enabled"}, {"budget_tokens", n}};
            else if (n != -1)
                p.add(fp, "must be 0 (off), -1 (dynamic) or a positive number of tokens");
        } else if (key == "includeThoughts") {
            bool b = false;
            read_bool(x, fp, b, p);  // thoughts the upstream sends always reach the client
        } else if (key == "thinkingLevel") {
            std::string level;
            if (!read_string(x, fp, level, p)) continue;
            for (char& c : level)
                c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            if (level == "minimal")
                r.thinking = Json{{"type", "disabled"}};
            else if (level == "low")
                r.thinking = Json{{"type", "enabled"}, {"budget_tokens", 2048}};
            else if (level == "medium")
                r.thinking = Json{{"type", "enabled"}, {"budget_tokens", 8192}};
            else if (level == "high")
                r.thinking = Json{{"type", "enabled"}, {"budget_tokens", 16384}};
            else if (level != "thinking_level_unspecified")
                p.add(fp, "unknown level (expected minimal, low, medium or high)");
        } else {
            p.add(fp,
                  "unknown field (thinkingConfig has thinkingBudget, includeThoughts and "
                  "thinkingLevel)");
        }
    }
}

void decode_generation_config(Json& v, const JsonPath& path, Request& r, ProblemList& p) {
    if (!v.is_object()) {
        p.add(path, core::must_be("a GenerationConfig object", v));
        return;
    }
    for (auto it = v.begin(); it != v.end(); ++it) {
        const std::string& key = it.key();
        Json& x = it.value();
        const JsonPath fp = path.field(key);
        if (x.is_null()) continue;
        if (key == "maxOutputTokens") {
            int64_t n = 0;
            if (!core::json_positive_integer(x, n))
                p.add(fp, "must be a positive integer");
            else
                r.max_tokens = n;
        } else if (key == "temperature") {
            read_number(x, fp, 0, 2, r.temperature, p);
        } else if (key == "topP") {
            read_number(x, fp, 0, 1, r.top_p, p);
        } else if (key == "topK") {
            int64_t n = 0;
            if (x.is_number_float() && x.get<double>() >= 1 &&
                x.get<double>() == static_cast<double>(static_cast<int64_t>(x.get<double>())))
                r.top_k = static_cast<int64_t>(x.get<double>());
            else if (!core::json_positive_integer(x, n))
                p.add(fp, "must be a positive integer");
            else
                r.top_k = n;
        } else if (key == "stopSequences") {
            if (!x.is_array()) {
                p.add(fp, core::must_be("an array of strings", x));
                continue;
            }
            size_t i = 0;
            for (auto& s : x) {
                std::string str;
                if (read_string(s, fp.at(i++), str, p)) r.stop_sequences.push_back(std::move(str));
            }
        } else if (key == "candidateCount") {
            if (!(x.is_number_integer() && x.get<int64_t>() == 1))
                p.add(fp, "must be 1 (this gateway answers with one candidate)");
        } else if (key == "thinkingConfig") {
            decode_thinking_config(x, fp, r, p);
        } else if (key == "responseMimeType") {
            std::string mime;
            if (read_string(x, fp, mime, p) && mime != "text/plain")
                p.add(fp, "'" + mime +
                              "' is not supported by this gateway (structured output does not "
                              "reach every upstream): omit it or use text/plain");
        } else if (key == "responseSchema" || key == "responseJsonSchema") {
            p.add(fp,
                  "not supported by this gateway (structured output does not reach every "
                  "upstream): describe the format in the prompt instead");
        } else if (key == "responseModalities") {
            if (!x.is_array() || std::any_of(x.begin(), x.end(), [](const Json& m) {
                    return m != "TEXT" && m != "text";
                }))
                p.add(fp, "only [\"TEXT\"] is supported");
        } else {
            p.add(fp,
                  "unknown or unsupported field (this gateway reads maxOutputTokens, "
                  "temperature, topP, topK, stopSequences, candidateCount, thinkingConfig, "
                  "responseMimeType)");
        }
    }
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
    bool has_contents = false;
    std::vector<std::string> allowed;
    ContentFolder folder(r, p);
    for (auto it = body.begin(); it != body.end(); ++it) {
        const std::string& key = it.key();
        Json& v = it.value();
        const JsonPath fp = root.field(key);
        if (key == "contents") {
            has_contents = true;
            if (!v.is_array()) {
                p.add(fp, core::must_be("an array of Content objects", v));
                continue;
            }
            r.messages.reserve(v.size());
            size_t i = 0;
            for (auto& c : v) {
                folder.add(c, fp.at(i), i);
                ++i;
            }
            folder.finish(fp);
        } else if (key == "systemInstruction" || key == "system_instruction") {
            if (!v.is_null()) decode_system(v, fp, r, p);
        } else if (key == "tools") {
            if (!v.is_null()) decode_tools(v, fp, r.tools, p);
        } else if (key == "toolConfig") {
            if (!v.is_null()) decode_tool_config(v, fp, r, p, allowed);
        } else if (key == "generationConfig") {
            if (!v.is_null()) decode_generation_config(v, fp, r, p);
        } else if (key == "safetySettings") {
            // Accepted and not forwarded: other upstreams have no such setting.
            if (!v.is_null() && !v.is_array()) p.add(fp, core::must_be("an array", v));
        } else if (key == "cachedContent") {
            p.add(fp,
                  "cached contents are not supported by this gateway: send the contents "
                  "themselves");
        } else {
            p.add(fp,
                  "unknown field (a GenerateContentRequest has contents, systemInstruction, "
                  "tools, toolConfig, generationConfig and safetySettings)");
        }
    }
    if (!has_contents)
        p.add(root.field("contents"), "required (an array of {\"role\",\"parts\"} contents)");
    else if (r.messages.empty() && p.empty())
        p.add(root.field("contents"), "must contain at least one content");
    // ANY with several allowed names: the model may call only those.
    if (allowed.size() > 1) {
        std::erase_if(r.tools, [&](const core::Tool& t) {
            return std::find(allowed.begin(), allowed.end(), t.name) == allowed.end();
        });
        if (r.tools.empty())
            p.add(root.field("toolConfig")
                      .field("functionCallingConfig")
                      .field("allowedFunctionNames"),
                  "names no declared function");
    }
    if (!p.empty()) return p.to_error();
    return r;
}

std::string_view finish_reason(core::StopReason r) {
    using S = core::StopReason;
    switch (r) {
        case S::max_tokens:
            return "MAX_TOKENS";
        case S::refusal:
            return "SAFETY";
        case S::none:
        case S::end_turn:
        case S::stop_sequence:
        case S::tool_use:
        case S::pause_turn:
            return "STOP";
    }
    return "STOP";
}

std::string_view status_name(int http_status) {
    switch (http_status) {
        case 400:
        case 413:
            return "INVALID_ARGUMENT";
        case 401:
            return "UNAUTHENTICATED";
        case 402:
        case 429:
            return "RESOURCE_EXHAUSTED";
        case 403:
            return "PERMISSION_DENIED";
        case 404:
            return "NOT_FOUND";
        case 499:
            return "CANCELLED";
        case 503:
        case 529:
            return "UNAVAILABLE";
        case 504:
            return "DEADLINE_EXCEEDED";
        default:
            return "INTERNAL";
    }
}

Json error_object(const core::Error& err) {
    const int status = core::http_status(err.kind);
    return Json{{"code", status}, {"message", err.message}, {"status", status_name(status)}};
}

Json usage_json(const core::Usage& u) {
    const int64_t prompt = u.input_tokens + u.cache_read_tokens + u.cache_write_tokens;
    const int64_t thoughts = std::min(u.reasoning_tokens, u.output_tokens);
    Json j{{"promptTokenCount", prompt},
           {"candidatesTokenCount", u.output_tokens - thoughts},
           {"totalTokenCount", prompt + u.output_tokens}};
    if (thoughts) j["thoughtsTokenCount"] = thoughts;
    if (u.cache_read_tokens) j["cachedContentTokenCount"] = u.cache_read_tokens;
    return j;
}

namespace {

//! Builds the parts of one answer, moving each thinking block's signature onto the next part
//! that is not a thought (see gemini.hpp).
class PartWriter {
  public:
    void thought(const std::string& text, Json& parts) {
        if (!text.empty()) parts.push_back(Json{{"text", text}, {"thought", true}});
    }
    void signature(std::string sig, Json& parts) {
        if (sig.empty()) return;
        if (!pending_.empty()) parts.push_back(attach(Json{{"text", ""}}));
        pending_ = std::move(sig);
    }
    Json attach(Json part) {
        if (!pending_.empty()) {
            part["thoughtSignature"] = std::move(pending_);
            pending_.clear();
        }
        return part;
    }
    //! The signature nothing followed goes on an empty text part, as Gemini ends a turn.
    void flush(Json& parts) {
        if (!pending_.empty()) parts.push_back(attach(Json{{"text", ""}}));
    }
    bool pending() const { return !pending_.empty(); }

  private:
    std::string pending_;
};

Json function_call(const std::string& name, Json args, const std::string& id) {
    Json fc{{"name", name}, {"args", args.is_object() ? std::move(args) : Json::object()}};
    if (!id.empty()) fc["id"] = id;
    return Json{{"functionCall", std::move(fc)}};
}

Json candidate(Json parts) {
    Json content{{"role", "model"}};
    if (!parts.empty()) content["parts"] = std::move(parts);
    return Json{{"content", std::move(content)}, {"index", 0}};
}

}  // namespace

Json response_to_json(const core::Response& r) {
    Json parts = Json::array();
    PartWriter w;
    for (const auto& b : r.content) {
        switch (b.type) {
            case ContentBlock::Type::thinking:
                w.thought(b.text, parts);
                w.signature(b.signature, parts);
                break;
            case ContentBlock::Type::text:
                if (!b.text.empty() || w.pending())
                    parts.push_back(w.attach(Json{{"text", b.text}}));
                break;
            case ContentBlock::Type::tool_use:
                parts.push_back(w.attach(function_call(b.name, b.input, b.id)));
                break;
            default:
                break;  // images, redacted thinking: nothing in Gemini's answer carries them
        }
    }
    w.flush(parts);
    Json cand = candidate(std::move(parts));
    cand["finishReason"] = finish_reason(r.stop_reason);
    return Json{{"candidates", Json::array({std::move(cand)})},
                {"usageMetadata", usage_json(r.usage)},
                {"modelVersion", r.model},
                {"responseId", r.id}};
}

namespace {

//! Maps the canonical event grammar onto GenerateContentResponse chunks, one SSE `data:` each:
//! text and thoughts as they come, a function call once its arguments are complete, the
//! finishReason and usageMetadata in the last chunk.
class GeminiStreamEncoder final : public StreamEncoder {
  public:
    // StreamEncoder
    void encode(const StreamEvent& e, std::string& out) override {
        using T = StreamEvent::Type;
        switch (e.type) {
            case T::message_start:
                id_ = e.message.id;
                model_ = e.message.model;
                usage_ = e.message.usage;
                return;
            case T::content_block_start:
                if (e.index < 0 || e.index > 4096) return;
                if (blocks_.size() <= static_cast<size_t>(e.index))
                    blocks_.resize(static_cast<size_t>(e.index) + 1);
                blocks_[static_cast<size_t>(e.index)] = e.block;
                blocks_[static_cast<size_t>(e.index)].text.clear();
                if (!e.block.signature.empty() && e.block.type == ContentBlock::Type::thinking) {
                    Json parts = Json::array();
                    writer_.signature(e.block.signature, parts);
                    chunk(std::move(parts), out);
                }
                return;
            case T::content_block_delta: {
                if (e.text.empty()) return;
                Json parts = Json::array();
                switch (e.delta_kind) {
                    case StreamEvent::DeltaKind::text:
                        parts.push_back(writer_.attach(Json{{"text", e.text}}));
                        break;
                    case StreamEvent::DeltaKind::thinking:
                        writer_.thought(e.text, parts);
                        break;
                    case StreamEvent::DeltaKind::signature:
                        writer_.signature(e.text, parts);
                        break;
                    case StreamEvent::DeltaKind::input_json:
                        if (e.index >= 0 && static_cast<size_t>(e.index) < blocks_.size())
                            blocks_[static_cast<size_t>(e.index)].text += e.text;
                        return;
                }
                chunk(std::move(parts), out);
                return;
            }
            case T::content_block_stop: {
                if (e.index < 0 || static_cast<size_t>(e.index) >= blocks_.size()) return;
                auto& b = blocks_[static_cast<size_t>(e.index)];
                if (b.type != ContentBlock::Type::tool_use) return;
                Json args = b.text.empty() ? Json::object() : Json::parse(b.text, nullptr, false);
                if (args.is_discarded()) args = Json::object();
                chunk(Json::array({writer_.attach(function_call(b.name, std::move(args), b.id))}),
                      out);
                return;
            }
            case T::message_delta: {
                usage_.output_tokens = e.usage.output_tokens;
                if (e.usage.input_tokens) usage_.input_tokens = e.usage.input_tokens;
                if (e.usage.cache_read_tokens) usage_.cache_read_tokens = e.usage.cache_read_tokens;
                if (e.usage.cache_write_tokens)
                    usage_.cache_write_tokens = e.usage.cache_write_tokens;
                if (e.usage.reasoning_tokens) usage_.reasoning_tokens = e.usage.reasoning_tokens;
                Json parts = Json::array();
                writer_.flush(parts);
                Json cand = candidate(std::move(parts));
                cand["finishReason"] = finish_reason(e.stop_reason);
                frame(Json{{"candidates", Json::array({std::move(cand)})},
                           {"usageMetadata", usage_json(usage_)},
                           {"modelVersion", model_},
                           {"responseId", id_}},
                      out);
                return;
            }
            case T::message_stop:
                return;
            case T::ping:
                out += ": ping\n\n";
                return;
            case T::error:
                encode_error(e.error, out);
                return;
        }
    }

    void encode_error(const core::Error& err, std::string& out) override {
        frame(Json{{"error", error_object(err)}}, out);
    }

  private:
    void chunk(Json parts, std::string& out) {
        if (parts.empty()) return;
        frame(Json{{"candidates", Json::array({candidate(std::move(parts))})},
                   {"modelVersion", model_},
                   {"responseId", id_}},
              out);
    }
    static void frame(const Json& j, std::string& out) {
        out += "data: ";
        append_json(out, j);
        out += "\n\n";
    }

    std::string id_, model_;
    core::Usage usage_;
    std::vector<ContentBlock> blocks_;  //!< by canonical index; tool_use arguments collect here
    PartWriter writer_;
};

}  // namespace

}  // namespace gemini

core::Result<Request> GeminiCodec::decode_request(std::string_view body) const {
    auto parsed = parse_json_body(body);
    if (!parsed) return parsed.take_error();
    return gemini::request_from_json(std::move(parsed).value());
}

std::string GeminiCodec::encode_response(const core::Response& r) const {
    return dump_json(gemini::response_to_json(r));
}

std::unique_ptr<StreamEncoder> GeminiCodec::stream_encoder() const {
    return std::make_unique<gemini::GeminiStreamEncoder>();
}

std::string GeminiCodec::error_body(const core::Error& err) const {
    return dump_json(Json{{"error", gemini::error_object(err)}});
}

}  // namespace tianshu::protocol
