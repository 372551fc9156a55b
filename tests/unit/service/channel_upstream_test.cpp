// service::channels::parse_balance and origin_of: each provider's balance shape read into
// exact decimal strings (no floating point on the way), and the origin a balance path is on.
#include <catch2/catch.hpp>

#include "service/channel_upstream.hpp"

using tianshu::service::channels::origin_of;
using tianshu::service::channels::parse_balance;
using Json = nlohmann::json;

namespace {

//! "amount currency, ..." of a parse, or "error: <message>".
std::string read(const std::string& format, const std::string& body) {
    std::optional<bool> available;
    auto r = parse_balance(format, Json::parse(body), available);
    if (!r) return "error: " + r.error().message;
    std::string out;
    for (const auto& b : r.value()) out += (out.empty() ? "" : ", ") + b.amount + " " + b.currency;
    return out;
}

}  // namespace

TEST_CASE("each provider's balance shape reads to exact decimals") {
    CHECK(
        read("deepseek",
             R"({"is_available":true,"balance_infos":[{"currency":"CNY","total_balance":"110.00"},)"
             R"({"currency":"USD","total_balance":"0.5"}]})") == "110.00 CNY, 0.50 USD");
    CHECK(read("moonshot", R"({"code":0,"data":{"available_balance":49.58}})") == "49.58 CNY");
    CHECK(read("moonshot", R"({"code":0,"data":{"available_balance":-3}})") == "-3.00 CNY");
    CHECK(
        read("siliconflow", R"({"code":20000,"data":{"balance":"0.88","totalBalance":"88.88"}})") ==
        "88.88 CNY");
    // 10.3 - 0.1 in doubles is 10.200000000000001.
    CHECK(read("openrouter", R"({"data":{"total_credits":10.3,"total_usage":0.1}})") ==
          "10.20 USD");
    CHECK(read("openrouter", R"({"data":{"total_credits":15,"total_usage":2.33}})") == "12.67 USD");
    CHECK(read("openrouter", R"({"data":{"total_credits":1,"total_usage":1.123456789}})") ==
          "-0.123456789 USD");
}

TEST_CASE("a balance answer in another shape is an error naming the field") {
    CHECK(read("moonshot", R"({"code":0,"data":{}})") ==
          "error: the answer has no 'data.available_balance'");
    CHECK(read("siliconflow", R"({"data":{"totalBalance":"ten"}})") ==
          "error: 'data.totalBalance' is 'ten', not a decimal amount");
    CHECK(read("deepseek", R"({"is_available":true})") ==
          "error: the answer has no 'balance_infos' array");
    CHECK(read("openrouter", R"({"data":{"total_credits":"1.0000000001","total_usage":0}})")
              .starts_with("error: 'data.total_credits' is '1.0000000001'"));
    CHECK(read("acme", "{}").starts_with("error: balance format 'acme' is unknown"));
    std::optional<bool> available;
    REQUIRE(parse_balance("deepseek", Json::parse(R"({"is_available":false,"balance_infos":[]})"),
                          available));
    CHECK(available == false);
}

TEST_CASE("a balance path is on the base URL's origin") {
    CHECK(origin_of("https://openrouter.ai/api/v1") == "https://openrouter.ai");
    CHECK(origin_of("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080");
    CHECK(origin_of("https://api.deepseek.com") == "https://api.deepseek.com");
    CHECK(origin_of("api.deepseek.com/v1").empty());
}
