#pragma once
// API keys: only the SHA-256 of a key is stored (hub::api_key_hash), plus a short prefix
// so operators can tell keys apart.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! A stored API key (never the key itself). `revoked_at` is set once the key is revoked.
struct ApiKey {
    long long id = 0;
    long long user_id = 0;
    std::string name;
    std::string key_prefix;
    std::string key_hash;
    long long created_at = 0;
    std::optional<long long> revoked_at;
};

//! What authentication needs to know about a live key: the key and its owner.
struct KeyOwner {
    long long key_id = 0;
    std::string key_name;
    std::string key_prefix;
    long long user_id = 0;
    std::string user_name;
    std::string role;
    std::string tier;
};

namespace api_keys {

//! Stores a key for a user; an unknown user is a not_found error.
core::Result<ApiKey> create(Database& db, long long user_id, std::string_view name,
                            std::string_view key_prefix, std::string_view key_hash);
//! The live (not revoked) key with this hash, joined with its owner; nullopt when none.
core::Result<std::optional<KeyOwner>> find_by_hash(Database& db, std::string_view key_hash);
//! Every key (revoked ones included), or only one user's, by id.
core::Result<std::vector<ApiKey>> list(Database& db,
                                       std::optional<long long> user_id = std::nullopt);
//! Revokes a live key; an unknown or already revoked key is a not_found error.
core::Result<void> revoke(Database& db, long long key_id);

}  // namespace api_keys
}  // namespace tianshu::store
