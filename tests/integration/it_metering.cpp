// Metering through the real server: key limits refused in the client's protocol with the right
// status, quota reserved before the call so a user funded for exactly N calls gets exactly N
// under concurrency, top-ups reaching a running server, the ledger equal to the balance and to
// the logged costs. Runs on SQLite, and on MariaDB when TIANSHU_TEST_DB_URL is set
// (it_metering_mariadb).
#include <atomic>
#include <thread>

#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "test_store.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

struct Totals {
    long long balance = 0, ledger = 0, charges = 0, charge_rows = 0, logged_cost = 0, rows = 0,
              ok_rows = 0;
};

//! What the database says about `user`, read independently of the server.
Totals totals(const Store& s, const std::string& user) {
    auto db = s.open_db();
    Totals t;
    auto r = db->with_session("read totals", [&](soci::session& q) {
        long long id = 0;
        q << "SELECT id, balance FROM users WHERE name = :n", soci::use(user), soci::into(id),
            soci::into(t.balance);
        soci::indicator i1, i2, i3, i4;
        q << "SELECT SUM(amount) FROM ledger WHERE user_id = :u", soci::use(id),
            soci::into(t.ledger, i1);
        q << "SELECT SUM(amount), COUNT(*) FROM ledger WHERE user_id = :u AND kind = 'charge'",
            soci::use(id), soci::into(t.charges, i2), soci::into(t.charge_rows);
        q << "SELECT SUM(cost), COUNT(*) FROM request_logs WHERE user_id = :u", soci::use(id),
            soci::into(t.logged_cost, i3), soci::into(t.rows);
        q << "SELECT COUNT(*) FROM request_logs WHERE user_id = :u AND status = 200", soci::use(id),
            soci::into(t.ok_rows, i4);
    });
    REQUIRE(r.ok());
    return t;
}

//! Creates a user and a key (extra flags are key limits); returns the key.
std::string user_with_key(const Store& s, const std::string& user,
                          std::vector<std::string> key_flags = {}) {
    auto u = s.cli({"user", "add", "--name", user});
    INFO(u.err);
    REQUIRE(u.exit_code == 0);
    std::vector<std::string> args{"key", "create", "--user", user, "--name", user + "-key"};
    args.insert(args.end(), key_flags.begin(), key_flags.end());
    auto k = s.cli(args);
    INFO(k.err);
    REQUIRE(k.exit_code == 0);
    return last_line(k.out);
}

void must(const Store& s, std::vector<std::string> args) {
    auto r = s.cli(args);
    INFO(args[0] << " " << args[1] << ": " << r.err);
    REQUIRE(r.exit_code == 0);
}

HttpResponse ask(int port, const std::string& key, const std::string& model = "claude-sonnet-4-5") {
    return post_json(port, "/v1/messages", anthropic_auth(key), anthropic_body(model, "hello"));
}

}  // namespace

TEST_CASE("metering: each key limit is refused in the client's protocol with its status",
          "[integration][metering]") {
    Store s("metering-limits");
    auto o = s.serve_options();
    GatewayProcess gw(o);
    const std::string expired = user_with_key(s, "expired", {"--expires", "2099-01-01T00:00:00Z"});
    const std::string denied = user_with_key(s, "denied", {"--deny-ip", "127.0.0.0/8"});
    const std::string narrow = user_with_key(s, "narrow", {"--models", "gpt-*"});
    const std::string slow = user_with_key(s, "slow", {"--rpm", "2"});
    // Every key is live once the server reloaded.
    REQUIRE(eventually([&] { return ask(gw.port(), narrow, "gpt-4o").status == 200; }, 2500ms));
    // Expire one key in the past, as time would (the CLI refuses a past date).
    {
        auto db = s.open_db();
        REQUIRE(db->with_session("expire", [&](soci::session& q) {
                      q << "UPDATE api_keys SET expires_at = 1000 WHERE name = 'expired-key'";
                      q << "UPDATE config_revision SET revision = revision + 1";
                  }).ok());
    }
    REQUIRE(eventually(
        [&] { return ask(gw.port(), expired).body.find("expired at") != std::string::npos; },
        2500ms));

    auto r = ask(gw.port(), expired);
    CHECK(is_anthropic_error(r.json()));
    CHECK(r.json()["error"]["type"] == "authentication_error");
    CHECK_THAT(r.body, Contains("expired-key") && Contains("expired"));
    auto o401 = post_json(gw.port(), "/v1/chat/completions", openai_auth(expired),
                          openai_body("claude-x", "hi"));
    CHECK(o401.status == 401);
    CHECK(is_openai_error(o401.json()));

    r = ask(gw.port(), denied);
    CHECK(r.status == 403);
    CHECK(r.json()["error"]["type"] == "permission_error");
    CHECK_THAT(r.body, Contains("127.0.0.1"));

    r = ask(gw.port(), narrow, "claude-opus-4");
    CHECK(r.status == 403);
    CHECK_THAT(r.body, Contains("claude-opus-4") && Contains("gpt-*"));
    CHECK(ask(gw.port(), narrow, "gpt-4o").status == 200);

    CHECK(ask(gw.port(), slow).status == 200);
    CHECK(ask(gw.port(), slow).status == 200);
    r = ask(gw.port(), slow);
    CHECK(r.status == 429);
    CHECK(r.json()["error"]["type"] == "rate_limit_error");
    CHECK(r.headers.count("retry-after") == 1);
    auto o429 = post_json(gw.port(), "/v1/chat/completions", openai_auth(slow),
                          openai_body("claude-x", "hi"));
    CHECK(o429.status == 429);
    CHECK(is_openai_error(o429.json()));
}

TEST_CASE("metering: a user funded for exactly N calls gets exactly N under concurrency",
          "[integration][metering][quota]") {
    Store s("metering-quota");
    auto o = s.serve_options();
    GatewayProcess gw(o);
    const std::string key = user_with_key(s, "alice");
    must(s, {"price", "set", "--model", "claude-*", "--per-call", "0.25"});
    must(s, {"user", "topup", "--user", "alice", "--amount", "1.5"});  // exactly 6 calls
    // The price reaches the server with the next reload.
    // The new key reaches the server with its next reload; an unpriced model is free (logged).
    REQUIRE(eventually([&] { return ask(gw.port(), key, "gpt-free").status == 200; }, 2500ms));
    std::this_thread::sleep_for(1200ms);

    std::atomic<int> ok{0}, refused{0}, other{0};
    std::vector<std::thread> clients;
    for (int i = 0; i < 24; ++i)
        clients.emplace_back([&, i] {
            auto r = i % 2 ? ask(gw.port(), key)
                           : post_json(gw.port(), "/v1/chat/completions", openai_auth(key),
                                       openai_body("claude-haiku-4", "hi"));
            if (r.status == 200)
                ++ok;
            else if (r.status == 402)
                ++refused;
            else
                ++other;
        });
    for (auto& c : clients) c.join();
    CHECK(ok == 6);
    CHECK(refused == 18);
    CHECK(other == 0);

    // Refusals name the balance and the fix, in each protocol's shape.
    auto r = ask(gw.port(), key);
    CHECK(r.status == 402);
    CHECK(r.json()["error"]["type"] == "billing_error");
    CHECK_THAT(r.body, Contains("alice") && Contains("top up"));
    auto o402 = post_json(gw.port(), "/v1/chat/completions", openai_auth(key),
                          openai_body("claude-haiku-4", "hi"));
    CHECK(o402.status == 402);
    CHECK(o402.json()["error"]["code"] == "insufficient_quota");

    // The database, once the batch is written: balance 0, ledger sum == balance, charges equal
    // the logged costs, one charge per successful priced call.
    Totals t;
    REQUIRE(eventually(
        [&] {
            t = totals(s, "alice");
            return t.charge_rows == 6 && t.rows >= 27;
        },
        3000ms));
    CHECK(t.balance == 0);
    CHECK(t.ledger == t.balance);
    CHECK(-t.charges == t.logged_cost);
    CHECK(t.logged_cost == 1'500'000);
    CHECK(t.rows == 27);  // every call has its row: 1 free, 24 raced, 2 refused

    // A top-up reaches the running server within 2 s: two more calls, then refused again.
    must(s, {"user", "topup", "--user", "alice", "--amount", "0.5"});
    auto at = std::chrono::steady_clock::now();
    REQUIRE(eventually([&] { return ask(gw.port(), key).status == 200; }, 2500ms));
    CHECK(std::chrono::steady_clock::now() - at < 2500ms);
    CHECK(ask(gw.port(), key).status == 200);
    CHECK(ask(gw.port(), key).status == 402);
}

TEST_CASE("metering: a key's own quota caps it below the user's balance; token prices are exact",
          "[integration][metering][quota]") {
    Store s("metering-key-quota");
    auto o = s.serve_options();
    GatewayProcess gw(o);
    const std::string capped = user_with_key(s, "bob", {"--quota", "0.5"});
    must(s, {"price", "set", "--model", "capped-*", "--per-call", "0.2"});
    must(s, {"price", "set", "--model", "tokens-*", "--input", "3", "--output", "15"});
    must(s, {"user", "topup", "--user", "bob", "--amount", "100"});
    REQUIRE(eventually([&] { return ask(gw.port(), capped, "free-model").status == 200; }, 2500ms));
    std::this_thread::sleep_for(1200ms);  // and the prices with the same reload

    int ok = 0;
    for (int i = 0; i < 4; ++i) ok += ask(gw.port(), capped, "capped-model").status == 200;
    CHECK(ok == 2);  // 0.5 / 0.2
    auto r = ask(gw.port(), capped, "capped-model");
    CHECK(r.status == 402);
    CHECK_THAT(r.body, Contains("bob-key") && Contains("quota"));

    // Raising the key's quota reaches the server with the config reload.
    long long key_id = 0;
    REQUIRE(s.open_db()
                ->with_session("key id",
                               [&](soci::session& q) {
                                   q << "SELECT id FROM api_keys WHERE name = 'bob-key'",
                                       soci::into(key_id);
                               })
                .ok());
    must(s, {"key", "set-limits", "--id", std::to_string(key_id), "--quota", "0.9"});
    REQUIRE(
        eventually([&] { return ask(gw.port(), capped, "capped-model").status == 200; }, 2500ms));

    // Token pricing: the logged cost is (in * 3 + out * 15) / 1e6 units, rounded up.
    auto priced = ask(gw.port(), capped, "tokens-model");
    REQUIRE(priced.status == 200);
    const std::string id = priced.json().value("id", "");
    REQUIRE(eventually(
        [&] {
            auto db = s.open_db();
            long long n = 0;
            (void)db->with_session("count", [&](soci::session& q) {
                q << "SELECT COUNT(*) FROM request_logs WHERE requested_model = 'tokens-model'",
                    soci::into(n);
            });
            return n == 1;
        },
        3000ms));
    auto db = s.open_db();
    long long in = 0, out = 0, cost = 0;
    REQUIRE(db->with_session("row", [&](soci::session& q) {
                  q << "SELECT input_tokens, output_tokens, cost FROM request_logs WHERE "
                       "requested_model = 'tokens-model'",
                      soci::into(in), soci::into(out), soci::into(cost);
              }).ok());
    CHECK(in > 0);
    CHECK(out > 0);
    // micros = ceil((in * 3e6 + out * 15e6) / 1e6)
    CHECK(cost == in * 3 + out * 15);
    (void)id;
}

TEST_CASE("metering: a strategy's call_model calls are billed with the request at their price",
          "[integration][metering][side_calls]") {
    Store s("metering-side-calls");
    auto o = s.serve_options();
    o.scripts_dir =
        make_scripts_dir(s.tmp / "scripts", {"models/demo.lua", "strategies/side_asker.lua"});
    for (const auto& [id, times] : {std::pair{"asker", 2}, std::pair{"greedy", 20}}) {
        const auto file = s.tmp / (std::string(id) + ".json");
        write_file(file, std::string(R"({"id":")") + id + R"(","tiers":["*"],"models":[")" + id +
                             R"(-*"],"routing":{"mode":"passthrough"},"pre":[{"plugin":)"
                             R"("side_asker","config":{"model":"side-model","times":)" +
                             std::to_string(times) + "}}]}");
        must(s, {"chain", "import", file.string(), "--scripts-dir", o.scripts_dir.string()});
    }
    GatewayProcess gw(o);
    const std::string key = user_with_key(s, "carol");
    must(s, {"price", "set", "--model", "asker-*", "--per-call", "0.25"});
    must(s, {"price", "set", "--model", "greedy-*", "--per-call", "0.25"});
    must(s, {"price", "set", "--model", "side-*", "--per-call", "0.1"});
    must(s, {"user", "topup", "--user", "carol", "--amount", "10"});
    REQUIRE(eventually([&] { return ask(gw.port(), key, "free-model").status == 200; }, 2500ms));
    std::this_thread::sleep_for(1200ms);  // and the prices with the same reload
    const long long before = totals(s, "carol").balance;

    // Two side calls at 0.1 each on top of the request's own 0.25.
    auto r = ask(gw.port(), key, "asker-model");
    REQUIRE(r.status == 200);
    CHECK_THAT(r.headers["x-tianshu-decision"], Contains("answered 2"));
    auto line = gw.wait_for_log(
        [](const Json& l) {
            return l.value("msg", "") == "request" &&
                   l.value("requested_model", "") == "asker-model";
        },
        3s);
    REQUIRE(line);
    CHECK((*line)["cost"] == 450000);
    REQUIRE((*line)["side_calls"].size() == 2);
    for (const auto& side : (*line)["side_calls"]) {
        CHECK(side["model"] == "side-model");
        CHECK(side["cost"] == 100000);
        CHECK(side["failed"] == false);
        CHECK(side["input_tokens"].get<long long>() > 0);
        CHECK(side["output_tokens"].get<long long>() > 0);
    }
    REQUIRE(eventually([&] { return totals(s, "carol").balance == before - 450000; }, 3000ms));

    // The budget: at most 16 side calls per request, the 17th refused with the reason; the
    // 16 made are billed.
    auto greedy = ask(gw.port(), key, "greedy-model");
    REQUIRE(greedy.status == 200);
    CHECK_THAT(greedy.headers["x-tianshu-decision"],
               Contains("answered 16") && Contains("budget spent"));
    REQUIRE(eventually(
        [&] { return totals(s, "carol").balance == before - 450000 - 250000 - 16 * 100000; },
        3000ms));
    const Totals t = totals(s, "carol");
    CHECK(t.ledger == t.balance);
    CHECK(-t.charges == t.logged_cost);

    auto metrics = http_request(gw.port(), "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    CHECK_THAT(
        metrics.body,
        Contains(R"(tianshu_side_calls_total{chain="asker",outcome="ok",model="side-model"} 2)"));
    CHECK_THAT(metrics.body, Contains(R"(tianshu_side_calls_total{chain="greedy",outcome="ok",)"
                                      R"(model="side-model"} 16)"));
}

TEST_CASE("metering: the tier's price ratio applies on top of the model price",
          "[integration][metering][tier]") {
    Store s("metering-tier");
    auto o = s.serve_options();
    GatewayProcess gw(o);
    must(s, {"tier", "add", "--name", "vip", "--ratio", "0.5"});
    const std::string regular = user_with_key(s, "reg");
    const std::string vip = user_with_key(s, "vipuser");
    must(s, {"user", "set-tier", "--user", "vipuser", "--tier", "vip"});
    must(s, {"price", "set", "--model", "claude-*", "--per-call", "0.25"});
    for (const char* u : {"reg", "vipuser"})
        must(s, {"user", "topup", "--user", u, "--amount", "1"});
    REQUIRE(eventually([&] { return ask(gw.port(), vip, "free").status == 200; }, 2500ms));
    std::this_thread::sleep_for(1200ms);
    int reg_ok = 0, vip_ok = 0;
    for (int i = 0; i < 10; ++i) {
        reg_ok += ask(gw.port(), regular).status == 200;
        vip_ok += ask(gw.port(), vip).status == 200;
    }
    CHECK(reg_ok == 4);  // 1 / 0.25
    CHECK(vip_ok == 8);  // 1 / (0.25 * 0.5)
    Totals t;
    REQUIRE(eventually(
        [&] {
            t = totals(s, "vipuser");
            return t.charge_rows == 8;
        },
        3000ms));
    CHECK(t.logged_cost == 1'000'000);
    CHECK(t.balance == 0);
}

TEST_CASE("metering: request log rows older than the retention are pruned by the server",
          "[integration][metering][retention]") {
    Store s("metering-retention");
    auto o = s.serve_options();
    {
        GatewayProcess first(o);  // creates the store
    }
    const long long now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    {
        auto db = s.open_db();
        REQUIRE(
            db->with_session("old rows", [&](soci::session& q) {
                  for (long long age_days : {100LL, 40LL, 10LL, 0LL}) {
                      const long long at = now_ms - age_days * 86'400'000LL;
                      const std::string id = "old-" + std::to_string(age_days);
                      q << "INSERT INTO request_logs (request_id, created_at, user_id, channel, "
                           "requested_model, upstream_model, input_tokens, output_tokens, "
                           "cache_read_tokens, cache_write_tokens, reasoning_tokens, cost, "
                           "latency_ms, ttft_ms, status, error_kind, client_ip, retries, "
                           "stream) VALUES (:id, :at, 1, 'c', 'm', 'm', 0, 0, 0, 0, 0, 0, 0, "
                           "0, 200, '', '127.0.0.1', 0, 0)",
                          soci::use(id), soci::use(at);
                  }
              }).ok());
    }
    o.extra_args.insert(o.extra_args.end(), {"--log-retention-days", "30"});
    GatewayProcess gw(o);
    auto remaining = [&] {
        std::vector<std::string> ids;
        auto db = s.open_db();
        (void)db->with_session("ids", [&](soci::session& q) {
            soci::rowset<std::string> rows =
                (q.prepare << "SELECT request_id FROM request_logs ORDER BY request_id");
            for (const auto& r : rows) ids.push_back(r);
        });
        return ids;
    };
    REQUIRE(eventually([&] { return remaining().size() == 2; }, 3000ms));
    CHECK(remaining() == std::vector<std::string>{"old-0", "old-10"});

    // A bad value is refused naming the flag.
    auto bad = run_cli({"serve", "--data", s.data.string(), "--log-retention-days", "-3"});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Contains("--log-retention-days"));
}
