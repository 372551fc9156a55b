#pragma once
// Model prices and the one cost formula: what a call costs, and what to reserve before it.
//
// Which canonical usage fields may be added up (core::Usage, as the decoders fill it):
//
//   input_tokens, cache_read_tokens, cache_write_tokens are DISJOINT: the prompt is their sum.
//     Anthropic reports them that way natively (input_tokens excludes cache reads and writes);
//     the OpenAI-compatible decoder (protocol/openai_upstream.cpp read_usage) subtracts
//     the cached count from prompt_tokens, which includes it.
//   reasoning_tokens is a SUBSET of output_tokens: OpenAI's completion_tokens include
//     completion_tokens_details.reasoning_tokens, and Anthropic's output_tokens include
//     thinking (Anthropic reports no separate count, so reasoning_tokens stays 0).
//
// cost() therefore charges input + cache_read + cache_write + (output - reasoning) + reasoning,
// each at its own price: every token once, never twice.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "hub/money.hpp"

namespace tianshu::hub {

//! What one model costs, in micros per million tokens of each kind, plus a fixed fee per call.
//! A zero cache_read, cache_write or reasoning price means "not set": those tokens are charged
//! at the base price (input for cache tokens, output for reasoning tokens), so a forgotten field
//! can overcharge a discount away but never give tokens away.
struct ModelPrice {
    Micros input_per_m = 0;
    Micros output_per_m = 0;
    Micros cache_read_per_m = 0;
    Micros cache_write_per_m = 0;
    Micros reasoning_per_m = 0;
    Micros per_call = 0;
};

//! One row of a price list: an exact model name or a glob pattern ('*', '?'), and its price.
struct PriceEntry {
    std::string model;
    ModelPrice price;
};

//! Prices by model, built once per configuration snapshot and read concurrently without locks.
//! An exact name wins over every pattern; among patterns the most specific (most literal
//! characters, core::glob_specificity) wins, and on a tie the earlier entry.
class PriceTable {
  public:
    PriceTable() = default;

    //! Validates and indexes `entries`: names must be non-empty and unique, prices non-negative.
    //! Errors name the entry's position and model.
    static core::Result<PriceTable> build(std::vector<PriceEntry> entries);

    //! The price for `model`, or null when no entry matches (the caller decides whether an
    //! unpriced model is free or refused). The pointer lives as long as the table.
    const ModelPrice* find(std::string_view model) const;

    size_t size() const { return exact_.size() + patterns_.size(); }

  private:
    //! Transparent hashing so find() looks up a string_view without building a std::string.
    struct NameHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    std::unordered_map<std::string, ModelPrice, NameHash, std::equal_to<>> exact_;
    std::vector<PriceEntry> patterns_;  //!< most specific first
};

//! The tier ratio that leaves prices unchanged: ratios are parts per million (1.5x = 1,500,000).
inline constexpr std::int64_t ratio_ppm_one = 1'000'000;

//! What a finished call costs: (per_call + sum(tokens_k * price_k) / 1e6) * ratio / 1e6, computed
//! exactly in 128 bits and rounded up once at the end, so no call is undercharged by truncation.
//! Negative token counts, prices and ratios count as zero; a result beyond the int64 range
//! saturates at its maximum. See the top of this file for which usage fields are disjoint.
Micros cost(const ModelPrice& price, const core::Usage& usage,
            std::int64_t tier_ratio_ppm = ratio_ppm_one);

//! The most a call can cost before its usage is known, to reserve against the quota: every
//! input token at the dearest prompt price (a prompt may be written to the cache), every
//! possible output token at the dearer of the output and reasoning prices, plus the per-call fee.
Micros estimate_reservation(const ModelPrice& price, std::int64_t estimated_input_tokens,
                            std::int64_t max_output_tokens,
                            std::int64_t tier_ratio_ppm = ratio_ppm_one);

}  // namespace tianshu::hub
