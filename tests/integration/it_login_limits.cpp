// Admin logins over real HTTP: failed logins limited per client address and per account name
// (429 with Retry-After and "try again in N s"), a correct login from another address still
// works, and a full password queue answers 503 in the admin API's error shape. Client
// addresses are loopback ones (127.0.0.2, ...) bound by the test's sockets.
#include <atomic>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

//! A first-start gateway (its admin password is in the banner) with `flags` added.
struct LoginGateway {
    TempDir tmp{"it-login"};
    std::unique_ptr<GatewayProcess> gw;
    explicit LoginGateway(std::vector<std::string> flags) {
        ServeOptions o;
        o.data_dir = tmp / "data";
        o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
        o.extra_args = std::move(flags);
        gw = std::make_unique<GatewayProcess>(o);
        REQUIRE(gw->admin_password().has_value());
    }
    HttpResponse login(const std::string& from, const std::string& name,
                       const std::string& password) const {
        return http_request_from(from, gw->port(), "POST", "/admin/api/login", {},
                                 Json{{"name", name}, {"password", password}}.dump());
    }
};

//! The admin API's error shape: {"error":{"type":..., "message":...}}.
void check_admin_error(const HttpResponse& r, const std::string& type) {
    INFO(r.body);
    Json j = r.json();
    REQUIRE(j.is_object());
    REQUIRE(j.contains("error"));
    CHECK(j["error"].value("type", "") == type);
    CHECK(j["error"]["message"].is_string());
}

}  // namespace

TEST_CASE("login over HTTP: failures are limited per address and per account",
          "[integration][admin]") {
    LoginGateway g({"--login-failures-per-address", "3", "--login-failures-per-account", "4"});
    const std::string admin_password = *g.gw->admin_password();

    for (int i = 0; i < 3; ++i) {
        auto failed = g.login("127.0.0.2", "ghost", "wrong-password");
        INFO(failed.body);
        REQUIRE(failed.status == 401);
    }
    // The address has used its 3 failures: refused before any password check, even the right one.
    auto refused = g.login("127.0.0.2", "admin", admin_password);
    REQUIRE(refused.status == 429);
    check_admin_error(refused, "rate_limited");
    const std::string message = refused.json()["error"]["message"];
    CHECK_THAT(message, Contains("too many failed logins from address 127.0.0.2"));
    CHECK_THAT(message, Contains("try again in "));
    REQUIRE(refused.headers.count("retry-after"));
    const int retry = std::stoi(refused.headers.at("retry-after"));
    CHECK(retry > 0);
    CHECK(retry <= 600);
    CHECK_THAT(message, Contains("try again in " + std::to_string(retry) + " s"));

    // Another address logs in.
    auto ok = g.login("127.0.0.3", "admin", admin_password);
    INFO(ok.body);
    REQUIRE(ok.status == 201);
    CHECK(ok.json()["token"].get<std::string>().rfind("tsa_", 0) == 0);

    // The account 'ghost' has 3 failures; a 4th from a new address fills its window too.
    REQUIRE(g.login("127.0.0.4", "ghost", "wrong-password").status == 401);
    auto account = g.login("127.0.0.5", "ghost", "wrong-password");
    REQUIRE(account.status == 429);
    check_admin_error(account, "rate_limited");
    CHECK_THAT(account.json()["error"]["message"].get<std::string>(),
               Contains("too many failed logins for account 'ghost'"));
    CHECK(account.headers.count("retry-after"));
}

TEST_CASE(
    "login over HTTP: a full password queue answers 503 with Retry-After in the admin "
    "API's shape",
    "[integration][admin]") {
    // One hashing thread and no queue: while it checks one password, others are refused.
    LoginGateway g({"--slow-work-queue", "0", "--login-failures-per-address", "0",
                    "--login-failures-per-account", "0"});
    constexpr int kBurst = 8;
    bool saw_refusal = false;
    for (int round = 0; round < 5 && !saw_refusal; ++round) {
        std::vector<HttpResponse> answers(kBurst);
        std::atomic<int> ready{0};
        std::vector<std::thread> clients;
        for (int i = 0; i < kBurst; ++i)
            clients.emplace_back([&, i] {
                ++ready;
                while (ready < kBurst) std::this_thread::yield();
                answers[i] = g.login("127.0.0." + std::to_string(10 + i),
                                     "nobody-" + std::to_string(round * kBurst + i), "wrong-one");
            });
        for (auto& c : clients) c.join();
        int checked = 0;
        for (const auto& a : answers) {
            INFO(a.status << " " << a.body);
            CHECK((a.status == 401 || a.status == 503));
            if (a.status == 401) ++checked;
            if (a.status != 503) continue;
            saw_refusal = true;
            check_admin_error(a, "unavailable");
            const std::string message = a.json()["error"]["message"];
            CHECK_THAT(message, Contains("busy with password checks"));
            CHECK_THAT(message, Contains("try again in "));
            REQUIRE(a.headers.count("retry-after"));
            CHECK(std::stoi(a.headers.at("retry-after")) >= 1);
        }
        CHECK(checked >= 1);  // the one the thread took was answered
    }
    CHECK(saw_refusal);
    // Once the burst is over, the queue takes logins again.
    auto after = g.login("127.0.0.30", "admin", *g.gw->admin_password());
    INFO(after.body);
    CHECK(after.status == 201);
}

TEST_CASE("serve refuses a bad slow-work or login-limit flag, naming it", "[integration][admin]") {
    TempDir tmp("it-login-flags");
    for (const auto& [flag, value] :
         std::vector<std::pair<std::string, std::string>>{{"--slow-work-threads", "0"},
                                                          {"--slow-work-queue", "-1"},
                                                          {"--login-failures-per-address", "ten"},
                                                          {"--login-window-seconds", "0"}}) {
        auto bad = run_cli({"serve", "--data", (tmp / "data").string(), flag, value});
        INFO(flag << " " << value << ": " << bad.err);
        CHECK(bad.exit_code == 2);
        CHECK_THAT(bad.err, Contains(flag + " '" + value + "' must be a whole number from "));
    }
}
