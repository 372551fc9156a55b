#pragma once
// Chains: JSON pipeline definitions, versioned. Saving appends a version; nothing is overwritten.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! One saved version of a chain: its JSON text as it was saved.
struct ChainVersion {
    std::string chain_id;
    int version = 0;
    std::string body;
    long long created_at = 0;
};

namespace chains {

//! Appends a version of `chain_id` (1 for a new chain) and returns its number.
core::Result<int> save(Database& db, std::string_view chain_id, std::string_view body);
//! save() inside the caller's transaction, which has bumped the configuration revision.
int save(soci::session& s, std::string_view chain_id, std::string_view body);
//! The newest version of a chain, or nullopt when it was never saved.
core::Result<std::optional<ChainVersion>> latest(Database& db, std::string_view chain_id);
//! latest() inside the caller's transaction.
std::optional<ChainVersion> latest(soci::session& s, std::string_view chain_id);
//! The newest version of every chain, by chain_id.
core::Result<std::vector<ChainVersion>> list_latest(Database& db);
//! Every version of one chain, oldest first.
core::Result<std::vector<ChainVersion>> versions(Database& db, std::string_view chain_id);

}  // namespace chains
}  // namespace tianshu::store
