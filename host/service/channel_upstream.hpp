#pragma once
// What a channel's upstream account says about itself: the models it lists (channels.models,
// channels.sync_models) and its balance (channels.balance), read over the one pooled HTTP
// client with the channel's first enabled key, its proxy and CA file. The CLI (`tianshu
// channel models`, `tianshu channel balance`) and the admin API (GET
// /channels/{name}/models, POST /channels/{name}/models/sync, GET /channels/{name}/balance)
// both go through here. A key is opened in memory for the one call and never appears in a
// result or an error (an upstream that echoes it back is cut).

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"

namespace tianshu::service::channels {

//! What the upstream lists next to what the channel serves.
struct ModelsReport {
    std::string channel;
    std::string url;                    //!< what was asked (no key in it)
    std::vector<std::string> upstream;  //!< the upstream's list, in its order
    std::vector<std::string> served;    //!< the channel's models (before a sync)
    std::vector<std::string> added;     //!< listed upstream, not served
    std::vector<std::string> gone;      //!< served, not listed upstream
    bool synced = false;                //!< the channel's models were set to `upstream`
};

//! channels.models: GET base_url + the preset's models_endpoint (default "/models"); the
//! answer must be {"data":[{"id":...}]} (OpenAI's and Anthropic's shape) or Gemini's
//! {"models":[{"name":"models/ID"}]}. Changes nothing.
core::Result<ModelsReport> models_of(const Env& env, const std::string& name);
//! channels.sync_models: models_of(), then sets the channel's models to the upstream's list
//! through channels.edit (one transaction, a new configuration revision). An empty list is
//! refused: the channel would serve nothing.
core::Result<ModelsReport> sync_models(const Env& env, const std::string& name);

//! One amount of the account's balance, as an exact decimal string ("110.00").
struct BalanceAmount {
    std::string currency;
    std::string amount;
};

struct BalanceReport {
    std::string channel;
    std::string provider;  //!< the channel's preset ("" when none)
    bool offered = false;  //!< the preset has a balance endpoint
    bool ok = false;
    std::vector<BalanceAmount> balances;
    std::optional<bool> available;  //!< what DeepSeek says of the account, when it says
    std::string error;              //!< names the channel and the fix; never a key
};

//! channels.balance for one channel: GET origin(base_url) + the preset's balance.path (the
//! path is on the base URL's origin, scheme://host:port), read in the preset's
//! balance.format. A channel without a preset or whose preset has no balance endpoint is
//! answered with offered = false, not an error; an upstream failure is in `error`. An unknown
//! channel is not_found.
core::Result<BalanceReport> balance_of(const Env& env, const std::string& name);
//! channels.balance for `names` (empty: every channel), in channel order.
core::Result<std::vector<BalanceReport>> balances(const Env& env,
                                                  const std::vector<std::string>& names);

//! Parses a balance answer `body` in `format` (deepseek, moonshot, siliconflow, openrouter).
//! Errors name the field that is missing or malformed.
core::Result<std::vector<BalanceAmount>> parse_balance(const std::string& format,
                                                       const nlohmann::json& body,
                                                       std::optional<bool>& available);

//! "scheme://host[:port]" of `url`; empty when it has none.
std::string origin_of(const std::string& url);

nlohmann::json models_report_json(const ModelsReport& r);
nlohmann::json balance_report_json(const BalanceReport& r);

}  // namespace tianshu::service::channels
