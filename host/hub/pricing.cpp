#include "hub/pricing.hpp"

#include <algorithm>
#include <limits>

#include "core/glob.hpp"

namespace tianshu::hub {

namespace {

using Wide = __int128;

constexpr Micros micros_max = std::numeric_limits<Micros>::max();
constexpr Wide per_million = 1'000'000;

//! A running 128-bit sum that remembers whether it ever overflowed, so that absurd inputs
//! saturate instead of wrapping into a small (or negative) charge.
struct SaturatingSum {
    Wide value = 0;
    bool overflowed = false;

    void add_product(std::int64_t a, std::int64_t b) {
        Wide product = 0;
        if (__builtin_mul_overflow(static_cast<Wide>(std::max<std::int64_t>(a, 0)),
                                   static_cast<Wide>(std::max<std::int64_t>(b, 0)), &product) ||
            __builtin_add_overflow(value, product, &value))
            overflowed = true;
    }
};

Micros or_base(Micros price, Micros base) {
    return price > 0 ? price : base;
}

//! ceil(sum * ratio / 1e12) clamped to [0, int64 max]: the one rounding of every charge.
Micros finish(SaturatingSum sum, std::int64_t ratio_ppm) {
    if (sum.overflowed) return micros_max;
    Wide scaled = 0;
    if (__builtin_mul_overflow(sum.value, static_cast<Wide>(std::max<std::int64_t>(ratio_ppm, 0)),
                               &scaled))
        return micros_max;
    constexpr Wide divisor = per_million * per_million;
    const Wide rounded_up = scaled / divisor + (scaled % divisor != 0 ? 1 : 0);
    return rounded_up > micros_max ? micros_max : static_cast<Micros>(rounded_up);
}

}  // namespace

core::Result<PriceTable> PriceTable::build(std::vector<PriceEntry> entries) {
    PriceTable table;
    struct Ranked {
        int specificity;
        size_t position;
    };
    std::vector<Ranked> ranks;
    for (size_t i = 0; i < entries.size(); ++i) {
        auto& e = entries[i];
        const std::string where = "price entry #" + std::to_string(i + 1);
        if (e.model.empty())
            return core::Error::invalid(where +
                                        " has an empty model: write a model name or a pattern "
                                        "such as 'deepseek-*'");
        const ModelPrice& p = e.price;
        for (Micros v : {p.input_per_m, p.output_per_m, p.cache_read_per_m, p.cache_write_per_m,
                         p.reasoning_per_m, p.per_call})
            if (v < 0)
                return core::Error::invalid(where + " ('" + e.model + "') has a negative price " +
                                            format_money(v) + ": prices must be 0 or more");
        const bool pattern = e.model.find_first_of("*?") != std::string::npos;
        const bool duplicate =
            pattern ? std::any_of(table.patterns_.begin(), table.patterns_.end(),
                                  [&](const PriceEntry& q) { return q.model == e.model; })
                    : table.exact_.count(e.model) != 0;
        if (duplicate)
            return core::Error::invalid(where + " repeats model '" + e.model +
                                        "': keep one price per model or pattern");
        if (pattern) {
            ranks.push_back({core::glob_specificity(e.model), table.patterns_.size()});
            table.patterns_.push_back(std::move(e));
        } else {
            table.exact_.emplace(std::move(e.model), e.price);
        }
    }
    std::stable_sort(ranks.begin(), ranks.end(), [](const Ranked& a, const Ranked& b) {
        return a.specificity > b.specificity;
    });
    std::vector<PriceEntry> ordered;
    ordered.reserve(ranks.size());
    for (const auto& r : ranks) ordered.push_back(std::move(table.patterns_[r.position]));
    table.patterns_ = std::move(ordered);
    return table;
}

const ModelPrice* PriceTable::find(std::string_view model) const {
    if (auto it = exact_.find(model); it != exact_.end()) return &it->second;
    for (const auto& p : patterns_)
        if (core::glob_match(p.model, model)) return &p.price;
    return nullptr;
}

Micros cost(const ModelPrice& price, const core::Usage& usage, std::int64_t tier_ratio_ppm) {
    const std::int64_t output = std::max<std::int64_t>(usage.output_tokens, 0);
    // Reasoning tokens are part of the output count: split, never add.
    const std::int64_t reasoning = std::clamp<std::int64_t>(usage.reasoning_tokens, 0, output);
    SaturatingSum sum;
    sum.add_product(price.per_call, static_cast<std::int64_t>(per_million));
    sum.add_product(usage.input_tokens, price.input_per_m);
    sum.add_product(usage.cache_read_tokens, or_base(price.cache_read_per_m, price.input_per_m));
    sum.add_product(usage.cache_write_tokens, or_base(price.cache_write_per_m, price.input_per_m));
    sum.add_product(output - reasoning, price.output_per_m);
    sum.add_product(reasoning, or_base(price.reasoning_per_m, price.output_per_m));
    return finish(sum, tier_ratio_ppm);
}

Micros estimate_reservation(const ModelPrice& price, std::int64_t estimated_input_tokens,
                            std::int64_t max_output_tokens, std::int64_t tier_ratio_ppm) {
    const Micros prompt_price =
        std::max({price.input_per_m, or_base(price.cache_read_per_m, price.input_per_m),
                  or_base(price.cache_write_per_m, price.input_per_m)});
    const Micros output_price =
        std::max(price.output_per_m, or_base(price.reasoning_per_m, price.output_per_m));
    SaturatingSum sum;
    sum.add_product(price.per_call, static_cast<std::int64_t>(per_million));
    sum.add_product(estimated_input_tokens, prompt_price);
    sum.add_product(max_output_tokens, output_price);
    return finish(sum, tier_ratio_ppm);
}

}  // namespace tianshu::hub
