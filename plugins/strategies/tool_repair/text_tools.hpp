// Tools for a model without native tool calling (capability "tool_calls": "text"): described in
// the system prompt in the Hermes format, and the history's tool blocks written as that text, so
// the model calls tools as text and the TextCallRecognizer reads the calls back.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace tianshu::tool_repair {

//! The system-prompt section describing `tools` (the request's "tools", Anthropic shape) and how
//! to call them: one <tool_call>{"name": …, "arguments": {…}}</tool_call> block per call, on
//! lines of its own; results come back in <tool_response> blocks.
std::string tools_prompt(const nlohmann::json& tools);

//! Rewrites `messages` (Anthropic shape) for such a model: each tool_use block becomes a text
//! block with its <tool_call>, each tool_result a text block with a <tool_response> naming the
//! call. Returns how many blocks were rewritten.
size_t history_as_text(nlohmann::json& messages);

}  // namespace tianshu::tool_repair
