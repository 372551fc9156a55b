#include "hub/money.hpp"

#include <limits>

namespace tianshu::hub {

namespace {

constexpr int max_decimals = 6;

core::Error money_error(std::string_view field, std::string_view text, std::string_view why) {
    std::string m;
    m.reserve(160);
    m += field;
    m += " '";
    m += text;
    m += "' ";
    m += why;
    m += "; write a decimal amount with at most 6 decimals, e.g. '12.5' or '0.000001'";
    return core::Error::invalid(std::move(m));
}

}  // namespace

core::Result<Micros> parse_money(std::string_view text, MoneySign sign, std::string_view field) {
    if (text.empty()) return money_error(field, text, "is empty");
    std::string_view digits = text;
    bool negative = false;
    if (digits.front() == '-') {
        if (sign != MoneySign::any) return money_error(field, text, "may not be negative");
        negative = true;
        digits.remove_prefix(1);
    } else if (digits.front() == '+') {
        return money_error(field, text, "has a '+' sign, which is not accepted");
    }
    const size_t dot = digits.find('.');
    const std::string_view whole = digits.substr(0, dot);
    const std::string_view fraction =
        dot == std::string_view::npos ? std::string_view{} : digits.substr(dot + 1);
    if (whole.empty()) return money_error(field, text, "has no digits before the decimal point");
    if (dot != std::string_view::npos && fraction.empty())
        return money_error(field, text, "has no digits after the decimal point");
    if (fraction.size() > max_decimals)
        return money_error(field, text, "has more than 6 decimals (the smallest unit is 0.000001)");

    // Accumulate in 128 bits so that overflow is detected once, at the end, without UB.
    constexpr __int128 limit = static_cast<__int128>(std::numeric_limits<Micros>::max()) + 1;
    __int128 value = 0;
    for (char c : whole) {
        if (c < '0' || c > '9') return money_error(field, text, "is not a decimal number");
        value = value * 10 + (c - '0');
        if (value > limit) return money_error(field, text, "is too large");
    }
    for (char c : fraction)
        if (c < '0' || c > '9') return money_error(field, text, "is not a decimal number");
    value *= micros_per_unit;
    __int128 scale = micros_per_unit;
    for (char c : fraction) {
        scale /= 10;
        value += (c - '0') * scale;
    }
    // -2^63 is representable, +2^63 is not.
    if (value > limit || (!negative && value == limit))
        return money_error(field, text, "is too large");
    return static_cast<Micros>(negative ? -value : value);
}

std::string format_money(Micros amount) {
    // The magnitude in unsigned arithmetic: -INT64_MIN does not fit in int64.
    const bool negative = amount < 0;
    const std::uint64_t magnitude =
        negative ? 0 - static_cast<std::uint64_t>(amount) : static_cast<std::uint64_t>(amount);
    std::string out = std::to_string(magnitude / micros_per_unit);
    std::string fraction = std::to_string(magnitude % micros_per_unit);
    if (negative) out.insert(out.begin(), '-');
    out += '.';
    out.append(max_decimals - fraction.size(), '0');
    out += fraction;
    return out;
}

}  // namespace tianshu::hub
