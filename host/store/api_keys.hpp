#pragma once
// API keys: only the SHA-256 of a key is stored (hub::api_key_hash), plus a short prefix
// so operators can tell keys apart, and the limits the gateway enforces for the key.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! What a key may do. Money is in micro-units; an unset optional means "no limit".
struct KeyLimits {
    std::optional<long long> quota_limit;  //!< micros the key may spend in total
    std::optional<long long> expires_at;   //!< seconds since the epoch, like revoked_at
    std::vector<std::string> ip_allow;     //!< CIDRs ("10.0.0.0/8", "::1"); empty = any address
    std::vector<std::string> ip_deny;      //!< CIDRs refused even when allowed
    std::vector<std::string> models;       //!< model names or globs; empty = every model
    std::optional<int> rpm;                //!< requests per minute
    std::optional<int> tpm;                //!< tokens per minute

    bool operator==(const KeyLimits&) const = default;
};

//! A stored API key (never the key itself). `revoked_at` is set once the key is revoked.
struct ApiKey {
    long long id = 0;
    long long user_id = 0;
    std::string name;
    std::string key_prefix;
    std::string key_hash;
    long long created_at = 0;
    std::optional<long long> revoked_at;
    KeyLimits limits;
    long long quota_used = 0;  //!< micros charged to this key so far (request_logs::record_usage)
};

//! What authentication needs to know about a live key: the key, its limits and its owner.
//! The gateway caches these in memory; the owner's fields are as of the read.
struct KeyOwner {
    long long key_id = 0;
    std::string key_name;
    std::string key_prefix;
    long long user_id = 0;
    std::string user_name;
    std::string role;
    std::string tier;
    std::string key_hash;
    KeyLimits limits;
    long long quota_used = 0;
    long long balance = 0;                 //!< the owner's balance in micros
    long long tier_ratio_ppm = 1'000'000;  //!< the owner's tier price ratio
    bool user_enabled = true;
};

namespace api_keys {

//! Stores a key for a user; an unknown user is a not_found error.
core::Result<ApiKey> create(Database& db, long long user_id, std::string_view name,
                            std::string_view key_prefix, std::string_view key_hash);
//! create() inside the caller's transaction, which has bumped the configuration revision; the
//! values are already validated. Throws StoreFailure for an unknown user or a stored hash.
ApiKey create(soci::session& s, long long user_id, std::string_view name,
              std::string_view key_prefix, std::string_view key_hash);
//! The live (not revoked) key with this hash, joined with its owner; nullopt when none.
//! An expired key or a disabled owner is still returned: the caller says why it refuses.
core::Result<std::optional<KeyOwner>> find_by_hash(Database& db, std::string_view key_hash);
//! Every live (not revoked) key with its owner and limits, by key id: what the gateway's
//! in-memory key cache is built from. Expired keys and disabled owners are included.
core::Result<std::vector<KeyOwner>> list_live(Database& db);
//! The key with this id (revoked or not), or nullopt.
core::Result<std::optional<ApiKey>> find(Database& db, long long key_id);
//! Every key (revoked ones included), or only one user's, by id.
core::Result<std::vector<ApiKey>> list(Database& db,
                                       std::optional<long long> user_id = std::nullopt);
//! Replaces a key's limits; an unknown key is not_found, a malformed CIDR or a negative
//! number an invalid_request error naming it.
core::Result<void> update_limits(Database& db, long long key_id, const KeyLimits& limits);
//! update_limits() inside the caller's transaction, which has bumped the configuration
//! revision. Throws StoreFailure for an unknown key or limits validate_limits refuses.
void update_limits(soci::session& s, long long key_id, const KeyLimits& limits);
//! Revokes a live key; an unknown or already revoked key is a not_found error.
core::Result<void> revoke(Database& db, long long key_id);

}  // namespace api_keys

//! Checks a CIDR ("192.168.0.0/16", "10.1.2.3", "2001:db8::/32"): the error names it.
core::Result<void> validate_cidr(std::string_view cidr);

}  // namespace tianshu::store
