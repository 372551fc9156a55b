#pragma once
// Structured logs: one JSON object per line on stderr. Never pass secrets or prompt text.

#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::core {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

using LogFields = std::vector<std::pair<std::string_view, nlohmann::json>>;

//! Writes {"ts":..., "level":..., "msg":..., fields...} as one line, atomically.
void log(LogLevel level, std::string_view message, const LogFields& fields = {});
void set_log_level(LogLevel minimum);
LogLevel log_level();
//! Tests capture lines instead of printing them; pass nullptr to restore stderr.
void set_log_sink(void (*sink)(std::string_view line));

}  // namespace tianshu::core
