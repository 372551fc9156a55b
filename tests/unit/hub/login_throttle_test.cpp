// hub::LoginThrottle: failed logins per address and per account over a sliding window, with an
// injected clock; successes forgiven; memory bounded against random names.
#include "hub/login_throttle.hpp"

#include <catch2/catch.hpp>

#include <string>

using namespace tianshu;
using hub::LoginThrottle;
using std::chrono::seconds;

namespace {
const LoginThrottle::Clock::time_point t0{seconds(1'000'000)};

hub::LoginLimits limits(int per_address, int per_account, int window_s, size_t max_tracked = 100) {
    hub::LoginLimits l;
    l.per_address = per_address;
    l.per_account = per_account;
    l.window = seconds(window_s);
    l.max_tracked = max_tracked;
    return l;
}
}  // namespace

TEST_CASE("login limits: N failures from one address, then refused with when to retry", "[hub]") {
    LoginThrottle throttle(limits(3, 100, 60));
    for (int i = 0; i < 3; ++i)
        REQUIRE(throttle.begin("192.0.2.7", "name-" + std::to_string(i), t0 + seconds(i)).ok());
    auto refused = throttle.begin("192.0.2.7", "another", t0 + seconds(10));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == core::ErrorKind::rate_limited);
    // The oldest failure (t0) leaves the 60 s window at t0 + 60: 50 s from t0 + 10.
    CHECK(refused.error().retry_after_seconds == 50);
    CHECK(refused.error().message ==
          "too many failed logins from address 192.0.2.7 (3 in 60 s): try again in 50 s");
    // Another address is not affected; a refusal is not counted.
    CHECK(throttle.begin("192.0.2.8", "another", t0 + seconds(10)).ok());
    // The window slides: at t0 + 60 the first failure has left it, one more may be tried.
    CHECK(throttle.begin("192.0.2.7", "x", t0 + seconds(59)).ok() == false);
    CHECK(throttle.begin("192.0.2.7", "x", t0 + seconds(60)).ok());
    CHECK(throttle.begin("192.0.2.7", "y", t0 + seconds(60)).ok() == false);
}

TEST_CASE("login limits: N failures for one account from many addresses, then refused", "[hub]") {
    LoginThrottle throttle(limits(100, 2, 300));
    REQUIRE(throttle.begin("198.51.100.1", "ada", t0).ok());
    REQUIRE(throttle.begin("198.51.100.2", "ada", t0 + seconds(1)).ok());
    auto refused = throttle.begin("198.51.100.3", "ada", t0 + seconds(100));
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().message ==
          "too many failed logins for account 'ada' (2 in 300 s): try again in 200 s");
    CHECK(refused.error().retry_after_seconds == 200);
    CHECK(throttle.begin("198.51.100.3", "bob", t0 + seconds(100)).ok());
    CHECK(throttle.begin("198.51.100.3", "ada", t0 + seconds(300)).ok());
}

TEST_CASE("login limits: a successful login is forgiven and does not count", "[hub]") {
    LoginThrottle throttle(limits(2, 2, 60));
    for (int i = 0; i < 10; ++i) {
        auto ok = throttle.begin("203.0.113.5", "ada", t0 + seconds(i));
        REQUIRE(ok.ok());
        throttle.forgive(ok.value());
    }
    CHECK(throttle.tracked_addresses() == 0);
    CHECK(throttle.tracked_accounts() == 0);
    REQUIRE(throttle.begin("203.0.113.5", "ada", t0 + seconds(20)).ok());
    REQUIRE(throttle.begin("203.0.113.5", "ada", t0 + seconds(21)).ok());
    CHECK_FALSE(throttle.begin("203.0.113.5", "ada", t0 + seconds(22)).ok());
}

TEST_CASE("login limits: random names cannot grow memory past the bound", "[hub]") {
    LoginThrottle throttle(limits(1'000'000, 5, 600, 50));
    for (int i = 0; i < 5000; ++i)
        REQUIRE(throttle
                    .begin("10.9." + std::to_string(i % 250) + "." + std::to_string(i / 250),
                           "random-" + std::to_string(i), t0 + std::chrono::milliseconds(i))
                    .ok());
    CHECK(throttle.tracked_accounts() <= 50);
    CHECK(throttle.tracked_addresses() <= 50);
    // What was evicted is the least recently failed: the latest names are still counted.
    for (int i = 0; i < 4; ++i)
        REQUIRE(throttle.begin("10.10.0.1", "random-4999", t0 + seconds(6 + i)).ok());
    CHECK_FALSE(throttle.begin("10.10.0.2", "random-4999", t0 + seconds(10)).ok());
    // A name longer than the key bound is counted by its first 256 bytes.
    const std::string long_name(10'000, 'n');
    for (int i = 0; i < 5; ++i)
        REQUIRE(throttle
                    .begin("10.11.0." + std::to_string(i), long_name + std::to_string(i),
                           t0 + seconds(20))
                    .ok());
    CHECK_FALSE(throttle.begin("10.11.1.1", long_name, t0 + seconds(20)).ok());
}

TEST_CASE("login limits: a limit of 0 is no limit", "[hub]") {
    LoginThrottle throttle(limits(0, 0, 60));
    for (int i = 0; i < 100; ++i) CHECK(throttle.begin("192.0.2.1", "ada", t0).ok());
    CHECK(throttle.tracked_addresses() == 0);
}
