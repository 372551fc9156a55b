#pragma once
// The canonical request: a typed superset of Anthropic Messages and OpenAI Chat.
// Codecs in protocol/ turn wire bodies into this and back; strategies and adapters only
// ever see this shape. Fields the model does not know are kept verbatim in `extra` so a
// passthrough loses nothing.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/lazy_json.hpp"

namespace tianshu::core {

using Json = nlohmann::json;

//! Who speaks a message. `system` is a system message inside the conversation (Anthropic's
//! mid-conversation system messages, which Claude Code sends with its newest models); the
//! leading system prompt stays in Request::system.
enum class Role { user, assistant, system };

//! One block of message content, following Anthropic's content-block grammar.
struct ContentBlock {
    enum class Type { text, image, tool_use, tool_result, thinking, redacted_thinking };
    Type type = Type::text;
    std::string text;  //!< text, thinking (the reasoning), redacted_thinking (data)
    std::string id;    //!< tool_use id; tool_result's tool_use_id
    std::string name;  //!< tool_use name
    Json input;        //!< tool_use arguments (an object)
    std::vector<ContentBlock> content;  //!< tool_result content (text and image blocks)
    bool is_error = false;              //!< tool_result
    std::string signature;              //!< thinking signature
    Json source;                        //!< image source object, verbatim
    Json cache_control;  //!< kept so passthrough upstreams see it; adapters may strip it

    static ContentBlock make_text(std::string t) {
        ContentBlock b;
        b.text = std::move(t);
        return b;
    }
};

struct Message {
    Role role = Role::user;
    std::vector<ContentBlock> content;
};

//! One tool the model may call; `input_schema` is a JSON Schema, verbatim: kept as the text
//! the client sent until something looks inside it (see core/lazy_json.hpp).
struct Tool {
    std::string name;
    std::string description;
    LazyJson input_schema;
    Json extra;  //!< server tools and unknown fields (type, cache_control…)
};

struct Request {
    std::string model;
    std::vector<ContentBlock> system;  //!< text blocks
    std::vector<Message> messages;
    std::vector<Tool> tools;
    Json tool_choice;  //!< null when absent; otherwise Anthropic's shape
    std::optional<int64_t> max_tokens;
    std::optional<double> temperature;
    std::optional<double> top_p;
    std::optional<int64_t> top_k;
    std::vector<std::string> stop_sequences;
    bool stream = false;
    Json thinking;  //!< null when absent; Anthropic's {type, budget_tokens}
    Json metadata;  //!< null when absent
    Json extra;     //!< object of top-level fields the canonical model does not know

    //! The client's own Anthropic Messages body, kept so that an Anthropic-compatible upstream
    //! gets it back with only the top-level fields the chain changed re-encoded (null for
    //! OpenAI clients and for requests built by strategies).
    std::shared_ptr<const std::string> client_body;
    //! Top-level fields (wire names) changed since decoding; "*" means the whole request.
    //! Every host path that changes a request marks it (set_system_text, request_set).
    std::vector<std::string> changed_fields;
    void mark_changed(std::string field);
    bool changed(std::string_view field) const;

    //! Joined text of the system blocks.
    std::string system_text() const;
    //! Replace the system prompt with one text block.
    void set_system_text(std::string text);
    //! Text of the last user message's text blocks (empty when there is none).
    std::string last_user_text() const;
};

//! Token counts, one schema for every protocol.
struct Usage {
    int64_t input_tokens = 0;
    int64_t output_tokens = 0;
    int64_t cache_read_tokens = 0;
    int64_t cache_write_tokens = 0;
    int64_t reasoning_tokens = 0;
    //! output_tokens is the host's estimate from the answer's text (plugin::estimate_tokens):
    //! the upstream reported no usage.
    bool output_estimated = false;
};

//! Anthropic's stop reasons; other protocols map onto these.
enum class StopReason { none, end_turn, max_tokens, stop_sequence, tool_use, pause_turn, refusal };
std::string_view to_string(StopReason r);
StopReason stop_reason_from_string(std::string_view s);

//! A complete (non-streamed) answer.
struct Response {
    std::string id;
    std::string model;
    std::vector<ContentBlock> content;
    StopReason stop_reason = StopReason::end_turn;
    std::string stop_sequence;
    Usage usage;

    std::string text() const;  //!< joined text blocks
};

}  // namespace tianshu::core
