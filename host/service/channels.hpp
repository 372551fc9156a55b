#pragma once
// Upstream channels and their keys: adding, editing (a rename re-seals every key for the new
// name, in the same transaction), enabling, removing, and the JSON shape the API gives them.

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/channels.hpp"

namespace tianshu::service::channels {

using Json = nlohmann::json;

//! The channel named `name`, or not_found naming it.
core::Result<store::Channel> named(store::Database& db, const std::string& name);

//! Refuses what the server could only leave out later: no model to serve, an unknown adapter
//! type or a config its schema rejects. Needs env.plugins.
core::Result<void> check(const Env& env, const store::Channel& channel,
                         const std::optional<std::string>& first_key);
//! The same check before any store is open (the CLI checks every flag before it opens one).
core::Result<void> check(const pipeline::PluginLookup& plugins, const store::Channel& channel,
                         const std::optional<std::string>& first_key);

//! Fills what `channel` leaves unset from provider preset `provider` (Env::presets): the type
//! (the preset's adapter), base URL, models (the preset's known models, when the channel names
//! neither models nor a mapping) and adapter options (the preset's, under the channel's own),
//! and records the provider in the channel's config, so that the preset's capability table
//! applies to it. An unknown provider, or a --type that is not the preset's adapter, is
//! refused naming the choices.
core::Result<void> apply_preset(const pipeline::PresetCatalog* presets, const std::string& provider,
                                store::Channel& channel);
//! providers.list: every preset, as GET /providers and `channel presets --json` show them.
Json presets_json(const pipeline::PresetCatalog* presets);

//! channels.create: a channel and its upstream keys (sealed for its name), in one transaction.
core::Result<store::Channel> create(const Env& env, store::Channel channel,
                                    const std::vector<std::string>& plain_keys);

struct Edit {
    store::ChannelChanges changes = {};
    std::vector<std::string> replace_keys = {};  //!< non-empty: these replace every key
    std::vector<std::string> add_keys = {};
    std::vector<long long> remove_key_ids = {};
};
//! Whether `edit` changes anything.
bool has_any(const Edit& edit);
//! channels.edit: fields, rename (re-sealing the keys that stay) and key changes, in one
//! transaction: a failure part way changes nothing.
core::Result<store::Channel> edit(const Env& env, const std::string& name, const Edit& edit);
//! channels.set_enabled
core::Result<store::Channel> set_enabled(const Env& env, const std::string& name, bool enabled);
//! channels.remove: the channel and its keys.
core::Result<void> remove(const Env& env, const std::string& name);
//! channels.add_key
core::Result<store::ChannelKey> add_key(const Env& env, const std::string& name,
                                        const std::string& plain_key);
//! channels.remove_key: a key of this channel; another channel's key is not_found.
core::Result<void> remove_key(const Env& env, const std::string& name, long long key_id);
//! channels.list
core::Result<std::vector<store::Channel>> list(const Env& env);

//! A proxy URL with its password replaced by "***".
std::string redacted_proxy(const std::string& proxy);
Json channel_key_json(const store::ChannelKey& key);
Json channel_json(const store::Channel& channel);

}  // namespace tianshu::service::channels
