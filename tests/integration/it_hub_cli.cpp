// The account and billing CLI against a real store (the real binary, a fresh SQLite file per
// test case; a fresh MariaDB schema per test case when TIANSHU_TEST_DB_URL names a server, as
// tests/scripts/with_mariadb.sh does): users, tiers, top-ups with invite rebates, the ledger
// invariant, API keys and their limits, prices, redemption codes (exactly once, even when raced),
// refusals that name the flag, and key changes reaching a running server within 2 s.
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include <sys/stat.h>

#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "harness.hpp"
#include "store/database.hpp"
#include "test_store.hpp"

using namespace tianshu::it;
using Catch::Contains;
using Clock = std::chrono::steady_clock;

namespace {

//! "12.500000" → 12500000: the CLI's money text in micros, parsed independently of hub::.
long long micros(const Json& text) {
    std::string s = text.get<std::string>();
    bool negative = !s.empty() && s[0] == '-';
    if (negative) s.erase(0, 1);
    auto dot = s.find('.');
    REQUIRE(dot != std::string::npos);
    REQUIRE(s.size() - dot - 1 == 6);
    long long v = std::stoll(s.substr(0, dot)) * 1'000'000 + std::stoll(s.substr(dot + 1));
    return negative ? -v : v;
}

Json find_named(const Json& array, const std::string& field, const std::string& value) {
    for (const auto& item : array)
        if (item.value(field, "") == value) return item;
    return Json();
}

std::vector<std::string> non_empty_lines(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) out.push_back(line);
    return out;
}

}  // namespace

TEST_CASE("users and tiers: add, list, change; refusals name the flag and change nothing",
          "[integration][cli][hub]") {
    Store s;
    Json vip =
        s.json({"tier", "add", "--name", "vip", "--ratio", "0.8", "--description", "20% off"});
    CHECK(vip["name"] == "vip");
    CHECK(vip["ratio_ppm"] == 800000);
    CHECK(vip["ratio"] == "0.8");

    Json alice = s.json({"user", "add", "--name", "alice", "--tier", "vip"});
    CHECK(alice["name"] == "alice");
    CHECK(alice["tier"] == "vip");
    CHECK(alice["role"] == "user");
    CHECK(alice["id"].is_number_integer());
    CHECK(alice["can_log_in"] == false);

    auto users_before = s.cli({"user", "list", "--json"});
    REQUIRE(users_before.exit_code == 0);
    s.refused({"user", "add", "--name", "bob", "--tier", "platinum"}, {"--tier", "platinum"});
    s.refused({"user", "add", "--name", "bob", "--role", "emperor"}, {"--role", "emperor"});
    s.refused({"user", "add", "--name", "alice"}, {"alice"});
    s.refused({"user", "add", "--name", "bob", "--invited-by", "NOPE"}, {"--invited-by", "NOPE"});
    // An empty stdin (the harness gives /dev/null) is no password.
    s.refused({"user", "add", "--name", "bob", "--password-stdin"}, {"--password-stdin"});
    s.refused({"user", "set-tier", "--user", "ghost", "--tier", "vip"}, {"--user", "ghost"});
    s.refused({"user", "set-tier", "--user", "alice", "--tier", "platinum"},
              {"--tier", "platinum"});
    s.refused({"user", "set-role", "--user", "alice", "--role", "god"}, {"--role", "god"});
    s.refused({"user", "frobnicate", "--user", "alice"}, {"frobnicate"});
    s.refused({"user", "list", "--tier", "vip"}, {"--tier"});
    s.refused({"tier", "add", "--name", "gold", "--ratio", "0.8x"}, {"--ratio", "0.8x"});
    s.refused({"tier", "add", "--name", "gold", "--ratio", "-1"}, {"--ratio", "-1"});
    s.refused({"tier", "add", "--name", "vip", "--ratio", "0.5"}, {"vip"});
    CHECK(s.cli({"user", "list", "--json"}).out == users_before.out);

    Json moved = s.json({"user", "set-tier", "--user", "alice", "--tier", "default"});
    CHECK(moved["tier"] == "default");
    CHECK(s.json({"user", "set-role", "--user", "alice", "--role", "admin"})["role"] == "admin");
    CHECK(s.json({"user", "disable", "--user", "alice"})["enabled"] == false);
    Json listed = s.json({"user", "list"});
    Json a = find_named(listed, "name", "alice");
    REQUIRE(a.is_object());
    CHECK(a["enabled"] == false);
    CHECK(a["role"] == "admin");
    CHECK(a["tier"] == "default");
    CHECK(a["balance"] == "0.000000");
    CHECK(s.json({"user", "enable", "--user", "alice"})["enabled"] == true);

    auto table = s.cli({"user", "list"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Contains("NAME") && Contains("BALANCE") && Contains("alice"));

    // Tiers: the ratio changes; a tier in use cannot go; 'default' never goes.
    CHECK(s.json({"tier", "set-ratio", "--name", "vip", "--ratio", "1.25"})["ratio_ppm"] ==
          1250000);
    s.json({"user", "set-tier", "--user", "alice", "--tier", "vip"});
    Json tiers = s.json({"tier", "list"});
    CHECK(find_named(tiers, "name", "vip")["users"] == 1);
    CHECK(find_named(tiers, "name", "default").is_object());
    s.refused({"tier", "remove", "--name", "vip"}, {"vip"});
    s.refused({"tier", "remove", "--name", "default"}, {"default"});
    s.refused({"tier", "set-ratio", "--name", "nosuch", "--ratio", "1"}, {"nosuch"});
    s.json({"user", "set-tier", "--user", "alice", "--tier", "default"});
    CHECK(s.json({"tier", "remove", "--name", "vip"})["removed"] == true);
    CHECK(find_named(s.json({"tier", "list"}), "name", "vip").is_null());
}

TEST_CASE(
    "top-ups credit the inviter's rebate, repeat refs apply once, the ledger sums to the "
    "balance",
    "[integration][cli][hub]") {
    Store s;
    CHECK(s.json({"invite", "show"})["rebate_ppm"] == 0);
    Json rebate = s.json({"invite", "set-rebate", "--percent", "5"});
    CHECK(rebate["rebate_ppm"] == 50000);
    CHECK(rebate["rebate_percent"] == "5");
    s.refused({"invite", "set-rebate", "--percent", "101"}, {"--percent", "101"});

    s.json({"user", "add", "--name", "inviter"});
    Json code = s.json({"user", "invite-code", "--user", "inviter"});
    CHECK(code["created"] == true);
    const std::string invite = code["invite_code"];
    CHECK_FALSE(invite.empty());
    Json again = s.json({"user", "invite-code", "--user", "inviter"});
    CHECK(again["created"] == false);
    CHECK(again["invite_code"] == invite);
    CHECK(s.json({"user", "add", "--name", "invitee", "--invited-by", invite})["invited_by"] ==
          "inviter");

    Json t1 = s.json({"user", "topup", "--user", "invitee", "--amount", "12.5", "--ref", "pay-1",
                      "--note", "x"});
    CHECK(t1["applied"] == true);
    CHECK(micros(t1["balance"]) == 12'500'000);
    CHECK(micros(t1["rebate"]) == 12'500'000 / 20);  // 5%
    CHECK(t1["inviter"] == "inviter");

    // The same ref again: reported, exit 0, nothing changes.
    Json repeat =
        s.json({"user", "topup", "--user", "invitee", "--amount", "12.5", "--ref", "pay-1"});
    CHECK(repeat["applied"] == false);
    CHECK(micros(repeat["balance"]) == 12'500'000);
    auto repeat_text =
        s.cli({"user", "topup", "--user", "invitee", "--amount", "12.5", "--ref", "pay-1"});
    CHECK(repeat_text.exit_code == 0);
    CHECK_THAT(repeat_text.out, Contains("already applied"));

    s.refused({"user", "topup", "--user", "invitee", "--amount", "1.2345678"},
              {"--amount", "1.2345678"});
    s.refused({"user", "topup", "--user", "invitee", "--amount", "0"}, {"--amount"});
    s.refused({"user", "topup", "--user", "invitee", "--amount", "-3"}, {"--amount", "-3"});
    s.refused({"user", "topup", "--user", "nobody", "--amount", "1"}, {"--user", "nobody"});
    s.refused({"user", "ledger", "--user", "invitee", "--limit", "0"}, {"--limit", "0"});

    Json inviter_ledger = s.json({"user", "ledger", "--user", "inviter"});
    REQUIRE(inviter_ledger["entries"].size() == 1);
    CHECK(inviter_ledger["entries"][0]["kind"] == "invite_rebate");
    CHECK(micros(inviter_ledger["entries"][0]["amount"]) == 625'000);
    CHECK(micros(inviter_ledger["balance"]) == 625'000);

    // A mix of top-ups, redemptions and concurrent same-ref top-ups; the test keeps its own sum.
    long long expected_invitee = 12'500'000, expected_inviter = 625'000;
    std::mt19937 rng(7);
    for (int i = 0; i < 5; ++i) {
        long long amount = 1 + static_cast<long long>(rng() % 50'000'000);
        std::string text = std::to_string(amount / 1'000'000) + "." +
                           std::string(6 - std::to_string(amount % 1'000'000).size(), '0') +
                           std::to_string(amount % 1'000'000);
        Json t = s.json({"user", "topup", "--user", "invitee", "--amount", text});
        CHECK(micros(t["amount"]) == amount);
        expected_invitee += amount;
        expected_inviter += amount * 50'000 / 1'000'000;
    }
    auto gen = s.cli({"redeem", "generate", "--count", "2", "--amount", "3.000001"});
    REQUIRE(gen.exit_code == 0);
    for (const auto& c : non_empty_lines(gen.out)) {
        s.json({"redeem", "use", "--user", "invitee", "--code", c});
        expected_invitee += 3'000'001;
    }
    // Eight processes race the same ref: exactly one applies it.
    std::atomic<int> applied{0}, failed{0};
    std::vector<std::thread> racers;
    for (int i = 0; i < 8; ++i)
        racers.emplace_back([&] {
            auto r = s.cli({"user", "topup", "--user", "invitee", "--amount", "2", "--ref",
                            "race-1", "--json"});
            if (r.exit_code != 0) {
                ++failed;
                return;
            }
            if (Json::parse(r.out)["applied"] == true) ++applied;
        });
    for (auto& t : racers) t.join();
    CHECK(failed == 0);
    CHECK(applied == 1);
    expected_invitee += 2'000'000;
    expected_inviter += 100'000;

    for (const auto& [who, expected] :
         {std::pair{"invitee", expected_invitee}, std::pair{"inviter", expected_inviter}}) {
        INFO(who);
        Json l = s.json({"user", "ledger", "--user", who, "--limit", "1000"});
        CHECK(l["consistent"] == true);
        CHECK(micros(l["balance"]) == expected);
        CHECK(micros(l["ledger_sum"]) == expected);
        long long rows = 0;
        for (const auto& e : l["entries"]) rows += micros(e["amount"]);
        CHECK(rows == expected);
    }
    auto text = s.cli({"user", "ledger", "--user", "invitee"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Contains("(consistent)") && Contains("redemption") && Contains("topup"));
}

TEST_CASE("keys: created with limits, the key printed last and never listed; set-limits, revoke",
          "[integration][cli][hub]") {
    Store s;
    s.json({"user", "add", "--name", "carol"});
    auto made =
        s.cli({"key",        "create",        "--user",    "carol",    "--name",     "ci",
               "--quota",    "10.0",          "--expires", "30d",      "--allow-ip", "10.0.0.0/8",
               "--allow-ip", "2001:db8::/32", "--deny-ip", "10.1.2.3", "--models",   "deepseek-*",
               "--models",   "qwen-max",      "--rpm",     "60",       "--tpm",      "100000"});
    INFO(made.out << made.err);
    REQUIRE(made.exit_code == 0);
    const std::string key = last_line(made.out);
    CHECK(key.rfind("sk-ts-", 0) == 0);
    CHECK(key.size() == 6 + 48);

    auto made_json = s.cli({"key", "create", "--user", "carol", "--name", "second", "--json"});
    REQUIRE(made_json.exit_code == 0);
    Json second = Json::parse(last_line(made_json.out));
    const std::string key2 = second["key"];
    CHECK(key2.rfind("sk-ts-", 0) == 0);
    CHECK(second["quota"].is_null());
    CHECK(second["expires_at"].is_null());

    auto listed = s.cli({"key", "list", "--json"});
    REQUIRE(listed.exit_code == 0);
    CHECK_THAT(listed.out, !Contains(key) && !Contains(key2));
    CHECK_THAT(listed.out, !Contains(key.substr(12)));
    auto table = s.cli({"key", "list"});
    CHECK_THAT(table.out, !Contains(key) && !Contains(key2) && Contains("PREFIX"));
    Json keys = Json::parse(listed.out);
    Json ci = find_named(keys, "name", "ci");
    REQUIRE(ci.is_object());
    CHECK_FALSE(ci.contains("key"));
    CHECK_FALSE(ci.contains("key_hash"));
    CHECK(ci["prefix"] == key.substr(0, 10));
    CHECK(ci["user"] == "carol");
    CHECK(micros(ci["quota"]) == 10'000'000);
    CHECK(micros(ci["quota_used"]) == 0);
    CHECK(ci["ip_allow"] == Json::array({"10.0.0.0/8", "2001:db8::/32"}));
    CHECK(ci["ip_deny"] == Json::array({"10.1.2.3"}));
    CHECK(ci["models"] == Json::array({"deepseek-*", "qwen-max"}));
    CHECK(ci["rpm"] == 60);
    CHECK(ci["tpm"] == 100000);
    CHECK(ci["revoked"] == false);
    CHECK(ci["expires_at"].is_string());

    // Refusals: each names the flag and the value; no key is made.
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--allow-ip", "10.0.0.300/8"},
              {"--allow-ip", "10.0.0.300/8"});
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--deny-ip", "10.0.0.1/8"},
              {"--deny-ip", "10.0.0.1/8"});
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--allow-ip", "::1/129"},
              {"--allow-ip", "::1/129"});
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--quota", "1.2345678"},
              {"--quota", "1.2345678"});
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--expires", "tomorrow"},
              {"--expires", "tomorrow"});
    s.refused(
        {"key", "create", "--user", "carol", "--name", "x", "--expires", "2020-01-01T00:00:00Z"},
        {"--expires", "2020-01-01T00:00:00Z", "past"});
    s.refused(
        {"key", "create", "--user", "carol", "--name", "x", "--expires", "2031-02-30T00:00:00Z"},
        {"--expires", "2031-02-30"});
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--rpm", "0"}, {"--rpm", "0"});
    s.refused({"key", "create", "--user", "carol", "--name", "x", "--tpm", "lots"},
              {"--tpm", "lots"});
    s.refused({"key", "create", "--user", "nobody", "--name", "x"}, {"--user", "nobody"});
    s.refused({"key", "list", "--user", "nobody"}, {"--user", "nobody"});
    CHECK(s.json({"key", "list"}).size() == 2);

    // set-limits changes only what is given; --no-… clears.
    const std::string id = std::to_string(ci["id"].get<long long>());
    Json changed = s.json({"key", "set-limits", "--id", id, "--no-quota", "--rpm", "5", "--expires",
                           "2031-01-01T00:00:00Z"});
    CHECK(changed["quota"].is_null());
    CHECK(changed["rpm"] == 5);
    CHECK(changed["tpm"] == 100000);
    CHECK(changed["expires_at"] == "2031-01-01T00:00:00Z");
    CHECK(changed["models"] == Json::array({"deepseek-*", "qwen-max"}));
    Json cleared = s.json({"key", "set-limits", "--id", id, "--any-ip", "--all-models",
                           "--no-expiry", "--no-tpm", "--quota", "0.5"});
    CHECK(cleared["ip_allow"].empty());
    CHECK(cleared["ip_deny"].empty());
    CHECK(cleared["models"].empty());
    CHECK(cleared["expires_at"].is_null());
    CHECK(cleared["tpm"].is_null());
    CHECK(cleared["rpm"] == 5);
    CHECK(micros(cleared["quota"]) == 500'000);
    CHECK(find_named(s.json({"key", "list", "--user", "carol"}), "name", "ci") == cleared);
    s.refused({"key", "set-limits", "--id", id, "--quota", "1", "--no-quota"},
              {"--quota", "--no-quota"});
    s.refused({"key", "set-limits", "--id", "999999", "--rpm", "1"}, {"--id", "999999"});
    s.refused({"key", "set-limits", "--id", id, "--allow-ip", "banana"}, {"--allow-ip", "banana"});

    // Revoke by user and name, then by id; a revoked key cannot be revoked or changed again.
    CHECK(s.json({"key", "revoke", "--user", "carol", "--name", "ci"})["revoked"] == true);
    s.refused({"key", "revoke", "--user", "carol", "--name", "ci"}, {"--name", "ci"});
    s.refused({"key", "revoke", "--id", id}, {"already revoked"});
    s.refused({"key", "set-limits", "--id", id, "--rpm", "1"}, {"revoked"});
    s.json({"key", "revoke", "--id", std::to_string(second["id"].get<long long>())});
    Json after = s.json({"key", "list", "--user", "carol"});
    for (const auto& k : after) {
        CHECK(k["revoked"] == true);
        CHECK(k["revoked_at"].is_string());
    }
}

TEST_CASE("prices: set (partial updates keep the rest), list, remove; bad money refused",
          "[integration][cli][hub]") {
    Store s;
    Json p = s.json({"price", "set", "--model", "deepseek-*", "--input", "2.0", "--output", "8",
                     "--cache-read", "0.5", "--cache-write", "2.5", "--reasoning", "8.000001",
                     "--per-call", "0.01"});
    CHECK(p["model"] == "deepseek-*");
    CHECK(micros(p["input"]) == 2'000'000);
    CHECK(micros(p["output"]) == 8'000'000);
    CHECK(micros(p["cache_read"]) == 500'000);
    CHECK(micros(p["cache_write"]) == 2'500'000);
    CHECK(micros(p["reasoning"]) == 8'000'001);
    CHECK(micros(p["per_call"]) == 10'000);
    Json q = s.json({"price", "set", "--model", "deepseek-*", "--output", "9"});
    CHECK(micros(q["output"]) == 9'000'000);
    CHECK(micros(q["input"]) == 2'000'000);
    CHECK(micros(q["cache_read"]) == 500'000);
    s.json({"price", "set", "--model", "qwen-max", "--input", "1"});

    auto before = s.cli({"price", "list", "--json"});
    s.refused({"price", "set", "--model", "qwen-max", "--input", "1.2345678"},
              {"--input", "1.2345678"});
    s.refused({"price", "set", "--model", "qwen-max", "--output", "-1"}, {"--output", "-1"});
    s.refused({"price", "set", "--model", "qwen-max"}, {"--input"});
    s.refused({"price", "remove", "--model", "gpt-9"}, {"--model", "gpt-9"});
    CHECK(s.cli({"price", "list", "--json"}).out == before.out);

    Json list = s.json({"price", "list"});
    CHECK(list.size() == 2);
    CHECK(micros(find_named(list, "model", "deepseek-*")["output"]) == 9'000'000);
    auto table = s.cli({"price", "list"});
    CHECK_THAT(table.out, Contains("MODEL") && Contains("qwen-max") && Contains("9.000000"));
    CHECK(s.json({"price", "remove", "--model", "qwen-max"})["removed"] == true);
    CHECK(s.json({"price", "list"}).size() == 1);
}

TEST_CASE("redemption codes: shown once, stored hashed, redeemed exactly once even when raced",
          "[integration][cli][hub]") {
    Store s;
    s.json({"user", "add", "--name", "dave"});
    s.json({"user", "add", "--name", "erin"});

    auto gen = s.cli({"redeem", "generate", "--count", "3", "--amount", "5.0", "--batch", "promo"});
    INFO(gen.out << gen.err);
    REQUIRE(gen.exit_code == 0);
    auto codes = non_empty_lines(gen.out);
    REQUIRE(codes.size() == 3);
    CHECK(std::set<std::string>(codes.begin(), codes.end()).size() == 3);
    for (const auto& c : codes) CHECK(c.rfind("TSR-", 0) == 0);

    Json listed = s.json({"redeem", "list", "--batch", "promo"});
    REQUIRE(listed.size() == 3);
    for (const auto& c : codes) CHECK_THAT(listed.dump(), !Contains(c));
    Json batches = s.json({"redeem", "list"});
    Json promo = find_named(batches, "batch", "promo");
    CHECK(promo["codes"] == 3);
    CHECK(micros(promo["amount"]) == 15'000'000);

    Json used = s.json({"redeem", "use", "--user", "dave", "--code", codes[0]});
    CHECK(micros(used["amount"]) == 5'000'000);
    CHECK(micros(used["balance"]) == 5'000'000);
    auto twice = s.refused({"redeem", "use", "--user", "erin", "--code", codes[0]},
                           {"already redeemed", "dave"});
    s.refused({"redeem", "use", "--user", "erin", "--code", "TSR-nonsense"}, {"--code"});
    s.refused({"redeem", "use", "--user", "nobody", "--code", codes[1]}, {"--user", "nobody"});
    s.refused({"redeem", "generate", "--count", "0", "--amount", "1"}, {"--count", "0"});
    s.refused({"redeem", "generate", "--count", "2", "--amount", "1.2345678"},
              {"--amount", "1.2345678"});
    CHECK(micros(find_named(s.json({"user", "list"}), "name", "erin")["balance"]) == 0);

    // Eight processes race one code: exactly one credit.
    std::atomic<int> ok{0}, already{0}, other{0};
    std::vector<std::thread> racers;
    for (int i = 0; i < 8; ++i)
        racers.emplace_back([&] {
            auto r = s.cli({"redeem", "use", "--user", "erin", "--code", codes[1]});
            if (r.exit_code == 0)
                ++ok;
            else if (r.exit_code == 2 && r.err.find("already redeemed") != std::string::npos)
                ++already;
            else
                ++other;
        });
    for (auto& t : racers) t.join();
    CHECK(ok == 1);
    CHECK(already == 7);
    CHECK(other == 0);
    Json erin = s.json({"user", "ledger", "--user", "erin"});
    CHECK(micros(erin["balance"]) == 5'000'000);
    CHECK(erin["entries"].size() == 1);
    CHECK(erin["consistent"] == true);

    Json after = s.json({"redeem", "list", "--batch", "promo"});
    int redeemed = 0;
    for (const auto& c : after)
        if (!c["redeemed_by"].is_null()) ++redeemed;
    CHECK(redeemed == 2);
    CHECK(find_named(s.json({"redeem", "list"}), "batch", "promo")["redeemed"] == 2);

    SECTION("--out writes a new 0600 file and prints no code; a large batch reports progress") {
        fs::path out = s.tmp / "codes.txt";
        auto r = s.cli({"redeem", "generate", "--count", "1500", "--amount", "0.5", "--batch",
                        "bulk", "--out", out.string()});
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
        CHECK_THAT(r.err, Contains("1500/1500"));
        auto file_codes = non_empty_lines(read_file(out));
        CHECK(file_codes.size() == 1500);
        CHECK(std::set<std::string>(file_codes.begin(), file_codes.end()).size() == 1500);
        for (const auto& c : {file_codes.front(), file_codes.back()})
            CHECK_THAT(r.out + r.err, !Contains(c));
        struct stat st {};
        REQUIRE(stat(out.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        CHECK(s.json({"redeem", "use", "--user", "dave", "--code", file_codes[700]})["amount"] ==
              "0.500000");
        // Never over an existing file; nothing is stored then.
        s.refused({"redeem", "generate", "--count", "2", "--amount", "1", "--batch", "again",
                   "--out", out.string()},
                  {"--out"});
        CHECK(find_named(s.json({"redeem", "list"}), "batch", "again").is_null());
        CHECK(non_empty_lines(read_file(out)).size() == 1500);
    }
    SECTION("--json lists the codes once") {
        Json j = s.json({"redeem", "generate", "--count", "2", "--amount", "1", "--batch", "j"});
        CHECK(j["batch"] == "j");
        CHECK(j["count"] == 2);
        CHECK(micros(j["total"]) == 2'000'000);
        REQUIRE(j["codes"].size() == 2);
        CHECK(s.json({"redeem", "use", "--user", "erin", "--code", j["codes"][1]})["balance"] ==
              "6.000000");
    }
}

TEST_CASE("key changes reach a running server within 2 s", "[integration][cli][hub][reload]") {
    Store s;
    ServeOptions o;
    o.data_dir = s.data;
    o.plugins_dir = make_plugins_dir(s.tmp / "plugins", {});
    o.scripts_dir = make_scripts_dir(s.tmp / "scripts", {"models/demo.lua"});
    if (!s.db_url.empty()) o.extra_args = {"--db", s.db_url};
    // With --db, serve does not create --data, where its secret file lives.
    fs::create_directories(s.data);
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string demo = *gw.demo_key();
    auto status_of = [&](const std::string& key) {
        return post_json(gw.port(), "/v1/messages", anthropic_auth(key),
                         anthropic_body("claude-x", "hello"))
            .status;
    };
    REQUIRE(status_of(demo) != 401);

    auto made = s.cli({"key", "create", "--user", "demo", "--name", "fresh"});
    REQUIRE(made.exit_code == 0);
    const std::string fresh = last_line(made.out);
    auto at = Clock::now();
    CHECK(eventually([&] { return status_of(fresh) != 401; }, 2500ms));
    CHECK(Clock::now() - at < 2500ms);

    REQUIRE(s.cli({"key", "revoke", "--user", "demo", "--name", "demo-key"}).exit_code == 0);
    at = Clock::now();
    CHECK(eventually([&] { return status_of(demo) == 401; }, 2500ms));
    CHECK(Clock::now() - at < 2500ms);
    CHECK(status_of(fresh) != 401);
    CHECK(gw.terminate() == 0);
}
