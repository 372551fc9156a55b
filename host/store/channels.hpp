#pragma once
// Channels: the upstream endpoints requests are sent to.

#include "core/error.hpp"
#include "store/database.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! A stored upstream channel. `type` names the adapter plugin; `models` is a JSON array of
//! model names, `model_map` a JSON object (requested model -> upstream model), `config` the
//! adapter's JSON config.
struct Channel {
    long long id = 0;
    std::string name;
    std::string type;
    std::string base_url;
    nlohmann::json models = nlohmann::json::array();
    nlohmann::json model_map = nlohmann::json::object();
    nlohmann::json config = nlohmann::json::object();
    bool enabled = true;
    long long created_at = 0;
};

namespace channels {

//! Stores a new channel (its id and created_at are ignored); a taken name or JSON of the
//! wrong shape is an invalid_request error.
core::Result<Channel> create(Database& db, const Channel& channel);
//! Every channel, by id.
core::Result<std::vector<Channel>> list(Database& db);
core::Result<std::optional<Channel>> find_by_name(Database& db, std::string_view name);
//! Enables or disables a channel by name; an unknown name is a not_found error.
core::Result<void> set_enabled(Database& db, std::string_view name, bool enabled);

}  // namespace channels
}  // namespace tianshu::store
