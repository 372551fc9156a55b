#pragma once
// The reasoning ledger, without the host: what an answer's reasoning is recorded as, and how a
// later request's history is mended for the provider it goes to.
//
// A turn is keyed by its first tool_use id ("turn:<id>"): unique per answer, and sent back by
// every client with the history. Only tool turns are recorded: they are the turns whose
// reasoning DeepSeek and Kimi check on later requests, and the turns whose thinking Anthropic
// wants to be its own.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace reasoning_ledger {

using Json = nlohmann::ordered_json;

//! How the target model wants reasoning in its history (the capability table's "thinking").
enum class ThinkingProtocol {
    unknown,            //!< nothing known: the history is left alone
    none,               //!< the model does not reason: left alone (the encoder drops thinking)
    anthropic,          //!< signed thinking blocks: only the model's own may go back
    reasoning_content,  //!< `reasoning_content` on every earlier tool-call turn (DeepSeek, Kimi)
};
ThinkingProtocol protocol_from_string(std::string_view s);
std::string_view to_string(ThinkingProtocol p);

//! One recorded turn: which model answered and what it reasoned.
struct TurnRecord {
    std::string model;
    std::string reasoning;
    std::string to_json() const;
    static std::optional<TurnRecord> from_json(std::string_view text);
};

//! The session key of the turn whose first tool_use block has this id.
std::string turn_key(std::string_view first_tool_use_id);

//! Follows one answer's events (as they leave the stage) and collects its reasoning and its
//! first tool_use id. Deltas of text and tool blocks are never parsed.
class TurnRecorder {
  public:
    //! A cap of 0 records only who answered (thinking deltas are then never asked for).
    explicit TurnRecorder(size_t max_reasoning_bytes = 65536) : max_bytes_(max_reasoning_bytes) {}
    //! Whether observe() needs this event's JSON (ts_event_type); otherwise pass an empty view.
    bool needs_json(int event_type) const;
    void observe(int event_type, std::string_view event_json);
    //! After message_stop: the key and record of a tool turn, or nullopt.
    std::optional<std::pair<std::string, TurnRecord>> finish(std::string_view model) const;

  private:
    size_t max_bytes_;
    bool in_thinking_ = false;
    bool stopped_ = false;
    std::string first_tool_use_id_;
    std::string reasoning_;
};

//! What mend_history does besides changing messages.
struct MendOptions {
    //! Reasoning given to a tool turn whose own is unknown (restart, expired, never recorded):
    //! the providers check that it is there, not what it says.
    std::string placeholder = "(Earlier reasoning for this step was not retained.)";
    //! Reasoning recorded from another model: "convert" sends its text as this model's
    //! reasoning_content; "drop" sends the placeholder instead.
    bool drop_foreign = false;
};

struct MendResult {
    //! (message index, its new content array)
    std::vector<std::pair<size_t, Json>> changed;
    int restored = 0;      //!< reasoning put back from the ledger
    int placeholders = 0;  //!< ledger misses answered with the placeholder
    int converted = 0;     //!< another model's reasoning passed on as text (no signature)
    int dropped = 0;       //!< thinking blocks removed (foreign or unsigned, anthropic target)
    //! anthropic target: the last assistant turn lost its thinking, so thinking must be off for
    //! this request (Anthropic wants a final assistant turn to start with its own thinking).
    bool disable_thinking = false;
};

using Lookup = std::function<std::optional<TurnRecord>(const std::string& key)>;

//! Mends the assistant turns of `messages` (the request's /messages) for `target_model`.
MendResult mend_history(const Json& messages, ThinkingProtocol protocol,
                        std::string_view target_model, const Lookup& lookup,
                        const MendOptions& options);

//! The model glob table of the config: "deepseek-*" matches by prefix, anything else exactly.
std::optional<ThinkingProtocol> protocol_for_model(const Json& table, std::string_view model);

}  // namespace reasoning_ledger
