// The dashboard benchmark's loader and its raw-rows contrast (tests/bench/dashboard/run.sh).
//
//   bench_dashboard_fill fill --db URL --rows N [--days 30] [--batch 5000]
//       migrates the store, then writes N request log rows spread evenly from the start of the
//       UTC day `days` - 1 days ago to now (the buckets of the 30d view), through
//       store::request_logs::record_usage — the journal writer's own path, so the hour and day
//       rollups are made as a gateway makes them — and prints the row counts.
//       The rows' users (ids from 1,000,000) are not in the users table, so nothing is charged
//       and the ledger stays empty: the benchmark is about reading, not billing.
//   bench_dashboard_fill raw --db URL [--days 30] [--runs 3]
//       times the dashboard's answer computed from the raw rows instead (totals with active
//       users, the daily series, top models, channels and users: five GROUP BY scans of the
//       range), and prints each run and p50/p99 in milliseconds.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <soci/soci.h>

#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/request_logs.hpp"

using namespace tianshu;

namespace {

std::string option(int argc, char** argv, const std::string& name, const std::string& fallback) {
    for (int i = 2; i + 1 < argc; ++i)
        if (argv[i] == name) return argv[i + 1];
    return fallback;
}

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

long long count(store::Database& db, const std::string& sql) {
    long long n = 0;
    auto done = db.with_session("count", [&](soci::session& s) { s << sql, soci::into(n); });
    if (!done) {
        std::cerr << done.error().message << "\n";
        std::exit(1);
    }
    return n;
}

int fill(store::Database& db, long long rows, int days, int batch_size) {
    // From the start of the oldest of the `days` UTC days the 30d view shows, to now.
    const long long now = now_ms();
    const long long start = now - now % 86'400'000 - static_cast<long long>(days - 1) * 86'400'000;
    const long long span = now - start;
    const char* models[] = {"claude-sonnet-4-5", "claude-opus-4-1",   "claude-haiku-4-5",
                            "deepseek-chat",     "deepseek-reasoner", "kimi-k2",
                            "qwen3-coder",       "glm-4.6",           "gpt-4.1",
                            "gpt-4.1-mini",      "gemini-2.5-pro",    "minimax-m2"};
    const char* channels[] = {"anthropic-main", "anthropic-backup", "deepseek",
                              "moonshot",       "openrouter",       "bailian"};
    std::mt19937_64 random(15);
    std::vector<store::UsageRecord> batch;
    batch.reserve(static_cast<std::size_t>(batch_size));
    const auto began = std::chrono::steady_clock::now();
    for (long long i = 0; i < rows; ++i) {
        store::UsageRecord r;
        r.request_id = "bench-" + std::to_string(i);
        r.created_at_ms = start + span * i / rows;  // in time order, as a gateway writes them
        // 300 users, a few of them heavy.
        const auto pick = random() % 1000;
        r.user_id = 1'000'000 + static_cast<long long>(pick < 500 ? pick % 10 : pick % 300);
        r.key_id = r.user_id;
        r.requested_model = models[random() % 12];
        r.upstream_model = r.requested_model;
        r.channel = channels[random() % 6];
        r.input_tokens = static_cast<long long>(random() % 30'000);
        r.output_tokens = static_cast<long long>(random() % 2'000);
        r.cache_read_tokens = static_cast<long long>(random() % 20'000);
        r.cost = static_cast<long long>(random() % 50'000);
        r.latency_ms = 200 + static_cast<long long>(random() % 8'000);
        r.ttft_ms = r.latency_ms / 4;
        r.status = random() % 33 == 0 ? 502 : 200;
        r.client_ip = "10.0.0.1";
        r.stream = true;
        r.route_scenario = "passthrough";
        batch.push_back(std::move(r));
        if (static_cast<int>(batch.size()) == batch_size || i + 1 == rows) {
            auto done = store::request_logs::record_usage(db, batch);
            if (!done) {
                std::cerr << done.error().message << "\n";
                return 1;
            }
            batch.clear();
            if ((i + 1) % 500'000 == 0)
                std::fprintf(stderr, "  %lld rows, %.0f s\n", i + 1,
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - began)
                                 .count());
        }
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - began).count();
    std::printf("filled: %lld rows over %d days in %.0f s (%.0f rows/s through record_usage)\n",
                rows, days, seconds, rows / seconds);
    std::printf("rows: request_logs %lld, usage_rollups %lld (hour %lld, day %lld)\n",
                count(db, "SELECT COUNT(*) FROM request_logs"),
                count(db, "SELECT COUNT(*) FROM usage_rollups"),
                count(db, "SELECT COUNT(*) FROM usage_rollups WHERE granularity = 'h'"),
                count(db, "SELECT COUNT(*) FROM usage_rollups WHERE granularity = 'd'"));
    return 0;
}

//! The dashboard's 30-day answer from the raw rows: what GET /dashboard would cost without
//! rollups.
int raw(store::Database& db, int days, int runs) {
    const long long now = now_ms();
    long long to = now - now % 86'400'000 + 86'400'000;
    long long from = to - static_cast<long long>(days) * 86'400'000;
    const std::string where = " FROM request_logs WHERE created_at >= :f AND created_at < :t";
    const std::string sums =
        "COUNT(*), SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END), SUM(cost), "
        "SUM(input_tokens), SUM(output_tokens)";
    const std::vector<std::string> queries = {
        "SELECT COUNT(DISTINCT user_id), " + sums + where,
        "SELECT created_at - created_at % 86400000 AS b, " + sums + where + " GROUP BY b",
        "SELECT requested_model, " + sums + where +
            " GROUP BY requested_model ORDER BY 4 DESC LIMIT 10",
        "SELECT channel, " + sums + where + " GROUP BY channel ORDER BY 4 DESC",
        "SELECT user_id, " + sums + where + " GROUP BY user_id ORDER BY 4 DESC LIMIT 10",
    };
    std::vector<double> ms;
    for (int run = 0; run < runs; ++run) {
        const auto began = std::chrono::steady_clock::now();
        long long fetched = 0;
        auto done = db.with_session("raw dashboard", [&](soci::session& s) {
            for (const std::string& q : queries) {
                soci::rowset<soci::row> rs = (s.prepare << q, soci::use(from), soci::use(to));
                for (auto it = rs.begin(); it != rs.end(); ++it) ++fetched;
            }
        });
        if (!done) {
            std::cerr << done.error().message << "\n";
            return 1;
        }
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - began)
                .count());
        std::printf("raw run %d: %.1f ms (%lld result rows)\n", run + 1, ms.back(), fetched);
    }
    std::sort(ms.begin(), ms.end());
    const auto at = [&](double p) {
        return ms[std::min(ms.size() - 1,
                           static_cast<std::size_t>(p / 100 * (ms.size() - 1) + 0.5))];
    };
    std::printf("RAW %d runs: p50 %.1f ms, p99 %.1f ms\n", runs, at(50), at(99));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    const std::string url = option(argc, argv, "--db", "");
    if ((mode != "fill" && mode != "raw") || url.empty()) {
        std::cerr
            << "usage: bench_dashboard_fill fill --db URL --rows N [--days 30] [--batch 5000]\n"
               "       bench_dashboard_fill raw --db URL [--days 30] [--runs 3]\n";
        return 2;
    }
    auto db = store::Database::open(url, 2);
    if (!db) {
        std::cerr << db.error().message << "\n";
        return 1;
    }
    const int days = std::atoi(option(argc, argv, "--days", "30").c_str());
    if (mode == "raw")
        return raw(*db.value(), days, std::atoi(option(argc, argv, "--runs", "3").c_str()));
    if (auto migrated = store::migrate(*db.value()); !migrated) {
        std::cerr << migrated.error().message << "\n";
        return 1;
    }
    return fill(*db.value(), std::atoll(option(argc, argv, "--rows", "5000000").c_str()), days,
                std::atoi(option(argc, argv, "--batch", "5000").c_str()));
}
