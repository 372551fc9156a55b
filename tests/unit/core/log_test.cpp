// core/log: one JSON object per line, the same line the nlohmann object gave before the line
// was written directly (keys sorted, the last of equal keys kept, numbers and strings as
// nlohmann writes them), and whole lines on stderr when threads log at once.

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <regex>
#include <thread>

#include "core/log.hpp"

using namespace tianshu;
using Json = nlohmann::json;

namespace {

std::mutex g_mutex;
std::vector<std::string> g_lines;

void capture(std::string_view line) {
    std::lock_guard lock(g_mutex);
    g_lines.emplace_back(line);
}

struct Captured {
    Captured() {
        std::lock_guard lock(g_mutex);
        g_lines.clear();
        core::set_log_sink(&capture);
    }
    ~Captured() { core::set_log_sink(nullptr); }
    std::vector<std::string> lines() const {
        std::lock_guard lock(g_mutex);
        return g_lines;
    }
};

//! The line as the nlohmann object gave it: `expected` plus ts (taken from the line), level, msg.
std::string nlohmann_line(const std::string& line, Json expected, std::string_view level,
                          std::string_view msg) {
    Json fixed = Json::object();
    fixed["ts"] = Json::parse(line).at("ts");
    fixed["level"] = level;
    fixed["msg"] = msg;
    for (auto& [k, v] : expected.items()) fixed[k] = v;  // fields win over ts/level/msg
    return fixed.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string utc(std::chrono::system_clock::time_point t) {
    using namespace std::chrono;
    const auto secs = system_clock::to_time_t(t);
    const auto ms = duration_cast<milliseconds>(t.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    return buf;
}

}  // namespace

TEST_CASE("log: the per-request line is the line nlohmann wrote, byte for byte") {
    Captured captured;
    const std::string request_id = "req_0123456789abcdef";
    const double latency = 12.345678;
    core::LogFields fields{{"request_id", request_id},
                           {"route", std::string("/v1/messages")},
                           {"status", 200},
                           {"latency_ms", latency},
                           {"user", "alice"},
                           {"stream", false},
                           {"cost", int64_t{1234}},
                           {"retries", 0},
                           {"input_tokens", int64_t{12}},
                           {"client_ip", std::string_view("127.0.0.1")}};
    fields.emplace_back("ttft_ms", 3.0);
    fields.emplace_back("error", "upstream said \"no\"\n\tat \\root\\ \x01 — 失败");
    core::log(core::LogLevel::warn, "request", fields);

    const auto lines = captured.lines();
    REQUIRE(lines.size() == 1);
    const Json expected = {{"request_id", request_id},
                           {"route", "/v1/messages"},
                           {"status", 200},
                           {"latency_ms", latency},
                           {"user", "alice"},
                           {"stream", false},
                           {"cost", 1234},
                           {"retries", 0},
                           {"input_tokens", 12},
                           {"client_ip", "127.0.0.1"},
                           {"ttft_ms", 3.0},
                           {"error", "upstream said \"no\"\n\tat \\root\\ \x01 — 失败"}};
    CHECK(lines[0] == nlohmann_line(lines[0], expected, "warn", "request"));
    const Json parsed = Json::parse(lines[0]);
    CHECK(parsed.at("latency_ms").is_number_float());
    CHECK(parsed.at("ttft_ms").is_number_float());
    CHECK(parsed.at("status").is_number_integer());
    CHECK(parsed.at("stream").is_boolean());
    CHECK(parsed.at("level") == "warn");
}

TEST_CASE("log: a LogLine writes the line log() writes for the same fields, byte for byte") {
    Captured captured;
    const std::string error = "upstream said \"no\"\n\tat \\root\\ \x01 — 失败";
    // The gateway's request line: keys in log()'s order, ts/level/msg placed by the writer.
    auto write_both = [&](bool failed, bool with_ttft) {
        core::LogLine line(failed ? core::LogLevel::warn : core::LogLevel::info, "request");
        REQUIRE(line.active());
        line.field("chain", "default").field("channel", "up").field("client_ip", "127.0.0.1");
        line.field("cost", int64_t{1234});
        if (failed) line.field("error", error).field("error_kind", "upstream");
        line.field("input_tokens", int64_t{12}).field("key", "laptop");
        line.field("latency_ms", 12.345678).field("output_tokens", int64_t{7});
        line.field("request_id", std::string("0123456789abcdef01234567"));
        line.field("requested_model", "claude-sonnet-4-5").field("retries", 0);
        line.field("route", "/v1/messages").field("status", failed ? 502 : 200);
        line.field("stream", false).field("tier", "default");
        if (with_ttft) line.field("ttft_ms", 3.0);
        line.field("upstream_model", "up-model").field("user", "alice");
        line.write();
        line.write();  // once only

        core::LogFields fields{{"chain", "default"},
                               {"channel", "up"},
                               {"client_ip", "127.0.0.1"},
                               {"cost", int64_t{1234}},
                               {"input_tokens", int64_t{12}},
                               {"key", "laptop"},
                               {"latency_ms", 12.345678},
                               {"output_tokens", int64_t{7}},
                               {"request_id", "0123456789abcdef01234567"},
                               {"requested_model", "claude-sonnet-4-5"},
                               {"retries", 0},
                               {"route", "/v1/messages"},
                               {"status", failed ? 502 : 200},
                               {"stream", false},
                               {"tier", "default"},
                               {"upstream_model", "up-model"},
                               {"user", "alice"}};
        if (failed) {
            fields.emplace_back("error", error);
            fields.emplace_back("error_kind", "upstream");
        }
        if (with_ttft) fields.emplace_back("ttft_ms", 3.0);
        core::log(failed ? core::LogLevel::warn : core::LogLevel::info, "request", fields);
    };
    for (bool failed : {false, true})
        for (bool with_ttft : {false, true}) {
            INFO("failed " << failed << ", ttft " << with_ttft);
            write_both(failed, with_ttft);
            auto lines = captured.lines();
            REQUIRE(lines.size() >= 2);
            const std::string& direct = lines[lines.size() - 2];
            std::string sorted = lines.back();
            // The timestamps may differ by a millisecond: compare the lines with log()'s ts.
            const std::string ts = Json::parse(sorted).at("ts");
            Json parsed = Json::parse(direct);
            CHECK(parsed.at("level") == (failed ? "warn" : "info"));
            CHECK(parsed.at("msg") == "request");
            std::string aligned = direct;
            const std::string direct_ts = parsed.at("ts");
            aligned.replace(aligned.find(direct_ts), direct_ts.size(), ts);
            CHECK(aligned == sorted);
        }
    CHECK(captured.lines().size() == 8);

    // Fields after every fixed key, and none at all.
    core::LogLine late(core::LogLevel::info, "m");
    late.field("zz", "last").write();
    core::LogLine bare(core::LogLevel::error, "only the message");
    bare.write();
    core::log(core::LogLevel::info, "m", {{"zz", "last"}});
    core::log(core::LogLevel::error, "only the message");
    auto lines = captured.lines();
    REQUIRE(lines.size() == 12);
    for (size_t i : {8u, 9u}) {
        Json direct = Json::parse(lines[i]), sorted = Json::parse(lines[i + 2]);
        direct["ts"] = sorted["ts"];
        CHECK(direct.dump() == sorted.dump());
        CHECK(lines[i].find("\"ts\"") != std::string::npos);
    }
    CHECK(lines[8].substr(0, 9) == R"({"level":)");
    CHECK(lines[8].find(R"(,"zz":"last"})") != std::string::npos);  // after ts, at the end

    // Below the threshold nothing is built or written.
    core::set_log_level(core::LogLevel::warn);
    core::LogLine quiet(core::LogLevel::info, "dropped");
    CHECK_FALSE(quiet.active());
    quiet.field("a", "b").write();
    core::set_log_level(core::LogLevel::info);
    CHECK(captured.lines().size() == 12);
}

TEST_CASE("log: a LogLine key knows which of level, msg and ts sort before it") {
    // Bytewise, as log() sorts: the line writes the fixed fields by this count.
    CHECK(core::LogKey("chain").fixed_before() == 0);
    CHECK(core::LogKey("latency_ms").fixed_before() == 0);  // "la" < "le"
    CHECK(core::LogKey("levels").fixed_before() == 1);      // a longer key after its prefix
    CHECK(core::LogKey("model").fixed_before() == 1);       // "mo" < "ms"
    CHECK(core::LogKey("output_tokens").fixed_before() == 2);
    CHECK(core::LogKey("tier").fixed_before() == 2);  // "ti" < "ts"
    CHECK(core::LogKey("ttft_ms").fixed_before() == 3);
    CHECK(core::LogKey("Z").fixed_before() == 0);  // upper case sorts before lower
    CHECK(core::LogKey("user").name() == "user");
}

TEST_CASE("log: every kind of value is written as nlohmann wrote it") {
    Captured captured;
    enum class Color { red, green };
    const char* no_text = nullptr;
    core::LogFields fields{
        {"c_string", "text"},
        {"null_c_string", no_text},
        {"temporary", std::string(40, 'x') + "!"},  // held by the field, not by the caller
        {"unsigned", 7u},
        {"size", size_t{99}},
        {"min", std::numeric_limits<int64_t>::min()},
        {"max_u", std::numeric_limits<uint64_t>::max()},
        {"float", 0.1f},
        {"nan", std::nan("")},
        {"true", true},
        {"json", Json{{"b", 1}, {"a", Json::array({1, "x"})}}},
        {"list", {{"k", 1}, {"j", "v"}}},
        {"array", std::vector<int>{1, 2, 3}},
        {"enum", Color::green},
        {"empty", {}},
        {"invalid_utf8", std::string("ok\xE2\x82z\xff")},
    };
    core::log(core::LogLevel::info, "kinds", fields);
    const auto lines = captured.lines();
    REQUIRE(lines.size() == 1);
    const Json expected = {
        {"c_string", "text"},
        {"null_c_string", nullptr},
        {"temporary", std::string(40, 'x') + "!"},
        {"unsigned", 7u},
        {"size", size_t{99}},
        {"min", std::numeric_limits<int64_t>::min()},
        {"max_u", std::numeric_limits<uint64_t>::max()},
        {"float", 0.1f},
        {"nan", std::nan("")},
        {"true", true},
        {"json", Json{{"b", 1}, {"a", Json::array({1, "x"})}}},
        {"list", {{"k", 1}, {"j", "v"}}},
        {"array", std::vector<int>{1, 2, 3}},
        {"enum", Color::green},
        {"empty", nullptr},
        {"invalid_utf8", std::string("ok\xE2\x82z\xff")},
    };
    CHECK(lines[0] == nlohmann_line(lines[0], expected, "info", "kinds"));
    const Json parsed = Json::parse(lines[0]);
    CHECK(parsed.at("null_c_string").is_null());
    CHECK(parsed.at("list") == Json{{"j", "v"}, {"k", 1}});
    CHECK(parsed.at("float").is_number_float());
}

TEST_CASE("log: keys sorted, the later of two equal keys wins, even over msg") {
    Captured captured;
    core::log(core::LogLevel::error, "original",
              {{"zeta", 1}, {"alpha", 1}, {"alpha", 2}, {"msg", "override"}, {"level", 5}});
    const auto lines = captured.lines();
    REQUIRE(lines.size() == 1);
    const std::string ts = Json::parse(lines[0]).at("ts");
    CHECK(lines[0] == R"({"alpha":2,"level":5,"msg":"override","ts":")" + ts + R"(","zeta":1})");
}

TEST_CASE("log: lines below the level are dropped") {
    Captured captured;
    const auto before = core::log_level();
    core::set_log_level(core::LogLevel::warn);
    core::log(core::LogLevel::info, "dropped", {{"a", 1}});
    core::log(core::LogLevel::warn, "kept");
    core::set_log_level(before);
    const auto lines = captured.lines();
    REQUIRE(lines.size() == 1);
    CHECK(Json::parse(lines[0]).at("msg") == "kept");
}

TEST_CASE("log: ts is UTC with milliseconds, as gmtime gives it") {
    Captured captured;
    const auto before = std::chrono::system_clock::now();
    core::log(core::LogLevel::info, "when");
    const auto after = std::chrono::system_clock::now();
    const auto lines = captured.lines();
    REQUIRE(lines.size() == 1);
    const std::string ts = Json::parse(lines[0]).at("ts");
    CHECK(std::regex_match(ts, std::regex(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)")));
    CHECK(utc(before) <= ts);  // ISO 8601 strings of one length sort by time
    CHECK(ts <= utc(after));
}

TEST_CASE("log: on stderr, lines from many threads stay whole, short and long") {
    const auto path = std::filesystem::temp_directory_path() /
                      ("tianshu-log-test-" + std::to_string(::getpid()) + ".log");
    const int file = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
    REQUIRE(file >= 0);
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    REQUIRE(saved >= 0);
    ::dup2(file, STDERR_FILENO);
    constexpr int kThreads = 8, kLines = 200;
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t)
        threads.emplace_back([t] {
            for (int i = 0; i < kLines; ++i) {
                // every 10th line is longer than PIPE_BUF
                const std::string pad(i % 10 == 0 ? 9000 : 10, static_cast<char>('a' + t));
                core::log(core::LogLevel::info, "line", {{"t", t}, {"i", i}, {"pad", pad}});
            }
        });
    for (auto& th : threads) th.join();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    ::close(file);

    std::ifstream in(path);
    std::string line;
    int count = 0;
    while (std::getline(in, line)) {
        const Json j = Json::parse(line, nullptr, false);
        REQUIRE_FALSE(j.is_discarded());
        const int t = j.at("t");
        const int i = j.at("i");
        CHECK(j.at("pad") == std::string(i % 10 == 0 ? 9000 : 10, static_cast<char>('a' + t)));
        ++count;
    }
    CHECK(count == kThreads * kLines);
    std::filesystem::remove(path);
}
