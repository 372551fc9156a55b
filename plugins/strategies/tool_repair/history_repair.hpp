// The request side of tool_repair: a conversation history that strict providers accept.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace tianshu::tool_repair {

//! Gives every assistant tool_use block without a tool_result in the following user message a
//! placeholder result (is_error, `placeholder` as its text), placed with the results at the
//! front of that message (a user message is inserted when the next message is not the user's).
//! A tool_use in the last message is left alone: the answer to it is still to come.
//! `messages` is the request's "messages" array (Anthropic shape), changed in place. Returns
//! how many placeholders were added.
size_t add_missing_tool_results(nlohmann::json& messages, const std::string& placeholder);

}  // namespace tianshu::tool_repair
