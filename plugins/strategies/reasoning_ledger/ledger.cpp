#include "ledger.hpp"

#include <tianshu/abi.h>

namespace reasoning_ledger {
namespace {

std::string_view block_type(const Json& block) {
    auto t = block.find("type");
    return t != block.end() && t->is_string() ? std::string_view(t->get_ref<const std::string&>())
                                              : std::string_view();
}

//! Cuts `s` to at most `max` bytes without splitting a UTF-8 sequence.
void truncate_utf8(std::string& s, size_t max) {
    if (s.size() <= max) return;
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    s.resize(n);
}

Json thinking_block(const std::string& text) {
    return Json{{"type", "thinking"}, {"thinking", text}};
}

}  // namespace

ThinkingProtocol protocol_from_string(std::string_view s) {
    if (s == "reasoning_content") return ThinkingProtocol::reasoning_content;
    if (s == "anthropic") return ThinkingProtocol::anthropic;
    if (s == "none") return ThinkingProtocol::none;
    return ThinkingProtocol::unknown;
}

std::string_view to_string(ThinkingProtocol p) {
    switch (p) {
        case ThinkingProtocol::reasoning_content:
            return "reasoning_content";
        case ThinkingProtocol::anthropic:
            return "anthropic";
        case ThinkingProtocol::none:
            return "none";
        case ThinkingProtocol::unknown:
            break;
    }
    return "unknown";
}

std::string TurnRecord::to_json() const {
    return Json{{"model", model}, {"reasoning", reasoning}}.dump();
}

std::optional<TurnRecord> TurnRecord::from_json(std::string_view text) {
    Json j = Json::parse(text, nullptr, false);
    if (!j.is_object()) return std::nullopt;
    auto m = j.find("model");
    auto r = j.find("reasoning");
    if (m == j.end() || !m->is_string() || r == j.end() || !r->is_string()) return std::nullopt;
    return TurnRecord{m->get<std::string>(), r->get<std::string>()};
}

std::string turn_key(std::string_view first_tool_use_id) {
    std::string key = "turn:";
    key += first_tool_use_id;
    return key;
}

// ---- TurnRecorder ----

bool TurnRecorder::needs_json(int event_type) const {
    if (event_type == TS_EVENT_CONTENT_BLOCK_START) return true;
    return event_type == TS_EVENT_CONTENT_BLOCK_DELTA && in_thinking_ && max_bytes_ > 0;
}

void TurnRecorder::observe(int event_type, std::string_view event_json) {
    switch (event_type) {
        case TS_EVENT_MESSAGE_START:
            *this = TurnRecorder(max_bytes_);
            return;
        case TS_EVENT_CONTENT_BLOCK_START: {
            Json e = Json::parse(event_json, nullptr, false);
            if (!e.is_object()) return;
            const Json& block = e.value("content_block", Json::object());
            const std::string_view type = block_type(block);
            in_thinking_ = type == "thinking";
            if (type == "tool_use" && first_tool_use_id_.empty())
                first_tool_use_id_ = block.value("id", "");
            if (in_thinking_ && !reasoning_.empty()) reasoning_ += "\n\n";
            return;
        }
        case TS_EVENT_CONTENT_BLOCK_DELTA: {
            if (!in_thinking_ || reasoning_.size() >= max_bytes_) return;
            Json e = Json::parse(event_json, nullptr, false);
            if (!e.is_object()) return;
            const Json& delta = e.value("delta", Json::object());
            if (block_type(delta) != "thinking_delta") return;  // signature_delta
            reasoning_ += delta.value("thinking", "");
            truncate_utf8(reasoning_, max_bytes_);
            return;
        }
        case TS_EVENT_CONTENT_BLOCK_STOP:
            in_thinking_ = false;
            return;
        case TS_EVENT_MESSAGE_STOP:
            stopped_ = true;
            return;
        default:
            return;
    }
}

std::optional<std::pair<std::string, TurnRecord>> TurnRecorder::finish(
    std::string_view model) const {
    if (!stopped_ || first_tool_use_id_.empty()) return std::nullopt;
    return std::make_pair(turn_key(first_tool_use_id_), TurnRecord{std::string(model), reasoning_});
}

// ---- mend_history ----

namespace {

struct TurnShape {
    std::string first_tool_use_id;
    std::string thinking;  //!< all thinking text, joined
    bool has_thinking_blocks = false;
};

TurnShape shape_of(const Json& content) {
    TurnShape s;
    for (const Json& b : content) {
        if (!b.is_object()) continue;
        const std::string_view type = block_type(b);
        if (type == "tool_use" && s.first_tool_use_id.empty())
            s.first_tool_use_id = b.value("id", "");
        if (type == "thinking" || type == "redacted_thinking") s.has_thinking_blocks = true;
        if (type == "thinking") {
            auto t = b.find("thinking");
            if (t != b.end() && t->is_string()) s.thinking += t->get_ref<const std::string&>();
        }
    }
    return s;
}

//! reasoning_content targets: every tool turn gets non-empty thinking text first.
bool mend_for_reasoning_content(Json& content, const TurnShape& shape,
                                const std::optional<TurnRecord>& rec, std::string_view target,
                                const MendOptions& o, MendResult& r) {
    const bool foreign = rec && rec->model != target;
    std::string text;
    if (!shape.thinking.empty()) {
        if (!foreign) return false;  // the client sent it back itself
        if (o.drop_foreign) {
            text = o.placeholder;
            ++r.dropped;
        } else {
            ++r.converted;
            // The text goes on; a signature never reaches an OpenAI-style provider, but strip it
            // so no later stage forwards it either.
            bool touched = false;
            for (Json& b : content)
                if (b.is_object() && block_type(b) == "thinking" && b.contains("signature")) {
                    b.erase("signature");
                    touched = true;
                }
            return touched;
        }
    } else if (rec && !rec->reasoning.empty() && !(foreign && o.drop_foreign)) {
        text = rec->reasoning;
        ++(foreign ? r.converted : r.restored);
    } else {
        text = o.placeholder;
        ++(rec && foreign && !rec->reasoning.empty() ? r.dropped : r.placeholders);
    }
    Json mended = Json::array();
    mended.push_back(thinking_block(text));
    for (Json& b : content) {
        const std::string_view type = b.is_object() ? block_type(b) : std::string_view();
        if (type != "thinking" && type != "redacted_thinking") mended.push_back(std::move(b));
    }
    content = std::move(mended);
    return true;
}

//! anthropic targets: thinking the target did not sign itself is removed.
bool mend_for_anthropic(Json& content, const std::optional<TurnRecord>& rec,
                        std::string_view target, MendResult& r) {
    const bool foreign = rec && rec->model != target;
    Json kept = Json::array();
    int removed = 0;
    for (Json& b : content) {
        const std::string_view type = b.is_object() ? block_type(b) : std::string_view();
        const bool thinking = type == "thinking" || type == "redacted_thinking";
        const bool unsigned_thinking =
            type == "thinking" && b.value("signature", std::string()).empty();
        if (thinking && (foreign || unsigned_thinking)) {
            ++removed;
            continue;
        }
        kept.push_back(std::move(b));
    }
    if (removed == 0) return false;
    if (kept.empty()) return false;  // nothing but thinking: leave such a turn as it was
    r.dropped += removed;
    content = std::move(kept);
    return true;
}

}  // namespace

MendResult mend_history(const Json& messages, ThinkingProtocol protocol,
                        std::string_view target_model, const Lookup& lookup,
                        const MendOptions& options) {
    MendResult r;
    if (!messages.is_array()) return r;
    if (protocol != ThinkingProtocol::reasoning_content && protocol != ThinkingProtocol::anthropic)
        return r;
    size_t last_assistant = messages.size();
    for (size_t i = 0; i < messages.size(); ++i)
        if (messages[i].is_object() && messages[i].value("role", "") == "assistant")
            last_assistant = i;
    for (size_t i = 0; i < messages.size(); ++i) {
        const Json& m = messages[i];
        if (!m.is_object() || m.value("role", "") != "assistant") continue;
        auto c = m.find("content");
        if (c == m.end() || !c->is_array()) continue;
        const TurnShape shape = shape_of(*c);
        std::optional<TurnRecord> rec;
        if (!shape.first_tool_use_id.empty() && lookup)
            rec = lookup(turn_key(shape.first_tool_use_id));
        Json content = *c;
        bool changed = false;
        if (protocol == ThinkingProtocol::reasoning_content) {
            if (shape.first_tool_use_id.empty()) continue;  // providers only check tool turns
            changed = mend_for_reasoning_content(content, shape, rec, target_model, options, r);
        } else if (shape.has_thinking_blocks) {
            changed = mend_for_anthropic(content, rec, target_model, r);
            if (changed && i == last_assistant) r.disable_thinking = true;
        }
        if (changed) r.changed.emplace_back(i, std::move(content));
    }
    return r;
}

std::optional<ThinkingProtocol> protocol_for_model(const Json& table, std::string_view model) {
    if (!table.is_object()) return std::nullopt;
    std::optional<ThinkingProtocol> best;
    size_t best_len = 0;
    bool exact = false;
    for (const auto& [pattern, value] : table.items()) {
        if (!value.is_string()) continue;
        const ThinkingProtocol p = protocol_from_string(value.get<std::string>());
        if (pattern == model) {
            best = p;
            exact = true;
        } else if (!exact && !pattern.empty() && pattern.back() == '*') {
            const std::string_view prefix(pattern.data(), pattern.size() - 1);
            if (model.substr(0, prefix.size()) == prefix && prefix.size() >= best_len) {
                best = p;
                best_len = prefix.size();
            }
        }
    }
    return best;
}

}  // namespace reasoning_ledger
