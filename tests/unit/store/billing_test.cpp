// Money: the ledger, redemption codes and request logs with their charges. The invariant
// SUM(ledger.amount) == users.balance is checked after every mix of operations, and the
// exactly-once promises under concurrency, on SQLite and MariaDB alike.

#include "store/api_keys.hpp"
#include "store/ledger.hpp"
#include "store/redemption_codes.hpp"
#include "store/request_logs.hpp"
#include "store/users.hpp"
#include "test_database.hpp"

#include <soci/soci.h>
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <set>
#include <thread>

using namespace tianshu;
using namespace tianshu::store;
using namespace tianshu::store::testing;

namespace {

//! Every user's balance next to the sum of their ledger rows.
void check_ledger_invariant(Database& db) {
    auto all = users::list(db);
    REQUIRE(all.ok());
    for (const auto& u : all.value()) {
        auto sum = ledger::sum_by_user(db, u.id);
        REQUIRE(sum.ok());
        INFO("user " << u.name);
        CHECK(sum.value() == u.balance);
    }
}

long long balance(Database& db, long long user_id) {
    return users::find_by_id(db, user_id).value().value().balance;
}

//! A 64-character stand-in for a SHA-256 hex digest.
std::string fake_hash(int n) {
    std::string digits = std::to_string(n);
    return std::string(64 - digits.size(), 'a') + digits;
}

UsageRecord usage(const std::string& request_id, long long user_id, std::optional<long long> key,
                  long long cost, long long at_ms = 1'700'000'000'000) {
    UsageRecord r;
    r.request_id = request_id;
    r.created_at_ms = at_ms;
    r.user_id = user_id;
    r.key_id = key;
    r.channel = "deepseek";
    r.requested_model = "claude-sonnet-4";
    r.upstream_model = "deepseek-chat";
    r.input_tokens = 1000;
    r.output_tokens = 200;
    r.cost = cost;
    r.latency_ms = 850;
    r.ttft_ms = 120;
    r.status = 200;
    r.client_ip = "10.0.0.7";
    r.stream = true;
    return r;
}

}  // namespace

TEST_CASE(
    "top-ups credit the user and the inviter's rebate once per ref; adjustments keep "
    "the balance at or above zero") {
    TestDatabase t;
    Database& db = *t;
    User inviter = make_user(db, "inviter");
    auto invited = users::create(db, {"invited", "user", "default", ""}, inviter.id);
    REQUIRE(invited.ok());

    const long long amount = 10'000'000, rebate_ppm = 50'000;  // 10 units, 5%
    auto first = ledger::topup(db, invited->id, amount, std::string("pay:1"), "alipay", rebate_ppm);
    INFO((first.ok() ? "" : first.error().message));
    REQUIRE(first.ok());
    CHECK(first->applied);
    CHECK(first->balance == amount);
    CHECK(first->rebate == amount * rebate_ppm / 1'000'000);
    CHECK(first->inviter == std::optional<long long>(inviter.id));
    CHECK(balance(db, inviter.id) == amount * rebate_ppm / 1'000'000);

    auto again = ledger::topup(db, invited->id, amount, std::string("pay:1"), "alipay", rebate_ppm);
    REQUIRE(again.ok());
    CHECK_FALSE(again->applied);
    CHECK(again->balance == amount);
    CHECK(balance(db, inviter.id) == amount * rebate_ppm / 1'000'000);

    // A rebate that does not divide evenly rounds down; no ref means no idempotency.
    REQUIRE(ledger::topup(db, invited->id, 333, std::nullopt, "", 500'000).ok());
    REQUIRE(ledger::topup(db, invited->id, 333, std::nullopt, "", 500'000).ok());
    CHECK(balance(db, invited->id) == amount + 666);
    CHECK(balance(db, inviter.id) == amount * rebate_ppm / 1'000'000 + 166 * 2);
    auto own = ledger::topup(db, inviter.id, 1'000, std::nullopt, "", 500'000);
    REQUIRE(own.ok());
    CHECK(own->rebate == 0);
    CHECK_FALSE(own->inviter.has_value());

    CHECK_FALSE(ledger::topup(db, invited->id, 0, std::nullopt, "", 0).ok());
    CHECK_FALSE(ledger::topup(db, invited->id, 5, std::nullopt, "", 1'000'001).ok());
    CHECK(ledger::topup(db, 999999, 5, std::nullopt, "", 0).error().kind ==
          core::ErrorKind::not_found);

    long long before = balance(db, invited->id);
    auto too_much = ledger::adjust(db, invited->id, -(before + 1), std::nullopt, "chargeback");
    REQUIRE_FALSE(too_much.ok());
    CHECK_THAT(too_much.error().message, Catch::Contains(std::to_string(before)));
    CHECK(balance(db, invited->id) == before);
    auto down = ledger::adjust(db, invited->id, -before, std::string("fix:1"), "chargeback");
    REQUIRE(down.ok());
    CHECK(down->balance == 0);
    CHECK_FALSE(ledger::adjust(db, invited->id, -before, std::string("fix:1"), "").value().applied);

    auto page1 = ledger::list_by_user(db, invited->id, 2);
    REQUIRE(page1.ok());
    REQUIRE(page1->size() == 2);
    CHECK(page1.value()[0].kind == "adjust");
    CHECK(page1.value()[0].amount == -before);
    CHECK(page1.value()[0].ref == std::optional<std::string>("fix:1"));
    auto page2 = ledger::list_by_user(db, invited->id, 10, page1.value()[1].id);
    REQUIRE(page2.ok());
    CHECK(page2->size() == 2);  // the two 'pay:1'-less top-ups... and 'pay:1'
    long long listed = 0;
    for (const auto& e : page1.value()) listed += e.amount;
    for (const auto& e : page2.value()) listed += e.amount;
    auto all_rows = ledger::list_by_user(db, invited->id, 1000).value();
    CHECK(all_rows.size() == page1->size() + page2->size() + 0);
    CHECK(listed == ledger::sum_by_user(db, invited->id).value());
    auto rebates = ledger::list_by_user(db, inviter.id, 1000).value();
    REQUIRE(rebates.size() == 4);
    CHECK(rebates.back().kind == "invite_rebate");
    CHECK(rebates.back().ref == std::optional<std::string>("pay:1:rebate"));
    check_ledger_invariant(db);
}

TEST_CASE("redemption codes: a batch is stored by hash, listed, and each code credits once") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    User bob = make_user(db, "bob");
    std::vector<NewRedemptionCode> codes;
    for (int i = 0; i < 3; ++i) codes.push_back({fake_hash(i), "TS-" + std::to_string(i)});
    auto made = redemption_codes::generate(db, "launch", 2'000'000, codes);
    INFO((made.ok() ? "" : made.error().message));
    REQUIRE(made.ok());
    REQUIRE(made->size() == 3);
    CHECK(made.value()[0].code_hash == fake_hash(0));
    auto dup = redemption_codes::generate(db, "again", 1, {codes[1]});
    REQUIRE_FALSE(dup.ok());
    CHECK_THAT(dup.error().message, Catch::Contains("TS-1"));
    CHECK(redemption_codes::list(db, "again").value().empty());
    CHECK_FALSE(redemption_codes::generate(db, "x", 0, codes).ok());
    CHECK_FALSE(redemption_codes::generate(db, "x", 1, {{"short", "p"}}).ok());

    auto got = redemption_codes::redeem(db, fake_hash(1), alice.id);
    REQUIRE(got.ok());
    CHECK(got->amount == 2'000'000);
    CHECK(got->balance == 2'000'000);
    auto twice = redemption_codes::redeem(db, fake_hash(1), bob.id);
    REQUIRE_FALSE(twice.ok());
    CHECK(twice.error().kind == core::ErrorKind::invalid_request);
    CHECK_THAT(twice.error().message, Catch::Contains("already been redeemed"));
    CHECK(balance(db, bob.id) == 0);
    CHECK(redemption_codes::redeem(db, fake_hash(77), bob.id).error().kind ==
          core::ErrorKind::not_found);
    CHECK(redemption_codes::redeem(db, fake_hash(2), 999999).error().kind ==
          core::ErrorKind::not_found);
    CHECK_FALSE(redemption_codes::list(db, "launch").value()[2].redeemed_at.has_value());

    auto batches = redemption_codes::list_batches(db);
    REQUIRE(batches.ok());
    REQUIRE(batches->size() == 1);
    CHECK(batches.value()[0].batch == "launch");
    CHECK(batches.value()[0].codes == 3);
    CHECK(batches.value()[0].redeemed == 1);
    CHECK(batches.value()[0].amount == 3 * 2'000'000);
    CHECK(batches.value()[0].redeemed_amount == 2'000'000);
    auto listed = redemption_codes::list(db, "launch").value();
    CHECK(listed[1].redeemed_by == std::optional<long long>(alice.id));
    CHECK(listed[1].redeemed_at.has_value());
    auto rows = ledger::list_by_user(db, alice.id, 10).value();
    REQUIRE(rows.size() == 1);
    CHECK(rows[0].kind == "redemption");
    check_ledger_invariant(db);
}

TEST_CASE("one code redeemed by 8 threads at once, each with its own pool, credits exactly once") {
    TestDatabase t;
    Database& db = *t;
    constexpr int threads = 8;
    std::vector<long long> user_ids;
    for (int i = 0; i < threads; ++i) user_ids.push_back(make_user(db, "u" + std::to_string(i)).id);
    const long long amount = 7'000'000;
    REQUIRE(redemption_codes::generate(db, "race", amount, {{fake_hash(1), "RACE"}}).ok());

    std::vector<std::unique_ptr<Database>> pools;
    for (int i = 0; i < threads; ++i) pools.push_back(t.open_another());
    std::atomic<int> ready{0}, won{0}, refused{0}, other{0};
    std::vector<std::string> unexpected(threads);
    std::vector<std::thread> racers;
    for (int i = 0; i < threads; ++i) {
        racers.emplace_back([&, i] {
            ++ready;
            while (ready.load() < threads) std::this_thread::yield();
            auto r = redemption_codes::redeem(*pools[i], fake_hash(1), user_ids[i]);
            if (r.ok())
                ++won;
            else if (r.error().kind == core::ErrorKind::invalid_request)
                ++refused;
            else {
                ++other;
                unexpected[i] = r.error().message;
            }
        });
    }
    for (auto& r : racers) r.join();
    for (const auto& m : unexpected) CHECK(m == "");
    CHECK(won == 1);
    CHECK(refused == threads - 1);
    long long credited = 0;
    for (long long id : user_ids) credited += balance(db, id);
    CHECK(credited == amount);
    check_ledger_invariant(db);
}

TEST_CASE("record_usage logs, charges the user and the key once, and a replay charges nothing") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    User bob = make_user(db, "bob");
    auto key = api_keys::create(db, alice.id, "k", "sk-ts-AAAA", "hash-1").value();
    REQUIRE(ledger::topup(db, alice.id, 1'000'000, std::nullopt, "", 0).ok());

    std::vector<UsageRecord> batch = {
        usage("req-1", alice.id, key.id, 300'000),
        usage("req-2", alice.id, key.id, 50'000),
        usage("req-3", bob.id, std::nullopt, 20'000),
        usage("req-4", alice.id, key.id, 0),       // free: logged, not charged
        usage("req-5", 999999, std::nullopt, 10),  // the user is gone: logged, unbilled
    };
    batch[3].status = 429;
    batch[3].error_kind = "rate_limited";
    auto first = request_logs::record_usage(db, batch);
    INFO((first.ok() ? "" : first.error().message));
    REQUIRE(first.ok());
    CHECK(first->inserted == 5);
    CHECK(first->duplicates == 0);
    CHECK(first->charged == 300'000 + 50'000 + 20'000);
    CHECK(first->unbilled == 1);
    CHECK(balance(db, alice.id) == 1'000'000 - 350'000);
    CHECK(balance(db, bob.id) == -20'000);
    CHECK(api_keys::find(db, key.id).value()->quota_used == 350'000);

    auto replay = request_logs::record_usage(db, batch);
    REQUIRE(replay.ok());
    CHECK(replay->inserted == 0);
    CHECK(replay->duplicates == 5);
    CHECK(replay->charged == 0);
    CHECK(balance(db, alice.id) == 1'000'000 - 350'000);
    CHECK(api_keys::find(db, key.id).value()->quota_used == 350'000);

    auto charges = ledger::list_by_user(db, alice.id, 10).value();
    REQUIRE(charges.size() == 3);
    CHECK(charges[0].kind == "charge");
    std::set<std::string> refs{*charges[0].ref, *charges[1].ref};
    CHECK(refs == std::set<std::string>{"req:req-1", "req:req-2"});
    check_ledger_invariant(db);

    auto bad = request_logs::record_usage(db, {usage("", alice.id, key.id, 1)});
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("request_id"));
    auto negative = request_logs::record_usage(db, {usage("req-n", alice.id, key.id, -5)});
    REQUIRE_FALSE(negative.ok());
    CHECK_THAT(negative.error().message, Catch::Contains("cost -5"));
}

TEST_CASE(
    "record_usage of a hundred rows: every row logged and charged once, a partial replay "
    "mixed with new rows too") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    auto key = api_keys::create(db, alice.id, "k", "sk-ts-AAAA", "hash-1").value();
    REQUIRE(ledger::topup(db, alice.id, 10'000'000, std::nullopt, "", 0).ok());
    std::vector<UsageRecord> batch;
    for (int i = 0; i < 100; ++i) {
        auto r = usage("chunk-" + std::to_string(i), alice.id,
                       i % 3 ? std::optional<long long>(key.id) : std::nullopt, 10 + i);
        r.stream = i % 2 == 0;
        r.channel = "ch" + std::to_string(i % 4);
        batch.push_back(r);
    }
    auto first = request_logs::record_usage(db, batch);
    INFO((first.ok() ? "" : first.error().message));
    REQUIRE(first.ok());
    CHECK(first->inserted == 100);
    CHECK(first->duplicates == 0);
    long long expected = 0;
    for (const auto& r : batch) expected += r.cost;
    CHECK(first->charged == expected);
    CHECK(balance(db, alice.id) == 10'000'000 - expected);

    // Every column made it, row by row.
    long long seen = 0;
    auto rows = request_logs::for_each(db, {}, [&](const RequestLog& row) {
        const int i = std::stoi(row.request_id.substr(6));
        CHECK(row.cost == 10 + i);
        CHECK(row.stream == (i % 2 == 0));
        CHECK(row.key_id.has_value() == (i % 3 != 0));
        CHECK(row.channel == "ch" + std::to_string(i % 4));
        ++seen;
        return true;
    });
    REQUIRE(rows.ok());
    CHECK(seen == 100);

    // 40 already logged among 60 new ones, spread through the batch.
    std::vector<UsageRecord> mixed;
    for (int i = 0; i < 100; ++i) {
        if (i % 5 < 2) {
            mixed.push_back(batch[static_cast<size_t>(i)]);
        } else {
            auto r = usage("more-" + std::to_string(i), alice.id, key.id, 1);
            mixed.push_back(r);
        }
    }
    auto again = request_logs::record_usage(db, mixed);
    REQUIRE(again.ok());
    CHECK(again->inserted == 60);
    CHECK(again->duplicates == 40);
    CHECK(again->charged == 60);
    CHECK(balance(db, alice.id) == 10'000'000 - expected - 60);
    check_ledger_invariant(db);
}

TEST_CASE(
    "request logs are queried by filter with a keyset cursor, exported, summed, "
    "bucketed and pruned") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    User bob = make_user(db, "bob");
    auto key = api_keys::create(db, alice.id, "k", "sk-ts-AAAA", "hash-1").value();
    const long long t0 = 1'700'000'040'000;  // 40 s into a minute
    std::vector<UsageRecord> batch;
    long long expected_spend = 0, expected_input = 0;
    for (int i = 0; i < 25; ++i) {
        bool is_bob = i % 5 == 0;
        auto r = usage("r" + std::to_string(i), is_bob ? bob.id : alice.id,
                       is_bob ? std::nullopt : std::optional<long long>(key.id), 1000 + i,
                       t0 + i * 10'000);
        if (i % 2) {
            r.channel = "qwen";
            r.requested_model = "qwen-max";
            r.upstream_model = "qwen-max";
        }
        if (i == 7) r.status = 502;
        r.input_tokens = 100 + i;
        expected_spend += r.cost;
        expected_input += r.input_tokens;
        batch.push_back(r);
    }
    REQUIRE(request_logs::record_usage(db, batch).ok());

    RequestLogFilter alice_only;
    alice_only.user_id = alice.id;
    std::vector<std::string> seen;
    std::optional<long long> cursor;
    int pages = 0;
    do {
        auto page = request_logs::query(db, alice_only, 7, cursor);
        REQUIRE(page.ok());
        ++pages;
        for (const auto& r : page->rows) {
            CHECK(r.user_id == alice.id);
            CHECK(r.key_id == std::optional<long long>(key.id));
            if (!seen.empty()) CHECK(r.id > 0);
            seen.push_back(r.request_id);
        }
        cursor = page->next_before_id;
    } while (cursor);
    CHECK(seen.size() == 20);
    CHECK(pages == 3);
    CHECK(std::set<std::string>(seen.begin(), seen.end()).size() == 20);
    CHECK(seen.front() == "r24");  // newest first

    auto first_row = request_logs::query(db, {}, 1).value().rows.at(0);
    CHECK(first_row.request_id == "r24");
    CHECK(first_row.stream);
    CHECK(first_row.client_ip == "10.0.0.7");
    CHECK(first_row.created_at_ms == t0 + 24 * 10'000);

    RequestLogFilter qwen;
    qwen.model = "qwen-max";
    qwen.from_ms = t0 + 50'000;
    qwen.to_ms = t0 + 150'000;  // rows 5..14, odd ones: 5,7,9,11,13
    auto q = request_logs::query(db, qwen, 100).value();
    CHECK(q.rows.size() == 5);
    CHECK_FALSE(q.next_before_id.has_value());
    RequestLogFilter failed;
    failed.status = 502;
    auto f = request_logs::query(db, failed, 10).value();
    REQUIRE(f.rows.size() == 1);
    CHECK(f.rows[0].request_id == "r7");
    RequestLogFilter by_channel;
    by_channel.channel = "deepseek";
    by_channel.key_id = key.id;
    CHECK(request_logs::query(db, by_channel, 100).value().rows.size() == 10);  // even, not bob
    CHECK_FALSE(request_logs::query(db, {}, 0).ok());

    long long exported = 0;
    auto streamed = request_logs::for_each(db, {}, [&](const RequestLog& r) {
        exported += r.cost;
        return true;
    });
    REQUIRE(streamed.ok());
    CHECK(streamed.value() == 25);
    CHECK(exported == expected_spend);
    auto stopped = request_logs::for_each(db, {}, [&](const RequestLog&) { return false; });
    CHECK(stopped.value() == 1);

    auto totals = request_logs::totals(db, {});
    REQUIRE(totals.ok());
    CHECK(totals->requests == 25);
    CHECK(totals->spend == expected_spend);
    CHECK(totals->active_users == 2);
    CHECK(totals->input_tokens == expected_input);
    CHECK(totals->output_tokens == 25 * 200);

    auto per_minute = request_logs::breakdown(db, {}, StatsDimension::channel, StatsBucket::minute);
    REQUIRE(per_minute.ok());
    std::map<std::pair<long long, std::string>, long long> expected_requests, got_requests;
    std::map<std::pair<long long, std::string>, long long> expected_errors, got_errors;
    for (const auto& r : batch) {
        auto k = std::make_pair(r.created_at_ms - r.created_at_ms % 60'000, r.channel);
        ++expected_requests[k];
        expected_errors[k] += r.status >= 400 ? 1 : 0;
    }
    long long spend = 0;
    for (const auto& b : per_minute.value()) {
        got_requests[{b.bucket_start_ms, b.key}] = b.requests;
        got_errors[{b.bucket_start_ms, b.key}] = b.errors;
        spend += b.spend;
    }
    CHECK(got_requests == expected_requests);
    CHECK(got_errors == expected_errors);
    CHECK(spend == expected_spend);
    auto per_day =
        request_logs::breakdown(db, {}, StatsDimension::upstream_model, StatsBucket::day).value();
    CHECK(per_day.size() == 2);

    auto pruned = request_logs::prune(db, t0 + 100'000, 3);  // rows 0..9
    REQUIRE(pruned.ok());
    CHECK(pruned.value() == 10);
    CHECK(request_logs::totals(db, {}).value().requests == 15);
    CHECK(request_logs::prune(db, t0 + 100'000).value() == 0);
    // Pruning a log does not reopen the door to charging its request twice.
    long long before = balance(db, alice.id);
    auto replay = request_logs::record_usage(db, {batch[1]});
    REQUIRE(replay.ok());
    CHECK(replay->inserted == 1);
    CHECK(replay->charged == 0);
    CHECK(balance(db, alice.id) == before);
    check_ledger_invariant(db);
}

TEST_CASE("every column of a usage record is stored as given, a missing key as NULL") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    auto key = api_keys::create(db, alice.id, "k", "sk-ts-AAAA", "hash-1").value();
    // A distinct value in every field, so that two columns bound in each other's place show.
    UsageRecord full;
    full.request_id = "req-all-columns";
    full.created_at_ms = 1'700'000'123'456;
    full.user_id = alice.id;
    full.key_id = key.id;
    full.channel = "kimi-\u901a\u9053";  // UTF-8 (通道): stored and read back byte for byte
    full.requested_model = "claude-opus-4-1";
    full.upstream_model = "kimi-k2";
    full.input_tokens = 11;
    full.output_tokens = 22;
    full.cache_read_tokens = 33;
    full.cache_write_tokens = 44;
    full.reasoning_tokens = 55;
    full.cost = 0;
    full.latency_ms = 66;
    full.ttft_ms = 77;
    full.status = 529;
    full.error_kind = "overloaded";
    full.client_ip = "2001:db8::7";
    full.retries = 3;
    full.stream = true;
    UsageRecord keyless = full;
    keyless.request_id = "req-no-key";
    keyless.created_at_ms += 1;
    keyless.key_id.reset();
    keyless.stream = false;
    REQUIRE(request_logs::record_usage(db, {full, keyless}).ok());

    auto rows = request_logs::query(db, {}, 10).value().rows;
    REQUIRE(rows.size() == 2);
    const RequestLog& got = rows[1];  // newest first
    CHECK(got.request_id == full.request_id);
    CHECK(got.created_at_ms == full.created_at_ms);
    CHECK(got.user_id == full.user_id);
    CHECK(got.key_id == full.key_id);
    CHECK(got.channel == full.channel);
    CHECK(got.requested_model == full.requested_model);
    CHECK(got.upstream_model == full.upstream_model);
    CHECK(got.input_tokens == 11);
    CHECK(got.output_tokens == 22);
    CHECK(got.cache_read_tokens == 33);
    CHECK(got.cache_write_tokens == 44);
    CHECK(got.reasoning_tokens == 55);
    CHECK(got.cost == 0);
    CHECK(got.latency_ms == 66);
    CHECK(got.ttft_ms == 77);
    CHECK(got.status == 529);
    CHECK(got.error_kind == "overloaded");
    CHECK(got.client_ip == "2001:db8::7");
    CHECK(got.retries == 3);
    CHECK(got.stream);
    CHECK(rows[0].request_id == "req-no-key");
    CHECK_FALSE(rows[0].key_id.has_value());
    CHECK_FALSE(rows[0].stream);
}

TEST_CASE("a batch repeating request_ids logs and charges the first of each, once") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    std::vector<UsageRecord> batch;
    for (int i = 0; i < 60; ++i)
        batch.push_back(usage("rep-" + std::to_string(i), alice.id, std::nullopt, 100 + i,
                              1'700'000'000'000 + i));
    // Rows 10 and 11 share an id (SQLite writes rows 25 at a time: the same statement); row 40
    // repeats row 5 (another statement); row 59, the last, repeats row 58.
    batch[11].request_id = "rep-10";
    batch[40].request_id = "rep-5";
    batch[59].request_id = "rep-58";
    auto done = request_logs::record_usage(db, batch);
    INFO((done.ok() ? "" : done.error().message));
    REQUIRE(done.ok());
    CHECK(done->inserted == 57);
    CHECK(done->duplicates == 3);
    // record_usage orders a batch by created_at: the earlier row of each pair is the one kept.
    const long long all = 60 * 100 + 59 * 60 / 2;
    CHECK(done->charged == all - (100 + 11) - (100 + 40) - (100 + 59));
    CHECK(balance(db, alice.id) == -done->charged);
    auto rows = request_logs::query(db, {}, 100).value().rows;
    CHECK(rows.size() == 57);
    for (const auto& r : rows)
        if (r.request_id == "rep-10") CHECK(r.created_at_ms == 1'700'000'000'010);

    auto replay = request_logs::record_usage(db, batch);
    REQUIRE(replay.ok());
    CHECK(replay->inserted == 0);
    CHECK(replay->duplicates == 60);
    CHECK(replay->charged == 0);
    check_ledger_invariant(db);
}

TEST_CASE("a usage batch the database cannot take fails with the database's reason") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    REQUIRE(db.with_session("drop the log table", [](soci::session& s) {
                  s << "DROP TABLE request_logs";
              }).ok());
    auto done = request_logs::record_usage(db, {usage("req-1", alice.id, std::nullopt, 5)});
    REQUIRE_FALSE(done.ok());
    INFO(done.error().message);
    CHECK_THAT(done.error().message, Catch::Matchers::Contains("request_logs"));
    CHECK_THAT(done.error().message, Catch::Matchers::Contains("record usage of 1 requests"));
    CHECK(balance(db, alice.id) == 0);  // nothing charged for a row that was not written
}

TEST_CASE("a batch of 500 usage records is recorded in one fast transaction") {
    TestDatabase t;
    Database& db = *t;
    std::vector<long long> user_ids;
    std::vector<long long> key_ids;
    for (int i = 0; i < 10; ++i) {
        user_ids.push_back(make_user(db, "u" + std::to_string(i)).id);
        key_ids.push_back(
            api_keys::create(db, user_ids.back(), "k", "p", "h" + std::to_string(i)).value().id);
    }
    std::vector<UsageRecord> batch;
    for (int i = 0; i < 500; ++i)
        batch.push_back(usage("bulk-" + std::to_string(i), user_ids[i % 10], key_ids[i % 10], 7));
    auto started = std::chrono::steady_clock::now();
    auto done = request_logs::record_usage(db, batch);
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    REQUIRE(done.ok());
    CHECK(done->inserted == 500);
    std::cout << "record_usage on " << db.dialect() << ": 500 records in " << seconds * 1000
              << " ms = " << static_cast<long long>(500 / seconds) << " rows/s\n";
    CHECK(seconds < 5.0);
    for (std::size_t i = 0; i < user_ids.size(); ++i) CHECK(balance(db, user_ids[i]) == -7 * 50);
    check_ledger_invariant(db);
}

TEST_CASE("4 threads recording overlapping usage batches at once charge each request once") {
    TestDatabase t;
    Database& db = *t;
    constexpr int threads = 4, batches = 6, per_batch = 40, users_n = 3;
    std::vector<long long> user_ids, key_ids;
    for (int i = 0; i < users_n; ++i) {
        user_ids.push_back(make_user(db, "u" + std::to_string(i)).id);
        key_ids.push_back(
            api_keys::create(db, user_ids.back(), "k", "p", "h" + std::to_string(i)).value().id);
        REQUIRE(ledger::topup(db, user_ids.back(), 1'000'000, std::nullopt, "", 0).ok());
    }
    // Request n costs n + 1 micros and belongs to user n % users_n; every thread sends every
    // request of its own range and, overlapping, half of the next thread's range.
    auto request = [&](int n) {
        return usage("c-" + std::to_string(n), user_ids[n % users_n], key_ids[n % users_n], n + 1);
    };
    const int per_thread = batches * per_batch;
    std::vector<std::unique_ptr<Database>> pools;
    for (int i = 0; i < threads; ++i) pools.push_back(t.open_another(1));
    std::atomic<int> ready{0};
    std::vector<std::string> errors(threads);
    std::vector<std::thread> workers;
    for (int w = 0; w < threads; ++w) {
        workers.emplace_back([&, w] {
            ++ready;
            while (ready.load() < threads) std::this_thread::yield();
            for (int b = 0; b < batches; ++b) {
                std::vector<UsageRecord> batch;
                for (int i = 0; i < per_batch; ++i)
                    batch.push_back(request(w * per_thread + b * per_batch + i));
                int next = (w + 1) % threads;
                for (int i = 0; i < per_batch / 2; ++i)
                    batch.push_back(request(next * per_thread + b * per_batch + i));
                auto done = request_logs::record_usage(*pools[w], batch);
                if (!done.ok()) errors[w] = done.error().message;
            }
        });
    }
    for (auto& w : workers) w.join();
    for (const auto& e : errors) CHECK(e == "");

    std::map<long long, long long> expected_spend;
    for (int n = 0; n < threads * per_thread; ++n) expected_spend[n % users_n] += n + 1;
    for (int i = 0; i < users_n; ++i) {
        INFO("user " << i);
        CHECK(balance(db, user_ids[i]) == 1'000'000 - expected_spend[i]);
        CHECK(api_keys::find(db, key_ids[i]).value()->quota_used == expected_spend[i]);
    }
    CHECK(request_logs::totals(db, {}).value().requests == threads * per_thread);
    check_ledger_invariant(db);
}

TEST_CASE("pruning request logs is driven by the created_at index, not a walk of the table") {
    TestDatabase t;
    Database& db = *t;
    const std::string statement = request_logs::prune_statement(db.dialect(), 5000);
    std::vector<std::string> plan;
    auto explained = db.with_session("explain the prune", [&](soci::session& s) {
        long long cutoff = 0;
        if (on_mysql(db)) {
            soci::rowset<soci::row> rows = (s.prepare << "EXPLAIN " + statement, soci::use(cutoff));
            for (const auto& r : rows) {
                std::string key = r.get_indicator("key") == soci::i_ok ? r.get<std::string>("key")
                                                                       : std::string("(none)");
                plan.push_back("key=" + key);
            }
        } else {
            soci::rowset<soci::row> rows =
                (s.prepare << "EXPLAIN QUERY PLAN " + statement, soci::use(cutoff));
            for (const auto& r : rows) plan.push_back(r.get<std::string>("detail"));
        }
        return true;
    });
    REQUIRE(explained.ok());
    std::string all;
    for (const auto& p : plan) all += p + "\n";
    INFO(all);
    CHECK(all.find("idx_request_logs_created") != std::string::npos);
    // SQLite: no step walks the table itself (the old ORDER BY id did: "SCAN request_logs").
    CHECK(all.find("SCAN request_logs\n") == std::string::npos);
}
