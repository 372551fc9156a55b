#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "server/gateway.hpp"

using tianshu::server::new_request_id;

TEST_CASE("request ids are 24 hex digits that sort by the time they were made",
          "[server][request_id]") {
    const std::string early = new_request_id();
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    const std::string late = new_request_id();
    for (const auto& id : {early, late}) {
        CHECK(id.size() == 24);
        CHECK(std::all_of(id.begin(), id.end(),
                          [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }));
    }
    // Time-ordered: a later id sorts after an earlier one, so the request log's and ledger's
    // unique indexes grow at their right edge.
    CHECK(early < late);
    // The first 12 digits are the wall clock in ms.
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const long long stamped = std::stoll(late.substr(0, 12), nullptr, 16);
    CHECK(stamped <= now_ms);
    CHECK(stamped > now_ms - 5000);
}

TEST_CASE("request ids made in the same millisecond on many threads never repeat",
          "[server][request_id]") {
    constexpr int kThreads = 4, kEach = 20000;
    std::vector<std::vector<std::string>> made(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([&, t] {
            for (int i = 0; i < kEach; ++i)
                made[static_cast<size_t>(t)].push_back(new_request_id());
        });
    for (auto& t : threads) t.join();
    std::set<std::string> all;
    for (const auto& ids : made) all.insert(ids.begin(), ids.end());
    CHECK(all.size() == static_cast<size_t>(kThreads * kEach));
}
