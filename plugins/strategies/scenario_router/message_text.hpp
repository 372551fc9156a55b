// Reading the text of Anthropic Messages content the way a router must: without the
// <system-reminder> blocks Claude Code mixes into user turns.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tianshu::scenario_router {

//! `text` without its <system-reminder>…</system-reminder> spans (an unclosed one runs to the end).
std::string without_reminders(std::string_view text);

//! True when `text` holds something besides whitespace and reminders.
bool is_genuine(std::string_view text);

//! The genuine text of a message's content (a string or a block list), blocks joined by "\n".
std::string genuine_text(const nlohmann::json& content);

//! True when the message is the user's own words: role user with genuine text.
bool is_genuine_user_message(const nlohmann::json& message);

}  // namespace tianshu::scenario_router
