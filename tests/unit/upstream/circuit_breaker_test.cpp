#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

#include "fake_models.hpp"
#include "upstream/circuit_breaker.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using std::chrono::milliseconds;
using upstream::Admission;
using upstream::BreakerState;
using upstream::CircuitBreaker;

namespace {
//! Fails `n` calls in a row, each admitted.
void fail_times(CircuitBreaker& b, int n) {
    for (int i = 0; i < n; ++i) {
        auto a = b.admit();
        REQUIRE(a == Admission::admitted);
        b.record_failure(a);
    }
}
}  // namespace

TEST_CASE("a breaker opens after the configured number of consecutive failures",
          "[upstream][breaker]") {
    FakeClock clock;
    CircuitBreaker b({5, milliseconds(30'000)}, clock.clock());
    fail_times(b, 4);
    CHECK(b.state() == BreakerState::closed);
    CHECK(b.consecutive_failures() == 4);

    SECTION("a success in between resets the count") {
        auto a = b.admit();
        b.record_success(a);
        fail_times(b, 4);
        CHECK(b.state() == BreakerState::closed);
    }
    SECTION("the fifth failure opens it and it refuses every caller") {
        fail_times(b, 1);
        CHECK(b.state() == BreakerState::open);
        CHECK(b.admit() == Admission::refused);
        CHECK_FALSE(b.available());
        CHECK(b.remaining_cool_down() == milliseconds(30'000));
    }
}

TEST_CASE("after the cool-down one probe decides whether the breaker closes",
          "[upstream][breaker]") {
    FakeClock clock;
    CircuitBreaker b({5, milliseconds(30'000)}, clock.clock());
    fail_times(b, 5);
    REQUIRE(b.state() == BreakerState::open);

    clock.advance(milliseconds(29'999));
    CHECK(b.admit() == Admission::refused);
    CHECK(b.remaining_cool_down() == milliseconds(1));
    clock.advance(milliseconds(1));
    CHECK(b.available());
    auto probe = b.admit();
    REQUIRE(probe == Admission::probe);
    CHECK(b.state() == BreakerState::half_open);
    CHECK(b.admit() == Admission::refused);  // only one probe at a time
    CHECK_FALSE(b.available());

    SECTION("a successful probe closes it") {
        b.record_success(probe);
        CHECK(b.state() == BreakerState::closed);
        CHECK(b.admit() == Admission::admitted);
        CHECK(b.consecutive_failures() == 0);
    }
    SECTION("a failed probe re-opens it for a full cool-down from the failure") {
        clock.advance(milliseconds(500));
        b.record_failure(probe);
        CHECK(b.state() == BreakerState::open);
        clock.advance(milliseconds(29'999));
        CHECK(b.admit() == Admission::refused);
        clock.advance(milliseconds(1));
        CHECK(b.admit() == Admission::probe);
    }
    SECTION("a released probe lets the next caller probe at once") {
        b.release(probe);
        CHECK(b.state() == BreakerState::open);
        CHECK(b.admit() == Admission::probe);
    }
    SECTION("late outcomes of calls admitted before it opened change nothing") {
        b.record_failure(Admission::admitted);
        b.record_success(Admission::admitted);
        CHECK(b.state() == BreakerState::half_open);
        b.record_success(probe);
        CHECK(b.state() == BreakerState::closed);
    }
}

TEST_CASE("exactly one of 8 racing threads gets the half-open probe", "[upstream][breaker]") {
    FakeClock clock;
    CircuitBreaker b({1, milliseconds(1'000)}, clock.clock());
    constexpr int kThreads = 8;
    constexpr int kRounds = 100;
    fail_times(b, 1);
    for (int round = 0; round < kRounds; ++round) {
        REQUIRE(b.state() == BreakerState::open);
        clock.advance(milliseconds(1'000));  // the cool-down is over: the next caller probes

        std::atomic<int> ready{0};
        std::atomic<int> probes{0};
        std::atomic<int> admitted{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&] {
                ready.fetch_add(1);
                while (ready.load() < kThreads) std::this_thread::yield();
                for (int i = 0; i < 50; ++i) {
                    auto got = b.admit();
                    if (got == Admission::probe) probes.fetch_add(1);
                    if (got == Admission::admitted) admitted.fetch_add(1);
                }
            });
        for (auto& t : threads) t.join();
        REQUIRE(probes.load() == 1);
        REQUIRE(admitted.load() == 0);
        REQUIRE(b.state() == BreakerState::half_open);
        b.record_failure(Admission::probe);  // re-opens for the next round
    }
}

TEST_CASE("the breaker registry gives one breaker per channel and key, across threads",
          "[upstream][breaker]") {
    upstream::CircuitBreakers breakers;
    auto a = breakers.for_key("alpha", "k1");
    CHECK(breakers.for_key("alpha", "k1") == a);
    CHECK(breakers.for_key("alpha", "k2") != a);
    CHECK(breakers.for_key("beta", "k1") != a);

    std::vector<std::shared_ptr<CircuitBreaker>> seen(8);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&, t] { seen[t] = breakers.for_key("gamma", "shared"); });
    for (auto& t : threads) t.join();
    for (const auto& s : seen) CHECK(s == seen.front());
}
