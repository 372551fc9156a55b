#include "stream_rewriter.hpp"

#include <tianshu/abi.h>

#include "argument_repair.hpp"

namespace tianshu::tool_repair {

using nlohmann::json;

namespace {

bool all_space(std::string_view s) {
    for (char c : s)
        if (c != ' ' && c != '\n' && c != '\t' && c != '\r') return false;
    return true;
}

std::string block_start_text(int index) {
    return json{{"type", "content_block_start"},
                {"index", index},
                {"content_block", {{"type", "text"}, {"text", ""}}}}
        .dump();
}
std::string text_delta(int index, std::string_view text) {
    return json{{"type", "content_block_delta"},
                {"index", index},
                {"delta", {{"type", "text_delta"}, {"text", text}}}}
        .dump();
}
std::string block_stop(int index) {
    return json{{"type", "content_block_stop"}, {"index", index}}.dump();
}

std::string joined(const std::vector<std::string>& words) {
    std::string s;
    for (const auto& w : words) s += (s.empty() ? "" : ", ") + w;
    return s;
}

}  // namespace

std::string reask_prompt(const MalformedCallInfo& call) {
    std::string prompt = "Your call to the tool `" + call.name +
                         "` had arguments that are not valid: " + call.error + ".\n";
    if (call.schema) prompt += "The tool's input schema is:\n" + call.schema->dump() + "\n";
    prompt += "Your arguments were:\n" + call.raw_arguments +
              "\nReply with only the corrected arguments as one JSON object, nothing else.";
    return prompt;
}

StreamRewriter::StreamRewriter(ToolCatalog tools, RewriterOptions options, ReaskFn reask,
                               NoteFn note)
    : tools_(std::move(tools)),
      options_(std::move(options)),
      reask_(std::move(reask)),
      note_(std::move(note)) {}

std::string StreamRewriter::with_index(const std::function<std::string()>& event_json, int index) {
    json j = json::parse(event_json());
    j["index"] = index;
    return j.dump();
}

void StreamRewriter::open_text(Rewrite& r) {
    text_index_ = next_index_++;
    text_open_ = true;
    r.before.push_back(block_start_text(text_index_));
}

void StreamRewriter::close_text(Rewrite& r) {
    if (!text_open_) return;
    r.before.push_back(block_stop(text_index_));
    text_open_ = false;
}

void StreamRewriter::text(std::string_view s, Rewrite& r) {
    if (s.empty()) return;
    if (!text_open_) {
        // A text block starts with something visible: whitespace alone (between calls, or
        // before the first one) makes no block, which strict providers would refuse later.
        if (all_space(s)) {
            pending_space_.append(s);
            return;
        }
        open_text(r);
        if (!pending_space_.empty()) {
            std::string all = std::move(pending_space_);
            pending_space_.clear();
            all.append(s);
            r.before.push_back(text_delta(text_index_, all));
            return;
        }
    }
    r.before.push_back(text_delta(text_index_, s));
}

void StreamRewriter::tool_use(const std::string& name, const json& arguments, Rewrite& r) {
    close_text(r);
    pending_space_.clear();
    int index = next_index_++;
    ++promoted_;
    std::string id = options_.id_prefix + std::to_string(promoted_);
    r.before.push_back(
        json{{"type", "content_block_start"},
             {"index", index},
             {"content_block",
              {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", json::object()}}}}
            .dump());
    r.before.push_back(
        json{{"type", "content_block_delta"},
             {"index", index},
             {"delta", {{"type", "input_json_delta"}, {"partial_json", arguments.dump()}}}}
            .dump());
    r.before.push_back(block_stop(index));
}

void StreamRewriter::malformed_note(const Piece& p, Rewrite& r) {
    ++malformed_;
    if (note_)
        note_("tool_call_malformed", "the text call to `" + p.name + "` (" +
                                         envelope_name(p.envelope) +
                                         ") has arguments that could not be repaired; the turn "
                                         "ends with a note instead");
    text("\n\n[tool_repair] The call to the tool `" + p.name +
             "` was not run: its arguments could not be repaired (" + p.error +
             "). Send the call again with arguments that match the tool's input schema.\n",
         r);
}

void StreamRewriter::on_pieces(std::vector<Piece>& pieces, Rewrite& r) {
    for (Piece& p : pieces) {
        switch (p.kind) {
            case Piece::Kind::text:
                text(p.text, r);
                break;
            case Piece::Kind::call:
                if (note_) {
                    note_("tool_call_promoted", "a text call to `" + p.name + "` (" +
                                                    envelope_name(p.envelope) +
                                                    ") became a tool_use block");
                    if (!p.repairs.empty())
                        note_("tool_args_repaired", "the arguments of `" + p.name +
                                                        "` were repaired: " + joined(p.repairs));
                }
                tool_use(p.name, p.arguments, r);
                break;
            case Piece::Kind::malformed: {
                if (options_.reask && reask_ && reasks_ == 0) {
                    ++reasks_;
                    MalformedCallInfo info{p.name, p.error, p.raw_arguments,
                                           &tools_.schema(p.name)};
                    std::optional<std::string> answer = reask_(info);
                    if (answer) {
                        RepairedArguments again = repair_argument_text(*answer, *info.schema);
                        if (again.ok) {
                            if (note_)
                                note_("tool_call_reasked",
                                      "the model corrected the arguments of `" + p.name +
                                          "` when asked once");
                            tool_use(p.name, again.arguments, r);
                            break;
                        }
                        p.error +=
                            "; the corrected arguments were not valid either: " + again.error;
                    } else {
                        p.error += "; asking the model again failed";
                    }
                }
                malformed_note(p, r);
                break;
            }
        }
    }
    pieces.clear();
}

void StreamRewriter::end_text_block(Rewrite& r) {
    if (recognizer_) {
        pieces_.clear();
        recognizer_->finish(pieces_);
        on_pieces(pieces_, r);
        recognizer_.reset();
    }
    if (!pending_space_.empty() && !text_open_ && promoted_ == 0 && malformed_ == 0) {
        // Whitespace and nothing else: it is the model's answer, keep it.
        open_text(r);
        r.before.push_back(text_delta(text_index_, pending_space_));
    }
    pending_space_.clear();
    close_text(r);
    upstream_ = Upstream::none;
}

Rewrite StreamRewriter::on_event(int type, std::string_view delta_text,
                                 const std::function<std::string()>& event_json) {
    Rewrite r;
    switch (type) {
        case TS_EVENT_MESSAGE_START:
            recognizer_.reset();
            upstream_ = Upstream::none;
            next_index_ = 0;
            text_open_ = false;
            pending_space_.clear();
            promoted_ = malformed_ = reasks_ = 0;
            return r;
        case TS_EVENT_CONTENT_BLOCK_START: {
            if (upstream_ == Upstream::text) end_text_block(r);
            json j = json::parse(event_json());
            upstream_index_ = j.value("index", 0);
            const json& block = j["content_block"];
            if (block.value("type", "") == "text") {
                upstream_ = Upstream::text;
                recognizer_ = std::make_unique<TextCallRecognizer>(tools_, options_.recognizer);
                r.current = Rewrite::Current::drop;
                std::string initial = block.value("text", "");
                if (!initial.empty()) {
                    pieces_.clear();
                    recognizer_->feed(initial, pieces_);
                    on_pieces(pieces_, r);
                }
                return r;
            }
            upstream_ = Upstream::other;
            other_index_ = next_index_++;
            if (other_index_ != upstream_index_) {
                j["index"] = other_index_;
                r.current = Rewrite::Current::replace;
                r.replacement = j.dump();
            }
            return r;
        }
        case TS_EVENT_CONTENT_BLOCK_DELTA:
            if (upstream_ == Upstream::text) {
                pieces_.clear();
                recognizer_->feed(delta_text, pieces_);
                if (pieces_.size() == 1 && pieces_[0].kind == Piece::Kind::text && text_open_ &&
                    text_index_ == upstream_index_) {
                    // The fast path: text with no marker in sight goes on as it came.
                    if (pieces_[0].text != delta_text) {
                        r.current = Rewrite::Current::set_text;
                        r.replacement = std::move(pieces_[0].text);
                    }
                    pieces_.clear();
                    return r;
                }
                if (pieces_.empty()) {  // all held
                    r.current = Rewrite::Current::drop;
                    return r;
                }
                on_pieces(pieces_, r);
                r.current = Rewrite::Current::drop;
                return r;
            }
            if (upstream_ == Upstream::other && other_index_ != upstream_index_) {
                r.current = Rewrite::Current::replace;
                r.replacement = with_index(event_json, other_index_);
            }
            return r;
        case TS_EVENT_CONTENT_BLOCK_STOP:
            if (upstream_ == Upstream::text) {
                end_text_block(r);
                r.current = Rewrite::Current::drop;
                return r;
            }
            if (upstream_ == Upstream::other && other_index_ != upstream_index_) {
                r.current = Rewrite::Current::replace;
                r.replacement = with_index(event_json, other_index_);
            }
            upstream_ = Upstream::none;
            return r;
        case TS_EVENT_MESSAGE_DELTA: {
            if (upstream_ == Upstream::text) end_text_block(r);
            if (promoted_ == 0) return r;
            json j = json::parse(event_json());
            json& delta = j["delta"];
            if (delta.is_object() &&
                (!delta.contains("stop_reason") || delta["stop_reason"].is_null() ||
                 delta["stop_reason"] == "end_turn")) {
                delta["stop_reason"] = "tool_use";
                r.current = Rewrite::Current::replace;
                r.replacement = j.dump();
            }
            return r;
        }
        case TS_EVENT_ERROR:
            if (upstream_ == Upstream::text) end_text_block(r);
            return r;
        default:
            return r;
    }
}

std::vector<std::string> StreamRewriter::apply(const Rewrite& rewrite, const std::string& current) {
    std::vector<std::string> out = rewrite.before;
    switch (rewrite.current) {
        case Rewrite::Current::pass:
            out.push_back(current);
            break;
        case Rewrite::Current::drop:
            break;
        case Rewrite::Current::set_text: {
            json j = json::parse(current);
            j["delta"]["text"] = rewrite.replacement;
            out.push_back(j.dump());
            break;
        }
        case Rewrite::Current::replace:
            out.push_back(rewrite.replacement);
            break;
    }
    return out;
}

}  // namespace tianshu::tool_repair
