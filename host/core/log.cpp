#include "core/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <shared_mutex>
#include <string>

#include "core/json_write.hpp"

namespace tianshu::core {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<void (*)(std::string_view)> g_sink{nullptr};
//! Lines up to PIPE_BUF bytes go out in one write(2), which the kernel keeps whole (on a pipe,
//! and on a file through its position lock): they only share this lock, so threads logging at
//! once never wait for each other. A longer line takes it alone.
std::shared_mutex g_write_mutex;

std::string_view level_name(LogLevel l) {
    switch (l) {
        case LogLevel::debug:
            return "debug";
        case LogLevel::info:
            return "info";
        case LogLevel::warn:
            return "warn";
        case LogLevel::error:
            return "error";
    }
    return "info";
}

void two_digits(char* p, unsigned v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
}

//! "2026-11-22T04:49:32.123Z" (UTC, milliseconds) into `buf`; returns the length. Computed from
//! the day count (Howard Hinnant's civil_from_days) instead of gmtime_r, which takes glibc's
//! time zone lock on every call.
size_t timestamp(char (&buf)[40]) {
    using namespace std::chrono;
    const int64_t ms_total =
        duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
    int64_t days = ms_total / 86'400'000;
    int64_t ms_of_day = ms_total % 86'400'000;
    if (ms_of_day < 0) {
        ms_of_day += 86'400'000;
        --days;
    }
    const int64_t z = days + 719'468;
    const int64_t era = (z >= 0 ? z : z - 146'096) / 146'097;
    const auto doe = static_cast<unsigned>(z - era * 146'097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    const unsigned day = doy - (153 * mp + 2) / 5 + 1;
    const unsigned month = mp < 10 ? mp + 3 : mp - 9;
    const int64_t year = static_cast<int64_t>(yoe) + era * 400 + (month <= 2 ? 1 : 0);
    const auto s = static_cast<unsigned>(ms_of_day / 1000);
    const auto ms = static_cast<unsigned>(ms_of_day % 1000);
    if (year < 0 || year > 9999) {
        const int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ",
                                    static_cast<long long>(year), month, day, s / 3600, s / 60 % 60,
                                    s % 60, ms);
        return n > 0 ? static_cast<size_t>(n) : 0;
    }
    const auto y = static_cast<unsigned>(year);
    two_digits(buf, y / 100);
    two_digits(buf + 2, y % 100);
    buf[4] = '-';
    two_digits(buf + 5, month);
    buf[7] = '-';
    two_digits(buf + 8, day);
    buf[10] = 'T';
    two_digits(buf + 11, s / 3600);
    buf[13] = ':';
    two_digits(buf + 14, s / 60 % 60);
    buf[16] = ':';
    two_digits(buf + 17, s % 60);
    buf[19] = '.';
    buf[20] = static_cast<char>('0' + ms / 100);
    two_digits(buf + 21, ms % 100);
    buf[23] = 'Z';
    return 24;
}

void write_all(std::string_view text) {
    while (!text.empty()) {
        const ssize_t n = ::write(STDERR_FILENO, text.data(), text.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return;  // nowhere to report it
        }
        text.remove_prefix(static_cast<size_t>(n));
    }
}

//! Hands a finished line (no newline yet) to the sink, or writes it with its newline.
void emit(std::string& text) {
    if (auto sink = g_sink.load()) {
        sink(text);
        return;
    }
    text += '\n';
    if (text.size() <= PIPE_BUF) {
        std::shared_lock lock(g_write_mutex);
        write_all(text);
    } else {
        std::unique_lock lock(g_write_mutex);
        write_all(text);
    }
}

//! A field of the line: one of the caller's, or ts/level/msg (`value` null, `text` set).
struct Entry {
    std::string_view key;
    const LogValue* value;
    std::string_view text;
};

//! The order of std::string keys in a nlohmann object; the first byte decides most of them.
bool key_less(std::string_view a, std::string_view b) {
    if (!a.empty() && !b.empty() && a[0] != b[0])
        return static_cast<unsigned char>(a[0]) < static_cast<unsigned char>(b[0]);
    return a < b;
}

}  // namespace

void LogValue::append_to(std::string& out) const {
    switch (kind_) {
        case Kind::null:
            out += "null";
            return;
        case Kind::boolean:
            out += boolean_ ? "true" : "false";
            return;
        case Kind::integer:
            append_json_number(out, integer_);
            return;
        case Kind::unsigned_integer:
            append_json_number(out, unsigned_);
            return;
        case Kind::floating:
            append_json_number(out, floating_);
            return;
        case Kind::string:
            append_json_quoted(out, text_);
            return;
        case Kind::json:
            out += json_->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            return;
    }
}

void log(LogLevel level, std::string_view message, const LogFields& fields) {
    if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
    char ts[40];
    const size_t ts_length = timestamp(ts);

    // The line used to be a nlohmann object: keys sorted, the last of equal keys kept. Insertion
    // sort (stable, no allocation): a line has a few dozen fields at most.
    constexpr size_t kInline = 48;
    Entry inline_entries[kInline];
    std::vector<Entry> heap_entries;
    const size_t count = fields.size() + 3;
    Entry* entries = inline_entries;
    if (count > kInline) {
        heap_entries.resize(count);
        entries = heap_entries.data();
    }
    entries[0] = {"ts", nullptr, std::string_view(ts, ts_length)};
    entries[1] = {"level", nullptr, level_name(level)};
    entries[2] = {"msg", nullptr, message};
    size_t used = 3;
    for (const auto& [key, value] : fields) entries[used++] = {key, &value, {}};
    for (size_t i = 1; i < count; ++i) {
        const Entry e = entries[i];
        size_t j = i;
        for (; j > 0 && key_less(e.key, entries[j - 1].key); --j) entries[j] = entries[j - 1];
        entries[j] = e;
    }

    size_t estimate = 64 + message.size();
    for (const auto& [key, value] : fields)
        estimate +=
            key.size() + 6 + (value.kind() == LogValue::Kind::string ? value.text().size() : 24);
    std::string text;
    text.reserve(estimate);
    text += '{';
    bool first = true;
    for (size_t i = 0; i < count; ++i) {
        if (i + 1 < count && entries[i + 1].key == entries[i].key) continue;  // a later one wins
        if (!first) text += ',';
        first = false;
        append_json_quoted(text, entries[i].key);
        text += ':';
        if (entries[i].value)
            entries[i].value->append_to(text);
        else
            append_json_quoted(text, entries[i].text);
    }
    text += '}';

    emit(text);
}

LogLine::LogLine(LogLevel level, std::string_view message)
    : active_(static_cast<int>(level) >= g_level.load(std::memory_order_relaxed)),
      level_(level_name(level)),
      message_(message) {
    if (!active_) return;
    ts_length_ = timestamp(ts_);
    text_.reserve(512);
    text_ += '{';
}

void LogLine::write_fixed(int count) {
    // log() sorts ts, level and msg among the caller's keys: level < msg < ts.
    static constexpr std::string_view kFixed[] = {"level", "msg", "ts"};
    for (; fixed_done_ < count; ++fixed_done_) {
        if (text_.size() > 1) text_ += ',';
        append_json_quoted(text_, kFixed[fixed_done_]);
        text_ += ':';
        append_json_quoted(text_, fixed_done_ == 0   ? level_
                                  : fixed_done_ == 1 ? message_
                                                     : std::string_view(ts_, ts_length_));
    }
}

void LogLine::key(LogKey key) {
    write_fixed(key.fixed_before());
    // ,"name": in one append; the name is letters, digits and '_' (LogKey): nothing to escape.
    const std::string_view name = key.name();
    char buf[LogKey::kMaxLength + 4];
    size_t n = 0;
    if (text_.size() > 1) buf[n++] = ',';
    buf[n++] = '"';
    std::memcpy(buf + n, name.data(), name.size());
    n += name.size();
    buf[n++] = '"';
    buf[n++] = ':';
    text_.append(buf, n);
}

LogLine& LogLine::field(LogKey k, std::string_view value) {
    if (!active_) return *this;
    key(k);
    append_json_quoted(text_, value);
    return *this;
}

LogLine& LogLine::field(LogKey k, int64_t value) {
    if (!active_) return *this;
    key(k);
    append_json_number(text_, value);
    return *this;
}

LogLine& LogLine::field(LogKey k, double value) {
    if (!active_) return *this;
    key(k);
    append_json_number(text_, value);
    return *this;
}

LogLine& LogLine::field(LogKey k, bool value) {
    if (!active_) return *this;
    key(k);
    text_ += value ? "true" : "false";
    return *this;
}

LogLine& LogLine::field(LogKey k, const nlohmann::json& value) {
    if (!active_) return *this;
    key(k);
    text_ += value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return *this;
}

void LogLine::write() {
    if (!active_ || written_) return;
    written_ = true;
    write_fixed(3);
    text_ += '}';
    emit(text_);
}

void set_log_level(LogLevel minimum) {
    g_level = static_cast<int>(minimum);
}
LogLevel log_level() {
    return static_cast<LogLevel>(g_level.load());
}
void set_log_sink(void (*sink)(std::string_view)) {
    g_sink = sink;
}

}  // namespace tianshu::core
