#pragma once
// Users' API keys: creating one (with its limits, in one transaction), changing its limits,
// revoking it, and the one JSON shape the API gives a key.

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/api_keys.hpp"
#include "store/users.hpp"

namespace tianshu::service::keys {

using Json = nlohmann::json;

//! A new key; `secret` is shown once and stored only as a hash.
struct CreatedKey {
    store::ApiKey key;
    std::string secret;
};

//! keys.create: a key for `owner` with `limits`, both written in one transaction (a key never
//! exists without the limits asked for).
core::Result<CreatedKey> create(const Env& env, const store::User& owner, const std::string& name,
                                const store::KeyLimits& limits);
//! keys.set_limits: replaces a live key's limits.
core::Result<store::ApiKey> set_limits(const Env& env, const store::ApiKey& key,
                                       const store::User& owner, const store::KeyLimits& limits);
//! keys.revoke: a running server refuses the key within its refresh interval.
core::Result<void> revoke(const Env& env, const store::ApiKey& key, const store::User& owner);
//! keys.list: every key, or one user's.
core::Result<std::vector<store::ApiKey>> list(const Env& env, std::optional<long long> user_id);
//! The key with this id and its owner, or not_found naming the id.
core::Result<std::pair<store::ApiKey, store::User>> with_owner(const Env& env, long long key_id);
//! keys.create_own: the acting user makes a key of their own.
core::Result<CreatedKey> create_own(const Env& env, const std::string& name,
                                    const store::KeyLimits& limits);
//! keys.list_own: the acting user's keys, revoked ones included.
core::Result<std::vector<store::ApiKey>> list_own(const Env& env);
//! keys.revoke_own: the acting user revokes one of their own keys; another's is not_found.
core::Result<void> revoke_own(const Env& env, long long key_id);

//! The key as the API shows it: never the key, nor its hash; the prefix tells keys apart.
Json key_json(const store::ApiKey& key, const std::string& user_name);

}  // namespace tianshu::service::keys
