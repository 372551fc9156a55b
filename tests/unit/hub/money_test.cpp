#include "hub/money.hpp"

#include <catch2/catch.hpp>

#include <limits>
#include <random>

using namespace tianshu::hub;

TEST_CASE("money parses whole units, fractions and the smallest unit") {
    CHECK(parse_money("12.5").value() == 12 * micros_per_unit + micros_per_unit / 2);
    CHECK(parse_money("3").value() == 3 * micros_per_unit);
    CHECK(parse_money("0.000001").value() == 1);
    CHECK(parse_money("0.1").value() == 100000);
    CHECK(parse_money("007.250").value() == 7250000);
    CHECK(parse_money("0").value() == 0);
    CHECK(parse_money("-1.5", MoneySign::any).value() == -1500000);
}

TEST_CASE("money formats with exactly six decimals, including negatives and the extremes") {
    CHECK(format_money(12500000) == "12.500000");
    CHECK(format_money(0) == "0.000000");
    CHECK(format_money(1) == "0.000001");
    CHECK(format_money(-1) == "-0.000001");
    CHECK(format_money(-1500000) == "-1.500000");
    CHECK(format_money(std::numeric_limits<Micros>::max()) == "9223372036854.775807");
    CHECK(format_money(std::numeric_limits<Micros>::min()) == "-9223372036854.775808");
}

TEST_CASE("money round-trips through format and parse for any value") {
    std::mt19937_64 rng(42);
    std::vector<Micros> values = {0,
                                  1,
                                  -1,
                                  999999,
                                  1000000,
                                  std::numeric_limits<Micros>::max(),
                                  std::numeric_limits<Micros>::min()};
    for (int i = 0; i < 2000; ++i) values.push_back(static_cast<Micros>(rng()));
    for (Micros v : values) {
        auto parsed = parse_money(format_money(v), MoneySign::any);
        REQUIRE(parsed.ok());
        CHECK(parsed.value() == v);
    }
}

TEST_CASE("money rejects malformed amounts, naming the field, the value and the accepted form") {
    struct Case {
        const char* text;
        const char* why;
    };
    const Case cases[] = {
        {"", "is empty"},
        {"1.1234567", "more than 6 decimals"},
        {"-1", "may not be negative"},
        {"+1", "'+'"},
        {".5", "no digits before"},
        {"5.", "no digits after"},
        {"1,5", "not a decimal number"},
        {"1.2.3", "not a decimal number"},
        {" 1", "not a decimal number"},
        {"1e6", "not a decimal number"},
        {"12abc", "not a decimal number"},
        {"9223372036854.775808", "too large"},
        {"99999999999999999999999999", "too large"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        auto r = parse_money(c.text, MoneySign::non_negative, "quota");
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == tianshu::core::ErrorKind::invalid_request);
        CHECK_THAT(r.error().message, Catch::Contains(c.why));
        CHECK_THAT(r.error().message, Catch::StartsWith(std::string("quota '") + c.text + "'"));
        CHECK_THAT(r.error().message, Catch::Contains("at most 6 decimals"));
    }
}

TEST_CASE("money accepts exactly the int64 range when negatives are allowed") {
    CHECK(parse_money("9223372036854.775807").value() == std::numeric_limits<Micros>::max());
    CHECK(parse_money("-9223372036854.775808", MoneySign::any).value() ==
          std::numeric_limits<Micros>::min());
    CHECK_FALSE(parse_money("-9223372036854.775809", MoneySign::any).ok());
    CHECK_FALSE(parse_money("-", MoneySign::any).ok());
    CHECK_FALSE(parse_money("--1", MoneySign::any).ok());
}
