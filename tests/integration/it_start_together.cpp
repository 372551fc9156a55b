// Gateways that start together, as an operator scaling out starts them: several `tianshu serve`
// at the same moment on one new store (SQLite, or MariaDB under with_mariadb.sh) all serve, and
// exactly one of them creates the first-start setup and shows its secrets; a channel added
// through one serves on the others when they share the secret key the documented way, and a
// gateway with another key stops at start naming the channel; gateways sharing one data folder
// write their own usage journals, and one killed with SIGKILL under load loses no usage row:
// a survivor adopts its journal without a restart.
#include <signal.h>
#include <stdlib.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <thread>

#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "fake_upstream_process.hpp"
#include "harness.hpp"
#include "test_store.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

using Gateways = std::vector<std::unique_ptr<GatewayProcess>>;

//! Starts one gateway per options at the same moment (one thread each); every one must come up.
Gateways start_together(const std::vector<ServeOptions>& options) {
    Gateways gateways(options.size());
    std::vector<std::string> failures(options.size());
    std::vector<std::thread> starters;
    std::atomic<int> ready{0};
    for (size_t i = 0; i < options.size(); ++i)
        starters.emplace_back([&, i] {
            ++ready;
            while (ready < static_cast<int>(options.size())) std::this_thread::yield();
            try {
                gateways[i] = std::make_unique<GatewayProcess>(options[i]);
            } catch (const std::exception& e) {
                failures[i] = e.what();
            }
        });
    for (auto& t : starters) t.join();
    for (size_t i = 0; i < options.size(); ++i) {
        INFO("gateway " << i << " of " << options.size() << ": " << failures[i]);
        REQUIRE(failures[i].empty());
    }
    return gateways;
}

long long count_of(tianshu::store::Database& db, const std::string& sql) {
    long long n = -1;
    REQUIRE(db.with_session("count", [&](soci::session& q) { q << sql, soci::into(n); }).ok());
    return n;
}

//! The demo key, shown by the one gateway that created the first-start setup.
std::string creators_demo_key(const Gateways& gateways) {
    int creators = 0, passwords = 0;
    std::string key;
    for (const auto& gw : gateways) {
        if (gw->demo_key()) ++creators, key = *gw->demo_key();
        if (gw->admin_password()) ++passwords;
    }
    CHECK(creators == 1);
    CHECK(passwords == 1);
    REQUIRE_FALSE(key.empty());
    return key;
}

int messages_status(int port, const std::string& key, const std::string& text) {
    return post_json(port, "/v1/messages", anthropic_auth(key),
                     anthropic_body("claude-sonnet-4-5", text))
        .status;
}

}  // namespace

TEST_CASE("gateways started together on a new store all serve, and one of them set it up",
          "[integration][start_together]") {
    constexpr int kRounds = 20, kGateways = 4;
    for (int round = 0; round < kRounds; ++round) {
        INFO("round " << round);
        Store s("together");  // a new SQLite file, or a new MariaDB database, each round
        std::vector<ServeOptions> options;
        for (int i = 0; i < kGateways; ++i) {
            auto o = s.serve_options();
            if (!s.db_url.empty()) {
                // On MariaDB each has its own data folder and they share the key by the flag
                // (created by whichever gets there first); on SQLite they share the folder.
                o.data_dir = s.tmp / ("data-" + std::to_string(i));
                fs::create_directories(o.data_dir);
                o.extra_args.insert(o.extra_args.end(),
                                    {"--secret-key-file", (s.tmp / "fleet.key").string()});
            }
            options.push_back(o);
        }
        auto gateways = start_together(options);
        const std::string key = creators_demo_key(gateways);
        for (const auto& gw : gateways) {
            INFO("port " << gw->port() << " log:\n" << gw->log_text());
            CHECK(http_request(gw->port(), "GET", "/healthz").status == 200);
            CHECK(messages_status(gw->port(), key, "hello") == 200);
            CHECK_THAT(gw->log_text(), !Contains("\"level\":\"error\""));
        }
        auto db = s.open_db();
        CHECK(count_of(*db, "SELECT COUNT(*) FROM users WHERE name = 'admin'") == 1);
        CHECK(count_of(*db, "SELECT COUNT(*) FROM users") == 2);  // admin and demo
        CHECK(count_of(*db, "SELECT COUNT(*) FROM api_keys") == 1);
        CHECK(count_of(*db, "SELECT COUNT(*) FROM channels") == 1);
        CHECK(count_of(*db, "SELECT COUNT(*) FROM chains") == 1);
        CHECK(count_of(*db, "SELECT COUNT(*) FROM settings WHERE name = 'bootstrapped'") == 1);
        for (auto& gw : gateways) CHECK(gw->terminate() == 0);
    }
}

TEST_CASE("a channel added through one gateway serves on the others, which share the secret key",
          "[integration][start_together][secrets]") {
    Store s("shared-key");
    FakeUpstream up(source_dir() / "tests" / "integration" / "scenarios" / "adapter_text.json",
                    s.tmp / "upstream.log");
    const fs::path plugins = make_plugins_dir(s.tmp / "plugins-up", {"openai_compat"});
    const std::string db_url =
        s.db_url.empty() ? "sqlite://" + fs::absolute(s.tmp / "shared.db").string() : s.db_url;
    const fs::path fleet_key = s.tmp / "fleet.key";
    // Each gateway has its own data folder (journal, default secret file), one database.
    auto gateway_options = [&](int i, std::vector<std::string> key_args) {
        auto o = s.serve_options();
        o.data_dir = s.tmp / ("data-" + std::to_string(i));
        fs::create_directories(o.data_dir);
        o.plugins_dir = plugins;
        o.extra_args = {"--db", db_url};
        o.extra_args.insert(o.extra_args.end(), key_args.begin(), key_args.end());
        return o;
    };
    GatewayProcess first(gateway_options(0, {"--secret-key-file", fleet_key.string()}));
    REQUIRE(first.demo_key());
    REQUIRE(first.admin_password());
    const std::string key = *first.demo_key();
    GatewayProcess by_flag(gateway_options(1, {"--secret-key-file", fleet_key.string()}));
    // The key itself in the environment, as a container platform passes secrets.
    std::string key_text = read_file(fleet_key);
    while (!key_text.empty() && key_text.back() == '\n') key_text.pop_back();
    ::setenv("TIANSHU_SECRET_KEY", key_text.c_str(), 1);
    std::unique_ptr<GatewayProcess> by_env;
    try {
        by_env = std::make_unique<GatewayProcess>(gateway_options(2, {}));
    } catch (...) {
        ::unsetenv("TIANSHU_SECRET_KEY");
        throw;
    }
    ::unsetenv("TIANSHU_SECRET_KEY");

    // Added through the second gateway's admin API: sealed with the fleet's key.
    auto login = post_json(by_flag.port(), "/admin/api/login", {},
                           Json{{"name", "admin"}, {"password", *first.admin_password()}}.dump());
    REQUIRE(login.status == 201);
    const std::string token = login.json().value("token", "");
    Json channel{{"name", "up"},
                 {"type", "openai_compat"},
                 {"base_url", up.base_url()},
                 {"models", {"up-model"}},
                 {"model_map", {{"claude-*", "up-model"}}},
                 {"keys", {"sk-up"}}};
    auto made = post_json(by_flag.port(), "/admin/api/channels",
                          {{"authorization", "Bearer " + token}}, channel.dump());
    INFO(made.body);
    REQUIRE(made.status == 201);

    // Every gateway opens the sealed key and gets the upstream's answer: the fake upstream
    // answers 401 unless it is sent `Bearer sk-up`.
    for (GatewayProcess* gw : {&first, &by_flag, by_env.get()}) {
        INFO("port " << gw->port() << " log:\n" << gw->log_text());
        CHECK(eventually(
            [&] {
                auto r = post_json(gw->port(), "/v1/messages", anthropic_auth(key),
                                   anthropic_body("claude-sonnet-4-5", "from the fleet"));
                return r.status == 200 &&
                       anthropic_text(r.json()) ==
                           "Hello from the upstream model, streamed in small chunks.";
            },
            5s));
        CHECK_THAT(gw->log_text(), !Contains("channel left out"));
    }

    // A gateway joining with a key of its own (its data folder's new secret.key) stops at start
    // and says which channel it cannot open and how to start instead.
    try {
        GatewayProcess stranger(gateway_options(3, {}));
        FAIL("a gateway with another secret key started");
    } catch (const std::runtime_error& e) {
        const std::string message = e.what();
        INFO(message);
        CHECK_THAT(message, Contains("channel 'up'"));
        CHECK_THAT(message, Contains("--secret-key-file"));
        CHECK_THAT(message, !Contains("sk-up"));
    }
}

TEST_CASE("kill -9 of one of several gateways sharing a data folder loses no usage row",
          "[integration][start_together][durability]") {
    Store s("shared-journal");
    auto o = s.serve_options();
    // Survivors look for a dead sibling's journal every second (the default is a minute).
    o.extra_args.insert(o.extra_args.end(), {"--journal-adopt-seconds", "1"});
    auto gateways = start_together({o, o, o});
    const std::string demo = creators_demo_key(gateways);
    (void)demo;
    REQUIRE(s.cli({"user", "add", "--name", "carol"}).exit_code == 0);
    auto made = s.cli({"key", "create", "--user", "carol", "--name", "load"});
    REQUIRE(made.exit_code == 0);
    const std::string key = last_line(made.out);
    REQUIRE(s.cli({"price", "set", "--model", "claude-*", "--per-call", "0.001"}).exit_code == 0);
    REQUIRE(s.cli({"user", "topup", "--user", "carol", "--amount", "1000"}).exit_code == 0);
    for (const auto& gw : gateways)
        REQUIRE(
            eventually([&] { return messages_status(gw->port(), key, "warm-up") == 200; }, 2500ms));
    std::this_thread::sleep_for(1200ms);  // the price is in the same reload; be sure

    // 12 clients over the three gateways; every complete 200 answer's id is kept.
    std::mutex mutex;
    std::set<std::string> answered;
    std::atomic<bool> stop{false};
    std::atomic<int> sent{0}, answered_by_victim{0};
    std::atomic<bool> victim_dead{false};
    std::vector<int> ports;
    for (const auto& gw : gateways) ports.push_back(gw->port());
    std::vector<std::thread> clients;
    for (int c = 0; c < 12; ++c)
        clients.emplace_back([&, c] {
            for (int n = c; !stop; ++n) {
                const size_t target = static_cast<size_t>(n) % ports.size();
                if (target == 0 && victim_dead) continue;
                try {
                    ++sent;
                    auto r = post_json(ports[target], "/v1/messages", anthropic_auth(key),
                                       anthropic_body("claude-sonnet-4-5", "load"));
                    if (r.status != 200) continue;
                    Json j = r.json();
                    if (!j.is_object() || j.value("stop_reason", "").empty()) continue;
                    std::lock_guard lock(mutex);
                    answered.insert(j.value("id", ""));
                    if (target == 0) ++answered_by_victim;
                } catch (...) {
                    // the victim is gone: this request had no answer
                }
            }
        });
    std::this_thread::sleep_for(1500ms);
    ::kill(gateways[0]->pid(), SIGKILL);
    victim_dead = true;
    std::this_thread::sleep_for(700ms);  // the survivors keep serving
    stop = true;
    for (auto& c : clients) c.join();
    gateways[0].reset();  // reaped; never restarted
    INFO("sent " << sent << ", answered " << answered.size() << ", by the killed one "
                 << answered_by_victim);
    REQUIRE(answered_by_victim > 10);

    // A survivor adopts the dead one's journal on its own.
    auto adopted = [&] {
        for (size_t i = 1; i < gateways.size(); ++i)
            if (gateways[i]->log_text().find("usage journal of a stopped gateway adopted") !=
                std::string::npos)
                return true;
        return false;
    };
    CHECK(eventually(adopted, 10s));
    // And found rows in it: the killed one's last answers were only in its journal.
    size_t replayed = 0;
    for (size_t i = 1; i < gateways.size(); ++i)
        for (const auto& line : gateways[i]->log_lines())
            if (line.value("msg", "") == "usage journal replayed")
                replayed += static_cast<size_t>(line.value("records", 0));
    CHECK(replayed > 0);
    for (size_t i = 1; i < gateways.size(); ++i) CHECK(gateways[i]->terminate() == 0);
    // Every journal was written and removed: nothing is left for a next start to replay.
    size_t left = 0;
    for (const auto& entry : fs::directory_iterator(o.data_dir / "usage-journal"))
        left += entry.path().filename().string().rfind("gw-", 0) == 0;
    CHECK(left == 0);

    auto db = s.open_db();
    check_answered_billed_once(*db, answered, "carol");
}
