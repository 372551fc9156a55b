// Two gateways sharing one MariaDB and one Redis enforce one quota: a user funded for exactly N
// calls gets exactly N successes across both under concurrent load. Needs
// TIANSHU_TEST_DB_URL and TIANSHU_TEST_REDIS_URL (with_mariadb.sh and with_redis.sh start them).
#include <atomic>
#include <thread>

#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "test_store.hpp"

using namespace tianshu::it;

TEST_CASE("two gateways on one MariaDB and one Redis enforce one quota",
          "[integration][metering][redis]") {
    const char* redis = std::getenv("TIANSHU_TEST_REDIS_URL");
    const char* db = std::getenv("TIANSHU_TEST_DB_URL");
    if (!redis || !*redis || !db || !*db) {
        FAIL(
            "needs TIANSHU_TEST_DB_URL and TIANSHU_TEST_REDIS_URL: run under with_mariadb.sh "
            "and with_redis.sh (ctest -R it_two_gateways does)");
    }
    Store s("two-gateways");
    REQUIRE_FALSE(s.db_url.empty());
    auto o = s.serve_options();
    // Both seal upstream keys with one key, shared the documented way (not by copying files).
    o.extra_args.insert(o.extra_args.end(),
                        {"--redis", redis, "--secret-key-file", (s.tmp / "fleet.key").string()});
    GatewayProcess a(o);
    // The second one has its own data dir (journal, default secret file), the same database.
    TempDir other("two-gateways-b");
    auto o2 = o;
    o2.data_dir = other / "data";
    fs::create_directories(o2.data_dir);
    GatewayProcess b(o2);

    REQUIRE(s.cli({"user", "add", "--name", "dave"}).exit_code == 0);
    auto made = s.cli({"key", "create", "--user", "dave", "--name", "shared"});
    REQUIRE(made.exit_code == 0);
    const std::string key = last_line(made.out);
    REQUIRE(s.cli({"price", "set", "--model", "claude-*", "--per-call", "0.1"}).exit_code == 0);
    constexpr int kFunded = 20;
    REQUIRE(s.cli({"user", "topup", "--user", "dave", "--amount", "2"}).exit_code == 0);
    for (int port : {a.port(), b.port()})
        REQUIRE(eventually(
            [&] {
                return post_json(port, "/v1/messages", anthropic_auth(key),
                                 anthropic_body("free-model", "hi"))
                           .status == 200;
            },
            2500ms));
    std::this_thread::sleep_for(1200ms);

    std::atomic<int> ok{0}, refused{0}, other_status{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 60; ++i)
        clients.emplace_back([&, i] {
            const int port = i % 2 ? a.port() : b.port();
            auto r = post_json(port, "/v1/messages", anthropic_auth(key),
                               anthropic_body("claude-sonnet-4-5", "call " + std::to_string(i)));
            if (r.status == 200)
                ++ok;
            else if (r.status == 402)
                ++refused;
            else
                ++other_status;
        });
    for (auto& c : clients) c.join();
    CHECK(ok == kFunded);
    CHECK(refused == 60 - kFunded);
    CHECK(other_status == 0);

    // Both journals written: the ledger holds exactly kFunded charges and a zero balance.
    long long charges = 0, balance = -1;
    auto store = s.open_db();
    REQUIRE(eventually(
        [&] {
            (void)store->with_session("read", [&](soci::session& q) {
                q << "SELECT COUNT(*) FROM ledger WHERE kind = 'charge'", soci::into(charges);
                q << "SELECT balance FROM users WHERE name = 'dave'", soci::into(balance);
            });
            return charges == kFunded;
        },
        3000ms));
    CHECK(balance == 0);

    // A top-up made once reaches both gateways' shared quota once: 5 more calls in total.
    REQUIRE(s.cli({"user", "topup", "--user", "dave", "--amount", "0.5"}).exit_code == 0);
    std::this_thread::sleep_for(1500ms);
    int more = 0;
    for (int i = 0; i < 12; ++i)
        more += post_json(i % 2 ? a.port() : b.port(), "/v1/messages", anthropic_auth(key),
                          anthropic_body("claude-sonnet-4-5", "more"))
                    .status == 200;
    CHECK(more == 5);
}
