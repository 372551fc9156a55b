#include "hub/pricing.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace tianshu::hub;
using tianshu::core::Usage;

namespace {

constexpr Micros unit = micros_per_unit;

//! Prices in units per million tokens, like a provider's price page.
ModelPrice price(double in, double out, double cache_read = 0, double cache_write = 0,
                 double reasoning = 0, double per_call = 0) {
    auto m = [](double v) { return static_cast<Micros>(v * unit + 0.5); };
    return ModelPrice{m(in), m(out), m(cache_read), m(cache_write), m(reasoning), m(per_call)};
}

Usage usage(std::int64_t in, std::int64_t out, std::int64_t cache_read = 0,
            std::int64_t cache_write = 0, std::int64_t reasoning = 0) {
    Usage u;
    u.input_tokens = in;
    u.output_tokens = out;
    u.cache_read_tokens = cache_read;
    u.cache_write_tokens = cache_write;
    u.reasoning_tokens = reasoning;
    return u;
}

}  // namespace

TEST_CASE("cost charges each token kind at its own price") {
    // 2 per M input, 8 per M output: 1M in + 0.5M out = 2 + 4 = 6 units.
    CHECK(cost(price(2, 8), usage(1'000'000, 500'000)) == 6 * unit);
    // Cache reads at 0.5/M and writes at 2.5/M, disjoint from input.
    const ModelPrice p = price(2, 8, 0.5, 2.5);
    CHECK(cost(p, usage(1'000'000, 0, 2'000'000, 400'000)) == 2 * unit + 1 * unit + 1 * unit);
    // A fixed fee per call is added before the ratio.
    CHECK(cost(price(0, 0, 0, 0, 0, 0.01), usage(0, 0)) == 10'000);
}

TEST_CASE(
    "cost never charges a token twice: cache tokens are apart from input, reasoning "
    "tokens are inside output") {
    const ModelPrice p = price(1, 4, 0.25, 1.25, 6);
    // 100k plain input, 300k cache read, 50k cache write, 200k output of which 150k reasoning.
    const Usage u = usage(100'000, 200'000, 300'000, 50'000, 150'000);
    const Micros expected = 100'000 * p.input_per_m / unit + 300'000 * p.cache_read_per_m / unit +
                            50'000 * p.cache_write_per_m / unit +
                            (200'000 - 150'000) * p.output_per_m / unit +
                            150'000 * p.reasoning_per_m / unit;
    CHECK(cost(p, u) == expected);
    // Reasoning tokens beyond the output count are a decoder error, not more tokens to charge.
    CHECK(cost(p, usage(0, 1000, 0, 0, 5000)) == cost(p, usage(0, 0, 0, 0, 0)) + 1000 * 6);
}

TEST_CASE("unset cache and reasoning prices fall back to the base price, never to free") {
    const ModelPrice p = price(3, 15);
    CHECK(cost(p, usage(0, 0, 1'000'000, 0)) == 3 * unit);
    CHECK(cost(p, usage(0, 0, 0, 1'000'000)) == 3 * unit);
    CHECK(cost(p, usage(0, 1'000'000, 0, 0, 1'000'000)) == 15 * unit);
}

TEST_CASE("cost applies the tier ratio and rounds up once, at the end") {
    const ModelPrice p = price(1, 0);  // 1 micro per input token
    CHECK(cost(p, usage(1000, 0), 1'500'000) == 1500);
    CHECK(cost(p, usage(1000, 0), 0) == 0);
    // 1 token at 1 micro/token * 0.5 = 0.5 micro: rounds up to 1, not down to 0.
    CHECK(cost(p, usage(1, 0), 500'000) == 1);
    // 0.3 micro per token (0.3/M): three tokens cost 0.9 micro -> 1; ten tokens exactly 3.
    const ModelPrice cheap{300'000, 0, 0, 0, 0, 0};
    CHECK(cost(cheap, usage(3, 0)) == 1);
    CHECK(cost(cheap, usage(10, 0)) == 3);
    // One rounding for the whole call: rounding each part would give 1 + 1 = 2 here.
    CHECK(cost(cheap, usage(1, 2)) == 1);  // 0.3 input + 0 output
    const ModelPrice split{300'000, 300'000, 0, 0, 0, 0};
    CHECK(cost(split, usage(1, 1)) == 1);  // 0.3 + 0.3 = 0.6 micro -> 1, not 2
}

TEST_CASE("cost treats negative inputs as zero and saturates absurd ones") {
    const ModelPrice p = price(2, 8);
    CHECK(cost(p, usage(-5, -7, -1, -1, -1)) == 0);
    CHECK(cost(p, usage(1'000'000, 0), -1'000'000) == 0);
    const Micros max = std::numeric_limits<Micros>::max();
    const std::int64_t huge = std::numeric_limits<std::int64_t>::max();
    const ModelPrice dear{max, max, max, max, max, max};
    CHECK(cost(dear, usage(huge, huge, huge, huge, huge / 2), huge) == max);
    CHECK(cost(p, usage(huge, 0), ratio_ppm_one) == max);
}

TEST_CASE("a reservation covers the worst case of the call") {
    const ModelPrice p = price(1, 4, 0.25, 1.25, 6, 0.001);
    const Micros reserved = estimate_reservation(p, 10'000, 2'000, 2'000'000);
    // Every way the call can really turn out costs no more than the reservation.
    for (const Usage& u :
         {usage(10'000, 2'000), usage(0, 2'000, 0, 10'000), usage(0, 2'000, 10'000, 0),
          usage(10'000, 2'000, 0, 0, 2'000), usage(5'000, 2'000, 2'500, 2'500, 1'000)})
        CHECK(cost(p, u, 2'000'000) <= reserved);
    // And it is that worst case, not a loose bound: all prompt written to cache, all output
    // reasoning, plus the fee, times two.
    CHECK(reserved ==
          (10'000 * p.cache_write_per_m / unit + 2'000 * p.reasoning_per_m / unit + p.per_call) *
              2);
    CHECK(estimate_reservation(p, std::numeric_limits<std::int64_t>::max(), 1) ==
          std::numeric_limits<Micros>::max());
}

TEST_CASE("the price table prefers exact names, then the most specific pattern") {
    auto table = PriceTable::build({
        {"*", price(9, 9)},
        {"deepseek-*", price(2, 3)},
        {"deepseek-chat", price(1, 1)},
        {"deepseek-r*", price(4, 5)},
    });
    REQUIRE(table.ok());
    CHECK(table->size() == 4);
    CHECK(table->find("deepseek-chat")->input_per_m == 1 * unit);
    CHECK(table->find("deepseek-reasoner")->input_per_m == 4 * unit);
    CHECK(table->find("deepseek-coder")->input_per_m == 2 * unit);
    CHECK(table->find("qwen-max")->input_per_m == 9 * unit);

    auto no_fallback = PriceTable::build({{"glm-?", price(1, 1)}});
    REQUIRE(no_fallback.ok());
    CHECK(no_fallback->find("glm-4") != nullptr);
    CHECK(no_fallback->find("glm-45") == nullptr);
    CHECK(no_fallback->find("") == nullptr);
}

TEST_CASE("on equally specific patterns the earlier entry wins") {
    auto table = PriceTable::build({{"qwen-*-x", price(1, 1)}, {"qwen-a*x", price(2, 2)}});
    REQUIRE(table.ok());
    CHECK(table->find("qwen-a-x")->input_per_m == 1 * unit);
}

TEST_CASE("the price table refuses empty, duplicate and negative entries, naming them") {
    auto empty = PriceTable::build({{"a", price(1, 1)}, {"", price(1, 1)}});
    REQUIRE_FALSE(empty.ok());
    CHECK_THAT(empty.error().message, Catch::Contains("#2") && Catch::Contains("empty model"));

    auto duplicate = PriceTable::build({{"gpt-*", price(1, 1)}, {"gpt-*", price(2, 2)}});
    REQUIRE_FALSE(duplicate.ok());
    CHECK_THAT(duplicate.error().message, Catch::Contains("#2") && Catch::Contains("'gpt-*'"));

    auto exact_twice = PriceTable::build({{"m", price(1, 1)}, {"m", price(2, 2)}});
    CHECK_FALSE(exact_twice.ok());

    ModelPrice negative = price(1, 1);
    negative.cache_read_per_m = -5;
    auto neg = PriceTable::build({{"kimi-k2", negative}});
    REQUIRE_FALSE(neg.ok());
    CHECK_THAT(neg.error().message, Catch::Contains("'kimi-k2'") && Catch::Contains("-0.000005"));
}
