#pragma once
// Reasoning written inline as `<think>…</think>` (or `<thinking>…</thinking>`) at the very start
// of an answer's text becomes an Anthropic thinking block, streamed live. Pure: events in,
// decisions out; the plugin maps a decision onto the host's stream-rewriting functions.
//
// Rules:
// - Only the message's first text block is looked at, and only its very start (leading ASCII
//   whitespace allowed). The same tag anywhere later stays text.
// - While the start could still become an opening tag, its events are held (bounded: at most
//   `max_hold_bytes` of text). As soon as it cannot, they are released unchanged.
// - Opening tag found: the text block at index i becomes a thinking block at i (thinking
//   deltas stream as they come, except a trailing fragment that could begin the closing tag);
//   at the closing tag the thinking block stops and a text block opens at i+1 with the rest
//   (leading whitespace trimmed). Every later block's index moves up by one.
// - The text block ends inside a partial opening tag: flushed as text, unchanged. It ends
//   inside the thinking (no closing tag): the thinking block is closed there, with any partial
//   closing tag as thinking text, and no text block follows (what was streamed as thinking is
//   never taken back).
// The result is the same for every chunking of the upstream's text (compare with consecutive
// deltas of a block merged).
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace reasoning_ledger {

//! The ts_event_type of an Anthropic streaming event given as JSON (TS_EVENT_PING for one
//! that is not an event).
int event_type_of(std::string_view event_json);

//! What to do with the current event.
struct StreamStep {
    enum class Kind {
        pass,     //!< the event goes on unchanged
        hold,     //!< keep it back (event_hold)
        release,  //!< let every held event go on, then the current one unchanged
        replace   //!< forget the held events, send `emit` in order, drop the current event
    };
    Kind kind = Kind::pass;
    std::vector<std::string> emit;  //!< Anthropic streaming events as JSON (replace only)
};

//! Splits a leading think tag off one message's stream. One instance per answer.
class ThinkTagSplitter {
  public:
    explicit ThinkTagSplitter(size_t max_hold_bytes = 64) : max_hold_(max_hold_bytes) {}

    //! Event types whose JSON on_event needs now (ts_event_type values); for any other type
    //! the event goes on unchanged and on_event need not be called.
    bool wants(int event_type) const;
    //! The decision for one event, given as its JSON.
    StreamStep on_event(std::string_view event_json);
    //! The host refused to hold (its cap): give up splitting; the plugin releases what is held.
    void abandon() { state_ = State::done; }
    //! How many events are held right now.
    size_t held() const { return held_; }

  private:
    enum class State { before_text, matching_open, in_thinking, trimming, shifted, done };
    StreamStep match_open(std::string_view delta_text);
    void think(std::string_view text, std::vector<std::string>& out);
    void close_thinking(std::vector<std::string>& out);

    size_t max_hold_;
    State state_ = State::before_text;
    int index_ = 0;           //!< the text block's upstream index
    std::string held_text_;   //!< text of the held events (matching_open)
    size_t held_ = 0;         //!< held event count
    std::string_view close_;  //!< the closing tag to find (in_thinking)
    std::string pending_;     //!< thinking text that may begin the closing tag
};

}  // namespace reasoning_ledger
