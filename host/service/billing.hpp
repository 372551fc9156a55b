#pragma once
// What requests cost: tiers (a price ratio per group of users), model prices, redemption
// codes, the ledger and the invite rebate setting.

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/ledger.hpp"
#include "store/prices.hpp"
#include "store/redemption_codes.hpp"
#include "store/tiers.hpp"
#include "store/users.hpp"

namespace tianshu::service {

using Json = nlohmann::json;

namespace tiers {
//! The tier named `name`, or not_found naming it.
core::Result<store::Tier> named(store::Database& db, const std::string& name);
//! tiers.create
core::Result<store::Tier> create(const Env& env, const store::Tier& tier);
//! tiers.set_ratio
core::Result<store::Tier> set_ratio(const Env& env, const std::string& name, long long ratio_ppm);
//! tiers.set_route_header
core::Result<store::Tier> set_route_header(const Env& env, const std::string& name, bool shown);
//! tiers.remove: never "default", the tier new users start in.
core::Result<void> remove(const Env& env, const std::string& name);
//! tiers.list
core::Result<std::vector<store::Tier>> list(const Env& env);
Json tier_json(const store::Tier& tier);
}  // namespace tiers

namespace prices {
//! The price fields a change may set; unset ones keep their value (or 0 for a new model).
struct Change {
    std::optional<long long> input_per_m = {}, output_per_m = {}, cache_read_per_m = {},
                             cache_write_per_m = {}, reasoning_per_m = {}, per_call = {};
};
//! prices.set: with `replace` the whole price (unset fields become 0), else only the fields
//! given; read and write in one transaction.
core::Result<store::Price> set(const Env& env, const std::string& model, const Change& change,
                               bool replace);
//! prices.remove
core::Result<void> remove(const Env& env, const std::string& model);
//! prices.list
core::Result<std::vector<store::Price>> list(const Env& env);
Json price_json(const store::Price& price);
}  // namespace prices

namespace redemption {
//! What a code looks like: "TSR-" and 24 base62 characters (~143 bits).
std::string new_code();
struct Batch {
    std::string batch;
    long long amount = 0;
    std::vector<std::string> codes;  //!< shown once; only their hashes are stored
};
//! Told how many codes are made so far (of `total`), then once more (made == total) before
//! they are stored.
using Progress = std::function<void(long long made, long long total)>;
//! redemption.generate: `count` codes worth `amount` each, stored in one transaction.
core::Result<Batch> generate(const Env& env, const std::string& batch, long long amount,
                             long long count, const Progress& progress = {});
//! redemption.redeem: credits `user` once; a used code says by whom and when.
core::Result<store::Redemption> redeem(const Env& env, const store::User& user,
                                       const std::string& code);
//! redemption.redeem_own: the acting user redeems a code for themselves.
core::Result<store::Redemption> redeem_own(const Env& env, const std::string& code);
Json batch_json(const store::RedemptionBatch& batch);
Json code_json(const store::RedemptionCode& code);
}  // namespace redemption

namespace ledger {
//! ledger.list: the newest `limit` entries of a user before entry `before_id`.
core::Result<std::vector<store::LedgerEntry>> list(const Env& env, long long user_id, int limit,
                                                   std::optional<long long> before_id);
//! ledger.list_own: the acting user's entries.
core::Result<std::vector<store::LedgerEntry>> list_own(const Env& env, int limit,
                                                       std::optional<long long> before_id);
//! The invite rebate share: the setting, else env.invite_rebate_ppm.
core::Result<long long> invite_rebate_ppm(const Env& env);
//! ledger.set_invite_rebate
core::Result<void> set_invite_rebate(const Env& env, long long ppm);
Json entry_json(const store::LedgerEntry& entry);
}  // namespace ledger

}  // namespace tianshu::service
