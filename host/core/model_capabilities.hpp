#pragma once
// What a model can do, as far as the host knows: the fields of the capability table
// (docs/capabilities.md) and of a channel's capability options. Each field is optional: a
// field nobody set is unknown, and unknown is never guessed.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/request.hpp"

namespace tianshu::core {

//! One model's capabilities; unset = unknown.
struct ModelCapabilities {
    std::optional<int64_t> context_window;     //!< input + output tokens the model accepts
    std::optional<int64_t> max_output_tokens;  //!< the largest max_tokens it accepts
    std::optional<int64_t> max_tools;          //!< the most tool definitions it accepts
    std::optional<bool> tool_choice;           //!< honours tool_choice
    std::optional<bool> vision;                //!< accepts images
    std::optional<std::string> tool_calls;     //!< "native" | "text"
    std::optional<std::string>
        thinking;  //!< "none" | "anthropic" | "reasoning_content" | "think_tags"

    bool empty() const;
    //! Every field `over` sets replaces this one's.
    void overlay(const ModelCapabilities& over);
    //! The known fields as a JSON object (the ABI's model_capabilities answer).
    Json to_json() const;
};

//! True when `key` names a capability field (the keys of ModelCapabilities).
bool is_capability_field(std::string_view key);

//! Reads one capability field into `out`. The error names `path` (e.g. "/models/glm-4.6/vision"
//! or "options.vision"), the value and the fix. Precondition: is_capability_field(key).
Result<void> read_capability_field(ModelCapabilities& out, std::string_view key, const Json& value,
                                   std::string_view path);

}  // namespace tianshu::core
