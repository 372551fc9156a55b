#pragma once
// Money as integer micro-units: prices, costs, balances and quotas never touch floating point,
// so a ledger that adds a million small costs ends exactly where the sum of the rows says.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tianshu::hub {

//! An amount of money in micro-units: 1 unit (one dollar, one yuan…) = 1,000,000 micros.
using Micros = std::int64_t;

//! Micros in one unit.
inline constexpr Micros micros_per_unit = 1'000'000;

//! Whether a parsed amount may be negative: prices, quotas and top-ups may not; a manual
//! balance adjustment may.
enum class MoneySign { non_negative, any };

//! Parses a decimal amount written in units, such as "12.5", "0.000001" or "3": digits, then
//! optionally '.' and 1 to 6 more digits; a leading '-' only when `sign` is MoneySign::any. No
//! '+', spaces, exponents or thousands separators. Errors name `field`, the value and the
//! accepted form.
core::Result<Micros> parse_money(std::string_view text, MoneySign sign = MoneySign::non_negative,
                                 std::string_view field = "amount");

//! Formats micros as units with exactly six decimals ("12.500000", "-0.000001"): fixed width
//! reads well in ledgers and logs, and parse_money(format_money(x)) == x for every x.
std::string format_money(Micros amount);

}  // namespace tianshu::hub
