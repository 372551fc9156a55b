// Turns an answer's Anthropic stream events into the stream the client should see: text deltas
// go through the TextCallRecognizer, recognised calls become tool_use blocks, block indices are
// renumbered around them, and stop_reason becomes "tool_use" when a call was promoted.
// Pure: no host calls (only abi.h's event numbering), so the whole behaviour is testable on
// JSON lines.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "text_call_recognizer.hpp"

namespace tianshu::tool_repair {

//! What to do with the current event, after inserting `before` (in order) ahead of it.
struct Rewrite {
    enum class Current : uint8_t {
        pass,      //!< the event goes on unchanged (the fast path: nothing to do at all)
        drop,      //!< the event does not go on
        set_text,  //!< the delta goes on with `replacement` as its text
        replace,   //!< the event goes on as the event `replacement` (JSON)
    };
    std::vector<std::string> before;
    Current current = Current::pass;
    std::string replacement;
};

//! A call whose arguments could not be repaired, as the re-ask sees it.
struct MalformedCallInfo {
    std::string name;
    std::string error;
    std::string raw_arguments;
    const nlohmann::json* schema = nullptr;
};

struct RewriterOptions {
    RecognizerOptions recognizer;
    //! tool_use ids are "<id_prefix><n>" (n from 1 per answer).
    std::string id_prefix = "toolu_tr_";
    //! Ask the model once to correct a malformed call before giving up.
    bool reask = false;
};

//! Re-asks the model for a corrected arguments object; nullopt when it could not answer.
using ReaskFn = std::function<std::optional<std::string>(const MalformedCallInfo&)>;
//! Records a decision (kind, reason without prompt text).
using NoteFn = std::function<void(std::string_view kind, const std::string& reason)>;

//! The prompt of the single re-ask for a malformed call.
std::string reask_prompt(const MalformedCallInfo& call);

//! One per answer (stream). Not thread-safe.
class StreamRewriter {
  public:
    StreamRewriter(ToolCatalog tools, RewriterOptions options, ReaskFn reask = {},
                   NoteFn note = {});

    //! The next upstream event. `type` is a ts_event_type (tianshu/abi.h); `delta_text` the text of
    //! a content_block_delta; `event_json` yields the event's JSON, asked for only when needed
    //! (block starts, deltas of blocks that move, message_delta).
    Rewrite on_event(int type, std::string_view delta_text,
                     const std::function<std::string()>& event_json);

    //! Bytes the recogniser holds right now.
    size_t held_bytes() const { return recognizer_ ? recognizer_->held_bytes() : 0; }
    size_t promoted() const { return promoted_; }
    size_t malformed() const { return malformed_; }

    //! Applies a Rewrite to `current` (the event's JSON), giving the events that go on: what
    //! a host does with it, for tests and tools.
    static std::vector<std::string> apply(const Rewrite& rewrite, const std::string& current);

  private:
    void on_pieces(std::vector<Piece>& pieces, Rewrite& r);
    void open_text(Rewrite& r);
    void close_text(Rewrite& r);
    void text(std::string_view s, Rewrite& r);
    void tool_use(const std::string& name, const nlohmann::json& arguments, Rewrite& r);
    void malformed_note(const Piece& p, Rewrite& r);
    void end_text_block(Rewrite& r);
    std::string with_index(const std::function<std::string()>& event_json, int index);

    ToolCatalog tools_;
    RewriterOptions options_;
    ReaskFn reask_;
    NoteFn note_;
    std::unique_ptr<TextCallRecognizer> recognizer_;  // set while an upstream text block is open
    std::vector<Piece> pieces_;
    enum class Upstream : uint8_t { none, text, other } upstream_ = Upstream::none;
    int upstream_index_ = -1;
    int next_index_ = 0;    // the next output block index
    int other_index_ = -1;  // output index of a passed-through (non-text) block
    bool text_open_ = false;
    int text_index_ = -1;
    std::string pending_space_;  // whitespace not yet given a text block
    size_t promoted_ = 0;
    size_t malformed_ = 0;
    size_t reasks_ = 0;
};

}  // namespace tianshu::tool_repair
