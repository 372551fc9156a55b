// hub/usage_journal: the journal line is written directly (no nlohmann tree) but must stay the
// line the nlohmann encoder wrote, so that journals left by an older gateway replay and the
// two can be read alike; record() must append every line before it returns while threads
// record and batches rotate the segment at the same time; a line copied into the mapped file
// survives the process being killed, and a file a kill left half-copied replays what was whole.

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <limits>
#include <thread>

#include "../store/test_database.hpp"
#include "core/request.hpp"
#include "hub/usage_journal.hpp"
#include "store/request_logs.hpp"

using namespace tianshu;
using core::Json;
using hub::UsageJournal;
using store::UsageRecord;

namespace {

//! The encoder as it was before the line was written directly.
std::string nlohmann_encode(const UsageRecord& r) {
    Json j{
        {"id", r.request_id},         {"at", r.created_at_ms},      {"user", r.user_id},
        {"channel", r.channel},       {"model", r.requested_model}, {"upstream", r.upstream_model},
        {"in", r.input_tokens},       {"out", r.output_tokens},     {"cr", r.cache_read_tokens},
        {"cw", r.cache_write_tokens}, {"rs", r.reasoning_tokens},   {"cost", r.cost},
        {"ms", r.latency_ms},         {"ttft", r.ttft_ms},          {"status", r.status},
        {"err", r.error_kind},        {"ip", r.client_ip},          {"retries", r.retries},
        {"stream", r.stream}};
    if (r.key_id) j["key"] = *r.key_id;
    if (!r.decisions.empty()) j["decisions"] = r.decisions;
    if (!r.route_scenario.empty()) {
        j["route_by"] = r.route_by;
        j["route_model"] = r.route_model;
        j["route_rank"] = r.route_rank;
        j["route_reason"] = r.route_reason;
        j["route_scenario"] = r.route_scenario;
    }
    return j.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
}

UsageRecord awkward_record() {
    UsageRecord r;
    r.request_id = "req \"quoted\" \\ back\\slash";
    r.created_at_ms = 1'732'233'600'123;
    r.user_id = 42;
    r.key_id = -7;
    r.channel = "line\nbreak\ttab\rreturn\b\f";
    r.requested_model = std::string("control \x01\x1f and nul \0 inside", 27);
    r.upstream_model = "模型-ünïcödé-😀";
    r.input_tokens = 9'007'199'254'740'993;  // beyond a double's exact integers
    r.output_tokens = -1;
    r.cache_read_tokens = 3;
    r.cache_write_tokens = 4;
    r.reasoning_tokens = 5;
    r.cost = std::numeric_limits<long long>::max();
    r.latency_ms = 1500;
    r.ttft_ms = 0;
    r.status = 529;
    r.error_kind = "overloaded";
    r.client_ip = "::1";
    r.retries = 2;
    r.stream = true;
    r.route_scenario = "long_context";
    r.route_model = "deepseek-chat";
    r.route_reason = "window \"overflow\" 模型";
    r.route_by = "scenario_router";
    r.route_rank = 4;
    r.decisions = R"([{"kind":"repair","plugin":"tool_repair","reason":"trailing comma"}])";
    return r;
}

std::filesystem::path journal_dir(const store::testing::TestDatabase& db, const char* name) {
    return db.sqlite_dir.empty() ? std::filesystem::temp_directory_path() /
                                       (std::string(name) + "-" + store::testing::unique_suffix())
                                 : db.sqlite_dir / name;
}

long long count_rows(store::Database& db) {
    long long rows = 0;
    auto counted = store::request_logs::for_each(db, {}, [&](const store::RequestLog&) {
        ++rows;
        return true;
    });
    REQUIRE(counted.ok());
    return rows;
}

//! Opens the journal in `dir` again (replaying what it holds) and closes it: how many records
//! it replayed.
int64_t replayed_on_reopen(store::Database& db, const std::filesystem::path& dir) {
    auto reopened = UsageJournal::open(db, dir, std::chrono::milliseconds(1000));
    REQUIRE(reopened.ok());
    return reopened.value()->counters().replayed;
}

//! Runs `body` in a forked child, which ends with body's return value as its exit status (or
//! dies of a signal); the child's wait status.
template <typename Body>
int in_child(Body body) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(body());
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    return status;
}

//! A child forked at construction, while the test runs no other thread, that waits for go()
//! before it runs its body (exit status: body's return value). A fork copies only the calling
//! thread, so a lock another thread held at that moment (the allocator's under AddressSanitizer,
//! which a running journal thread takes all the time) would never be released in the child: a
//! child that must run beside a live journal is forked before that journal opens, and let go
//! after. go()'s text reaches the body.
class GatedChild {
  public:
    template <typename Body>
    explicit GatedChild(Body body) {
        REQUIRE(::pipe(gate_) == 0);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            ::close(gate_[1]);
            std::string text;
            char c = 0;
            while (::read(gate_[0], &c, 1) == 1) text += c;  // until the parent closes its end
            ::_exit(body(text));
        }
        ::close(gate_[0]);
    }
    void go(const std::string& text) {
        REQUIRE(::write(gate_[1], text.data(), text.size()) == static_cast<ssize_t>(text.size()));
        ::close(gate_[1]);
    }
    int wait() {
        int status = 0;
        REQUIRE(::waitpid(pid_, &status, 0) == pid_);
        return status;
    }

  private:
    int gate_[2] = {-1, -1};
    pid_t pid_ = -1;
};

//! The record thread `t` records `i`th in record_from_threads.
UsageRecord burst_record(long long user_id, int t, int i) {
    UsageRecord r;
    r.request_id = "req_" + std::to_string(t) + "_" + std::to_string(i);
    r.created_at_ms = 1000 + i;
    r.user_id = user_id;
    r.status = 200;
    r.channel = "a-channel-name-to-make-the-line-longer";
    return r;
}

//! `threads` threads record `each` records apiece (burst_record); how many record() refused.
int record_from_threads(UsageJournal& journal, long long user_id, int threads, int each) {
    std::atomic<int> failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            for (int i = 0; i < each; ++i)
                if (!journal.record(burst_record(user_id, t, i))) ++failed;
        });
    for (auto& th : pool) th.join();
    return failed;
}

void check_equal(const UsageRecord& a, const UsageRecord& b) {
    CHECK(a.request_id == b.request_id);
    CHECK(a.created_at_ms == b.created_at_ms);
    CHECK(a.user_id == b.user_id);
    CHECK(a.key_id == b.key_id);
    CHECK(a.channel == b.channel);
    CHECK(a.requested_model == b.requested_model);
    CHECK(a.upstream_model == b.upstream_model);
    CHECK(a.input_tokens == b.input_tokens);
    CHECK(a.output_tokens == b.output_tokens);
    CHECK(a.cache_read_tokens == b.cache_read_tokens);
    CHECK(a.cache_write_tokens == b.cache_write_tokens);
    CHECK(a.reasoning_tokens == b.reasoning_tokens);
    CHECK(a.cost == b.cost);
    CHECK(a.latency_ms == b.latency_ms);
    CHECK(a.ttft_ms == b.ttft_ms);
    CHECK(a.status == b.status);
    CHECK(a.error_kind == b.error_kind);
    CHECK(a.client_ip == b.client_ip);
    CHECK(a.retries == b.retries);
    CHECK(a.stream == b.stream);
    CHECK(a.route_scenario == b.route_scenario);
    CHECK(a.route_model == b.route_model);
    CHECK(a.route_reason == b.route_reason);
    CHECK(a.route_by == b.route_by);
    CHECK(a.route_rank == b.route_rank);
    CHECK(a.decisions == b.decisions);
}

}  // namespace

TEST_CASE("usage journal: encode -> decode gives back the record, awkward strings included") {
    const UsageRecord r = awkward_record();
    const std::string line = UsageJournal::encode(r);
    REQUIRE(line.back() == '\n');
    CHECK(std::count(line.begin(), line.end(), '\n') == 1);  // one line, whatever the strings
    auto back = UsageJournal::decode(std::string_view(line).substr(0, line.size() - 1));
    REQUIRE(back.ok());
    check_equal(back.value(), r);

    UsageRecord no_key = r;
    no_key.key_id.reset();
    no_key.stream = false;
    auto back2 = UsageJournal::decode(UsageJournal::encode(no_key));
    REQUIRE(back2.ok());
    check_equal(back2.value(), no_key);
    CHECK_FALSE(back2.value().key_id.has_value());
}

TEST_CASE("usage journal: the line is the one the nlohmann encoder wrote, byte for byte") {
    UsageRecord r = awkward_record();
    CHECK(UsageJournal::encode(r) == nlohmann_encode(r));
    r.key_id.reset();
    CHECK(UsageJournal::encode(r) == nlohmann_encode(r));
    UsageRecord plain;
    plain.request_id = "req_1";
    CHECK(UsageJournal::encode(plain) == nlohmann_encode(plain));
    // Invalid UTF-8 is replaced (U+FFFD) exactly as nlohmann replaced it; the line still reads.
    r.upstream_model = "cut \xE2\x82 here \xff";
    CHECK(UsageJournal::encode(r) == nlohmann_encode(r));
    auto back = UsageJournal::decode(UsageJournal::encode(r));
    REQUIRE(back.ok());
    CHECK(back.value().upstream_model == "cut \xEF\xBF\xBD here \xEF\xBF\xBD");
}

TEST_CASE("usage journal: lines in another key order or spacing still decode") {
    // As an older encoder might have written it: unsorted keys, spaces, no "key".
    const std::string old_line =
        R"({"id": "req_old", "user": 3, "at": 17, "channel": "ds", "model": "m", )"
        R"("upstream": "u", "in": 1, "out": 2, "cr": 0, "cw": 0, "rs": 0, "cost": 5, )"
        R"("ms": 6, "ttft": 1, "status": 200, "err": "", "ip": "1.2.3.4", "retries": 0, )"
        R"("stream": false})";
    auto r = UsageJournal::decode(old_line);
    REQUIRE(r.ok());
    CHECK(r.value().request_id == "req_old");
    CHECK(r.value().user_id == 3);
    CHECK(r.value().cost == 5);
    CHECK(r.value().client_ip == "1.2.3.4");
    CHECK_FALSE(r.value().key_id.has_value());
    CHECK_FALSE(UsageJournal::decode("not json").ok());
    CHECK_FALSE(UsageJournal::decode(R"({"id": 5})").ok());
}

TEST_CASE(
    "usage journal: concurrent records all reach the file and the database across rotations") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "journal-user");
    const auto dir = journal_dir(db, "journal");
    constexpr int kThreads = 8, kRecords = 300;
    std::atomic<int> failed_writes{0};
    std::atomic<int> recording{kThreads};
    int batches = 0;
    {
        // Batches rotate the segment while records are being written: the journal's own
        // thread every millisecond, and this thread back to back.
        auto opened = UsageJournal::open(*db, dir, std::chrono::milliseconds(1));
        REQUIRE(opened.ok());
        auto journal = std::move(opened).value();
        std::vector<std::thread> threads;
        for (int t = 0; t < kThreads; ++t)
            threads.emplace_back([&, t] {
                for (int i = 0; i < kRecords; ++i) {
                    UsageRecord r;
                    r.request_id = "req_" + std::to_string(t) + "_" + std::to_string(i);
                    r.created_at_ms = 1000 + i;
                    r.user_id = user.id;
                    r.status = 200;
                    if (!journal->record(r)) ++failed_writes;
                    std::this_thread::sleep_for(std::chrono::microseconds(20));
                }
                --recording;
            });
        while (recording > 0) {
            if (!journal->flush().ok()) FAIL("a batch failed");
            ++batches;
        }
        for (auto& th : threads) th.join();
        const auto c = journal->counters();
        CHECK(c.recorded == kThreads * kRecords);
    }  // the destructor flushes the rest
    INFO("batches written while recording: " << batches);
    CHECK(failed_writes == 0);
    CHECK(count_rows(*db) == kThreads * kRecords);
    // Everything reached the database: whatever segment is left holds nothing to replay.
    CHECK(replayed_on_reopen(*db, dir) == 0);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

// The files sit in the journal folder itself: the layout before per-process directories, which
// an upgraded gateway must still replay.
TEST_CASE("usage journal: a flat journal an older gateway left is replayed into the database") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "replay-user");
    const auto dir = std::filesystem::temp_directory_path() /
                     ("tianshu-journal-replay-" + store::testing::unique_suffix());
    std::filesystem::create_directories(dir);
    UsageRecord a = awkward_record();
    a.user_id = user.id;
    a.key_id.reset();
    a.cost = 0;
    a.requested_model = "claude";
    UsageRecord b = a;
    b.request_id = "req_b";
    {
        std::ofstream out(dir / "usage-3.jsonl");
        out << nlohmann_encode(a);           // as the old encoder wrote it
        out << UsageJournal::encode(b);      // as this one writes it
        out << R"({"id":"req_cut","at":1)";  // a write the kill cut short: no newline
    }
    auto opened = UsageJournal::open(*db, dir, std::chrono::milliseconds(1000));
    REQUIRE(opened.ok());
    CHECK(opened.value()->counters().replayed == 2);
    opened.value().reset();
    std::vector<std::string> ids;
    auto listed = store::request_logs::for_each(*db, {}, [&](const store::RequestLog& row) {
        ids.push_back(row.request_id);
        if (row.request_id == a.request_id) {
            CHECK(row.upstream_model == a.upstream_model);
            CHECK(row.channel == a.channel);
        }
        return true;
    });
    REQUIRE(listed.ok());
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{a.request_id, "req_b"});
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("usage journal: a burst that fills a journal file continues in the next one") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "burst-user");
    const auto dir = journal_dir(db, "journal-burst");
    constexpr int kThreads = 4, kRecords = 250;
    std::filesystem::path own;
    {
        // No batch runs meanwhile (an hour apart): only the 4 KiB files filling up rotate.
        auto opened =
            UsageJournal::open(*db, dir, std::chrono::hours(1), std::chrono::hours(0), 4096);
        REQUIRE(opened.ok());
        auto journal = std::move(opened).value();
        own = journal->directory();
        CHECK(record_from_threads(*journal, user.id, kThreads, kRecords) == 0);
        size_t files = 0;
        for (const auto& entry : std::filesystem::directory_iterator(own))
            files += entry.path().extension() == ".jsonl";
        size_t bytes = 0;
        for (int t = 0; t < kThreads; ++t)
            for (int i = 0; i < kRecords; ++i)
                bytes += UsageJournal::encode(burst_record(user.id, t, i)).size();
        INFO("journal files after the burst: " << files << ", for " << bytes << " bytes of lines");
        // No line spans two files: the lines need at least this many of 4 KiB.
        CHECK(files >= (bytes + 4095) / 4096);
    }  // the destructor writes the batch and removes the files it covers
    CHECK(count_rows(*db) == kThreads * kRecords);
    // A closed file is its lines: the blocks reserved and not used are cut off. The last one,
    // opened by the final batch, holds none, so it is cut to nothing and removed, and with it the
    // journal's directory: a gateway stopped cleanly leaves nothing to replay.
    CHECK_FALSE(std::filesystem::exists(own));
    CHECK(replayed_on_reopen(*db, dir) == 0);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("usage journal: lines recorded by a process killed right after are all replayed") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "killed-user");
    const auto dir = journal_dir(db, "journal-killed");
    constexpr int kThreads = 4, kRecords = 200;
    const int status = in_child([&] {
        // The child never reaches the database: the directory is empty (nothing to replay) and
        // no batch is due for an hour. It records, then dies without a destructor or a flush:
        // the lines exist only as the mapped pages it copied them into.
        auto opened =
            UsageJournal::open(*db, dir, std::chrono::hours(1), std::chrono::hours(0), 64 << 10);
        if (!opened) return 2;
        auto journal = std::move(opened).value();
        if (record_from_threads(*journal, user.id, kThreads, kRecords) != 0) return 3;
        ::raise(SIGKILL);
        return 4;
    });
    INFO("child status " << status);
    REQUIRE(WIFSIGNALED(status));
    CHECK(WTERMSIG(status) == SIGKILL);
    CHECK(replayed_on_reopen(*db, dir) == kThreads * kRecords);
    CHECK(count_rows(*db) == kThreads * kRecords);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("usage journal: a file a kill left half-copied replays the lines that were whole") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "half-user");
    const auto dir = journal_dir(db, "journal-half");
    std::filesystem::create_directories(dir);
    auto make = [&](const char* id) {
        UsageRecord r;
        r.request_id = id;
        r.created_at_ms = 5;
        r.user_id = user.id;
        r.status = 200;
        return r;
    };
    const std::string whole_a = UsageJournal::encode(make("req_a"));
    const std::string whole_b = UsageJournal::encode(make("req_b"));
    const std::string whole_d = UsageJournal::encode(make("req_d"));
    std::string c = UsageJournal::encode(make("req_c"));
    c.back() = '\0';  // copied but for its newline: the kill came first, never answered
    {
        std::ofstream out(dir / "usage-7.jsonl", std::ios::binary);
        out << whole_a;
        out << std::string(37, '\0');  // reserved by a copier the kill stopped before it began
        out << whole_b;
        out.write(c.data(), static_cast<std::streamsize>(c.size()));
        out << whole_d;
        out << std::string(R"({"id":"req_cut","at":1)") + std::string(12, '\0');  // cut short
        out << std::string(3000, '\0');  // reserved blocks never used
    }
    auto opened = UsageJournal::open(*db, dir, std::chrono::milliseconds(1000));
    REQUIRE(opened.ok());
    CHECK(opened.value()->counters().replayed == 3);
    opened.value().reset();
    std::vector<std::string> ids;
    auto listed = store::request_logs::for_each(*db, {}, [&](const store::RequestLog& row) {
        ids.push_back(row.request_id);
        return true;
    });
    REQUIRE(listed.ok());
    std::sort(ids.begin(), ids.end());
    CHECK(ids == std::vector<std::string>{"req_a", "req_b", "req_d"});
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("usage journal: no room for a journal file is an error that says so, and leaves none") {
    store::testing::TestDatabase db;
    const auto dir = journal_dir(db, "journal-full");
    // In a child: the file size limit stands in for a full disk (and would cut the test's own
    // database writes short).
    const int status = in_child([&] {
        ::signal(SIGXFSZ, SIG_IGN);
        rlimit limit{1 << 20, 1 << 20};
        if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) return 2;
        auto opened =
            UsageJournal::open(*db, dir, std::chrono::hours(1), std::chrono::hours(0), 4 << 20);
        if (opened) return 3;
        const std::string& message = opened.error().message;
        if (message.find("cannot reserve 4096 KiB for the usage journal") == std::string::npos ||
            message.find("is the disk full?") == std::string::npos)
            return 4;
        // The file it could not reserve is gone.
        return std::filesystem::directory_iterator(dir) == std::filesystem::directory_iterator()
                   ? 0
                   : 5;
    });
    REQUIRE(WIFEXITED(status));
    // 3: the journal opened; 4: the message does not say what failed; 5: a file was left.
    CHECK(WEXITSTATUS(status) == 0);
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("usage journal: processes sharing one journal folder each write their own directory") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "shared-user");
    const auto dir = journal_dir(db, "journal-shared");
    constexpr int kThreads = 2, kRecords = 150;
    // A second process on the same folder, at the same time: it must neither write the first
    // one's files nor take its live directory for a dead one's.
    GatedChild child([&](const std::string& first_directory) {
        // Its own connections: an SQLite or MySQL connection must not cross a fork.
        auto own_db = store::Database::open(db.url, 2);
        if (!own_db) return 6;
        auto opened = UsageJournal::open(*own_db.value(), dir, std::chrono::milliseconds(1));
        if (!opened) return 2;
        if (opened.value()->directory().string() == first_directory) return 3;
        if (opened.value()->counters().replayed != 0) return 4;
        for (int i = 0; i < kRecords; ++i)
            if (!opened.value()->record(burst_record(user.id, 100, i))) return 5;
        return 0;  // the destructor writes the rest and removes its directory
    });
    auto first = UsageJournal::open(*db, dir, std::chrono::milliseconds(1));
    REQUIRE(first.ok());
    child.go(first.value()->directory().string());
    const int status = child.wait();
    REQUIRE(WIFEXITED(status));
    // 2: no journal; 3: the same directory; 4: it adopted the live one's; 5: a record refused;
    // 6: no database.
    CHECK(WEXITSTATUS(status) == 0);
    CHECK(record_from_threads(*first.value(), user.id, kThreads, kRecords) == 0);
    REQUIRE(first.value()->flush().ok());
    CHECK(first.value()->counters().replayed == 0);
    first.value().reset();
    CHECK(count_rows(*db) == (kThreads + 1) * kRecords);
    CHECK(std::filesystem::is_empty(dir));
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}

TEST_CASE("usage journal: a live journal adopts the directory of a sibling killed beside it") {
    store::testing::TestDatabase db;
    const auto user = store::testing::make_user(*db, "adopt-user");
    const auto dir = journal_dir(db, "journal-adopt");
    constexpr int kThreads = 4, kRecords = 100;
    GatedChild child([&](const std::string&) {
        // Never reaches the database (a batch an hour away), then dies without a flush. Its own
        // connections: an SQLite or MySQL connection must not cross a fork.
        auto own_db = store::Database::open(db.url, 2);
        if (!own_db) return 5;
        auto opened = UsageJournal::open(*own_db.value(), dir, std::chrono::hours(1),
                                         std::chrono::hours(0), 64 << 10);
        if (!opened) return 2;
        if (record_from_threads(*opened.value(), user.id, kThreads, kRecords) != 0) return 3;
        ::raise(SIGKILL);
        return 4;
    });
    // Looks for dead siblings every second.
    auto survivor =
        UsageJournal::open(*db, dir, std::chrono::milliseconds(50), std::chrono::hours(0),
                           UsageJournal::kSegmentBytes, std::chrono::seconds(1));
    REQUIRE(survivor.ok());
    child.go("");
    const int status = child.wait();
    INFO("child status " << status);
    REQUIRE(WIFSIGNALED(status));
    CHECK(count_rows(*db) == 0);
    // The survivor is not restarted: its own thread finds the dead directory and replays it.
    for (int i = 0; i < 100 && survivor.value()->counters().replayed < kThreads * kRecords; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    CHECK(survivor.value()->counters().replayed == kThreads * kRecords);
    CHECK(count_rows(*db) == kThreads * kRecords);
    // Only the survivor's own directory is left.
    int directories = 0;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        directories += entry.is_directory() && entry.path().filename().string()[0] != '.';
    CHECK(directories == 1);
    survivor.value().reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
}
