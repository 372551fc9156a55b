// The operations CLI against a real SQLite store: channel add/edit/rename/enable/disable/remove,
// `channel test` and `health-check` against the scripted fake upstream (and a closed port),
// `logs` filters, pages, CSV export and pruning, `stats` and `status`. Request log rows are
// written in this process through store::request_logs::record_usage; every expected number is
// computed here from the rows written, never copied from the command's output.
#include <algorithm>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_upstream_process.hpp"
#include "harness.hpp"
#include "store/api_keys.hpp"
#include "store/channels.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/request_logs.hpp"
#include "store/users.hpp"

using namespace tianshu::it;
using Catch::Contains;
namespace store = tianshu::store;

namespace {

//! A loopback port nothing listens on: bound, read, closed.
int closed_port() {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    REQUIRE(bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    close(s);
    return ntohs(addr.sin_port);
}

//! The upstream answers with this model name, unlike what it is asked for, so "models seen"
//! can only come from the answer.
constexpr const char* kAnsweredModel = "up-model-2026-01";

//! A data dir, the adapters, and a fake upstream that accepts only `sk-up`.
struct Ops {
    TempDir tmp{"ops"};
    fs::path data = tmp / "data";
    fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat", "anthropic"});
    fs::path scenario_file = [this] {
        write_file(tmp / "scenario.json", Json{{"api_key", "sk-up"},
                                               {"models", {"up-model"}},
                                               {"response_model", kAnsweredModel},
                                               {"turns", {{{"text", "pong"}, {"times", 0}}}}}
                                              .dump());
        return tmp / "scenario.json";
    }();
    FakeUpstream up{scenario_file, tmp / "upstream.log"};

    Ops() { fs::create_directories(data); }

    CliResult cli(std::vector<std::string> args) const {
        args.insert(args.end(), {"--data", data.string()});
        return run_cli(args);
    }
    CliResult plugin_cli(std::vector<std::string> args) const {
        args.insert(args.end(), {"--plugins-dir", plugins.string()});
        return cli(args);
    }
    //! `channel add` of an openai_compat channel at `base_url` with `extra` flags.
    CliResult add_channel(const std::string& name, const std::string& base_url,
                          std::vector<std::string> extra) const {
        std::vector<std::string> args{"channel", "add",        "--name", name,       "--type",
                                      "openai",  "--base-url", base_url, "--models", "up-model"};
        args.insert(args.end(), extra.begin(), extra.end());
        return plugin_cli(args);
    }
    Json channels() const {
        auto r = cli({"channel", "list", "--json"});
        INFO(r.err);
        REQUIRE(r.exit_code == 0);
        return Json::parse(r.out);
    }
    std::optional<Json> channel(const std::string& name) const {
        for (const auto& c : channels())
            if (c.value("name", "") == name) return c;
        return std::nullopt;
    }
    std::unique_ptr<store::Database> db() const {
        auto d = store::Database::open("sqlite://" + (data / "tianshu.db").string());
        REQUIRE(d);
        REQUIRE(store::migrate(*d.value()));
        return std::move(d).value();
    }
};

Json parse_json(const CliResult& r) {
    INFO("stdout: " << r.out << "\nstderr: " << r.err);
    Json j = Json::parse(r.out, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    return j;
}

Json probe_of(const Json& results, const std::string& channel) {
    for (const auto& r : results)
        if (r.value("channel", "") == channel) return r;
    FAIL("no probe result for channel " << channel << " in " << results.dump());
    return {};
}

// ---- request log rows --------------------------------------------------------------------

//! RFC 4180 parsing (quoted fields, doubled quotes, CRLF), to read an export back.
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> row;
    std::string field;
    bool quoted = false, any = false;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (quoted) {
            if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field += '"';
                ++i;
            } else if (c == '"') {
                quoted = false;
            } else {
                field += c;
            }
            continue;
        }
        if (c == '"') {
            quoted = true;
            any = true;
        } else if (c == ',') {
            row.push_back(field);
            field.clear();
        } else if (c == '\r' || c == '\n') {
            if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
            row.push_back(field);
            rows.push_back(row);
            row.clear();
            field.clear();
            any = false;
        } else {
            field += c;
            any = true;
        }
    }
    if (any || !field.empty() || !row.empty()) {
        row.push_back(field);
        rows.push_back(row);
    }
    return rows;
}

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

constexpr long long kMinute = 60'000, kDay = 86'400'000;

//! Two users with one key each, and a spread of log rows over 40 days.
struct LogRig : Ops {
    long long alice = 0, bob = 0, alice_key = 0, bob_key = 0;
    std::vector<store::UsageRecord> rows;
    //! A model name that needs every kind of CSV quoting.
    const std::string weird_model = "odd,\"model\"\nname";

    LogRig() {
        auto d = db();
        auto a = store::users::create(*d, store::NewUser{"alice", "user", "default", ""});
        auto b = store::users::create(*d, store::NewUser{"bob", "user", "default", ""});
        REQUIRE(a);
        REQUIRE(b);
        alice = a->id;
        bob = b->id;
        auto ak = store::api_keys::create(*d, alice, "alice-laptop", "sk-aaaa", "hash-a");
        auto bk = store::api_keys::create(*d, bob, "bob-ci", "sk-bbbb", "hash-b");
        REQUIRE(ak);
        REQUIRE(bk);
        alice_key = ak->id;
        bob_key = bk->id;
        const long long now = now_ms();
        for (int i = 0; i < 24; ++i) {
            store::UsageRecord r;
            r.request_id = "req-" + std::to_string(i);
            // i = 0..5 are 40 days old, the rest spread over the last few hours.
            r.created_at_ms = i < 6 ? now - 40 * kDay - i * kMinute : now - (24 - i) * 7 * kMinute;
            const bool is_alice = i % 3 != 0;
            r.user_id = is_alice ? alice : bob;
            r.key_id = is_alice ? alice_key : bob_key;
            r.channel = i % 2 ? "deepseek" : "qwen";
            r.requested_model = i == 7 ? weird_model : "claude-sonnet-4-5";
            r.upstream_model = i % 2 ? "deepseek-chat" : "qwen-max";
            r.input_tokens = 100 + i;
            r.output_tokens = 10 + i;
            r.cache_read_tokens = i;
            r.cost = 1'000 + i * 37;
            r.latency_ms = 200 + i;
            r.ttft_ms = 50 + i;
            r.status = i % 5 == 0 ? 429 : 200;
            r.error_kind = i % 5 == 0 ? "rate_limited" : "";
            r.client_ip = "10.0.0." + std::to_string(i);
            r.retries = i % 4;
            rows.push_back(r);
        }
        REQUIRE(store::request_logs::record_usage(*d, rows));
    }

    size_t count(const std::function<bool(const store::UsageRecord&)>& pred) const {
        return static_cast<size_t>(std::count_if(rows.begin(), rows.end(), pred));
    }
    //! Every row of `logs --json ARGS`, following next_before_id to the end.
    std::vector<Json> all_pages(std::vector<std::string> args, int limit) const {
        std::vector<Json> out;
        std::optional<long long> before;
        for (int page = 0; page < 100; ++page) {
            std::vector<std::string> a{"logs", "--json", "--limit", std::to_string(limit)};
            a.insert(a.end(), args.begin(), args.end());
            if (before) a.insert(a.end(), {"--before-id", std::to_string(*before)});
            auto r = cli(a);
            REQUIRE(r.exit_code == 0);
            Json j = parse_json(r);
            CHECK(j["rows"].size() <= static_cast<size_t>(limit));
            for (const auto& row : j["rows"]) out.push_back(row);
            if (j["next_before_id"].is_null()) return out;
            before = j["next_before_id"].get<long long>();
        }
        FAIL("pagination did not end");
        return out;
    }
};

}  // namespace

// ---- channels ----------------------------------------------------------------------------

TEST_CASE("channel list never prints a proxy's password, even one holding '@'",
          "[integration][ops][channel][secrets]") {
    Ops s;
    auto added =
        s.add_channel("hidden", s.up.base_url(),
                      {"--key", "sk-up", "--proxy", "http://alice:p@ss:w0rd@127.0.0.1:9/"});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    auto json = s.cli({"channel", "list", "--json"});
    REQUIRE(json.exit_code == 0);
    CHECK(json.out.find("p@ss") == std::string::npos);
    CHECK(json.out.find("w0rd") == std::string::npos);
    CHECK(json.out.find("sk-up") == std::string::npos);
    auto c = s.channel("hidden");
    REQUIRE(c);
    CHECK((*c)["proxy"] == "http://alice:***@127.0.0.1:9/");
    auto table = s.cli({"channel", "list"});
    REQUIRE(table.exit_code == 0);
    CHECK(table.out.find("w0rd") == std::string::npos);
    // A password holding '/' (unescaped) is cut at the last '@' too, not at the slash.
    auto slashed = s.cli(
        {"channel", "edit", "--name", "hidden", "--proxy", "http://bob:se/cr?et@127.0.0.1:9"});
    INFO(slashed.out << slashed.err);
    REQUIRE(slashed.exit_code == 0);
    auto again = s.cli({"channel", "list", "--json"});
    CHECK(again.out.find("se/cr") == std::string::npos);
    CHECK((*s.channel("hidden"))["proxy"] == "http://bob:***@127.0.0.1:9");
}

TEST_CASE("channel add, list, edit and rename keep keys sealed and working",
          "[integration][ops][channel]") {
    Ops s;
    // The fake upstream doubles as the HTTP proxy: a probe goes the way the gateway would.
    const std::string proxy = "http://127.0.0.1:" + std::to_string(s.up.port());
    auto added =
        s.add_channel("alpha", s.up.base_url(),
                      {"--key", "sk-up", "--key", "sk-second", "--priority", "5", "--weight", "3",
                       "--proxy", proxy, "--timeout-ms", "9000", "--tag", "cn", "--tag", "cheap"});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);

    auto c = s.channel("alpha");
    REQUIRE(c);
    CHECK((*c)["priority"] == 5);
    CHECK((*c)["weight"] == 3);
    CHECK((*c)["proxy"] == proxy);
    CHECK((*c)["timeout_ms"] == 9000);
    CHECK((*c)["tags"] == Json::array({"cn", "cheap"}));
    REQUIRE((*c)["keys"].size() == 2);
    for (const auto& k : (*c)["keys"]) CHECK(k["enabled"] == true);
    auto table = s.cli({"channel", "list"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out, Contains("PRIORITY") && Contains("KEYS") && Contains("alpha"));
    // Neither form ever shows a key, sealed or plain.
    auto listed = s.cli({"channel", "list", "--json"});
    CHECK_THAT(listed.out + table.out, !Contains("sk-up") && !Contains("sk-second") &&
                                           !Contains("v1:") && !Contains("sealed"));

    // A key disabled by hand shows in the table's count.
    {
        auto d = s.db();
        REQUIRE(store::channels::set_key_enabled(*d, (*c)["keys"][1]["id"].get<long long>(), false,
                                                 "402 from upstream"));
    }
    CHECK_THAT(s.cli({"channel", "list"}).out, Contains("2 (1 disabled)"));

    // Rename: the keys are re-sealed for the new name; the first still reaches the upstream.
    auto renamed = s.plugin_cli({"channel", "edit", "--name", "alpha", "--rename", "beta",
                                 "--weight", "7", "--tag", "renamed"});
    INFO(renamed.out << renamed.err);
    REQUIRE(renamed.exit_code == 0);
    CHECK_FALSE(s.channel("alpha"));
    auto b = s.channel("beta");
    REQUIRE(b);
    CHECK((*b)["weight"] == 7);
    CHECK((*b)["priority"] == 5);  // untouched fields keep their values
    CHECK((*b)["tags"] == Json::array({"renamed"}));
    REQUIRE((*b)["keys"].size() == 2);
    CHECK((*b)["keys"][0]["enabled"] == true);
    CHECK((*b)["keys"][1]["enabled"] == false);  // disabled state and reason survive
    CHECK((*b)["keys"][1]["disabled_reason"] == "402 from upstream");
    auto tested = s.plugin_cli({"channel", "test", "--name", "beta", "--json"});
    INFO(tested.out << tested.err);
    CHECK(tested.exit_code == 0);
    CHECK(probe_of(parse_json(tested), "beta")["status"] == "ok");
    Json seen = s.up.requests();
    REQUIRE_FALSE(seen.empty());
    CHECK(seen.back().value("status", 0) == 200);  // the fake answers 401 to any other key

    // Replacing every key: the wrong key now fails the test with the upstream's 401.
    auto replaced = s.plugin_cli({"channel", "edit", "--name", "beta", "--key", "sk-wrong"});
    INFO(replaced.err);
    REQUIRE(replaced.exit_code == 0);
    REQUIRE(s.channel("beta").value()["keys"].size() == 1);
    auto failing = s.plugin_cli({"channel", "test", "--name", "beta", "--json"});
    CHECK(failing.exit_code == 1);
    CHECK(probe_of(parse_json(failing), "beta")["status"] == "error");
    CHECK(s.up.requests().back().value("status", 0) == 401);

    // --add-key then --remove-key of the wrong one: the right key serves again.
    long long wrong_id = s.channel("beta").value()["keys"][0]["id"].get<long long>();
    REQUIRE(s.plugin_cli({"channel", "edit", "--name", "beta", "--add-key", "sk-up"}).exit_code ==
            0);
    REQUIRE(s.cli({"channel", "edit", "--name", "beta", "--remove-key", std::to_string(wrong_id)})
                .exit_code == 0);
    auto keys = s.channel("beta").value()["keys"];
    REQUIRE(keys.size() == 1);
    CHECK(keys[0]["id"] != wrong_id);
    CHECK(s.plugin_cli({"channel", "test", "--name", "beta"}).exit_code == 0);

    // Bad edits change nothing and exit 2 naming the flag.
    auto before = s.cli({"channel", "list", "--json"}).out;
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"channel", "edit", "--name", "beta", "--weight", "0"},
             {"channel", "edit", "--name", "beta", "--priority", "high"},
             {"channel", "edit", "--name", "beta", "--proxy", "socks://x"},
             {"channel", "edit", "--name", "beta", "--remove-key", "999999"},
             {"channel", "edit", "--name", "beta", "--type", "no_such_adapter"},
             {"channel", "edit", "--name", "nobody", "--weight", "2"},
             {"channel", "edit", "--name", "beta"}}) {
        auto r = s.plugin_cli(args);
        INFO(Json(args).dump() << ": " << r.err);
        CHECK(r.exit_code == 2);
        CHECK_FALSE(r.err.empty());
    }
    CHECK_THAT(s.plugin_cli({"channel", "edit", "--name", "beta", "--weight", "0"}).err,
               Contains("--weight"));
    CHECK(s.cli({"channel", "list", "--json"}).out == before);
}

TEST_CASE("channel enable, disable and remove", "[integration][ops][channel]") {
    Ops s;
    REQUIRE(s.add_channel("gamma", s.up.base_url(), {"--key", "sk-up"}).exit_code == 0);
    REQUIRE(s.add_channel("delta", s.up.base_url(), {}).exit_code == 0);
    auto off = s.cli({"channel", "disable", "--name", "gamma"});
    INFO(off.err);
    CHECK(off.exit_code == 0);
    CHECK(s.channel("gamma").value()["enabled"] == false);
    CHECK(s.channel("delta").value()["enabled"] == true);
    CHECK(s.cli({"channel", "enable", "--name", "gamma", "--json"}).exit_code == 0);
    CHECK(s.channel("gamma").value()["enabled"] == true);
    CHECK(s.cli({"channel", "remove", "--name", "gamma"}).exit_code == 0);
    CHECK_FALSE(s.channel("gamma"));
    CHECK(s.channel("delta"));
    for (const auto& sub : {"remove", "enable", "disable"}) {
        auto r = s.cli({"channel", sub, "--name", "gamma"});
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Contains("gamma") && Contains("channel list"));
    }
    CHECK(s.cli({"channel", "remove"}).exit_code == 2);  // --name is required
}

TEST_CASE("channel test: channels in parallel, two ok and one unreachable, exit 1",
          "[integration][ops][channel]") {
    Ops s;
    const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1";
    REQUIRE(s.add_channel("good", s.up.base_url(), {"--key", "sk-up"}).exit_code == 0);
    REQUIRE(s.add_channel("dead", dead, {"--key", "sk-up"}).exit_code == 0);
    auto anth = s.plugin_cli({"channel", "add", "--name", "claude-like", "--type", "anthropic",
                              "--base-url", s.up.anthropic_base_url(), "--key", "sk-up", "--models",
                              "up-model"});
    INFO(anth.err);
    REQUIRE(anth.exit_code == 0);

    auto r = s.plugin_cli({"channel", "test", "--json"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);
    Json results = parse_json(r);
    REQUIRE(results.size() == 3);
    Json good = probe_of(results, "good"), bad = probe_of(results, "dead"),
         claude = probe_of(results, "claude-like");
    CHECK(good["status"] == "ok");
    CHECK(good["error"] == "");
    CHECK(good["models_seen"].size() == 1);
    CHECK(good["latency_ms"].get<long long>() >= 0);
    CHECK(claude["status"] == "ok");
    // The model the upstream answered with, not the one it was asked for.
    CHECK(claude["models_seen"] == Json::array({kAnsweredModel}));
    CHECK(bad["status"] == "error");
    CHECK_FALSE(bad["error"].get<std::string>().empty());
    CHECK(bad["models_seen"].empty());
    // A progress line per finished channel.
    CHECK_THAT(r.err, Contains("1/3 channels tested") && Contains("2/3 channels tested") &&
                          Contains("3/3 channels tested"));

    // Each probe is one minimal request: one user message "ping", max_tokens 1.
    Json reqs = s.up.requests();
    REQUIRE(reqs.size() == 2);
    for (const auto& req : reqs) {
        Json body = req["body"];
        INFO(body.dump());
        CHECK(req.value("status", 0) == 200);
        CHECK(body.value("max_tokens", -1) == 1);
        REQUIRE(body["messages"].size() == 1);
        CHECK(body["messages"][0]["role"] == "user");
        CHECK(body["messages"][0]["content"].dump().find("ping") != std::string::npos);
        CHECK(body.value("model", "") == "up-model");
    }

    // The table, and --name restricting the run to one channel.
    auto text = s.plugin_cli({"channel", "test"});
    CHECK(text.exit_code == 1);
    CHECK_THAT(text.out,
               Contains("2 ok, 1 failed") && Contains("MODELS SEEN") && Contains(kAnsweredModel));
    auto only = s.plugin_cli({"channel", "test", "--name", "good", "--json"});
    CHECK(only.exit_code == 0);
    CHECK(parse_json(only).size() == 1);
    CHECK_THAT(only.err, Contains("1/1 channels tested"));
    CHECK(s.plugin_cli({"channel", "test", "--name", "nope"}).exit_code == 2);
}

TEST_CASE("health-check re-enables keys the gateway disabled once they work again",
          "[integration][ops][health]") {
    Ops s;
    const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port()) + "/v1";
    REQUIRE(s.add_channel("recovered", s.up.base_url(), {"--key", "sk-up"}).exit_code == 0);
    REQUIRE(s.add_channel("by-hand", s.up.base_url(), {"--key", "sk-up"}).exit_code == 0);
    REQUIRE(s.add_channel("still-down", dead, {"--key", "sk-up"}).exit_code == 0);
    std::map<std::string, long long> key_of;
    for (const auto& c : s.channels()) key_of[c["name"]] = c["keys"][0]["id"].get<long long>();
    {
        auto d = s.db();
        REQUIRE(
            store::channels::set_key_enabled(*d, key_of["recovered"], false, "401 from upstream"));
        REQUIRE(store::channels::set_key_enabled(*d, key_of["still-down"], false,
                                                 "connection refused"));
        // Disabled by an operator (no reason): not the health check's business.
        REQUIRE(store::channels::set_key_enabled(*d, key_of["by-hand"], false));
    }
    auto r = s.plugin_cli({"health-check", "--json"});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 1);  // one key is still failing
    Json results = parse_json(r);
    REQUIRE(results.size() == 2);
    CHECK(probe_of(results, "recovered")["status"] == "ok");
    CHECK(probe_of(results, "recovered")["reenabled"] == true);
    CHECK(probe_of(results, "recovered")["key_id"] == key_of["recovered"]);
    CHECK(probe_of(results, "still-down")["status"] == "error");
    CHECK(probe_of(results, "still-down")["reenabled"] == false);
    CHECK_THAT(r.err, Contains("2/2 disabled keys tested"));

    auto key = [&](const std::string& channel) { return s.channel(channel).value()["keys"][0]; };
    CHECK(key("recovered")["enabled"] == true);
    CHECK(key("recovered")["disabled_reason"] == "");
    CHECK(key("still-down")["enabled"] == false);
    CHECK(key("still-down")["disabled_reason"] == "connection refused");
    CHECK(key("by-hand")["enabled"] == false);

    // The text form says what it re-enabled; with nothing left to recover it says so.
    {
        auto d = s.db();
        REQUIRE(store::channels::set_key_enabled(*d, key_of["recovered"], false, "429 storm"));
        REQUIRE(store::channels::set_key_enabled(*d, key_of["still-down"], true));
    }
    auto text = s.plugin_cli({"health-check"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Contains("re-enabled key " + std::to_string(key_of["recovered"]) +
                                  " of channel 'recovered'"));
    auto none = s.plugin_cli({"health-check"});
    CHECK(none.exit_code == 0);
    CHECK_THAT(none.out, Contains("nothing to check"));
}

// ---- logs --------------------------------------------------------------------------------

TEST_CASE("logs: filters, pagination, names instead of ids", "[integration][ops][logs]") {
    LogRig s;
    // Every row, page by page, newest first, each exactly once.
    auto all = s.all_pages({}, 5);
    REQUIRE(all.size() == s.rows.size());
    std::set<std::string> ids;
    for (size_t i = 0; i < all.size(); ++i) {
        ids.insert(all[i]["request_id"].get<std::string>());
        if (i > 0) CHECK(all[i]["id"].get<long long>() < all[i - 1]["id"].get<long long>());
    }
    CHECK(ids.size() == s.rows.size());

    auto check_filter = [&](std::vector<std::string> args,
                            const std::function<bool(const store::UsageRecord&)>& pred) {
        INFO("logs " << Json(args).dump());
        auto rows = s.all_pages(args, 7);
        CHECK(rows.size() == s.count(pred));
        std::set<std::string> expected, got;
        for (const auto& r : s.rows)
            if (pred(r)) expected.insert(r.request_id);
        for (const auto& r : rows) got.insert(r["request_id"].get<std::string>());
        CHECK(got == expected);
    };
    check_filter({"--user", "alice"}, [&](const auto& r) { return r.user_id == s.alice; });
    check_filter({"--key-id", std::to_string(s.bob_key)},
                 [&](const auto& r) { return r.key_id == s.bob_key; });
    check_filter({"--channel", "deepseek"}, [](const auto& r) { return r.channel == "deepseek"; });
    check_filter({"--model", "qwen-max"},
                 [](const auto& r) { return r.upstream_model == "qwen-max"; });
    check_filter({"--status", "429"}, [](const auto& r) { return r.status == 429; });
    const long long now = now_ms();
    check_filter({"--since", "7d"},
                 [&](const auto& r) { return r.created_at_ms >= now - 7 * kDay; });
    check_filter({"--until", "30d"},
                 [&](const auto& r) { return r.created_at_ms < now - 30 * kDay; });
    check_filter({"--user", "bob", "--status", "200", "--channel", "qwen"}, [&](const auto& r) {
        return r.user_id == s.bob && r.status == 200 && r.channel == "qwen";
    });

    // One row in full: names resolved, money formatted.
    auto one = parse_json(s.cli({"logs", "--json", "--limit", "1"}))["rows"][0];
    const auto& newest = s.rows.back();
    CHECK(one["request_id"] == newest.request_id);
    CHECK(one["user"] == (newest.user_id == s.alice ? "alice" : "bob"));
    CHECK(one["key"] == (newest.user_id == s.alice ? "alice-laptop" : "bob-ci"));
    CHECK(one["cost_micros"] == newest.cost);
    CHECK(one["input_tokens"] == newest.input_tokens);
    CHECK(one["client_ip"] == newest.client_ip);

    auto table = s.cli({"logs", "--limit", "3"});
    CHECK(table.exit_code == 0);
    CHECK_THAT(table.out,
               Contains("claude-sonnet-4-5->") && Contains("TTFT") && Contains("--before-id"));

    for (const auto& args : std::vector<std::vector<std::string>>{
             {"logs", "--since", "yesterday"},
             {"logs", "--since", "2026-13-01"},
             {"logs", "--since", "2026-11-22T10:00:00"},  // no Z: not UTC
             {"logs", "--since", "3y"},
             {"logs", "--status", "abc"},
             {"logs", "--limit", "0"},
             {"logs", "--user", "nobody"},
             {"logs", "--since", "1d", "--until", "2d"}}) {
        auto r = s.cli(args);
        INFO(args[1] << " " << args[2] << ": " << r.err);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Contains(args[1]));
    }
    // Absolute times: a window that holds exactly the old rows.
    auto old_rows = s.count([&](const auto& r) { return r.created_at_ms < now - 30 * kDay; });
    auto from_date = s.all_pages({"--since", "2000-01-01", "--until", "2000-01-02T00:00:00Z"}, 50);
    CHECK(from_date.empty());
    CHECK(s.all_pages({"--until", "30d"}, 50).size() == old_rows);
}

TEST_CASE("logs --csv exports every matching row with proper quoting; prune deletes old rows",
          "[integration][ops][logs]") {
    LogRig s;
    auto r = s.cli({"logs", "--csv", (s.tmp / "all.csv").string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Contains("exported " + std::to_string(s.rows.size()) + " rows"));
    auto csv = parse_csv(read_file(s.tmp / "all.csv"));
    REQUIRE(csv.size() == s.rows.size() + 1);
    const auto& header = csv[0];
    auto col = [&](const std::string& name) {
        auto it = std::find(header.begin(), header.end(), name);
        REQUIRE(it != header.end());
        return static_cast<size_t>(it - header.begin());
    };
    std::map<std::string, store::UsageRecord> by_request;
    for (const auto& row : s.rows) by_request[row.request_id] = row;
    // The id column is the store's; match rows by the columns the record wrote.
    size_t weird_seen = 0;
    for (size_t i = 1; i < csv.size(); ++i) {
        const auto& line = csv[i];
        REQUIRE(line.size() == header.size());
        auto it = std::find_if(s.rows.begin(), s.rows.end(), [&](const auto& rec) {
            return rec.client_ip == line[col("client_ip")];
        });
        REQUIRE(it != s.rows.end());
        CHECK(line[col("requested_model")] == it->requested_model);
        CHECK(line[col("upstream_model")] == it->upstream_model);
        CHECK(line[col("user")] == (it->user_id == s.alice ? "alice" : "bob"));
        CHECK(line[col("input_tokens")] == std::to_string(it->input_tokens));
        CHECK(line[col("status")] == std::to_string(it->status));
        CHECK(line[col("retries")] == std::to_string(it->retries));
        weird_seen += line[col("requested_model")] == s.weird_model ? 1 : 0;
    }
    CHECK(weird_seen == 1);  // commas, quotes and a line break survive the round trip

    // Filters apply to the export; '-' writes to stdout.
    auto out = s.cli({"logs", "--csv", "-", "--user", "bob"});
    REQUIRE(out.exit_code == 0);
    auto bob_csv = parse_csv(out.out);
    CHECK(bob_csv.size() == s.count([&](const auto& rec) { return rec.user_id == s.bob; }) + 1);
    CHECK(s.cli({"logs", "--csv", "-", "--limit", "3"}).exit_code == 2);
    CHECK(s.cli({"logs", "--csv", (s.tmp / "no" / "such" / "dir.csv").string()}).exit_code == 2);

    // Prune: rows older than 30 days go, the rest stay.
    const long long now = now_ms();
    auto old_rows = s.count([&](const auto& rec) { return rec.created_at_ms < now - 30 * kDay; });
    REQUIRE(old_rows > 0);
    auto pruned = s.cli({"logs", "prune", "--older-than", "30d", "--json"});
    INFO(pruned.err);
    REQUIRE(pruned.exit_code == 0);
    CHECK(parse_json(pruned)["deleted"] == old_rows);
    CHECK(s.all_pages({}, 100).size() == s.rows.size() - old_rows);
    CHECK(parse_json(s.cli({"logs", "prune", "--older-than", "30d", "--json"}))["deleted"] == 0);
    CHECK(s.cli({"logs", "prune"}).exit_code == 2);
    CHECK(s.cli({"logs", "prune", "--older-than", "30d", "--user", "bob"}).exit_code == 2);
}

TEST_CASE("logs --csv prints a progress line every 10,000 rows", "[integration][ops][logs]") {
    Ops s;
    auto d = s.db();
    auto u = store::users::create(*d, store::NewUser{"bulk", "user", "default", ""});
    REQUIRE(u);
    std::vector<store::UsageRecord> batch(20'500);
    const long long start = now_ms() - kDay;
    for (size_t i = 0; i < batch.size(); ++i) {
        batch[i].request_id = "bulk-" + std::to_string(i);
        batch[i].created_at_ms = start + static_cast<long long>(i);
        batch[i].user_id = u->id;
        batch[i].channel = "c";
        batch[i].requested_model = "m";
        batch[i].status = 200;
    }
    REQUIRE(store::request_logs::record_usage(*d, batch));
    auto r = s.cli({"logs", "--csv", (s.tmp / "bulk.csv").string()});
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.err, Contains("10000 rows exported") && Contains("20000 rows exported") &&
                          !Contains("30000 rows exported"));
    auto csv = parse_csv(read_file(s.tmp / "bulk.csv"));
    CHECK(csv.size() == batch.size() + 1);
}

// ---- stats and status ----------------------------------------------------------------------

TEST_CASE("stats: totals and breakdowns equal the rows written", "[integration][ops][stats]") {
    Ops s;
    auto d = s.db();
    auto a = store::users::create(*d, store::NewUser{"ann", "user", "default", ""});
    auto b = store::users::create(*d, store::NewUser{"ben", "user", "default", ""});
    REQUIRE(a);
    REQUIRE(b);
    // A day in the past, so today's rows cannot mix in: 2025-03-10 (UTC).
    const long long day = 1'741'564'800'000LL;
    std::vector<store::UsageRecord> rows;
    struct Spec {
        long long offset_min;
        bool ann;
        const char* channel;
        const char* model;
        long long cost;
        int status;
    };
    for (const Spec& x : std::vector<Spec>{{65, true, "ds", "m-a", 1'500'000, 200},
                                           {70, false, "ds", "m-a", 250'001, 200},
                                           {130, true, "qw", "m-b", 999, 500},
                                           {135, true, "ds", "m-b", 42, 200},
                                           {60 * 23 + 59, false, "qw", "m-a", 7, 200}}) {
        store::UsageRecord r;
        r.request_id = "st-" + std::to_string(rows.size());
        r.created_at_ms = day + x.offset_min * kMinute;
        r.user_id = x.ann ? a->id : b->id;
        r.channel = x.channel;
        r.requested_model = x.model;
        r.upstream_model = std::string("up-") + x.model;
        r.input_tokens = 1000 + x.offset_min;
        r.output_tokens = 10 + x.offset_min;
        r.cache_read_tokens = x.offset_min % 7;
        r.cache_write_tokens = x.offset_min % 3;
        r.reasoning_tokens = x.offset_min % 5;
        r.cost = x.cost;
        r.status = x.status;
        rows.push_back(r);
    }
    // A row the next day: outside the window.
    store::UsageRecord late = rows.front();
    late.request_id = "st-late";
    late.created_at_ms = day + kDay + kMinute;
    REQUIRE(store::request_logs::record_usage(*d, rows));
    REQUIRE(store::request_logs::record_usage(*d, {late}));

    long long spend = 0, in = 0, out = 0, cr = 0, cw = 0, rs = 0;
    std::set<long long> users;
    std::map<std::pair<long long, std::string>, std::pair<long long, long long>> by_hour_channel;
    for (const auto& r : rows) {
        spend += r.cost;
        in += r.input_tokens;
        out += r.output_tokens;
        cr += r.cache_read_tokens;
        cw += r.cache_write_tokens;
        rs += r.reasoning_tokens;
        users.insert(r.user_id);
        auto& cell = by_hour_channel[{r.created_at_ms - r.created_at_ms % 3'600'000, r.channel}];
        cell.first += 1;
        cell.second += r.cost;
    }
    auto res = s.cli({"stats", "--since", "2025-03-10", "--until", "2025-03-11T00:00:00Z", "--by",
                      "channel", "--bucket", "hour", "--json"});
    INFO(res.out << res.err);
    REQUIRE(res.exit_code == 0);
    Json j = parse_json(res);
    Json t = j["totals"];
    CHECK(t["requests"] == rows.size());
    CHECK(t["spend_micros"] == spend);
    CHECK(t["active_users"] == users.size());
    CHECK(t["input_tokens"] == in);
    CHECK(t["output_tokens"] == out);
    CHECK(t["cache_read_tokens"] == cr);
    CHECK(t["cache_write_tokens"] == cw);
    CHECK(t["reasoning_tokens"] == rs);
    CHECK(t["spend"] == "1.751049");  // 1.5 + 0.250001 + 0.000999 + 0.000042 + 0.000007
    REQUIRE(j["breakdown"].size() == by_hour_channel.size());
    for (const auto& row : j["breakdown"]) {
        auto it = by_hour_channel.find({row["bucket_start_ms"].get<long long>(), row["channel"]});
        REQUIRE(it != by_hour_channel.end());
        CHECK(row["requests"] == it->second.first);
        CHECK(row["spend_micros"] == it->second.second);
    }
    // By model per day: one bucket per model; errors count statuses >= 400.
    Json by_model = parse_json(s.cli(
        {"stats", "--since", "2025-03-10", "--until", "2025-03-11", "--bucket", "day", "--json"}));
    std::map<std::string, std::pair<long long, long long>> per_model;  // requests, errors
    for (const auto& r : rows) {
        per_model[r.requested_model].first += 1;
        per_model[r.requested_model].second += r.status >= 400 ? 1 : 0;
    }
    REQUIRE(by_model["breakdown"].size() == per_model.size());
    for (const auto& row : by_model["breakdown"]) {
        CHECK(row["bucket_start_ms"] == day);
        CHECK(row["requests"] == per_model[row["model"]].first);
        CHECK(row["errors"] == per_model[row["model"]].second);
    }
    // The default window is today: none of these rows.
    Json today = parse_json(s.cli({"stats", "--json"}));
    CHECK(today["totals"]["requests"] == 0);
    auto text = s.cli({"stats", "--since", "2025-03-10", "--until", "2025-03-11"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Contains("1.751049") && Contains("SPEND") && Contains("m-a"));
    CHECK(s.cli({"stats", "--by", "tier"}).exit_code == 2);
    CHECK(s.cli({"stats", "--bucket", "week"}).exit_code == 2);
}

TEST_CASE("status: counts, today's totals, the store, and whether a server answers",
          "[integration][ops][status]") {
    Ops s;
    REQUIRE(s.add_channel("on", s.up.base_url(), {"--key", "sk-up", "--key", "sk-2"}).exit_code ==
            0);
    REQUIRE(s.add_channel("off", s.up.base_url(), {"--key", "sk-up"}).exit_code == 0);
    REQUIRE(s.cli({"channel", "disable", "--name", "off"}).exit_code == 0);
    long long today_cost = 0;
    {
        auto d = s.db();
        auto u1 = store::users::create(*d, store::NewUser{"u1", "user", "default", ""});
        auto u2 = store::users::create(*d, store::NewUser{"u2", "user", "default", ""});
        REQUIRE(u1);
        REQUIRE(u2);
        auto k1 = store::api_keys::create(*d, u1->id, "k1", "p1", "h1");
        auto k2 = store::api_keys::create(*d, u2->id, "k2", "p2", "h2");
        REQUIRE(k1);
        REQUIRE(k2);
        REQUIRE(store::api_keys::revoke(*d, k2->id));
        auto on = store::channels::find_by_name(*d, "on");
        REQUIRE(on);
        REQUIRE(store::channels::set_key_enabled(*d, on.value()->keys[1].id, false, "401"));
        store::UsageRecord r;
        r.request_id = "today-1";
        r.created_at_ms = now_ms();
        r.user_id = u1->id;
        r.channel = "on";
        r.requested_model = "m";
        r.cost = 123'456;
        r.status = 200;
        today_cost = r.cost;
        REQUIRE(store::request_logs::record_usage(*d, {r}));
    }
    auto r = s.cli({"status", "--json"});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    Json j = parse_json(r);
    CHECK(j["schema_version"] == j["schema_version_expected"]);
    CHECK(j["schema_version"].get<int>() > 0);
    CHECK(j["users"] == 2);
    CHECK(j["api_keys"]["live"] == 1);
    CHECK(j["api_keys"]["revoked"] == 1);
    CHECK(j["channels"]["enabled"] == 1);
    CHECK(j["channels"]["disabled"] == 1);
    CHECK(j["channel_keys"]["enabled"] == 2);
    CHECK(j["channel_keys"]["disabled"] == 1);
    CHECK(j["today"]["requests"] == 1);
    CHECK(j["today"]["spend_micros"] == today_cost);
    CHECK(j["database"]["kind"] == "sqlite");
    CHECK_THAT(j["database"]["url"].get<std::string>(), Contains("tianshu.db"));
    CHECK(j["server"].is_null());
    auto text = s.cli({"status"});
    CHECK(text.exit_code == 0);
    CHECK_THAT(text.out, Contains("1 enabled, 1 disabled") && Contains("0.123456"));

    // --url: a running gateway answers /healthz; a closed port does not (exit 1).
    TempDir other("ops-status");
    ServeOptions o;
    o.data_dir = other / "data";
    GatewayProcess gw(o);
    const std::string url = "http://127.0.0.1:" + std::to_string(gw.port());
    auto up = s.cli({"status", "--url", url, "--json"});
    INFO(up.err);
    CHECK(up.exit_code == 0);
    CHECK(parse_json(up)["server"]["listening"] == true);
    CHECK(parse_json(up)["server"]["http_status"] == 200);
    auto down =
        s.cli({"status", "--url", "http://127.0.0.1:" + std::to_string(closed_port()), "--json"});
    CHECK(down.exit_code == 1);
    CHECK(parse_json(down)["server"]["listening"] == false);
    CHECK_FALSE(parse_json(down)["server"]["error"].get<std::string>().empty());
    CHECK(s.cli({"status", "--url", "localhost:8080"}).exit_code == 2);
}
