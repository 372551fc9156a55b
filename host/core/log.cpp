#include "core/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <string>

namespace tianshu::core {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::atomic<void (*)(std::string_view)> g_sink{nullptr};
std::mutex g_write_mutex;

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

std::string timestamp() {
    using namespace std::chrono;
    auto now = system_clock::now();
    auto secs = system_clock::to_time_t(now);
    auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms));
    return buf;
}
}  // namespace

void log(LogLevel level, std::string_view message, const LogFields& fields) {
    if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
    nlohmann::json line = nlohmann::json::object();
    line["ts"] = timestamp();
    line["level"] = level_name(level);
    line["msg"] = message;
    for (const auto& [k, v] : fields) line[std::string(k)] = v;
    std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    if (auto sink = g_sink.load()) {
        sink(text);
        return;
    }
    text += '\n';
    std::lock_guard lock(g_write_mutex);
    std::fwrite(text.data(), 1, text.size(), stderr);
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
