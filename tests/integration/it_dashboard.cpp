// Usage rollups and the routes that read them: the journal's writer keeps the hour and day
// rollups equal to the request log (a replay, a killed writer's journal or migration 5's
// backfill never count a row twice nor lose one), and GET /dashboard, /health and /me/usage
// answer from them through AdminApi with an admin session. A fresh SQLite file per test case,
// or the MariaDB named by TIANSHU_TEST_DB_URL (it_dashboard_mariadb).

#include "../unit/store/test_database.hpp"
#include "core/slow_work_pool.hpp"
#include "hub/credentials.hpp"
#include "hub/login_throttle.hpp"
#include "hub/money.hpp"
#include "hub/password_hasher.hpp"
#include "hub/usage_journal.hpp"
#include "server/admin_api.hpp"
#include "store/channel_probes.hpp"
#include "store/channels.hpp"
#include "store/ledger.hpp"
#include "store/migrations.hpp"
#include "store/request_logs.hpp"
#include "store/rollups.hpp"
#include "store/users.hpp"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <soci/soci.h>
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <random>
#include <tuple>

using namespace tianshu;
using core::Json;
using store::RollupDimension;
using store::RollupGranularity;
using store::testing::TestDatabase;

namespace {

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

//! What the tests compare: the summed fields of a rollup row.
using Sums = std::tuple<long long, long long, long long, long long, long long, long long, long long,
                        long long, long long, long long, long long, long long>;
using Table = std::map<std::pair<long long, std::string>, Sums>;  // (bucket, key) -> sums

Sums sums_of(const store::UsageRollup& u) {
    return {u.requests,          u.errors,
            u.input_tokens,      u.output_tokens,
            u.cache_read_tokens, u.cache_write_tokens,
            u.reasoning_tokens,  u.cost,
            u.latency_ms_sum,    u.latency_ms_max,
            u.ttft_ms_sum,       u.last_at_ms};
}

//! The rollups as the raw rows say they should be, summed here from every logged row.
Table expected_from_logs(store::Database& db, RollupGranularity g, RollupDimension d) {
    std::map<std::pair<long long, std::string>, store::UsageRollup> sums;
    const long long width = store::rollups::width_ms(g);
    auto passed = store::request_logs::for_each(db, {}, [&](const store::RequestLog& r) {
        if (d == RollupDimension::key && !r.channel_key_id) return true;
        if (d == RollupDimension::proxy && r.proxy.empty()) return true;
        std::string key = d == RollupDimension::all       ? ""
                          : d == RollupDimension::model   ? r.requested_model
                          : d == RollupDimension::channel ? r.channel
                          : d == RollupDimension::key
                              ? store::rollups::key_dim(r.channel, *r.channel_key_id)
                          : d == RollupDimension::proxy ? r.proxy
                                                        : std::to_string(r.user_id);
        auto& u = sums[{r.created_at_ms - r.created_at_ms % width, key}];
        ++u.requests;
        u.errors += r.status >= 400 ? 1 : 0;
        u.input_tokens += r.input_tokens;
        u.output_tokens += r.output_tokens;
        u.cache_read_tokens += r.cache_read_tokens;
        u.cache_write_tokens += r.cache_write_tokens;
        u.reasoning_tokens += r.reasoning_tokens;
        u.cost += r.cost;
        u.latency_ms_sum += r.latency_ms;
        u.latency_ms_max = std::max(u.latency_ms_max, r.latency_ms);
        u.ttft_ms_sum += r.ttft_ms;
        u.last_at_ms = std::max(u.last_at_ms, r.created_at_ms);
        return true;
    });
    REQUIRE(passed.ok());
    Table out;
    for (const auto& [k, u] : sums) out[k] = sums_of(u);
    return out;
}

Table rollup_table(store::Database& db, RollupGranularity g, RollupDimension d) {
    auto rows = store::rollups::read(db, {g, d, 0, 4'000'000'000'000LL, std::nullopt});
    INFO((rows.ok() ? "" : rows.error().message));
    REQUIRE(rows.ok());
    Table out;
    for (const auto& u : rows.value()) out[{u.bucket_start_ms, u.key}] = sums_of(u);
    return out;
}

constexpr std::initializer_list<RollupDimension> kAllDimensions = {
    RollupDimension::all,  RollupDimension::model, RollupDimension::channel,
    RollupDimension::user, RollupDimension::key,   RollupDimension::proxy};

//! Every granularity and dimension of the rollups equals what the request log gives.
void require_rollups_match_logs(store::Database& db,
                                std::initializer_list<RollupDimension> dims = kAllDimensions) {
    for (RollupGranularity g : {RollupGranularity::hour, RollupGranularity::day})
        for (RollupDimension d : dims) {
            INFO("granularity " << (g == RollupGranularity::hour ? "hour" : "day") << ", dimension "
                                << static_cast<int>(d));
            const Table expected = expected_from_logs(db, g, d);
            REQUIRE_FALSE(expected.empty());
            CHECK(rollup_table(db, g, d) == expected);
        }
}

long long count_logs(store::Database& db) {
    long long n = 0;
    REQUIRE(db.with_session("count", [&](soci::session& s) {
                  s << "SELECT COUNT(*) FROM request_logs", soci::into(n);
              }).ok());
    return n;
}

//! `n` records over the last `hours` hours (seeded: the same every run), by three users, on
//! three models and two channels (and "" for refusals), some failed.
std::vector<store::UsageRecord> records(const std::vector<long long>& users, int n,
                                        const std::string& prefix, long long hours = 60) {
    std::mt19937_64 random(42);
    const long long now = now_ms();
    const char* models[] = {"claude-sonnet-4-5", "deepseek-chat", "kimi-k2"};
    const char* channels[] = {"alpha", "gamma", ""};
    std::vector<store::UsageRecord> out;
    for (int i = 0; i < n; ++i) {
        store::UsageRecord r;
        r.request_id = prefix + std::to_string(i);
        r.created_at_ms = now - static_cast<long long>(random() % (hours * 3'600'000));
        r.user_id = users[random() % users.size()];
        r.requested_model = models[random() % 3];
        r.upstream_model = r.requested_model + "-up";
        r.channel = channels[random() % 3];
        r.input_tokens = static_cast<long long>(random() % 5000);
        r.output_tokens = static_cast<long long>(random() % 800);
        r.cache_read_tokens = static_cast<long long>(random() % 100);
        r.reasoning_tokens = static_cast<long long>(random() % 50);
        r.cost = static_cast<long long>(random() % 20'000);
        r.latency_ms = static_cast<long long>(random() % 3000);
        r.ttft_ms = r.latency_ms / 3;
        r.status = random() % 7 == 0 ? 502 : 200;
        // The channel key that served it (not for refusals), and for alpha a proxy with
        // credentials the store must drop; taken from the figures above, so the seeded draws
        // (and so every other figure) stay what they were.
        if (!r.channel.empty() && r.input_tokens % 4 != 0)
            r.channel_key_id = 10 + r.output_tokens % 2;
        if (r.channel == "alpha" && r.latency_ms % 2 == 0)
            r.proxy = "http://bob:hunter2-SECRET@proxy.example:3128";
        out.push_back(std::move(r));
    }
    return out;
}

constexpr const char* kAdminPassword = "admin-password-1";
constexpr int kTestIterations = 1000;

//! A store with an admin ("ada") and two users, the admin API and ada's session.
struct DashboardFixture {
    TestDatabase t;
    core::SlowWorkPool pool{core::SlowWorkPool::Options{1, 64, true}};
    hub::PasswordHasher passwords{pool, kTestIterations};
    hub::LoginThrottle logins{hub::LoginLimits{}};
    std::unique_ptr<server::AdminApi> api;
    std::string token;
    std::vector<long long> users;
    long long ada = 0;

    explicit DashboardFixture(bool with_in_flight = true) {
        server::AdminApiOptions options;
        options.passwords = &passwords;
        options.logins = &logins;
        if (with_in_flight) options.in_flight = [] { return 7LL; };
        api = std::make_unique<server::AdminApi>(
            db(), nullptr, [] {}, options);
        ada = add_user("ada", "admin", kAdminPassword);
        users = {ada, add_user("bob", "user", ""), add_user("cy", "user", "")};
        for (long long u : users)
            REQUIRE(store::ledger::topup(db(), u, 1'000'000'000, std::nullopt, "seed").ok());
        auto out =
            call("POST", "/login", "", Json{{"name", "ada"}, {"password", kAdminPassword}}.dump());
        REQUIRE(out.first == 201);
        token = out.second["token"];
    }
    store::Database& db() { return *t.db; }

    long long add_user(const std::string& name, const std::string& role,
                       const std::string& password) {
        auto u = store::users::create(
            db(), {name, role, "default",
                   password.empty() ? "" : hub::hash_password(password, kTestIterations)});
        REQUIRE(u.ok());
        return u.value().id;
    }

    std::pair<int, Json> call(const std::string& method, const std::string& target,
                              const std::string& bearer, const std::string& body = "") {
        struct Writer : server::ResponseWriter {
            int status = 0;
            std::string body;
            void set_header(std::string_view, std::string_view) override {}
            void send(int s, std::string_view, std::string_view b) override {
                status = s;
                body = std::string(b);
            }
            bool begin_stream() override { return false; }
            bool write(std::string_view) override { return false; }
        } out;
        auto c =
            server::make_admin_call(method, "/admin/api" + target,
                                    bearer.empty() ? "" : "Bearer " + bearer, body, "127.0.0.1");
        REQUIRE(c.ok());
        api->handle(c.value(), out);
        INFO(out.body);
        Json j = out.body.empty() ? Json() : Json::parse(out.body, nullptr, false);
        return {out.status, j};
    }
    Json get(const std::string& target, int expected = 200) {
        auto [status, body] = call("GET", target, token);
        INFO(target << " -> " << body.dump());
        REQUIRE(status == expected);
        return body;
    }
};

void record_all(store::Database& db, const std::vector<store::UsageRecord>& all,
                std::size_t batch = 97) {
    for (std::size_t i = 0; i < all.size(); i += batch) {
        std::vector<store::UsageRecord> part(
            all.begin() + static_cast<std::ptrdiff_t>(i),
            all.begin() + static_cast<std::ptrdiff_t>(std::min(all.size(), i + batch)));
        auto done = store::request_logs::record_usage(db, part);
        INFO((done.ok() ? "" : done.error().message));
        REQUIRE(done.ok());
    }
}

long long sum_of(const std::vector<store::UsageRecord>& rs, long long from, long long to,
                 long long store::UsageRecord::*field, long long* count = nullptr) {
    long long sum = 0, n = 0;
    for (const auto& r : rs)
        if (r.created_at_ms >= from && r.created_at_ms < to) {
            sum += r.*field;
            ++n;
        }
    if (count) *count = n;
    return sum;
}

}  // namespace

TEST_CASE(
    "rollups: the journal's writer keeps them equal to the logged rows; a replay adds "
    "nothing") {
    DashboardFixture f;
    auto dir = f.t.sqlite_dir.empty() ? std::filesystem::temp_directory_path() /
                                            ("tianshu-rollups-" + store::testing::unique_suffix())
                                      : f.t.sqlite_dir / "journal";
    auto all = records(f.users, 1200, "j-");
    {
        auto journal = hub::UsageJournal::open(f.db(), dir, std::chrono::milliseconds(20));
        REQUIRE(journal.ok());
        for (const auto& r : all) journal.value()->record(r);
        REQUIRE(journal.value()->flush().ok());
    }
    std::filesystem::remove_all(dir);
    CHECK(count_logs(f.db()) == 1200);
    require_rollups_match_logs(f.db());
    const Table before = rollup_table(f.db(), RollupGranularity::hour, RollupDimension::all);

    // The same records again (a replay), and a batch holding one request id twice: nothing
    // already logged is counted again.
    record_all(f.db(), all, 500);
    auto twice = records(f.users, 2, "dup-");
    twice.push_back(twice.front());
    auto done = store::request_logs::record_usage(f.db(), twice);
    REQUIRE(done.ok());
    CHECK(done->inserted == 2);
    CHECK(done->duplicates == 1);
    CHECK(count_logs(f.db()) == 1202);
    require_rollups_match_logs(f.db());
    Table after = rollup_table(f.db(), RollupGranularity::hour, RollupDimension::all);
    long long added = 0;
    for (const auto& [k, v] : after)
        added += std::get<0>(v) - std::get<0>(before.count(k) ? before.at(k) : Sums{});
    CHECK(added == 2);
}

TEST_CASE("rollups: the journal of a writer killed mid-way is replayed into them exactly once") {
    DashboardFixture f;
    auto root = std::filesystem::temp_directory_path() /
                ("tianshu-rollups-kill-" + store::testing::unique_suffix());
    auto all = records(f.users, 900, "k-");
    // Half the records reach the database before the crash while their journal lines stay: the
    // replay must skip them.
    record_all(f.db(), std::vector<store::UsageRecord>(all.begin(), all.begin() + 450));
    const std::string url = f.t.url;
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        // A writer of its own, whose flushing thread never gets to write before the kill.
        auto db = store::Database::open(url, 2);
        if (!db) ::_exit(2);
        auto journal = hub::UsageJournal::open(*db.value(), root, std::chrono::hours(1));
        if (!journal) ::_exit(3);
        for (const auto& r : all) journal.value()->record(r);
        ::kill(::getpid(), SIGKILL);
        ::_exit(4);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(count_logs(f.db()) == 450);
    {
        // The next writer finds the dead one's journal and replays it.
        auto journal = hub::UsageJournal::open(f.db(), root, std::chrono::milliseconds(20));
        REQUIRE(journal.ok());
        CHECK(journal.value()->counters().replayed == 900);
    }
    std::filesystem::remove_all(root);
    CHECK(count_logs(f.db()) == 900);
    require_rollups_match_logs(f.db());
    long long cost = 0;
    for (const auto& r : all) cost += r.cost;
    auto total = store::rollups::per_key(
        f.db(), {RollupGranularity::day, RollupDimension::all, 0, 4'000'000'000'000LL, {}});
    REQUIRE(total.ok());
    REQUIRE(total->size() == 1);
    CHECK(total->front().cost == cost);
    CHECK(total->front().requests == 900);
}

TEST_CASE("rollups: migration 5 fills them from the rows a database had, and reruns alike") {
    DashboardFixture f;
    record_all(f.db(), records(f.users, 700, "m-"));
    const bool mysql = f.db().dialect() == "mysql";
    // Back to version 4 with the log kept: the migration fills the rollups from it. MySQL runs
    // the backfill outside the DDL's transaction, so a rerun over filled rollups must give the
    // same rows (it overwrites); SQLite's step is one transaction and starts from nothing.
    // Migrations 6 (channel keys and proxies) and 7 (alerts) are undone too, and applied again.
    const auto back_to_4 = [&](soci::session& s) {
        s << "DELETE FROM schema_migrations WHERE version >= 5";
        if (mysql) return;
        s << "DROP TABLE usage_rollups";
        s << "DROP TABLE channel_probes";
        s << "ALTER TABLE request_logs DROP COLUMN channel_key_id";
        s << "ALTER TABLE request_logs DROP COLUMN upstream_proxy";
        s << "DROP TABLE IF EXISTS alerts";  // migration 7
    };
    // Migration 5 knows the four dimensions of its day; 6 adds key and proxy rows for new rows.
    const auto five = {RollupDimension::all, RollupDimension::model, RollupDimension::channel,
                       RollupDimension::user};
    REQUIRE(f.db().with_session("back to version 4", back_to_4).ok());
    auto applied = store::migrate(f.db());
    INFO((applied.ok() ? "" : applied.error().message));
    REQUIRE(applied.ok());
    // Every migration after 4 is applied again (5 and 6 here; later ones too).
    CHECK(applied.value() == store::known_schema_version() - 4);
    require_rollups_match_logs(f.db(), five);
    if (!mysql) {
        REQUIRE(f.db().with_session("emptied", back_to_4).ok());
        REQUIRE(store::migrate(f.db()).ok());
        require_rollups_match_logs(f.db(), five);
    }
    // The new rows are counted per channel key and proxy from then on.
    record_all(f.db(), records(f.users, 300, "m6-"));
    auto keyed = store::rollups::per_key(
        f.db(), {RollupGranularity::day, RollupDimension::key, 0, 4'000'000'000'000LL, {}});
    REQUIRE(keyed.ok());
    CHECK_FALSE(keyed->empty());
}

TEST_CASE("dashboard: totals, series, tops and channels come from the rollups") {
    DashboardFixture f;
    auto all = records(f.users, 800, "d-", 24 * 9);
    record_all(f.db(), all);
    // Channels: alpha serves, beta is disabled, gamma fails now (its recent rows are errors).
    store::Channel alpha;
    alpha.name = "alpha";
    alpha.type = "openai_compat";
    alpha.base_url = "http://a";
    store::ChannelKey key;
    key.sealed_key = "sealed-a";
    alpha.keys.push_back(key);
    store::Channel beta = alpha, gamma = alpha;
    beta.name = "beta";
    beta.enabled = false;
    gamma.name = "gamma";
    for (auto* c : {&alpha, &beta, &gamma}) REQUIRE(store::channels::create(f.db(), *c).ok());
    std::vector<store::UsageRecord> failing;
    for (int i = 0; i < 4; ++i) {
        store::UsageRecord r;
        r.request_id = "fail-" + std::to_string(i);
        r.created_at_ms = now_ms() - i * 1000;
        r.user_id = f.users[1];
        r.requested_model = "kimi-k2";
        r.channel = "gamma";
        r.status = 502;
        r.latency_ms = 100;
        failing.push_back(r);
    }
    record_all(f.db(), failing);
    all.insert(all.end(), failing.begin(), failing.end());

    const long long now = now_ms();
    const long long hour = 3'600'000, day = 86'400'000;
    SECTION("24h: hourly buckets") {
        Json j = f.get("/dashboard?range=24h");
        const long long to = now - now % hour + hour, from = to - 24 * hour;
        CHECK(j["granularity"] == "hour");
        CHECK(j["from"] == from);
        CHECK(j["to"] == to);
        REQUIRE(j["series"].size() == 24);
        CHECK(j["series"][0]["bucket_start"] == from);
        long long n = 0;
        const long long cost = sum_of(all, from, to, &store::UsageRecord::cost, &n);
        CHECK(j["totals"]["requests"] == n);
        CHECK(j["totals"]["spend"] == hub::format_money(cost));
        CHECK(j["totals"]["input_tokens"] ==
              sum_of(all, from, to, &store::UsageRecord::input_tokens));
        long long series_requests = 0;
        for (const auto& p : j["series"]) series_requests += p["requests"].get<long long>();
        CHECK(series_requests == n);
        CHECK(j["in_flight"] == 7);
        CHECK(j["totals"]["active_users"] == 3);
        // Problems first: the disabled channel, then the failing one, then the healthy one.
        REQUIRE(j["channels"].size() == 3);
        CHECK(j["channels"][0]["name"] == "beta");
        CHECK(j["channels"][0]["state"] == "disabled");
        CHECK(j["channels"][1]["name"] == "gamma");
        CHECK(j["channels"][1]["state"] == "failing");
        CHECK(j["channels"][2]["name"] == "alpha");
        CHECK(j["channels"][2]["state"] == "ok");
        // Top models by spend, each with its true numbers.
        REQUIRE(j["top_models"].size() == 3);
        long long previous = std::numeric_limits<long long>::max();
        for (const auto& m : j["top_models"]) {
            long long spend = 0, requests = 0;
            for (const auto& r : all)
                if (r.created_at_ms >= from && r.created_at_ms < to &&
                    r.requested_model == m["model"]) {
                    spend += r.cost;
                    ++requests;
                }
            CHECK(m["spend"] == hub::format_money(spend));
            CHECK(m["requests"] == requests);
            CHECK(spend <= previous);
            previous = spend;
        }
        REQUIRE(j["top_users"].size() == 3);
        CHECK(j["top_users"][0]["name"].is_string());
    }
    SECTION("30d: daily buckets, today's figures") {
        Json j = f.get("/dashboard?range=30d");
        const long long to = now - now % day + day, from = to - 30 * day;
        CHECK(j["granularity"] == "day");
        REQUIRE(j["series"].size() == 30);
        long long n = 0;
        const long long cost = sum_of(all, from, to, &store::UsageRecord::cost, &n);
        CHECK(j["totals"]["requests"] == n);
        CHECK(n == static_cast<long long>(all.size()));
        CHECK(j["totals"]["spend"] == hub::format_money(cost));
        long long today_n = 0;
        const long long today_cost = sum_of(all, to - day, to, &store::UsageRecord::cost, &today_n);
        CHECK(j["today"]["requests"] == today_n);
        CHECK(j["today"]["spend"] == hub::format_money(today_cost));
        CHECK(j["series"][29]["requests"] == today_n);
    }
    SECTION("health: a slot per hour per channel, keys and states") {
        Json j = f.get("/health?range=24h");
        CHECK(j["slots"] == 24);
        REQUIRE(j["channels"].size() == 3);
        for (const auto& c : j["channels"]) {
            REQUIRE(c["slots"].size() == 24);
            REQUIRE(c["keys"].size() == 1);
            CHECK(c["keys"][0]["state"] == "enabled");
        }
        const Json& gamma_j = j["channels"][1];
        CHECK(gamma_j["name"] == "gamma");
        const auto& last = gamma_j["slots"][23];
        const long long to = now - now % hour + hour;
        long long n = 0, errors = 0;
        for (const auto& r : all)
            if (r.channel == "gamma" && r.created_at_ms >= to - hour && r.created_at_ms < to) {
                ++n;
                errors += r.status >= 400;
            }
        CHECK(last["requests"] == n);
        CHECK(last["errors"] == errors);
        CHECK(gamma_j["latest_latency_ms"].is_number());
        CHECK(j["channels"][0]["slots"][0]["ok_share"].is_null());  // beta: no traffic
        Json week = f.get("/health?range=7d");
        CHECK(week["granularity"] == "day");
        CHECK(week["channels"][0]["slots"].size() == 7);
    }
    SECTION("me/usage: only the caller's rows") {
        Json j = f.get("/me/usage?range=7d");
        const long long to = now - now % day + day, from = to - 7 * day;
        long long n = 0, cost = 0;
        for (const auto& r : all)
            if (r.user_id == f.ada && r.created_at_ms >= from && r.created_at_ms < to) {
                ++n;
                cost += r.cost;
            }
        CHECK(j["user_id"] == f.ada);
        CHECK(j["totals"]["requests"] == n);
        CHECK(j["totals"]["spend"] == hub::format_money(cost));
        CHECK(j["series"].size() == 7);
    }
    SECTION("bad input says what to pass; other methods are refused") {
        Json bad = f.get("/dashboard?range=1y", 400);
        CHECK(bad["error"]["message"].get<std::string>().find("range '1y'") != std::string::npos);
        f.get("/health?range=30d", 400);
        CHECK(f.call("POST", "/dashboard", f.token).first == 405);
        CHECK(f.call("GET", "/dashboard", "").first == 401);
    }
}

TEST_CASE("dashboard: without an in-flight gauge the field is left out") {
    DashboardFixture f(false);
    Json j = f.get("/dashboard");
    CHECK_FALSE(j.contains("in_flight"));
    CHECK(j["range"] == "24h");
    CHECK(j["totals"]["requests"] == 0);
    CHECK(j["totals"]["error_rate"] == 0.0);
}

namespace {

//! Every text a table holds, as one string (to look for what must never be stored).
std::string table_text(store::Database& db, const std::string& sql) {
    std::string all;
    REQUIRE(db.with_session("read " + sql, [&](soci::session& s) {
                  std::string v;
                  soci::statement st = (s.prepare << sql, soci::into(v));
                  st.execute(false);
                  while (st.fetch()) all += v + "\n";
              }).ok());
    return all;
}

store::UsageRecord served(const std::string& id, long long user, const std::string& channel,
                          long long channel_key, int status, const std::string& proxy = {}) {
    store::UsageRecord r;
    r.request_id = id;
    r.created_at_ms = now_ms();
    r.user_id = user;
    r.requested_model = "kimi-k2";
    r.channel = channel;
    r.channel_key_id = channel_key;
    r.proxy = proxy;
    r.status = status;
    r.error_kind = status >= 400 ? "upstream" : "";
    r.latency_ms = 40;
    return r;
}

}  // namespace

TEST_CASE("probe history: the newest results per (channel, key) are kept, the rest pruned") {
    DashboardFixture f;
    std::vector<store::ChannelProbe> probes;
    for (int i = 1; i <= 25; ++i)
        probes.push_back({0, "duo", 7, i % 5 != 0, i, i % 5 ? "" : "upstream", "", 1000LL + i});
    // One call per probe, as `channel test` runs, and one batch: both stay bounded.
    for (std::size_t i = 0; i < 10; ++i)
        REQUIRE(store::channel_probes::record(f.db(), {probes[i]}).ok());
    REQUIRE(store::channel_probes::record(
                f.db(), std::vector<store::ChannelProbe>(probes.begin() + 10, probes.end()))
                .ok());
    REQUIRE(store::channel_probes::record(f.db(), {{0, "duo", 8, true, 99, "", "", 5000}}).ok());
    auto kept = store::channel_probes::history(f.db(), "duo", 7);
    REQUIRE(kept.ok());
    REQUIRE(kept->size() == static_cast<std::size_t>(store::channel_probes::kKeptPerKey));
    CHECK(kept->front().latency_ms == 25);  // newest first
    CHECK(kept->back().latency_ms == 6);
    auto latest = store::channel_probes::latest(f.db());
    REQUIRE(latest.ok());
    REQUIRE(latest->size() == 2);
    CHECK(latest->at(0).key_id == 7);
    CHECK(latest->at(0).latency_ms == 25);
    CHECK_FALSE(latest->at(0).ok);
    CHECK(latest->at(1).key_id == 8);
    CHECK(latest->at(1).latency_ms == 99);
    CHECK(store::channel_probes::record(f.db(), {probes[0]}, 0).error().kind ==
          core::ErrorKind::invalid_request);
}

TEST_CASE("health: per-key and per-proxy bars, the latest probe, honest states, no credentials") {
    DashboardFixture f;
    const std::string secret_proxy = "http://bob:hunter2-SECRET@proxy.example:3128";
    store::Channel duo;
    duo.name = "duo";
    duo.type = "openai_compat";
    duo.base_url = "http://a";
    duo.proxy = secret_proxy;
    store::ChannelKey key;
    key.sealed_key = "sealed-1";
    duo.keys.push_back(key);
    key.sealed_key = "sealed-2";
    duo.keys.push_back(key);
    store::Channel solo = duo, calm = duo;
    solo.name = "solo";
    solo.proxy.clear();
    solo.keys.resize(1);
    calm.name = "calm";
    calm.proxy.clear();
    calm.keys.resize(1);
    for (auto* c : {&duo, &solo, &calm}) {
        auto made = store::channels::create(f.db(), *c);
        REQUIRE(made.ok());
        *c = made.value();
    }
    const long long good = duo.keys.at(0).id, bad = duo.keys.at(1).id;
    // duo: its first key answers, its second fails every time: half the requests failed.
    // solo: its two requests both failed (too few for a share, all the same a failing channel).
    std::vector<store::UsageRecord> rows;
    for (int i = 0; i < 4; ++i) {
        rows.push_back(served("g" + std::to_string(i), f.ada, "duo", good, 200, secret_proxy));
        rows.push_back(served("b" + std::to_string(i), f.ada, "duo", bad, 502, secret_proxy));
    }
    rows.push_back(served("s0", f.ada, "solo", solo.keys[0].id, 502));
    rows.push_back(served("s1", f.ada, "solo", solo.keys[0].id, 502));
    rows.push_back(served("c0", f.ada, "calm", calm.keys[0].id, 200));
    record_all(f.db(), rows);
    REQUIRE(store::channel_probes::record(
                f.db(), {{0, "duo", good, true, 321, "", "", now_ms()},
                         {0, "duo", bad, false, 45, "authentication", "refused: [key]", now_ms()}})
                .ok());

    Json j = f.get("/health?range=24h");
    const std::string text = j.dump();
    INFO(text);
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("bob") == std::string::npos);
    std::map<std::string, Json> by_name;
    for (const auto& c : j["channels"]) by_name[c["name"].get<std::string>()] = c;
    REQUIRE(by_name.size() == 3);

    const Json& d = by_name["duo"];
    CHECK(d["state"] == "failing");
    CHECK(d["reason"]["code"] == "errors");
    CHECK(d["reason"]["errors"] == 4);
    CHECK(d["reason"]["requests"] == 8);
    CHECK(d["proxy"] == "http://proxy.example:3128");
    REQUIRE(d["keys"].size() == 2);
    const Json& gk = d["keys"][0];
    const Json& bk = d["keys"][1];
    CHECK(gk["key_id"] == good);
    CHECK(gk["state"] == "enabled");
    CHECK(gk["slots"].size() == 24);
    CHECK(gk["slots"][23]["requests"] == 4);
    CHECK(gk["slots"][23]["errors"] == 0);
    CHECK(gk["latest_probe"]["ok"] == true);
    CHECK(gk["latest_probe"]["latency_ms"] == 321);
    CHECK(bk["key_id"] == bad);
    CHECK(bk["state"] == "failing");
    CHECK(bk["reason"]["code"] == "errors");
    CHECK(bk["slots"][23]["requests"] == 4);
    CHECK(bk["slots"][23]["errors"] == 4);
    CHECK(bk["slots"][23]["ok_share"] == 0.0);
    CHECK(bk["latest_probe"]["ok"] == false);
    CHECK(bk["latest_probe"]["error_kind"] == "authentication");

    CHECK(by_name["solo"]["state"] == "failing");
    CHECK(by_name["solo"]["reason"]["errors"] == 2);
    CHECK(by_name["calm"]["state"] == "ok");
    CHECK(by_name["calm"]["reason"].is_null());
    // Problems first.
    CHECK(j["channels"][2]["name"] == "calm");

    REQUIRE(j["proxies"].size() == 1);
    CHECK(j["proxies"][0]["proxy"] == "http://proxy.example:3128");
    CHECK(j["proxies"][0]["channels"] == Json::array({"duo"}));
    CHECK(j["proxies"][0]["requests"] == 8);
    CHECK(j["proxies"][0]["errors"] == 4);
    CHECK(j["proxies"][0]["slots"].size() == 24);

    // The store never held the proxy's credentials, though the records carried them.
    std::string eight;
    for (int i = 0; i < 8; ++i) eight += "http://proxy.example:3128\n";
    CHECK(table_text(f.db(), "SELECT upstream_proxy FROM request_logs WHERE channel = 'duo'") ==
          eight);
    CHECK(table_text(f.db(), "SELECT dim_key FROM usage_rollups").find("hunter2") ==
          std::string::npos);
    CHECK(table_text(f.db(), "SELECT upstream_proxy FROM request_logs").find("hunter2") ==
          std::string::npos);
    CHECK(store::proxy_origin(secret_proxy) == "http://proxy.example:3128");
    CHECK(store::proxy_origin("socks5://u:p@ss/w@rd@10.0.0.1:1080/x?y") ==
          "socks5://10.0.0.1:1080");
    CHECK(store::proxy_origin("proxy.local:8080") == "http://proxy.local:8080");

    // The dashboard sorts and states the channels alike.
    Json dash = f.get("/dashboard?range=24h");
    CHECK(dash["channels"][2]["name"] == "calm");
    CHECK(dash.dump().find("hunter2") == std::string::npos);
}
