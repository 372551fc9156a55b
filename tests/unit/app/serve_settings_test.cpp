#include <catch2/catch.hpp>

#include "app/cli_args.hpp"
#include "app/serve_settings.hpp"

using namespace tianshu;

namespace {
app::ParsedArgs args(std::initializer_list<std::pair<const char*, const char*>> options) {
    app::ParsedArgs a;
    for (const auto& [k, v] : options) a.options[k].push_back(v);
    return a;
}
}  // namespace

TEST_CASE("serve settings: the defaults, and each flag read into its place", "[app][serve]") {
    auto d = app::serve_settings(args({}));
    REQUIRE(d.ok());
    CHECK(d->server.listen == "127.0.0.1:8080");
    CHECK(d->metering);
    CHECK(d->log_retention_days == 90);
    CHECK(d->journal_priority == core::ThreadPriority::idle);
    CHECK(d->journal_adopt_seconds == 60);
    CHECK(d->drain_seconds == 30);
    CHECK_FALSE(d->log_level.has_value());
    CHECK(d->sessions.ttl == std::chrono::hours(24));
    CHECK(d->sessions.session_max_bytes == 1u << 20);
    CHECK(d->sessions.user_max_bytes == 16u << 20);

    auto s = app::serve_settings(args({{"--metering", "off"},
                                       {"--journal-priority", "normal"},
                                       {"--log-retention-days", "0"},
                                       {"--drain-seconds", "5"},
                                       {"--max-threads", "64"},
                                       {"--stream-ping-ms", "0"},
                                       {"--header-timeout-seconds", "7"},
                                       {"--slow-work-threads", "2"},
                                       {"--slow-work-queue", "0"},
                                       {"--login-window-seconds", "30"},
                                       {"--log-level", "warn"},
                                       {"--session-ttl-seconds", "600"},
                                       {"--session-max-bytes", "4096"},
                                       {"--user-session-max-bytes", "65536"}}));
    REQUIRE(s.ok());
    CHECK_FALSE(s->metering);
    CHECK(s->journal_priority == core::ThreadPriority::normal);
    CHECK(s->log_retention_days == 0);
    CHECK(s->drain_seconds == 5);
    CHECK(s->server.max_threads == 64);
    CHECK(s->server.stream_ping_ms == 0);
    CHECK(s->server.header_timeout_seconds == 7);
    CHECK(s->slow_work.threads == 2);
    CHECK(s->slow_work.queue_limit == 0);
    CHECK(s->logins.window == std::chrono::seconds(30));
    CHECK(s->log_level == core::LogLevel::warn);
    CHECK(s->sessions.ttl == std::chrono::seconds(600));
    CHECK(s->sessions.session_max_bytes == 4096);
    CHECK(s->sessions.user_max_bytes == 65536);
}

TEST_CASE("serve settings: a bad value is refused, naming the flag, the value and the range",
          "[app][serve]") {
    for (const auto& [flag, value, says] :
         std::vector<std::tuple<const char*, const char*, const char*>>{
             {"--metering", "maybe", "on or off"},
             {"--journal-priority", "low", "idle"},
             {"--log-level", "chatty", "debug, info, warn or error"},
             {"--drain-seconds", "soon", "whole number"},
             {"--drain-seconds", "-1", "from 0"},
             {"--max-threads", "3", "from 4"},
             {"--log-retention-days", "36501", "to 36500"},
             {"--journal-adopt-seconds", "0", "from 1"},
             {"--stream-ping-ms", "600001", "to 600000"},
             {"--session-ttl-seconds", "0", "from 1"},
             {"--session-max-bytes", "100", "from 1024"},
             {"--user-session-max-bytes", "1000", "from 1024"}}) {
        auto r = app::serve_settings(args({{flag, value}}));
        INFO(flag << " " << value);
        REQUIRE_FALSE(r.ok());
        CHECK_THAT(r.error().message,
                   Catch::Contains(flag) && Catch::Contains(value) && Catch::Contains(says));
    }
}

TEST_CASE("serve settings: a user's session cap below one session's is refused", "[app][serve]") {
    auto r = app::serve_settings(
        args({{"--session-max-bytes", "8192"}, {"--user-session-max-bytes", "4096"}}));
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("--user-session-max-bytes 4096") &&
                                      Catch::Contains("--session-max-bytes 8192"));
}
