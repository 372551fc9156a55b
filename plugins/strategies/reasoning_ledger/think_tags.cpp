#include "think_tags.hpp"

#include <array>
#include <optional>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

namespace reasoning_ledger {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::array<std::string_view, 2> kOpenTags = {"<think>", "<thinking>"};
constexpr std::array<std::string_view, 2> kCloseTags = {"</think>", "</thinking>"};
constexpr size_t kLongestOpenTag = 10;  // "<thinking>"
//! Text from upstream is UTF-8 already; should it not be, a bad byte becomes U+FFFD rather than
//! failing the stage.
constexpr auto kReplaceBadUtf8 = Json::error_handler_t::replace;

bool is_space(char c) {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

size_t leading_spaces(std::string_view s) {
    size_t n = 0;
    while (n < s.size() && is_space(s[n])) ++n;
    return n;
}

std::string block_start(int index, std::string_view type) {
    Json block = {{"type", type}};
    block[std::string(type)] = "";
    return Json{{"type", "content_block_start"}, {"index", index}, {"content_block", block}}.dump(
        -1, ' ', false, kReplaceBadUtf8);
}

std::string block_delta(int index, std::string_view delta_type, std::string_view field,
                        std::string_view text) {
    Json delta = {{"type", delta_type}};
    delta[std::string(field)] = text;
    return Json{{"type", "content_block_delta"}, {"index", index}, {"delta", delta}}.dump(
        -1, ' ', false, kReplaceBadUtf8);
}

std::string block_stop(int index) {
    return Json{{"type", "content_block_stop"}, {"index", index}}.dump(-1, ' ', false,
                                                                       kReplaceBadUtf8);
}

StreamStep replace(std::vector<std::string> emit) {
    return StreamStep{StreamStep::Kind::replace, std::move(emit)};
}

//! The event's index, or -1 when it has none.
int index_of(const Json& event) {
    auto it = event.find("index");
    return it != event.end() && it->is_number_integer() ? it->get<int>() : -1;
}

//! The text of a text_delta, or nullptr for any other delta.
const std::string* text_delta(const Json& event) {
    auto d = event.find("delta");
    if (d == event.end() || !d->is_object() || d->value("type", "") != "text_delta") return nullptr;
    auto t = d->find("text");
    return t != d->end() && t->is_string() ? &t->get_ref<const std::string&>() : nullptr;
}

//! An event that begins `{"type":"content_block_…","index":N`, as the host writes them, with
//! N moved up by one when it is at least `from`, without parsing it; nullopt for any other form.
std::optional<StreamStep> shift_written_index(std::string_view e, int from) {
    for (std::string_view head :
         {R"({"type":"content_block_delta","index":)", R"({"type":"content_block_start","index":)",
          R"({"type":"content_block_stop","index":)"}) {
        if (e.substr(0, head.size()) != head) continue;
        size_t end = head.size();
        while (end < e.size() && end - head.size() < 9 && e[end] >= '0' && e[end] <= '9') ++end;
        if (end == head.size() || end >= e.size() || (e[end] != ',' && e[end] != '}'))
            return std::nullopt;
        const int index = std::stoi(std::string(e.substr(head.size(), end - head.size())));
        if (index < from) return StreamStep{};
        std::string out(head);
        out += std::to_string(index + 1);
        out += e.substr(end);
        return replace({std::move(out)});
    }
    return std::nullopt;
}

}  // namespace

int event_type_of(std::string_view event_json) {
    const Json e = Json::parse(event_json, nullptr, false);
    const std::string t = e.is_object() ? e.value("type", "") : "";
    if (t == "message_start") return TS_EVENT_MESSAGE_START;
    if (t == "content_block_start") return TS_EVENT_CONTENT_BLOCK_START;
    if (t == "content_block_delta") return TS_EVENT_CONTENT_BLOCK_DELTA;
    if (t == "content_block_stop") return TS_EVENT_CONTENT_BLOCK_STOP;
    if (t == "message_delta") return TS_EVENT_MESSAGE_DELTA;
    if (t == "message_stop") return TS_EVENT_MESSAGE_STOP;
    if (t == "error") return TS_EVENT_ERROR;
    return TS_EVENT_PING;
}

bool ThinkTagSplitter::wants(int event_type) const {
    switch (state_) {
        case State::before_text:
            return event_type == TS_EVENT_MESSAGE_START ||
                   event_type == TS_EVENT_CONTENT_BLOCK_START;
        case State::matching_open:
        case State::in_thinking:
        case State::trimming:
            return event_type != TS_EVENT_PING;
        case State::shifted:
            return event_type == TS_EVENT_CONTENT_BLOCK_START ||
                   event_type == TS_EVENT_CONTENT_BLOCK_DELTA ||
                   event_type == TS_EVENT_CONTENT_BLOCK_STOP;
        case State::done:
            return false;
    }
    return false;
}

StreamStep ThinkTagSplitter::match_open(std::string_view delta_text) {
    held_text_ += delta_text;
    // Leading whitespace counts against the hold bound whatever the chunking, so that a long
    // run of it gives the same answer whether it came in one delta or in many.
    const size_t spaces = leading_spaces(held_text_);
    const bool spaces_fit = spaces + kLongestOpenTag <= max_hold_;
    const std::string_view rest = std::string_view(held_text_).substr(spaces);
    for (size_t t = 0; spaces_fit && t < kOpenTags.size(); ++t) {
        if (rest.substr(0, kOpenTags[t].size()) != kOpenTags[t]) continue;
        std::vector<std::string> out;
        out.push_back(block_start(index_, "thinking"));
        state_ = State::in_thinking;
        close_ = kCloseTags[t];
        pending_.clear();
        const std::string after(rest.substr(kOpenTags[t].size()));
        held_text_.clear();
        held_ = 0;
        think(after, out);
        return replace(std::move(out));
    }
    bool could_open = rest.empty();
    for (auto tag : kOpenTags) could_open = could_open || tag.substr(0, rest.size()) == rest;
    if (could_open && spaces_fit) {
        ++held_;
        return StreamStep{StreamStep::Kind::hold, {}};
    }
    state_ = State::done;
    held_text_.clear();
    held_ = 0;
    return StreamStep{StreamStep::Kind::release, {}};
}

void ThinkTagSplitter::think(std::string_view text, std::vector<std::string>& out) {
    if (state_ == State::trimming) {
        const std::string_view rest = text.substr(leading_spaces(text));
        if (!rest.empty()) {
            out.push_back(block_delta(index_ + 1, "text_delta", "text", rest));
            state_ = State::shifted;
        }
        return;
    }
    std::string buf = pending_;
    buf += text;
    pending_.clear();
    if (const size_t at = buf.find(close_); at != std::string::npos) {
        if (at > 0)
            out.push_back(block_delta(index_, "thinking_delta", "thinking", buf.substr(0, at)));
        out.push_back(block_stop(index_));
        out.push_back(block_start(index_ + 1, "text"));
        state_ = State::trimming;
        think(std::string_view(buf).substr(at + close_.size()), out);
        return;
    }
    // Keep back the longest tail that could still begin the closing tag.
    size_t keep = std::min(buf.size(), close_.size() - 1);
    while (keep > 0 && std::string_view(buf).substr(buf.size() - keep) != close_.substr(0, keep))
        --keep;
    if (buf.size() > keep)
        out.push_back(
            block_delta(index_, "thinking_delta", "thinking", buf.substr(0, buf.size() - keep)));
    pending_ = buf.substr(buf.size() - keep);
}

void ThinkTagSplitter::close_thinking(std::vector<std::string>& out) {
    if (!pending_.empty())
        out.push_back(block_delta(index_, "thinking_delta", "thinking", pending_));
    pending_.clear();
    out.push_back(block_stop(index_));
    state_ = State::done;
}

StreamStep ThinkTagSplitter::on_event(std::string_view event_json) {
    if (state_ == State::shifted) {
        if (auto step = shift_written_index(event_json, index_)) return *step;
    }
    Json event = Json::parse(event_json, nullptr, false);
    if (event.is_discarded() || !event.is_object()) return {};
    const std::string type = event.value("type", "");
    const int index = index_of(event);

    switch (state_) {
        case State::before_text: {
            if (type != "content_block_start") return {};
            const Json& block = event.value("content_block", Json::object());
            if (!block.is_object() || block.value("type", "") != "text") return {};
            index_ = index;
            held_ = 0;
            held_text_.clear();
            state_ = State::matching_open;
            return match_open(block.value("text", ""));
        }
        case State::matching_open: {
            if (type == "content_block_delta" && index == index_) {
                if (const std::string* text = text_delta(event)) return match_open(*text);
            }
            // The text block ended (or anything else came) before a tag could open: as it was.
            state_ = State::done;
            held_text_.clear();
            held_ = 0;
            return StreamStep{StreamStep::Kind::release, {}};
        }
        case State::in_thinking:
        case State::trimming: {
            std::vector<std::string> out;
            if (type == "content_block_delta" && index == index_) {
                if (const std::string* text = text_delta(event)) {
                    think(*text, out);
                    return replace(std::move(out));
                }
            }
            if (type == "content_block_stop" && index == index_) {
                if (state_ == State::in_thinking) {
                    close_thinking(out);
                } else {
                    out.push_back(block_stop(index_ + 1));
                    state_ = State::shifted;
                }
                return replace(std::move(out));
            }
            if (state_ == State::in_thinking) {
                // The upstream went on without ending the text block: end the thinking here.
                close_thinking(out);
                out.push_back(event.dump(-1, ' ', false, kReplaceBadUtf8));
                return replace(std::move(out));
            }
            state_ = State::shifted;
            return on_event(event_json);
        }
        case State::shifted: {
            if (index < index_) return {};
            event["index"] = index + 1;
            return replace({event.dump(-1, ' ', false, kReplaceBadUtf8)});
        }
        case State::done:
            return {};
    }
    return {};
}

}  // namespace reasoning_ledger
