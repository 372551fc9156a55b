// Billing survives a crash: a gateway killed with SIGKILL under load loses nothing it answered,
// and after the restart (which replays its usage journal) the ledger's charges equal the costs
// of the logged requests, each charged exactly once.
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "test_store.hpp"

using namespace tianshu::it;

TEST_CASE("durability: kill -9 under load loses no answered request and charges none twice",
          "[integration][metering][durability]") {
    Store s("durability");
    auto o = s.serve_options();
    auto gw = std::make_unique<GatewayProcess>(o);
    auto add = s.cli({"user", "add", "--name", "carol"});
    REQUIRE(add.exit_code == 0);
    auto made = s.cli({"key", "create", "--user", "carol", "--name", "load"});
    REQUIRE(made.exit_code == 0);
    const std::string key = last_line(made.out);
    REQUIRE(s.cli({"price", "set", "--model", "claude-*", "--per-call", "0.001"}).exit_code == 0);
    REQUIRE(s.cli({"user", "topup", "--user", "carol", "--amount", "1000"}).exit_code == 0);
    REQUIRE(eventually(
        [&] {
            return post_json(gw->port(), "/v1/messages", anthropic_auth(key),
                             anthropic_body("warm-up", "hi"))
                       .status == 200;
        },
        2500ms));
    std::this_thread::sleep_for(1200ms);  // the price is in the same reload; be sure

    // 12 clients in a loop; every complete 200 answer's id is kept.
    std::mutex mutex;
    std::set<std::string> answered;
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0};
    std::vector<std::thread> clients;
    const int port = gw->port();
    for (int c = 0; c < 12; ++c)
        clients.emplace_back([&, c] {
            while (!stop) {
                try {
                    ++sent;
                    auto r =
                        post_json(port, "/v1/messages", anthropic_auth(key),
                                  anthropic_body("claude-sonnet-4-5", "load " + std::to_string(c)));
                    if (r.status != 200) continue;
                    Json j = r.json();
                    if (!j.is_object() || j.value("stop_reason", "").empty()) continue;
                    std::lock_guard lock(mutex);
                    answered.insert(j.value("id", ""));
                } catch (...) {
                    return;  // the gateway is gone
                }
            }
        });
    std::this_thread::sleep_for(1500ms);
    ::kill(gw->pid(), SIGKILL);
    stop = true;
    for (auto& c : clients) c.join();
    gw.reset();
    INFO("sent " << sent << ", answered " << answered.size());
    REQUIRE(answered.size() > 50);

    // The restart replays whatever the killed process had not written yet.
    o.extra_args.clear();
    if (!s.db_url.empty()) o.extra_args = {"--db", s.db_url};
    auto again = std::make_unique<GatewayProcess>(o);
    again.reset();  // a clean stop writes everything queued

    auto db = s.open_db();
    const long long logged_cost = check_answered_billed_once(*db, answered, "carol");
    // carol's top-up less what was logged: no charge outside the log
    long long balance = 0;
    REQUIRE(db->with_session("read", [&](soci::session& q) {
                  q << "SELECT balance FROM users WHERE name = 'carol'", soci::into(balance);
              }).ok());
    CHECK(balance == 1'000'000'000 - logged_cost);
    // The dashboard's rollups, kept in the log rows' transaction, count each logged row once.
    long long logged = 0, rolled = 0, rolled_cost = 0, hourly = 0;
    REQUIRE(db->with_session("read", [&](soci::session& q) {
                  q << "SELECT COUNT(*) FROM request_logs", soci::into(logged);
                  q << "SELECT CAST(COALESCE(SUM(requests), 0) AS SIGNED), "
                       "CAST(COALESCE(SUM(cost), 0) AS SIGNED) FROM usage_rollups "
                       "WHERE granularity = 'd' AND dimension = 'all'",
                      soci::into(rolled), soci::into(rolled_cost);
                  q << "SELECT CAST(COALESCE(SUM(requests), 0) AS SIGNED) FROM usage_rollups "
                       "WHERE granularity = 'h' AND dimension = 'user'",
                      soci::into(hourly);
              }).ok());
    CHECK(rolled == logged);
    CHECK(hourly == logged);
    CHECK(rolled_cost == logged_cost);
}
