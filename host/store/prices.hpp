#pragma once
// Model prices: what one million tokens of each kind, or one call, costs at list price.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! The list price of a model, in micro-units (1 unit = 1,000,000 micros) per million tokens
//! of each kind, plus a fixed price per call. `model` is an exact model name or a glob
//! ("deepseek-*"); which entry applies to a model is the pricing code's choice.
struct Price {
    std::string model;
    long long input_per_m = 0;
    long long output_per_m = 0;
    long long cache_read_per_m = 0;
    long long cache_write_per_m = 0;
    long long reasoning_per_m = 0;
    long long per_call = 0;
    long long updated_at = 0;  //!< seconds

    bool operator==(const Price&) const = default;
};

namespace prices {

//! Creates or replaces the price of `price.model` (updated_at is set here); an empty model
//! or a negative amount is an invalid_request error naming it.
core::Result<Price> upsert(Database& db, const Price& price);
//! upsert() inside the caller's transaction (which has bumped the configuration revision).
Price upsert(soci::session& s, const Price& price);
//! The price of exactly `model` (a pattern is its own key), inside the caller's transaction.
std::optional<Price> find(soci::session& s, std::string_view model);
//! Every price, by model.
core::Result<std::vector<Price>> list(Database& db);
//! Removes one price; an unknown model is a not_found error.
core::Result<void> remove(Database& db, std::string_view model);

}  // namespace prices
}  // namespace tianshu::store
