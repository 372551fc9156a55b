#include "app/serve_settings.hpp"

#include "app/command_support.hpp"

namespace tianshu::app {

namespace {

using core::Error;

//! Reads an optional whole-number flag into `field` (left as it is when the flag is absent).
template <typename T>
core::Result<void> read_count(const ParsedArgs& a, const char* flag, long long min, long long max,
                              T& field) {
    auto text = a.option(flag);
    if (!text) return {};
    auto n = parse_count(flag, *text, min, max);
    if (!n) return n.take_error();
    field = static_cast<T>(n.value());
    return {};
}

//! One of `choices` for `flag`, or an error that lists them with `explain`.
core::Result<std::string> read_choice(const ParsedArgs& a, const char* flag,
                                      std::initializer_list<const char*> choices,
                                      const std::string& fallback, const std::string& explain) {
    std::string value = a.option_or(flag, fallback);
    for (const char* c : choices)
        if (value == c) return value;
    return Error::invalid(std::string(flag) + " '" + value + "' must be " + explain);
}

}  // namespace

core::Result<ServeSettings> serve_settings(const ParsedArgs& a) {
    ServeSettings s;
    auto level = read_choice(a, "--log-level", {"debug", "info", "warn", "error"}, "info",
                             "debug, info, warn or error");
    if (!level) return level.take_error();
    if (a.option("--log-level"))
        s.log_level = *level == "debug"  ? core::LogLevel::debug
                      : *level == "info" ? core::LogLevel::info
                      : *level == "warn" ? core::LogLevel::warn
                                         : core::LogLevel::error;
    s.server.listen = a.option_or("--listen", "127.0.0.1:8080");
    long long window = s.logins.window.count();
    for (auto r :
         {read_count(a, "--max-threads", 4, 65536, s.server.max_threads),
          read_count(a, "--stream-ping-ms", 0, 600000, s.server.stream_ping_ms),
          read_count(a, "--header-timeout-seconds", 1, 3600, s.server.header_timeout_seconds),
          read_count(a, "--drain-seconds", 0, 86400, s.drain_seconds),
          read_count(a, "--log-retention-days", 0, 36500, s.log_retention_days),
          read_count(a, "--journal-adopt-seconds", 1, 86400, s.journal_adopt_seconds),
          read_count(a, "--slow-work-threads", 1, 64, s.slow_work.threads),
          read_count(a, "--slow-work-queue", 0, 100000, s.slow_work.queue_limit),
          read_count(a, "--login-failures-per-address", 0, 1000000, s.logins.per_address),
          read_count(a, "--login-failures-per-account", 0, 1000000, s.logins.per_account),
          read_count(a, "--login-window-seconds", 1, 86400, window)})
        if (!r) return r.take_error();
    s.logins.window = std::chrono::seconds(window);
    long long session_ttl = s.sessions.ttl.count();
    for (auto r :
         {read_count(a, "--session-ttl-seconds", 1, 30LL * 86400, session_ttl),
          read_count(a, "--session-max-bytes", 1024, 1LL << 30, s.sessions.session_max_bytes),
          read_count(a, "--user-session-max-bytes", 1024, 1LL << 40, s.sessions.user_max_bytes)})
        if (!r) return r.take_error();
    s.sessions.ttl = std::chrono::seconds(session_ttl);
    if (s.sessions.user_max_bytes < s.sessions.session_max_bytes)
        return Error::invalid(
            "--user-session-max-bytes " + std::to_string(s.sessions.user_max_bytes) +
            " is below --session-max-bytes " + std::to_string(s.sessions.session_max_bytes) +
            ": a user's cap must hold at least one full session");
    auto proxies = server::TrustedProxies::parse(a.all("--trusted-proxy"));
    if (!proxies) return proxies.take_error();
    s.server.trusted_proxies = std::move(proxies).value();
    auto metering = read_choice(a, "--metering", {"on", "off"}, "on", "on or off");
    if (!metering) return metering.take_error();
    s.metering = *metering == "on";
    auto priority = read_choice(a, "--journal-priority", {"idle", "normal"}, "idle",
                                "idle (the default: the usage journal's background work never "
                                "takes a CPU a request wants) or normal");
    if (!priority) return priority.take_error();
    s.journal_priority =
        *priority == "idle" ? core::ThreadPriority::idle : core::ThreadPriority::normal;
    return s;
}

}  // namespace tianshu::app
