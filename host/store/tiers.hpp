#pragma once
// Membership tiers: which chains serve a user (by name) and the price multiplier they pay.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! One part per million: a price ratio of 1.0 is 1,000,000 ppm.
inline constexpr long long ppm_one = 1'000'000;

//! A stored tier. `price_ratio_ppm` multiplies the list price (1,000,000 = list price,
//! 800,000 = 20% off). `created_at` is in seconds, like every created_at of the store.
struct Tier {
    std::string name;
    long long price_ratio_ppm = ppm_one;
    std::string description;
    long long created_at = 0;
    //! The tier's clients get the x-tianshu-route and x-tianshu-decision response headers
    //! (an operator who resells may hide them; the request log always has the decision).
    bool route_header = true;
};

namespace tiers {

//! Stores a new tier; a taken name, an empty or over-long name or a negative ratio is an
//! invalid_request error naming the value.
core::Result<Tier> create(Database& db, const Tier& tier);
//! Every tier, by name.
core::Result<std::vector<Tier>> list(Database& db);
core::Result<std::optional<Tier>> find(Database& db, std::string_view name);
//! Changes a tier's price ratio; an unknown tier is a not_found error naming it.
core::Result<void> set_ratio(Database& db, std::string_view name, long long price_ratio_ppm);
//! Shows or hides the route headers from the tier's clients; an unknown tier is not_found.
core::Result<void> set_route_header(Database& db, std::string_view name, bool shown);
//! Removes a tier no user is in; refuses (invalid_request, with the count) while users use it.
core::Result<void> remove(Database& db, std::string_view name);

}  // namespace tiers

//! Throws StoreFailure(not_found naming the tier) unless `tier` exists; used inside the
//! transactions of users::create and users::set_tier.
void require_tier(soci::session& session, const std::string& tier);

}  // namespace tianshu::store
