// hub::PasswordHasher: hashes and checks on the slow-work pool; an unknown user costs one check
// of the same iteration count as a known one; a full pool refuses in the pool's words.
#include "hub/password_hasher.hpp"

#include "core/slow_work_pool.hpp"

#include <catch2/catch.hpp>

#include <thread>
#include <vector>

using namespace tianshu;

TEST_CASE("password hasher: hashes and verifies on the pool's thread", "[hub]") {
    core::SlowWorkPool pool(core::SlowWorkPool::Options{});
    std::vector<std::thread::id> threads;
    hub::PasswordHasher hasher(pool, 1000, [&](std::string_view plain, std::string_view encoded) {
        threads.push_back(std::this_thread::get_id());
        return hub::verify_password(plain, encoded);
    });
    auto hashed = hasher.hash("a-password");
    REQUIRE(hashed.ok());
    CHECK(hashed.value().starts_with("pbkdf2-sha256$1000$"));
    CHECK(hasher.verify("a-password", hashed.value()).value());
    CHECK_FALSE(hasher.verify("another", hashed.value()).value());
    REQUIRE(threads.size() == 2);
    CHECK(threads[0] != std::this_thread::get_id());
}

TEST_CASE("password hasher: no hash means one check of a decoy at the same cost, never true",
          "[hub]") {
    core::SlowWorkPool pool(core::SlowWorkPool::Options{});
    std::vector<std::string> seen;
    hub::PasswordHasher hasher(pool, 1234, [&](std::string_view plain, std::string_view encoded) {
        seen.emplace_back(encoded);
        return hub::verify_password(plain, encoded);
    });
    auto result = hasher.verify("anything", "");
    REQUIRE(result.ok());
    CHECK_FALSE(result.value());
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].starts_with("pbkdf2-sha256$1234$"));
}

TEST_CASE("a decoy hash has the shape and the cost of a real one and matches nothing", "[hub]") {
    const std::string decoy = hub::decoy_password_hash(1000);
    CHECK(decoy.starts_with("pbkdf2-sha256$1000$"));
    CHECK(decoy.size() == hub::hash_password("x", 1000).size());
    CHECK_FALSE(hub::verify_password("", decoy));
    CHECK_FALSE(hub::verify_password("tianshu decoy password", decoy));
    CHECK(hub::decoy_password_hash(1000) != decoy);  // a fresh salt each time
}
