#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "fake_models.hpp"
#include "upstream/channel_selection.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using std::chrono::milliseconds;
using upstream::Admission;
using upstream::ChannelRoute;
using upstream::ChannelSelection;
using upstream::CircuitBreakers;

namespace {
std::shared_ptr<plugin::Model> any_model() {
    return std::make_shared<ScriptedModel>("m");
}

upstream::RandomSource seeded(uint64_t seed) {
    auto engine = std::make_shared<std::mt19937_64>(seed);
    return [engine] { return (*engine)(); };
}

//! The channels a fresh selection walks through, in order, until it starts to repeat.
std::vector<std::string> walk(const std::vector<ChannelRoute>& routes, size_t steps) {
    ChannelSelection s(routes, seeded(7));
    std::vector<std::string> order;
    for (size_t i = 0; i < steps; ++i) {
        auto p = s.next();
        if (!p) break;
        order.push_back(s.route(*p).channel + "/" + s.key(*p).key_id);
    }
    return order;
}
}  // namespace

TEST_CASE("within a priority group channels are chosen in proportion to their weight",
          "[upstream][selection]") {
    CircuitBreakers breakers;
    std::vector<ChannelRoute> routes{route("light", 0, 1, {any_model()}, breakers),
                                     route("middle", 0, 3, {any_model()}, breakers),
                                     route("heavy", 0, 6, {any_model()}, breakers)};
    upstream::sort_by_priority(routes);
    auto random = seeded(42);
    constexpr int kDraws = 20'000;
    std::map<std::string, int> seen;
    for (int i = 0; i < kDraws; ++i) {
        ChannelSelection s(routes, random);
        auto p = s.next();
        REQUIRE(p);
        ++seen[s.route(*p).channel];
    }
    const std::map<std::string, double> share{{"light", 0.1}, {"middle", 0.3}, {"heavy", 0.6}};
    double chi_square = 0;
    for (const auto& [name, p] : share) {
        const double expected = kDraws * p;
        const double diff = seen[name] - expected;
        chi_square += diff * diff / expected;
    }
    INFO("light " << seen["light"] << ", middle " << seen["middle"] << ", heavy " << seen["heavy"]);
    CHECK(chi_square < 13.82);  // 2 degrees of freedom, p = 0.001
}

TEST_CASE("a lower priority is used only when every higher candidate is unusable",
          "[upstream][selection]") {
    FakeClock clock;
    CircuitBreakers breakers({1, milliseconds(30'000)}, clock.clock());
    std::vector<ChannelRoute> routes{route("backup", 0, 100, {any_model()}, breakers),
                                     route("main-a", 5, 1, {any_model()}, breakers),
                                     route("main-b", 5, 1, {any_model()}, breakers)};
    upstream::sort_by_priority(routes);

    SECTION("the high group comes first, whatever the weights") {
        for (int i = 0; i < 200; ++i) {
            ChannelSelection s(routes, seeded(static_cast<uint64_t>(i)));
            auto p = s.next();
            REQUIRE(p);
            CHECK(s.route(*p).priority == 5);
        }
    }
    SECTION("after both high channels were tried, the backup; then the high ones again") {
        auto order = walk(routes, 5);
        REQUIRE(order.size() == 5);
        CHECK(order[0].rfind("main-", 0) == 0);
        CHECK(order[1].rfind("main-", 0) == 0);
        CHECK(order[0] != order[1]);
        CHECK(order[2] == "backup/k1");
        CHECK(order[3].rfind("main-", 0) == 0);
    }
    SECTION("open breakers and disabled keys push the request to the backup") {
        auto a = breakers.for_key("main-a", "k1");
        a->record_failure(a->admit());  // threshold 1: open
        routes[1].keys[0].disabled->store(true);
        REQUIRE(routes[1].channel == "main-b");
        ChannelSelection s(routes, seeded(1));
        auto p = s.next();
        REQUIRE(p);
        CHECK(s.route(*p).channel == "backup");
        // Once the cool-down is over, main-a is back and probed first.
        clock.advance(milliseconds(30'000));
        ChannelSelection later(routes, seeded(1));
        auto q = later.next();
        REQUIRE(q);
        CHECK(later.route(*q).channel == "main-a");
        CHECK(q->admission == Admission::probe);
    }
}

TEST_CASE("keys rotate within a channel and refused or excluded keys are skipped",
          "[upstream][selection]") {
    CircuitBreakers breakers;
    std::vector<ChannelRoute> routes{
        route("multi", 0, 1, {any_model(), any_model(), any_model()}, breakers)};
    std::vector<std::string> first;
    for (int i = 0; i < 6; ++i) {
        ChannelSelection s(routes, seeded(3));
        auto p = s.next();
        REQUIRE(p);
        first.push_back(s.key(*p).key_id);
    }
    CHECK(first == std::vector<std::string>{"k1", "k2", "k3", "k1", "k2", "k3"});

    routes[0].keys[1].disabled->store(true);
    ChannelSelection s(routes, seeded(3));
    std::vector<std::string> keys;
    for (int i = 0; i < 4; ++i) {
        auto p = s.next();
        REQUIRE(p);
        keys.push_back(s.key(*p).key_id);
        if (keys.size() == 1) s.exclude(*p);
    }
    // k2 is disabled, the first pick is excluded: only the remaining key is left to repeat.
    CHECK(std::count(keys.begin(), keys.end(), "k2") == 0);
    CHECK(std::count(keys.begin(), keys.end(), keys[0]) == 1);
    CHECK(keys[1] == keys[2]);
    CHECK(keys[2] == keys[3]);

    s.exclude(*s.next());
    CHECK_FALSE(s.next());  // nothing left at all
}
