#pragma once
// `tianshu serve`'s flags, read and checked in one place before anything starts: a bad value
// exits 2 having opened, created and changed nothing (not even a new store's first setup).

#include <optional>

#include "app/cli_args.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "core/session_store.hpp"
#include "core/slow_work_pool.hpp"
#include "core/thread_priority.hpp"
#include "hub/login_throttle.hpp"
#include "server/http_server.hpp"

namespace tianshu::app {

//! Everything `serve` takes from its flags (the store, plugin and secret-key flags are read by
//! the functions that open those, from the same ParsedArgs).
struct ServeSettings {
    server::ServerOptions server;             //!< --listen, --max-threads, --stream-ping-ms,
                                              //!< --header-timeout-seconds, --trusted-proxy
    int drain_seconds = 30;                   //!< --drain-seconds
    std::optional<core::LogLevel> log_level;  //!< --log-level
    bool metering = true;                     //!< --metering on|off
    int log_retention_days = 90;              //!< --log-retention-days (0: forever)
    core::ThreadPriority journal_priority = core::ThreadPriority::idle;  //!< --journal-priority
    int journal_adopt_seconds = 60;         //!< --journal-adopt-seconds
    core::SlowWorkPool::Options slow_work;  //!< --slow-work-threads, --slow-work-queue
    hub::LoginLimits logins;                //!< --login-failures-per-*, --login-window-seconds
    core::SessionLimits sessions;  //!< --session-ttl-seconds, --session-max-bytes,
                                   //!< --user-session-max-bytes
};

//! Reads and checks serve's flags; the error names the flag, its value and what it may be.
core::Result<ServeSettings> serve_settings(const ParsedArgs& args);

}  // namespace tianshu::app
