#pragma once
// The request log as the front ends show it.

#include <string>

#include <nlohmann/json.hpp>

#include "store/request_logs.hpp"

namespace tianshu::service::logs {

//! One request log row: ids, the model asked for and the one that answered, tokens, cost (as
//! money and in micros), timings, outcome and the route decision. Never the prompt.
nlohmann::json log_json(const store::RequestLog& row, const std::string& user_name);
//! Totals over a window: requests, spend (as money and in micros), active users, tokens.
nlohmann::json totals_json(const store::UsageTotals& totals);

}  // namespace tianshu::service::logs
