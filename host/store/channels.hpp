#pragma once
// Channels: the upstream endpoints requests are sent to, and their upstream keys.

#include "core/error.hpp"
#include "store/database.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! One upstream key of a channel, sealed (hub::SecretBox, bound to the channel's name).
//! A key the balancer took out of rotation has enabled = false and says why.
struct ChannelKey {
    long long id = 0;
    long long channel_id = 0;
    std::string sealed_key;
    bool enabled = true;
    std::string disabled_reason;
    std::optional<long long> disabled_at;  //!< seconds
    long long created_at = 0;              //!< seconds
};

//! A stored upstream channel. `type` names the adapter plugin; `models` is a JSON array of
//! model names, `model_map` a JSON object (requested model -> upstream model), `config` the
//! adapter's JSON config. Higher `priority` is tried first; `weight` (>= 1) shares traffic
//! within one priority; `timeout_ms` 0 is the adapter's default; times are in seconds.
//!
//! Compatibility: callers written before channel_keys read the one upstream key from
//! config["api_key"]. Reads fill it with the first enabled key's sealed text when config has
//! none, and writes move a config["api_key"] into `keys`; new code should use `keys`.
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
    int priority = 0;
    int weight = 1;
    std::string proxy;  //!< http(s) proxy URL, empty for none
    int timeout_ms = 0;
    std::vector<std::string> tags;
    long long updated_at = 0;
    std::vector<ChannelKey> keys;  //!< by id; on create, only sealed_key and enabled are read

    //! The provider preset the channel was added from (its config's "provider"; a host field
    //! the adapter never sees), or "".
    std::string provider() const {
        auto it = config.is_object() ? config.find("provider") : config.end();
        return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
    }
};

//! The fields of a channel to change; unset ones keep their value. Setting `name` renames
//! the channel. Note that keys are sealed bound to the channel's name: a caller renaming a
//! channel with keys must re-seal them (remove_key + add_key) for the new name.
struct ChannelChanges {
    std::optional<std::string> name;
    std::optional<std::string> type;
    std::optional<std::string> base_url;
    std::optional<nlohmann::json> models;
    std::optional<nlohmann::json> model_map;
    std::optional<nlohmann::json> config;
    std::optional<bool> enabled;
    std::optional<int> priority;
    std::optional<int> weight;
    std::optional<std::string> proxy;
    std::optional<int> timeout_ms;
    std::optional<std::vector<std::string>> tags;
};

namespace channels {

//! Stores a new channel with its keys (its id and times are ignored); a taken name or a
//! field of the wrong shape is an invalid_request error naming it.
core::Result<Channel> create(Database& db, const Channel& channel);
//! create() inside the caller's transaction, which has bumped the configuration revision; the
//! channel is already validated. Throws StoreFailure for a taken name.
Channel create(soci::session& s, const Channel& channel);
//! Every channel with its keys, by id.
core::Result<std::vector<Channel>> list(Database& db);
core::Result<std::optional<Channel>> find_by_name(Database& db, std::string_view name);
//! find_by_name() inside the caller's transaction.
std::optional<Channel> find_by_name(soci::session& s, std::string_view name);
//! Applies `changes` to the channel named `name` and returns it as stored; an unknown name is
//! not_found, a taken new name or a bad field invalid_request.
core::Result<Channel> update(Database& db, std::string_view name, const ChannelChanges& changes);
//! update() inside the caller's transaction, which has bumped the configuration revision.
Channel update(soci::session& s, std::string_view name, const ChannelChanges& changes);
//! Removes a channel and its keys; an unknown name is a not_found error.
core::Result<void> remove(Database& db, std::string_view name);
//! Enables or disables a channel by name; an unknown name is a not_found error.
core::Result<void> set_enabled(Database& db, std::string_view name, bool enabled);

//! Adds a sealed upstream key to the channel named `channel`.
core::Result<ChannelKey> add_key(Database& db, std::string_view channel,
                                 std::string_view sealed_key);
//! add_key() inside the caller's transaction (which has bumped the configuration revision).
ChannelKey add_key(soci::session& s, std::string_view channel, std::string_view sealed_key);
//! Removes one key by id; an unknown id is a not_found error.
core::Result<void> remove_key(Database& db, long long key_id);
//! remove_key() inside the caller's transaction (which has bumped the configuration revision).
void remove_key(soci::session& s, long long key_id);
//! Puts a key back in rotation, or takes it out saying why ("401 from upstream").
core::Result<void> set_key_enabled(Database& db, long long key_id, bool enabled,
                                   std::string_view reason = {});
//! set_key_enabled() inside the caller's transaction.
void set_key_enabled(soci::session& s, long long key_id, bool enabled,
                     std::string_view reason = {});

//! Applies the fields set in `changes` to `channel` (what update() does to the row), for
//! callers that validate the result before storing it.
void apply(const ChannelChanges& changes, Channel& channel);

}  // namespace channels
}  // namespace tianshu::store
