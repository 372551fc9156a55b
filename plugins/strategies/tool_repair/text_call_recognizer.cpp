#include "text_call_recognizer.hpp"

#include <algorithm>
#include <cstring>

#include "argument_repair.hpp"
#include "text_scan.hpp"

namespace tianshu::tool_repair {

using nlohmann::json;

namespace {

//! The fixed start markers, their end markers, and whether they must open a line. Markers that
//! are special tokens (DeepSeek, Kimi) never occur in prose, so they count anywhere; the others
//! are tags a model may also quote, so only a tag that opens a line counts.
struct MarkerSpec {
    std::string_view start;
    std::string_view end;
    bool line_start;
};
constexpr MarkerSpec kMarkers[] = {
    {"<tool_call>", "</tool_call>", true},
    {"<minimax:tool_call>", "</minimax:tool_call>", true},
    {"<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>", false},
    {"<|tool_calls_section_begin|>", "<|tool_calls_section_end|>", false},
};
constexpr int kToolCall = 0, kMinimax = 1, kDeepseek = 2, kKimi = 3, kFence = -1;
constexpr std::string_view kFenceEnd = "\n```";
// Bounds on the flexible parts of the fenced-JSON opening, so its prefix stays short.
constexpr size_t kMaxFenceSpace = 16;

//! Removes one leading and one trailing newline (how XML-style values are laid out).
std::string_view strip_newlines(std::string_view s) {
    if (starts_with(s, "\r\n"))
        s.remove_prefix(2);
    else if (starts_with(s, "\n"))
        s.remove_prefix(1);
    if (s.size() >= 2 && s.substr(s.size() - 2) == "\r\n")
        s.remove_suffix(2);
    else if (!s.empty() && s.back() == '\n')
        s.remove_suffix(1);
    return s;
}
//! Takes `token` off the front of `s` (after whitespace); false when it is not there.
bool take(std::string_view& s, std::string_view token) {
    std::string_view t = s;
    while (!t.empty() && is_space(t.front())) t.remove_prefix(1);
    if (!starts_with(t, token)) return false;
    s = t.substr(token.size());
    return true;
}
//! Everything up to `end` (consumed); false when `end` does not occur.
bool take_until(std::string_view& s, std::string_view end, std::string_view& out) {
    size_t pos = s.find(end);
    if (pos == std::string_view::npos) return false;
    out = s.substr(0, pos);
    s = s.substr(pos + end.size());
    return true;
}
bool plain_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    for (char c : name)
        if (is_space(c) || c == '<' || c == '>' || c == '"' || c == '\'') return false;
    return true;
}

//! A call as written, before its arguments are repaired.
struct WrittenCall {
    std::string name;
    bool as_text = true;               // arguments are JSON text (else `value`)
    std::string text;                  // the arguments as written
    json value;                        // XML-style: the assembled object
    std::vector<std::string> repairs;  // repairs already needed to read the envelope
    bool unreadable = false;           // the name is known but the arguments could not be read
    std::string error;
};

//! Arguments inside a JSON envelope: a string is JSON text still to be read, else the value.
void set_arguments(WrittenCall& call, const json& args) {
    if (args.is_string()) {
        call.text = args.get<std::string>();
    } else {
        call.as_text = false;
        call.value = args;
    }
}

json property_schema(const json& schema, const std::string& key) {
    if (!schema.is_object()) return json::object();
    auto props = schema.find("properties");
    if (props == schema.end() || !props->is_object()) return json::object();
    auto it = props->find(key);
    return it == props->end() ? json::object() : *it;
}

//! Finds `"name": "X"` in text that is not JSON, so a broken call can still be named.
std::string name_in_broken_json(std::string_view body) {
    size_t k = body.find("\"name\"");
    if (k == std::string_view::npos) return {};
    std::string_view s = body.substr(k + 6);
    if (!take(s, ":") || !take(s, "\"")) return {};
    size_t q = s.find('"');
    if (q == std::string_view::npos) return {};
    return std::string(s.substr(0, q));
}

bool parse_hermes(std::string_view body, std::vector<WrittenCall>& calls) {
    WrittenCall call;
    std::string error;
    auto envelope = parse_lenient_json(trim(body), call.repairs, error);
    if (!envelope || !envelope->is_object()) {
        call.name = name_in_broken_json(body);
        if (call.name.empty()) return false;
        call.unreadable = true;
        call.error = envelope ? "the call is not a JSON object" : error;
        call.text = std::string(trim(body));
        calls.push_back(std::move(call));
        return true;
    }
    auto name = envelope->find("name");
    if (name == envelope->end() || !name->is_string()) return false;
    call.name = name->get<std::string>();
    auto args = envelope->find("arguments");
    if (args == envelope->end()) args = envelope->find("parameters");
    set_arguments(call, args == envelope->end() ? json::object() : *args);
    calls.push_back(std::move(call));
    return true;
}

//! `head` of an XML-style tag up to '>', without quotes: `=N>`, ` name="N">`, `name=N>`.
bool take_tag_value(std::string_view& s, std::string_view& out) {
    std::string_view head;
    if (!take_until(s, ">", head)) return false;
    head = trim(head);
    if (head.size() >= 2 && (head.front() == '"' || head.front() == '\'') &&
        head.back() == head.front())
        head = head.substr(1, head.size() - 2);
    out = head;
    return true;
}

//! Calls as XML: `<call_open>N>` then `<param_open>K>V</parameter>`… then `</call_close>`,
//! repeated (Qwen3-Coder's <function=…>, MiniMax's <invoke name=…>).
bool parse_xml_calls(std::string_view body, const ToolCatalog& tools, std::string_view call_open,
                     std::string_view call_close, std::string_view param_open,
                     std::vector<WrittenCall>& calls) {
    std::string_view s = body;
    while (take(s, call_open)) {
        std::string_view name;
        if (!take_tag_value(s, name) || !plain_name(name)) return false;
        WrittenCall call;
        call.name = std::string(name);
        call.as_text = false;
        call.value = json::object();
        const json& schema = tools.schema(call.name);
        while (!take(s, call_close)) {
            std::string_view key, value;
            if (!take(s, param_open) || !take_tag_value(s, key) ||
                !take_until(s, "</parameter>", value))
                return false;
            std::string k(key);
            call.value[k] = value_from_text(strip_newlines(value), property_schema(schema, k));
        }
        calls.push_back(std::move(call));
    }
    return !calls.empty() && trim(s).empty();
}

bool parse_glm(std::string_view body, const ToolCatalog& tools, std::vector<WrittenCall>& calls) {
    std::string_view s = trim(body);
    size_t end = std::min(s.find('\n'), s.find("<arg_key>"));
    std::string_view name = trim(s.substr(0, end));
    if (!plain_name(name)) return false;
    s = end == std::string_view::npos ? std::string_view() : s.substr(end);
    WrittenCall call;
    call.name = std::string(name);
    call.as_text = false;
    call.value = json::object();
    const json& schema = tools.schema(call.name);
    while (take(s, "<arg_key>")) {
        std::string_view key, value;
        if (!take_until(s, "</arg_key>", key) || !take(s, "<arg_value>") ||
            !take_until(s, "</arg_value>", value))
            return false;
        std::string k(trim(key));
        call.value[k] = value_from_text(value, property_schema(schema, k));
    }
    if (!trim(s).empty()) return false;
    calls.push_back(std::move(call));
    return true;
}

//! Calls between special tokens: `begin` head `sep` arguments `end`, repeated (DeepSeek, Kimi).
template <class Read>
bool parse_token_calls(std::string_view body, std::string_view begin, std::string_view sep,
                       std::string_view end, std::vector<WrittenCall>& calls, Read read) {
    std::string_view s = body;
    while (take(s, begin)) {
        std::string_view head, args;
        if (!take_until(s, sep, head) || !take_until(s, end, args)) return false;
        WrittenCall call = read(trim(head), args);
        if (!plain_name(call.name)) return false;
        calls.push_back(std::move(call));
    }
    return !calls.empty() && trim(s).empty();
}

bool parse_deepseek(std::string_view body, std::vector<WrittenCall>& calls) {
    return parse_token_calls(
        body, "<｜tool▁call▁begin｜>", "<｜tool▁sep｜>", "<｜tool▁call▁end｜>", calls,
        [](std::string_view head, std::string_view args) {
            WrittenCall call;
            if (head == "function") {  // V3: function<sep>NAME\n```json\n{…}\n```
                size_t nl = args.find('\n');
                call.name = std::string(trim(args.substr(0, nl)));
                call.text = nl == std::string_view::npos ? "" : std::string(args.substr(nl + 1));
            } else {  // V3.1: NAME<sep>{…}
                call.name = std::string(head);
                call.text = std::string(args);
            }
            return call;
        });
}

bool parse_kimi(std::string_view body, std::vector<WrittenCall>& calls) {
    return parse_token_calls(
        body, "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>", calls,
        [](std::string_view id, std::string_view args) {
            // "functions.NAME:0": drop the call index and the namespace.
            size_t colon = id.rfind(':');
            if (colon != std::string_view::npos &&
                id.find_first_not_of("0123456789", colon + 1) == std::string_view::npos)
                id = id.substr(0, colon);
            if (starts_with(id, "functions.")) id.remove_prefix(10);
            WrittenCall call;
            call.name = std::string(id);
            call.text = std::string(args);
            return call;
        });
}

bool parse_fenced_json(std::string_view body, std::vector<WrittenCall>& calls) {
    WrittenCall call;
    std::string error;
    auto object = parse_lenient_json(trim(body), call.repairs, error);
    if (!object || !object->is_object()) return false;
    // Exactly a name and one arguments field: anything richer is an example, not a call.
    const json* args = nullptr;
    for (const auto& [key, value] : object->items()) {
        if (key == "name") continue;
        if ((key == "arguments" || key == "parameters" || key == "input") && !args) {
            args = &value;
            continue;
        }
        return false;
    }
    if (!args || !(*object)["name"].is_string()) return false;
    call.name = (*object)["name"].get<std::string>();
    set_arguments(call, *args);
    calls.push_back(std::move(call));
    return true;
}

}  // namespace

const char* envelope_name(Envelope e) {
    switch (e) {
        case Envelope::hermes:
            return "hermes";
        case Envelope::qwen3_coder:
            return "qwen3_coder";
        case Envelope::glm:
            return "glm";
        case Envelope::deepseek:
            return "deepseek";
        case Envelope::kimi:
            return "kimi";
        case Envelope::minimax:
            return "minimax";
        case Envelope::fenced_json:
            return "fenced_json";
    }
    return "unknown";
}

bool envelope_from_name(std::string_view name, Envelope& out) {
    for (Envelope e : {Envelope::hermes, Envelope::qwen3_coder, Envelope::glm, Envelope::deepseek,
                       Envelope::kimi, Envelope::minimax, Envelope::fenced_json}) {
        if (name == envelope_name(e)) {
            out = e;
            return true;
        }
    }
    return false;
}

// -- ToolCatalog --

ToolCatalog ToolCatalog::from_request_tools(const json& tools) {
    ToolCatalog catalog;
    if (!tools.is_array()) return catalog;
    for (const auto& tool : tools) {
        if (!tool.is_object()) continue;
        auto name = tool.find("name");
        if (name == tool.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
            continue;
        auto schema = tool.find("input_schema");
        catalog.add(name->get<std::string>(),
                    schema != tool.end() && schema->is_object() ? *schema : json::object());
    }
    return catalog;
}

void ToolCatalog::add(std::string name, json input_schema) {
    longest_ = std::max(longest_, name.size());
    schemas_[std::move(name)] = std::move(input_schema);
}

bool ToolCatalog::declares(std::string_view name) const {
    return schemas_.count(std::string(name)) > 0;
}

bool ToolCatalog::has_name_with_prefix(std::string_view prefix) const {
    for (const auto& [name, schema] : schemas_)
        if (starts_with(name, prefix)) return true;
    return false;
}

const json& ToolCatalog::schema(std::string_view name) const {
    static const json empty = json::object();
    auto it = schemas_.find(std::string(name));
    return it == schemas_.end() ? empty : it->second;
}

// -- TextCallRecognizer --

void TextCallRecognizer::Context::advance(char c) {
    if (c == '\n') {
        line_start = true;
        lead_ticks = 0;
        in_inline = false;
        return;
    }
    if (lead_ticks >= 0) {
        if (c == '`') {
            ++lead_ticks;
            line_start = false;
            if (lead_ticks == 3) in_fence = !in_fence;
            return;
        }
        if (lead_ticks == 0 && (c == ' ' || c == '\t')) return;
        // The backticks leading the line end here: one opens an inline code span.
        if (lead_ticks == 1 && !in_fence) in_inline = !in_inline;
        lead_ticks = -1;
        line_start = false;
        return;
    }
    if (c == '`' && !in_fence) in_inline = !in_inline;
}

TextCallRecognizer::TextCallRecognizer(const ToolCatalog& tools, const RecognizerOptions& options)
    : tools_(tools), options_(options) {
    for (Envelope e : options_.envelopes) enabled_mask_ |= 1u << static_cast<unsigned>(e);
}

bool TextCallRecognizer::enabled(Envelope e) const {
    return (enabled_mask_ >> static_cast<unsigned>(e)) & 1u;
}

size_t TextCallRecognizer::longest_marker() const {
    size_t n = 0;
    for (const auto& m : kMarkers) n = std::max(n, m.start.size());
    // ``` + "json" + spaces + \n + spaces + { + spaces + "name" + spaces : spaces " NAME "
    size_t fence = 3 + 4 + kMaxFenceSpace + 1 + kMaxFenceSpace + 1 + kMaxFenceSpace + 6 +
                   kMaxFenceSpace + 1 + kMaxFenceSpace + 1 + tools_.longest_name() + 1;
    return std::max(n, fence);
}

TextCallRecognizer::Match TextCallRecognizer::match_fence(std::string_view s,
                                                          size_t& body_offset) const {
    size_t p = 0;
    auto need = [&](std::string_view lit) -> Match {
        size_t n = std::min(lit.size(), s.size() - p);
        if (s.substr(p, n) != lit.substr(0, n)) return Match::none;
        p += n;
        return n < lit.size() ? Match::more : Match::full;
    };
    auto spaces = [&](bool newlines) -> Match {
        size_t start = p;
        while (p < s.size() &&
               (s[p] == ' ' || s[p] == '\t' || (newlines && (s[p] == '\n' || s[p] == '\r')))) {
            if (p - start >= kMaxFenceSpace) return Match::none;
            ++p;
        }
        return p == s.size() ? Match::more : Match::full;
    };
    Match m;
    if ((m = need("```")) != Match::full) return m;
    // The fence's language: none or json.
    size_t lang = p;
    while (p < s.size() && std::isalnum(static_cast<unsigned char>(s[p]))) ++p;
    std::string_view word = s.substr(lang, p - lang);
    std::string lower(word);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (lower.size() > 4 || std::string_view("json").substr(0, lower.size()) != lower)
        return Match::none;
    if (p == s.size()) return Match::more;
    if (!lower.empty() && lower != "json") return Match::none;
    if ((m = spaces(false)) != Match::full) return m;
    if ((m = need("\n")) != Match::full) return m;
    if ((m = spaces(true)) != Match::full) return m;
    size_t brace = p;
    if ((m = need("{")) != Match::full) return m;
    if ((m = spaces(true)) != Match::full) return m;
    if ((m = need("\"name\"")) != Match::full) return m;
    if ((m = spaces(true)) != Match::full) return m;
    if ((m = need(":")) != Match::full) return m;
    if ((m = spaces(true)) != Match::full) return m;
    if ((m = need("\"")) != Match::full) return m;
    size_t name_start = p;
    while (p < s.size() && s[p] != '"') ++p;
    std::string_view name = s.substr(name_start, p - name_start);
    if (!tools_.has_name_with_prefix(name)) return Match::none;
    if (p == s.size()) return Match::more;
    if (!tools_.declares(name)) return Match::none;
    body_offset = brace;
    return Match::full;
}

TextCallRecognizer::MarkerMatch TextCallRecognizer::match_at(std::string_view s) const {
    MarkerMatch result;
    if (s[0] == '`') {
        if (!ctx_.line_start || !enabled(Envelope::fenced_json) || tools_.empty()) return result;
        size_t body = 0;
        result.match = match_fence(s, body);
        result.kind = kFence;
        result.body_offset = body;
        return result;
    }
    for (int k = 0; k < static_cast<int>(std::size(kMarkers)); ++k) {
        const MarkerSpec& spec = kMarkers[k];
        if (spec.line_start && !ctx_.line_start) continue;
        bool on = k == kToolCall ? enabled(Envelope::hermes) || enabled(Envelope::qwen3_coder) ||
                                       enabled(Envelope::glm)
                  : k == kMinimax  ? enabled(Envelope::minimax)
                  : k == kDeepseek ? enabled(Envelope::deepseek)
                                   : enabled(Envelope::kimi);
        if (!on) continue;
        size_t n = std::min(s.size(), spec.start.size());
        if (s.substr(0, n) != spec.start.substr(0, n)) continue;
        if (n < spec.start.size()) {
            result.match = Match::more;
            continue;
        }
        return MarkerMatch{Match::full, k, spec.start.size()};
    }
    return result;
}

void TextCallRecognizer::emit_text(std::string_view text, std::vector<Piece>& out) {
    if (text.empty()) return;
    if (!out.empty() && out.back().kind == Piece::Kind::text) {
        out.back().text.append(text);
        return;
    }
    Piece p;
    p.kind = Piece::Kind::text;
    p.text.assign(text);
    out.push_back(std::move(p));
}

void TextCallRecognizer::resolve(std::string_view raw, std::string_view body,
                                 std::vector<Piece>& out) {
    std::vector<WrittenCall> calls;
    bool readable = false;
    Envelope envelope = Envelope::hermes;
    switch (call_kind_) {
        case kToolCall: {
            std::string_view t = trim(body);
            if (starts_with(t, "{")) {
                envelope = Envelope::hermes;
                readable = enabled(envelope) && parse_hermes(t, calls);
            } else if (starts_with(t, "<function=")) {
                envelope = Envelope::qwen3_coder;
                readable =
                    enabled(envelope) &&
                    parse_xml_calls(t, tools_, "<function=", "</function>", "<parameter=", calls);
            } else {
                envelope = Envelope::glm;
                readable = enabled(envelope) && parse_glm(t, tools_, calls);
            }
            break;
        }
        case kMinimax:
            envelope = Envelope::minimax;
            readable = parse_xml_calls(body, tools_, "<invoke name=", "</invoke>",
                                       "<parameter name=", calls);
            break;
        case kDeepseek:
            envelope = Envelope::deepseek;
            readable = parse_deepseek(body, calls);
            break;
        case kKimi:
            envelope = Envelope::kimi;
            readable = parse_kimi(body, calls);
            break;
        case kFence:
            envelope = Envelope::fenced_json;
            readable = parse_fenced_json(body, calls);
            break;
    }
    bool all_declared = readable && !calls.empty();
    for (const auto& c : calls) all_declared = all_declared && tools_.declares(c.name);
    if (!all_declared) {
        // Not a call we may promote: the text goes on exactly as written.
        for (char c : raw) ctx_.advance(c);
        emit_text(raw, out);
        return;
    }
    for (auto& c : calls) {
        Piece p;
        p.name = c.name;
        p.envelope = envelope;
        const json& schema = tools_.schema(c.name);
        RepairedArguments r;
        if (c.unreadable) {
            r.error = c.error;
        } else {
            r = c.as_text ? repair_argument_text(c.text, schema)
                          : repair_arguments(c.value, schema);
        }
        if (r.ok) {
            p.kind = Piece::Kind::call;
            p.arguments = std::move(r.arguments);
            p.repairs = std::move(c.repairs);
            for (auto& k : r.repairs)
                if (std::find(p.repairs.begin(), p.repairs.end(), k) == p.repairs.end())
                    p.repairs.push_back(std::move(k));
        } else {
            p.kind = Piece::Kind::malformed;
            p.error = std::move(r.error);
            p.raw_arguments = c.as_text || c.unreadable ? c.text : c.value.dump();
        }
        out.push_back(std::move(p));
    }
    // A call ends like a line: another call or a fence may follow at once.
    ctx_ = Context{};
}

void TextCallRecognizer::scan(std::vector<Piece>& out, bool at_end) {
    for (;;) {
        if (in_call_) {
            std::string_view end = call_kind_ == kFence ? kFenceEnd : kMarkers[call_kind_].end;
            size_t pos = held_.find(end, std::max(body_offset_, searched_));
            size_t limit = body_offset_ + options_.max_call_bytes;
            if (pos != std::string::npos && pos <= limit) {
                std::string_view all(held_);
                resolve(all.substr(0, pos + end.size()),
                        all.substr(body_offset_, pos - body_offset_), out);
                held_.erase(0, pos + end.size());
                in_call_ = false;
                continue;
            }
            if (pos == std::string::npos && held_.size() < limit + end.size()) {
                if (!at_end) {
                    // Resume the search where a marker could still begin.
                    searched_ = held_.size() >= end.size() ? held_.size() - end.size() + 1 : 0;
                    return;
                }
                // The text ended inside a call (e.g. a model that stops without the closing
                // tag): read it as if it were closed; what is not a call stays text.
                std::string raw = std::move(held_);
                held_.clear();
                in_call_ = false;
                std::string_view all(raw);
                resolve(all, all.substr(body_offset_), out);
                continue;
            }
            // Too long for a call: give the marker up as text and read on after it.
            std::string_view marker = std::string_view(held_).substr(0, body_offset_);
            for (char c : marker) ctx_.advance(c);
            emit_text(marker, out);
            held_.erase(0, body_offset_);
            in_call_ = false;
            continue;
        }
        const size_t n = held_.size();
        size_t i = 0;
        for (; i < n; ++i) {
            char c = held_[i];
            if ((c == '<' || c == '`') && !ctx_.in_fence && !ctx_.in_inline) {
                MarkerMatch m = match_at(std::string_view(held_).substr(i));
                if (m.match == Match::more && !at_end) {
                    emit_text(std::string_view(held_).substr(0, i), out);
                    held_.erase(0, i);
                    return;
                }
                if (m.match == Match::full) {
                    emit_text(std::string_view(held_).substr(0, i), out);
                    held_.erase(0, i);
                    in_call_ = true;
                    call_kind_ = m.kind;
                    body_offset_ = m.body_offset;
                    searched_ = body_offset_;
                    break;
                }
            }
            ctx_.advance(c);
        }
        if (in_call_) continue;
        emit_text(held_, out);
        held_.clear();
        return;
    }
}

void TextCallRecognizer::feed(std::string_view chunk, std::vector<Piece>& out) {
    held_.append(chunk);
    scan(out, false);
}

void TextCallRecognizer::finish(std::vector<Piece>& out) {
    scan(out, true);
}

}  // namespace tianshu::tool_repair
