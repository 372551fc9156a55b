// The same quota cases run against MemoryQuotaBook ([memory]) and RedisQuotaBook ([redis]).
// Redis cases need TIANSHU_TEST_REDIS_URL (tests/scripts/with_redis.sh sets it); each case
// uses its own key prefix, so cases never see each other's accounts.

#include "hub/quota_book.hpp"
#include "hub/redis_quota_book.hpp"

#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/URI.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "../support/redis_test_env.hpp"

using namespace tianshu;
using hub::Micros;
using hub::QuotaBook;
using hub::QuotaReservation;

namespace {

//! Makes books that share one store: for memory every call returns the same book (one gateway);
//! for Redis every call opens a new RedisQuotaBook on the same Redis and prefix (another gateway).
using BookMaker = std::function<std::shared_ptr<QuotaBook>()>;

using testing::redis_url;
using testing::unique_prefix;

BookMaker memory_books() {
    auto book = std::make_shared<hub::MemoryQuotaBook>();
    return [book] { return book; };
}

BookMaker redis_books() {
    hub::RedisQuotaConfig config;
    config.url = redis_url();
    config.key_prefix = unique_prefix();
    return [config] {
        auto book = hub::RedisQuotaBook::open(config);
        if (!book) FAIL(book.error().message);
        return std::shared_ptr<QuotaBook>(std::move(book).value());
    };
}

Micros balance(QuotaBook& book, std::string_view account) {
    auto value = book.available(account);
    if (!value) FAIL("available(" << account << "): " << value.error().message);
    REQUIRE(value->has_value());
    return **value;
}

QuotaReservation must_reserve(QuotaBook& book, std::vector<std::string_view> accounts,
                              Micros amount, std::string_view id) {
    auto reserved = book.reserve(accounts, amount, id);
    if (!reserved) FAIL("reserve " << id << ": " << reserved.error().message);
    return std::move(reserved).value();
}

// ---------------------------------------------------------------------------------------------
// The cases, each a function of a BookMaker.

void reserve_settle_release_arithmetic(const BookMaker& books) {
    auto book = books();
    REQUIRE(book->load("u:1", 1000).value());

    auto first = must_reserve(*book, {"u:1"}, 300, "r1");
    CHECK(first.open());
    CHECK(first.amount() == 300);
    CHECK(balance(*book, "u:1") == 700);

    auto settled = book->settle(first, 120);
    REQUIRE(settled.ok());
    CHECK(settled->applied);
    CHECK(settled->max_shortfall() == 0);
    CHECK_FALSE(first.open());
    CHECK(balance(*book, "u:1") == 1000 - 120);

    auto second = must_reserve(*book, {"u:1"}, 200, "r2");
    CHECK(balance(*book, "u:1") == 1000 - 120 - 200);
    auto released = book->release(second);
    REQUIRE(released.ok());
    CHECK(*released);
    CHECK(balance(*book, "u:1") == 1000 - 120);

    auto exact = must_reserve(*book, {"u:1"}, 80, "r3");
    REQUIRE(book->settle(exact, 80).ok());
    CHECK(balance(*book, "u:1") == 1000 - 120 - 80);

    // A reservation of the whole balance succeeds; one unit more does not.
    const Micros all = balance(*book, "u:1");
    auto too_much = book->reserve(std::vector<std::string_view>{"u:1"}, all + 1, "r4");
    REQUIRE_FALSE(too_much.ok());
    CHECK(too_much.error().kind == core::ErrorKind::insufficient_quota);
    CHECK_THAT(too_much.error().message, Catch::Contains("u:1"));
    auto whole = must_reserve(*book, {"u:1"}, all, "r5");
    CHECK(balance(*book, "u:1") == 0);
    REQUIRE(book->release(whole).ok());
    CHECK(balance(*book, "u:1") == all);
}

void load_credit_available(const BookMaker& books) {
    auto book = books();
    auto missing = book->available("u:7");
    REQUIRE(missing.ok());
    CHECK_FALSE(missing->has_value());

    REQUIRE(book->load("u:7", 500).value());
    auto held = must_reserve(*book, {"u:7"}, 100, "r1");
    // A second load must not overwrite the live value, which knows about the reservation.
    auto again = book->load("u:7", 5000);
    REQUIRE(again.ok());
    CHECK_FALSE(*again);
    CHECK(balance(*book, "u:7") == 400);

    auto credited = book->credit("u:7", 50);
    REQUIRE(credited.ok());
    CHECK(*credited);
    CHECK(balance(*book, "u:7") == 450);

    // Crediting an account that is not loaded changes nothing and creates nothing: the
    // database, already updated by the caller, seeds it on load().
    auto not_loaded = book->credit("u:8", 50);
    REQUIRE(not_loaded.ok());
    CHECK_FALSE(*not_loaded);
    CHECK_FALSE(book->available("u:8").value().has_value());

    CHECK_FALSE(book->credit("u:7", 0).ok());
    CHECK_FALSE(book->credit("u:7", -5).ok());
    REQUIRE(book->release(held).ok());
}

void unloaded_and_invalid_arguments(const BookMaker& books) {
    auto book = books();
    REQUIRE(book->load("u:1", 1000).value());

    auto unloaded = book->reserve(std::vector<std::string_view>{"u:1", "k:9"}, 10, "r1");
    REQUIRE_FALSE(unloaded.ok());
    CHECK(hub::is_unloaded_account(unloaded.error()));
    CHECK_THAT(unloaded.error().message, Catch::Contains("k:9"));
    CHECK(balance(*book, "u:1") == 1000);  // nothing taken from the loaded one

    auto rejected = [&](std::vector<std::string_view> accounts, Micros amount,
                        std::string_view id) {
        auto result = book->reserve(accounts, amount, id);
        REQUIRE_FALSE(result.ok());
        CHECK_FALSE(hub::is_unloaded_account(result.error()));
        CHECK(result.error().kind == core::ErrorKind::internal);
        CHECK(balance(*book, "u:1") == 1000);
    };
    rejected({}, 10, "r2");
    rejected({"u:1", "k:1", "k:2"}, 10, "r3");
    rejected({"u:1", "u:1"}, 10, "r4");
    rejected({"u:1", ""}, 10, "r5");
    rejected({"u:1"}, -1, "r6");
    rejected({"u:1"}, 10, "");

    auto held = must_reserve(*book, {"u:1"}, 10, "r7");
    CHECK_FALSE(book->settle(held, -1).ok());
    CHECK(held.open());  // a refused settle leaves the handle open to settle properly
    REQUIRE(book->settle(held, 10).ok());
}

void two_accounts_all_or_nothing(const BookMaker& books) {
    auto book = books();
    REQUIRE(book->load("u:1", 1000).value());
    REQUIRE(book->load("k:1", 100).value());

    // The key's quota is short: nothing is taken from the user either, whichever comes first.
    for (auto accounts : {std::vector<std::string_view>{"u:1", "k:1"},
                          std::vector<std::string_view>{"k:1", "u:1"}}) {
        auto refused = book->reserve(accounts, 150, "r-refused");
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().kind == core::ErrorKind::insufficient_quota);
        CHECK_THAT(refused.error().message, Catch::Contains("k:1"));
        CHECK(balance(*book, "u:1") == 1000);
        CHECK(balance(*book, "k:1") == 100);
    }

    auto both = must_reserve(*book, {"u:1", "k:1"}, 80, "r1");
    CHECK(balance(*book, "u:1") == 920);
    CHECK(balance(*book, "k:1") == 20);
    REQUIRE(book->settle(both, 30).ok());
    CHECK(balance(*book, "u:1") == 970);
    CHECK(balance(*book, "k:1") == 70);

    // The user is short this time.
    REQUIRE(book->load("u:2", 10).value());
    auto refused = book->reserve(std::vector<std::string_view>{"u:2", "k:1"}, 50, "r2");
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("u:2"));
    CHECK(balance(*book, "u:2") == 10);
    CHECK(balance(*book, "k:1") == 70);
}

//! `threads` threads of each book from `books` reserve `unit` from the accounts until refused;
//! returns the handles that succeeded.
std::vector<QuotaReservation> race_to_reserve(const std::vector<std::shared_ptr<QuotaBook>>& books,
                                              int threads_per_book,
                                              std::vector<std::string_view> accounts, Micros unit) {
    std::vector<std::vector<QuotaReservation>> won(books.size() * threads_per_book);
    std::atomic<int> errors{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> threads;
    for (std::size_t b = 0; b < books.size(); ++b) {
        for (int t = 0; t < threads_per_book; ++t) {
            const std::size_t slot = b * threads_per_book + t;
            threads.emplace_back([&, b, slot] {
                while (!go.load()) std::this_thread::yield();
                for (int n = 0;; ++n) {
                    const std::string id = "race-" + std::to_string(slot) + "-" + std::to_string(n);
                    auto reserved = books[b]->reserve(accounts, unit, id);
                    if (!reserved) {
                        if (reserved.error().kind != core::ErrorKind::insufficient_quota) ++errors;
                        return;
                    }
                    won[slot].push_back(std::move(reserved).value());
                }
            });
        }
    }
    go = true;
    for (auto& thread : threads) thread.join();
    REQUIRE(errors.load() == 0);
    std::vector<QuotaReservation> all;
    for (auto& list : won) {
        for (auto& reservation : list) all.push_back(std::move(reservation));
    }
    return all;
}

void racing_threads_take_exactly_the_balance(const BookMaker& books) {
    constexpr Micros funded = 300;
    auto book = books();
    REQUIRE(book->load("u:1", funded).value());

    auto won = race_to_reserve({book}, 16, {"u:1"}, 1);
    CHECK(static_cast<Micros>(won.size()) == funded);
    CHECK(balance(*book, "u:1") == 0);

    // Settling them all at once, concurrently, gives every unit back exactly once.
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 16; ++t) {
        threads.emplace_back([&, t] {
            for (std::size_t i = t; i < won.size(); i += 16) {
                auto settled = book->settle(won[i], 0);
                if (!settled || !settled->applied) ++failures;
            }
        });
    }
    for (auto& thread : threads) thread.join();
    CHECK(failures.load() == 0);
    CHECK(balance(*book, "u:1") == funded);
}

void racing_threads_on_two_accounts(const BookMaker& books) {
    auto book = books();
    REQUIRE(book->load("u:1", 500).value());
    REQUIRE(book->load("k:1", 120).value());
    auto won = race_to_reserve({book}, 16, {"u:1", "k:1"}, 1);
    // The key's quota is the limit: exactly 120 succeed and the user pays for exactly those.
    CHECK(won.size() == 120u);
    CHECK(balance(*book, "k:1") == 0);
    CHECK(balance(*book, "u:1") == 500 - 120);
    for (auto& reservation : won) REQUIRE(book->release(reservation).value());
    CHECK(balance(*book, "k:1") == 120);
    CHECK(balance(*book, "u:1") == 500);
}

void settle_above_reserved_stops_at_zero(const BookMaker& books) {
    auto book = books();
    REQUIRE(book->load("u:1", 100).value());
    auto held = must_reserve(*book, {"u:1"}, 60, "r1");
    // Extra 150 - 60 = 90, but only 40 is left: take 40, report 50 short.
    auto settled = book->settle(held, 150);
    REQUIRE(settled.ok());
    CHECK(settled->applied);
    CHECK(settled->shortfall[0] == 50);
    CHECK(settled->max_shortfall() == 50);
    CHECK(balance(*book, "u:1") == 0);

    // Two accounts: each gives what it has; the shortfalls are per account.
    REQUIRE(book->load("u:2", 1000).value());
    REQUIRE(book->load("k:2", 100).value());
    auto both = must_reserve(*book, {"u:2", "k:2"}, 50, "r2");
    auto two = book->settle(both, 120);  // extra 70: the user has it, the key only 50
    REQUIRE(two.ok());
    CHECK(two->shortfall[0] == 0);
    CHECK(two->shortfall[1] == 20);
    CHECK(two->max_shortfall() == 20);
    CHECK(balance(*book, "u:2") == 1000 - 120);
    CHECK(balance(*book, "k:2") == 0);
}

void concurrent_overruns_never_go_below_zero(const BookMaker& books) {
    auto book = books();
    constexpr int requests = 16;
    constexpr Micros reserved = 10, actual = 30, funded = 200;
    REQUIRE(book->load("u:1", funded).value());
    std::vector<QuotaReservation> held;
    for (int i = 0; i < requests; ++i) {
        held.push_back(must_reserve(*book, {"u:1"}, reserved, "r" + std::to_string(i)));
    }
    const Micros left = funded - requests * reserved;  // 40, against 16 * 20 = 320 of extra
    REQUIRE(balance(*book, "u:1") == left);

    std::atomic<Micros> shortfall{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < requests; ++i) {
        threads.emplace_back([&, i] {
            auto settled = book->settle(held[i], actual);
            if (!settled || !settled->applied) {
                ++failures;
                return;
            }
            shortfall += settled->shortfall[0];
        });
    }
    for (auto& thread : threads) thread.join();
    REQUIRE(failures.load() == 0);
    CHECK(balance(*book, "u:1") == 0);
    // Whatever was not taken was reported: taken + shortfall = the whole extra.
    CHECK(shortfall.load() == requests * (actual - reserved) - left);
}

void closing_twice_changes_nothing(const BookMaker& books) {
    auto book = books();
    REQUIRE(book->load("u:1", 1000).value());
    auto held = must_reserve(*book, {"u:1"}, 100, "r1");
    REQUIRE(book->settle(held, 40).value().applied);
    CHECK(balance(*book, "u:1") == 960);

    auto again = book->settle(held, 0);
    REQUIRE(again.ok());
    CHECK_FALSE(again->applied);
    auto release = book->release(held);
    REQUIRE(release.ok());
    CHECK_FALSE(*release);
    CHECK(balance(*book, "u:1") == 960);

    auto released = must_reserve(*book, {"u:1"}, 100, "r2");
    REQUIRE(book->release(released).value());
    CHECK_FALSE(book->release(released).value());
    CHECK_FALSE(book->settle(released, 0).value().applied);
    CHECK(balance(*book, "u:1") == 960);

    // A moved-from handle is closed too, so only the new owner can settle.
    auto original = must_reserve(*book, {"u:1"}, 100, "r3");
    QuotaReservation moved = std::move(original);
    CHECK_FALSE(book->settle(original, 0).value().applied);  // NOLINT(bugprone-use-after-move)
    CHECK(balance(*book, "u:1") == 860);
    CHECK(book->settle(moved, 0).value().applied);
    CHECK(balance(*book, "u:1") == 960);
}

// Top-ups written to the database reach the live balance once per version, on any number of
// instances, and a stale reader never undoes a newer change.
void seed_and_sync_apply_credit_changes_once(const BookMaker& books) {
    auto book = books();
    auto other = books();  // a second gateway: the same Redis, or (memory) its own book
    REQUIRE(book->seed("u:7", 1000, 5000, 10).value());
    CHECK_FALSE(book->seed("u:7", 99, 99, 99).value());  // live: never overwritten
    CHECK(balance(*book, "u:7") == 1000);

    auto held = must_reserve(*book, {"u:7"}, 300, "r1");
    // A top-up of 2000 (credits 5000 -> 7000, ledger id 12) seen by the book.
    CHECK(book->sync("u:7", 7000, 12).value());
    CHECK(balance(*book, "u:7") == 2700);
    // The same change seen again, or by a gateway that read the database late: nothing.
    CHECK_FALSE(book->sync("u:7", 7000, 12).value());
    CHECK_FALSE(book->sync("u:7", 5000, 10).value());
    CHECK(balance(*book, "u:7") == 2700);
    REQUIRE(book->settle(held, 100).value().applied);
    CHECK(balance(*book, "u:7") == 2900);

    // A lowered key limit takes money away (version = config revision).
    REQUIRE(book->seed("k:3", 400, 500, 1).value());
    CHECK(book->sync("k:3", 200, 2).value());
    CHECK(balance(*book, "k:3") == 100);
    // Not live: nothing to sync; the next seed reads the database.
    CHECK_FALSE(book->sync("u:404", 10, 1).value());
    CHECK_FALSE(book->available("u:404").value().has_value());

    // Racing syncs of the same change from 8 threads apply it once.
    REQUIRE(other->seed("u:8", 0, 0, 1).value());
    std::vector<std::thread> threads;
    std::atomic<int> applied{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            if (other->sync("u:8", 500, 2).value()) ++applied;
        });
    for (auto& t : threads) t.join();
    CHECK(applied == 1);
    CHECK(balance(*other, "u:8") == 500);
}

}  // namespace

#define QUOTA_CASE(name, body)                                            \
    TEST_CASE("MemoryQuotaBook: " name, "[quota][memory]") {              \
        body(memory_books());                                             \
    }                                                                     \
    TEST_CASE("RedisQuotaBook: " name, "[quota][redis]") {                \
        if (redis_url().empty()) {                                        \
            WARN("TIANSHU_TEST_REDIS_URL is not set: run with_redis.sh"); \
            return;                                                       \
        }                                                                 \
        body(redis_books());                                              \
    }

QUOTA_CASE("reserve, settle and release move the right amounts", reserve_settle_release_arithmetic)
QUOTA_CASE("load never overwrites a live balance; credit needs a loaded account",
           load_credit_available)
QUOTA_CASE("unloaded accounts and bad arguments take nothing", unloaded_and_invalid_arguments)
QUOTA_CASE("a user and a key are reserved all or nothing", two_accounts_all_or_nothing)
QUOTA_CASE("16 threads racing take exactly the balance", racing_threads_take_exactly_the_balance)
QUOTA_CASE("16 threads racing on user and key stop at the smaller", racing_threads_on_two_accounts)
QUOTA_CASE("settling above the reservation stops at zero and reports the shortfall",
           settle_above_reserved_stops_at_zero)
QUOTA_CASE("concurrent overruns never push a balance below zero",
           concurrent_overruns_never_go_below_zero)
QUOTA_CASE("settling or releasing twice changes nothing", closing_twice_changes_nothing)
QUOTA_CASE("credit changes reach the live balance once per version",
           seed_and_sync_apply_credit_changes_once)

// ---------------------------------------------------------------------------------------------
// Redis only

namespace {

bool have_redis() {
    if (redis_url().empty()) {
        WARN("TIANSHU_TEST_REDIS_URL is not set: run with_redis.sh");
        return false;
    }
    return true;
}

//! A raw client on the test Redis, to do what the book never does (kill its connections).
Poco::Redis::Client raw_client() {
    Poco::URI uri(redis_url());
    return Poco::Redis::Client(uri.getHost(), uri.getPort());
}

}  // namespace

TEST_CASE("RedisQuotaBook: two gateways racing take exactly the balance in total",
          "[quota][redis]") {
    if (!have_redis()) return;
    auto books = redis_books();
    auto gateway_a = books();
    auto gateway_b = books();
    REQUIRE(gateway_a->load("u:1", 400).value());
    CHECK_FALSE(gateway_b->load("u:1", 400).value());  // seeded once, by whoever came first

    auto won = race_to_reserve({gateway_a, gateway_b}, 8, {"u:1"}, 1);
    CHECK(won.size() == 400u);
    CHECK(balance(*gateway_a, "u:1") == 0);
    CHECK(balance(*gateway_b, "u:1") == 0);
}

TEST_CASE("RedisQuotaBook: a settle by id after the handle's settle changes nothing",
          "[quota][redis]") {
    if (!have_redis()) return;
    hub::RedisQuotaConfig config;
    config.url = redis_url();
    config.key_prefix = unique_prefix();
    auto opened = hub::RedisQuotaBook::open(config);
    REQUIRE(opened.ok());
    auto& book = *opened.value();
    REQUIRE(book.load("u:1", 1000).value());
    auto held = must_reserve(book, {"u:1"}, 100, "r1");

    // Another gateway settles it by id (e.g. after this one restarted) ...
    auto by_id = book.settle_by_id("r1", 30);
    REQUIRE(by_id.ok());
    CHECK(by_id->applied);
    CHECK(balance(book, "u:1") == 970);
    // ... so this handle's settle, and a retried settle by id, find it closed.
    CHECK_FALSE(book.settle(held, 0).value().applied);
    CHECK_FALSE(book.settle_by_id("r1", 0).value().applied);
    CHECK(balance(book, "u:1") == 970);
}

TEST_CASE("RedisQuotaBook: a retried reserve with the same id takes once", "[quota][redis]") {
    if (!have_redis()) return;
    auto book = redis_books()();
    REQUIRE(book->load("u:1", 1000).value());
    auto first = must_reserve(*book, {"u:1"}, 100, "r1");
    auto retry = must_reserve(*book, {"u:1"}, 100, "r1");
    CHECK(balance(*book, "u:1") == 900);
    auto other = book->reserve(std::vector<std::string_view>{"u:1"}, 200, "r1");
    REQUIRE_FALSE(other.ok());
    CHECK_THAT(other.error().message, Catch::Contains("r1"));
    REQUIRE(book->release(first).value());
    CHECK_FALSE(book->release(retry).value());
    CHECK(balance(*book, "u:1") == 1000);
}

TEST_CASE("RedisQuotaBook: reconnects after Redis drops its connections", "[quota][redis]") {
    if (!have_redis()) return;
    auto book = redis_books()();
    REQUIRE(book->load("u:1", 1000).value());
    auto held = must_reserve(*book, {"u:1"}, 100, "r1");

    auto admin = raw_client();
    Poco::Redis::Array kill;
    kill << "CLIENT"
         << "KILL"
         << "TYPE"
         << "normal"
         << "SKIPME"
         << "yes";
    CHECK(admin.execute<Poco::Int64>(kill) >= 1);

    CHECK(balance(*book, "u:1") == 900);
    REQUIRE(book->settle(held, 100).value().applied);
    CHECK(balance(*book, "u:1") == 900);
}

TEST_CASE("RedisQuotaBook: an unreachable Redis is an unavailable error naming it", "[quota]") {
    hub::RedisQuotaConfig config;
    config.url = "redis://127.0.0.1:1";
    config.connect_timeout = std::chrono::milliseconds(500);
    auto opened = hub::RedisQuotaBook::open(config);
    REQUIRE_FALSE(opened.ok());
    CHECK(opened.error().kind == core::ErrorKind::unavailable);
    CHECK_THAT(opened.error().message, Catch::Contains("127.0.0.1:1"));
}

TEST_CASE("RedisQuotaBook: a malformed URL is refused naming it", "[quota]") {
    for (std::string url : {"http://127.0.0.1:6379", "redis://", "redis://127.0.0.1:6379/x"}) {
        hub::RedisQuotaConfig config;
        config.url = url;
        auto opened = hub::RedisQuotaBook::open(config);
        REQUIRE_FALSE(opened.ok());
        CHECK(opened.error().kind == core::ErrorKind::internal);
        CHECK_THAT(opened.error().message, Catch::Contains(url));
    }
}
