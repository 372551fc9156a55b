// The same session-state cases run against MemorySessionStore ([memory]) and RedisSessionStore
// ([redis]). Redis cases need TIANSHU_TEST_REDIS_URL (tests/scripts/with_redis.sh sets it); each
// case uses its own key prefix.

#include "hub/memory_session_store.hpp"
#include "hub/redis_session_store.hpp"

#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/URI.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>

#include "../support/redis_test_env.hpp"

using namespace tianshu;
using core::SessionScope;
using core::SessionStore;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

using testing::redis_url;
using testing::unique_prefix;

//! Stores over one state (a second call is another gateway on the same Redis, or for memory the
//! same store), and a way to let time pass (a fake clock, or for Redis a real wait).
struct Fixture {
    std::function<std::shared_ptr<SessionStore>()> store;
    std::function<void(milliseconds)> advance;
};
using FixtureMaker = std::function<Fixture(core::SessionLimits)>;

Fixture memory_fixture(core::SessionLimits limits) {
    auto now =
        std::make_shared<std::chrono::steady_clock::time_point>(std::chrono::steady_clock::now());
    auto store = std::make_shared<hub::MemorySessionStore>(limits, std::size_t{256} << 20,
                                                           [now] { return *now; });
    return {[store] { return store; }, [now](milliseconds d) { *now += d; }};
}

Fixture redis_fixture(core::SessionLimits limits) {
    hub::RedisPoolConfig config;
    config.url = redis_url();
    config.role = "session store";
    const std::string prefix = unique_prefix();
    return {[config, limits, prefix]() -> std::shared_ptr<SessionStore> {
                auto pool = hub::RedisPool::open(config);
                if (!pool) FAIL(pool.error().message);
                return std::make_shared<hub::RedisSessionStore>(limits, std::move(pool).value(),
                                                                prefix);
            },
            [](milliseconds d) { std::this_thread::sleep_for(d); }};
}

std::optional<std::string> get(SessionStore& s, const SessionScope& scope, std::string_view key) {
    auto r = s.get(scope, key);
    if (!r) FAIL("get(" << key << "): " << r.error().message);
    return r.value();
}

void put(SessionStore& s, const SessionScope& scope, std::string_view key, std::string_view value,
         seconds ttl = seconds(0)) {
    auto r = s.put(scope, key, value, ttl);
    if (!r) FAIL("put(" << key << "): " << r.error().message);
}

const SessionScope alice{"alice", "sess-1", "ledger"};

void round_trip(const FixtureMaker& make) {
    auto f = make({});
    auto s = f.store();
    CHECK_FALSE(get(*s, alice, "turn:1").has_value());
    put(*s, alice, "turn:1", "reasoning one");
    CHECK(get(*s, alice, "turn:1") == "reasoning one");
    put(*s, alice, "turn:1", "replaced");
    CHECK(get(*s, alice, "turn:1") == "replaced");
    // Binary values survive.
    const std::string bytes("a\0b\xff", 4);
    put(*s, alice, "bin", bytes);
    CHECK(get(*s, alice, "bin") == bytes);
    REQUIRE(s->erase(alice, "turn:1"));
    CHECK_FALSE(get(*s, alice, "turn:1").has_value());
    REQUIRE(s->erase(alice, "never-there"));  // fine when absent
    CHECK(get(*s, alice, "bin") == bytes);
    // Another gateway on the same store sees the same session.
    CHECK(get(*f.store(), alice, "bin") == bytes);
}

void bad_arguments_change_nothing(const FixtureMaker& make) {
    auto s = make({}).store();
    CHECK(s->put(alice, "", "v", seconds(0)).error().kind == core::ErrorKind::invalid_request);
    CHECK(s->put(alice, std::string(core::kSessionKeyMaxBytes + 1, 'k'), "v", seconds(0))
              .error()
              .kind == core::ErrorKind::invalid_request);
    CHECK(s->get({"", "sess-1", "ledger"}, "k").error().kind == core::ErrorKind::invalid_request);
    CHECK(s->get({"alice", "", "ledger"}, "k").error().kind == core::ErrorKind::invalid_request);
    CHECK(s->get({"alice", "sess-1", ""}, "k").error().kind == core::ErrorKind::invalid_request);
}

void plugins_and_users_are_apart(const FixtureMaker& make) {
    auto s = make({}).store();
    put(*s, alice, "k", "ledger's");
    put(*s, {"alice", "sess-1", "router"}, "k", "router's");
    CHECK(get(*s, alice, "k") == "ledger's");
    CHECK(get(*s, {"alice", "sess-1", "router"}, "k") == "router's");
    // A plugin name and key cannot spell another plugin's entry.
    put(*s, {"alice", "sess-1", "ab"}, "c", "ab/c");
    CHECK_FALSE(get(*s, {"alice", "sess-1", "a"}, "bc").has_value());
    // Another user presenting alice's session id sees none of her state.
    CHECK_FALSE(get(*s, {"bob", "sess-1", "ledger"}, "k").has_value());
    put(*s, {"bob", "sess-1", "ledger"}, "k", "bob's");
    CHECK(get(*s, alice, "k") == "ledger's");
    // User names that only differ where a key layout could blur them stay apart.
    put(*s, {"a", "}:s:b", "p"}, "k", "one");
    CHECK_FALSE(get(*s, {"a}:s:", "b", "p"}, "k").has_value());
    // Another session of the same user is another state.
    CHECK_FALSE(get(*s, {"alice", "sess-2", "ledger"}, "k").has_value());
}

void session_cap(const FixtureMaker& make) {
    core::SessionLimits limits;
    limits.session_max_bytes = 100;
    auto s = make(limits).store();
    const std::string name_a = "6:ledgera";                      // entry_name({.., "ledger"}, "a")
    put(*s, alice, "a", std::string(100 - name_a.size(), 'x'));  // exactly the cap
    auto over = s->put(alice, "b", "y", seconds(0));
    REQUIRE_FALSE(over);
    CHECK(over.error().kind == core::ErrorKind::request_too_large);
    CHECK(over.error().message.find("--session-max-bytes") != std::string::npos);
    CHECK_FALSE(get(*s, alice, "b").has_value());  // nothing changed
    CHECK(get(*s, alice, "a")->size() == 100 - name_a.size());
    // Replacing a value counts the new size, not both.
    put(*s, alice, "a", std::string(100 - name_a.size(), 'z'));
    CHECK(s->put(alice, "a", std::string(101 - name_a.size(), 'z'), seconds(0)).error().kind ==
          core::ErrorKind::request_too_large);
    CHECK(get(*s, alice, "a") == std::string(100 - name_a.size(), 'z'));
    // Every plugin of the session shares the cap; deleting makes room.
    CHECK_FALSE(s->put({"alice", "sess-1", "router"}, "k", "v", seconds(0)));
    REQUIRE(s->erase(alice, "a"));
    put(*s, {"alice", "sess-1", "router"}, "k", "v");
    // Another session has its own.
    put(*s, {"alice", "sess-2", "ledger"}, "a", std::string(100 - name_a.size(), 'x'));
}

void user_cap(const FixtureMaker& make) {
    core::SessionLimits limits;
    limits.session_max_bytes = 100;
    limits.user_max_bytes = 150;
    auto s = make(limits).store();
    put(*s, {"alice", "s1", "p"}, "k", std::string(80, 'x'));  // 4 + 80 bytes
    auto over = s->put({"alice", "s2", "p"}, "k", std::string(80, 'x'), seconds(0));
    REQUIRE_FALSE(over);
    CHECK(over.error().kind == core::ErrorKind::request_too_large);
    CHECK(over.error().message.find("--user-session-max-bytes") != std::string::npos);
    CHECK_FALSE(get(*s, {"alice", "s2", "p"}, "k").has_value());
    // Another user has a cap of their own.
    put(*s, {"bob", "s2", "p"}, "k", std::string(80, 'x'));
    // Room comes back when a session empties.
    REQUIRE(s->erase({"alice", "s1", "p"}, "k"));
    put(*s, {"alice", "s2", "p"}, "k", std::string(80, 'x'));
}

void values_expire(const FixtureMaker& make) {
    core::SessionLimits limits;
    limits.ttl = seconds(2);
    limits.session_max_bytes = 100;
    auto f = make(limits);
    auto s = f.store();
    put(*s, alice, "short", std::string(40, 's'), seconds(1));
    put(*s, alice, "default", "d");              // 0: the default (2 s)
    put(*s, alice, "long", "l", seconds(3600));  // never beyond the default
    f.advance(milliseconds(1300));
    CHECK_FALSE(get(*s, alice, "short").has_value());
    CHECK(get(*s, alice, "default") == "d");
    // An expired value no longer counts against the cap.
    put(*s, alice, "big", std::string(60, 'b'));  // 16 + 13 + 71 bytes: only without "short"
    f.advance(milliseconds(1000));
    CHECK_FALSE(get(*s, alice, "default").has_value());
    CHECK_FALSE(get(*s, alice, "long").has_value());
}

}  // namespace

#define SESSION_CASE(name, body)                                          \
    TEST_CASE("MemorySessionStore: " name, "[session][memory]") {         \
        body(memory_fixture);                                             \
    }                                                                     \
    TEST_CASE("RedisSessionStore: " name, "[session][redis]") {           \
        if (redis_url().empty()) {                                        \
            FAIL("TIANSHU_TEST_REDIS_URL is not set: run with_redis.sh"); \
        }                                                                 \
        body(redis_fixture);                                              \
    }

SESSION_CASE("put, get, replace and delete; a second gateway sees the same", round_trip)
SESSION_CASE("bad keys and scopes are refused", bad_arguments_change_nothing)
SESSION_CASE("plugins, users and sessions never see each other's keys", plugins_and_users_are_apart)
SESSION_CASE("a put beyond the session cap changes nothing", session_cap)
SESSION_CASE("a put beyond the user cap changes nothing", user_cap)
SESSION_CASE("values expire at their TTL, never later than the default", values_expire)

TEST_CASE("MemorySessionStore: the total bound drops the values nearest their expiry",
          "[session][memory]") {
    core::SessionLimits limits;
    limits.session_max_bytes = 200;
    limits.user_max_bytes = 1000;
    // 16 shards of 200 bytes; one user lives in one shard.
    hub::MemorySessionStore s(limits, 16 * 200);
    put(s, {"alice", "s1", "p"}, "soon", std::string(60, 'x'), seconds(10));   // 7 + 60 bytes
    put(s, {"alice", "s2", "p"}, "late", std::string(30, 'x'), seconds(100));  // 7 + 30
    CHECK(s.bytes() == 104);
    put(s, {"alice", "s3", "p"}, "new", std::string(100, 'x'), seconds(50));  // 6 + 100
    CHECK_FALSE(get(s, {"alice", "s1", "p"}, "soon").has_value());
    CHECK(get(s, {"alice", "s2", "p"}, "late").has_value());
    CHECK(get(s, {"alice", "s3", "p"}, "new").has_value());
    CHECK(s.bytes() == 143);
}

TEST_CASE("RedisSessionStore: an unreachable Redis is refused at start-up", "[session]") {
    hub::RedisPoolConfig config;
    config.url = "redis://127.0.0.1:1";
    config.role = "session store";
    config.connect_timeout = milliseconds(300);
    auto pool = hub::RedisPool::open(config);
    REQUIRE_FALSE(pool);
    CHECK(pool.error().kind == core::ErrorKind::unavailable);
    CHECK(pool.error().message.find("session store Redis at 127.0.0.1:1") != std::string::npos);
}

TEST_CASE("RedisSessionStore: a Redis that stops answering is unavailable, then recovers",
          "[session][redis]") {
    if (redis_url().empty()) FAIL("TIANSHU_TEST_REDIS_URL is not set: run with_redis.sh");
    hub::RedisPoolConfig config;
    config.url = redis_url();
    config.role = "session store";
    config.command_timeout = milliseconds(200);
    auto pool = hub::RedisPool::open(config);
    REQUIRE(pool);
    hub::RedisSessionStore store({}, std::move(pool).value(), unique_prefix());
    put(store, alice, "k", "before");

    Poco::URI uri(redis_url());
    Poco::Redis::Client raw(uri.getHost(), uri.getPort());
    Poco::Redis::Array pause;
    pause << "CLIENT"
          << "PAUSE"
          << "1500"
          << "ALL";
    raw.execute<std::string>(pause);
    auto failed = store.put(alice, "k", "during", seconds(0));
    REQUIRE_FALSE(failed);
    CHECK(failed.error().kind == core::ErrorKind::unavailable);
    CHECK(failed.error().message.find("session store Redis at") != std::string::npos);
    CHECK(store.get(alice, "k").error().kind == core::ErrorKind::unavailable);

    Poco::Redis::Array unpause;
    unpause << "CLIENT"
            << "UNPAUSE";
    raw.execute<std::string>(unpause);
    // The connections that timed out were dropped; fresh ones serve again.
    auto after = store.get(alice, "k");
    REQUIRE(after);
    // The timed-out put may or may not have landed once the pause ended; nothing else did.
    CHECK((after.value() == "before" || after.value() == "during"));
    put(store, alice, "k", "after");
    CHECK(get(store, alice, "k") == "after");
}
