#pragma once
// The throwaway Redis that tests/scripts/with_redis.sh starts, for the Redis cases of unit tests.
#include <atomic>
#include <cstdlib>
#include <random>
#include <string>

namespace tianshu::testing {

//! TIANSHU_TEST_REDIS_URL, or empty when the test runs without with_redis.sh.
inline std::string redis_url() {
    const char* url = std::getenv("TIANSHU_TEST_REDIS_URL");
    return url ? url : "";
}

//! A key prefix no other case (or run) uses, so cases never see each other's keys.
inline std::string unique_prefix() {
    static std::atomic<int> counter{0};
    std::random_device random;
    return "tianshu:test:" + std::to_string(random()) + ":" + std::to_string(++counter) + ":";
}

}  // namespace tianshu::testing
