// Scenes for main turns: the prompt the small routing model gets and the reading of its answer.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "route_config.hpp"

namespace tianshu::scenario_router {

//! The single user prompt for call_model: the scenes by name and description, then the user's
//! newest genuine request (cut to max_request_chars on a UTF-8 boundary).
std::string scene_prompt(const SceneConfig& config, std::string_view newest_request);

//! The scene the answer names: an exact name (trimmed, quotes and a final period removed),
//! else the longest scene name the answer contains. nullopt when it names none.
std::optional<size_t> parse_scene_answer(const SceneConfig& config, std::string_view answer);

}  // namespace tianshu::scenario_router
