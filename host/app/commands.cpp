#include "app/commands.hpp"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

#include <pthread.h>
#include <sys/resource.h>

#include <tianshu/abi.h>
#include "app/billing_commands.hpp"
#include "app/bootstrap.hpp"
#include "app/cli_args.hpp"
#include "app/command_support.hpp"
#include "app/runtime_loader.hpp"
#include "app/serve_settings.hpp"
#include "core/log.hpp"
#include "core/slow_work_pool.hpp"
#include "hub/billing.hpp"
#include "hub/login_throttle.hpp"
#include "hub/memory_session_store.hpp"
#include "hub/password_hasher.hpp"
#include "hub/quota_book.hpp"
#include "hub/redis_quota_book.hpp"
#include "hub/redis_session_store.hpp"
#include "hub/usage_journal.hpp"
#include "server/admin_api.hpp"
#include "server/http_server.hpp"
#include "server/panel_assets.hpp"
#include "store/chains.hpp"
#include "store/migrations.hpp"

#ifndef TIANSHU_VERSION
#define TIANSHU_VERSION "0.0.0"
#endif
#ifndef TIANSHU_GIT_COMMIT
#define TIANSHU_GIT_COMMIT ""
#endif

namespace tianshu::app {

namespace fs = std::filesystem;
using core::Error;
using Json = nlohmann::json;

namespace {

const char* kHelp = R"(tianshu — an LLM gateway

usage:
  tianshu serve [--data DIR] [--listen HOST:PORT] [--db URL] [--plugins-dir DIR] [--scripts-dir DIR]
                [--chains-dir DIR] [--log-level debug|info|warn|error] [--max-threads N]
                [--drain-seconds N] [--stream-ping-ms N (default 15000; 0: no pings)]
                [--redis URL (share quota and session state between gateways)] [--metering on|off]
                [--log-retention-days N (default 90; 0 keeps request logs forever)]
                [--journal-priority idle|normal (default idle)]
                [--header-timeout-seconds N (default 20)] [--trusted-proxy CIDR[,CIDR]]...
                [--slow-work-threads N (default 1)] [--slow-work-queue N (default 16)]
                [--login-failures-per-address N (default 10)]
                [--login-failures-per-account N (default 30)] [--login-window-seconds N (default 600)]
                [--secret-key-file PATH (the key sealing upstream keys; default DIR/secret.key)]
                [--journal-adopt-seconds N (default 60: replay stopped gateways' usage journals)]
                [--session-ttl-seconds N (default 86400)] [--session-max-bytes N (default 1048576)]
                [--user-session-max-bytes N (default 16777216)]
  tianshu version [--json]
  tianshu plugins list [--plugins-dir DIR] [--scripts-dir DIR] [--json]
  tianshu chain import FILE [--data DIR] [--db URL] [--json]
  tianshu chain list [--data DIR] [--db URL] [--json]
  tianshu chain export ID [--version N] [--data DIR] [--db URL]
  tianshu chain versions ID | rollback ID VERSION | dry-run FILE [--request FILE] [--tier T]  (--help: each)
  tianshu user add --name NAME [--role user|admin] [--tier TIER] [--password-stdin] [--invited-by CODE]
  tianshu user list | set-tier --user N --tier T | set-role --user N --role R | enable|disable --user N
  tianshu user topup --user N --amount 12.5 [--ref REF] [--note TEXT] | ledger --user N [--limit K]
  tianshu user invite-code --user N
  tianshu key create --user N --name K [--quota 10.0] [--expires 2027-01-01T00:00:00Z|30d]
                     [--allow-ip CIDR]... [--deny-ip CIDR]... [--models PATTERN]... [--rpm N] [--tpm N]
  tianshu key list [--user N] | revoke --id ID | revoke --user N --name K
  tianshu key set-limits --id ID [create's limits] [--no-quota] [--no-expiry] [--no-rpm] [--no-tpm]
                         [--any-ip] [--all-models]
  tianshu tier add --name T --ratio 0.8 [--description D] | list | set-ratio --name T --ratio R | remove --name T
                 | route-header --name T --show on|off
  tianshu price set --model M|PATTERN [--input 2.0] [--output 8.0] [--cache-read 0.5] [--cache-write 2.5]
                    [--reasoning 8.0] [--per-call 0.01]   (per 1M tokens, in units)
  tianshu price list | remove --model M
  tianshu redeem generate --count N --amount 5.0 [--batch NAME] [--out FILE] | use --user N --code C
  tianshu redeem list [--batch NAME]
  tianshu invite set-rebate --percent 5 | show | list [--limit N]
  (account and billing commands take --data DIR or --db URL, and --json)
  tianshu channel add --name NAME (--provider PRESET | --type PLUGIN --models a,b) [--map 'PATTERN=MODEL']...
                [--base-url URL] [--key KEY]... [--key-stdin] [--key-file PATH] [--priority N] [--weight N]
                [--proxy URL] [--timeout-ms N] [--tag T]... [--config JSON] [--data DIR] [--json]
  tianshu channel list [--data DIR] [--json]
  tianshu channel presets [--plugins-dir DIR] [--json]
  tianshu channel edit --name NAME [--rename NEW] [any add flag] [--add-key KEY]... [--remove-key ID]...
  tianshu channel enable|disable|remove --name NAME [--data DIR] [--json]
  tianshu channel test [--name NAME]... [--plugins-dir DIR] [--data DIR] [--json]
  tianshu channel models --name NAME [--sync] [--data DIR] [--json]
  tianshu channel balance [--name NAME]... [--data DIR] [--json]
  tianshu health-check [--plugins-dir DIR] [--data DIR] [--json]
  (channel and health-check take --secret-key-file PATH, as serve does)
  tianshu logs [--user N] [--key-id ID] [--channel C] [--model M] [--status CODE] [--route SCENARIO] [--since TIME]
               [--until TIME] [--limit N] [--before-id ID] [--csv FILE|-] [--data DIR] [--json]
  tianshu logs prune --older-than TIME [--data DIR] [--json]
  tianshu stats [--since TIME] [--until TIME] [--by model|upstream-model|channel] [--bucket minute|hour|day]
  tianshu status [--url http://HOST:PORT] [--data DIR] [--json]
  tianshu alerts list [--state open|resolved|all] [--limit N] | resolve ID  [--data DIR] [--json]

--data DIR selects the store (default ./data, SQLite in DIR/tianshu.db); --db URL overrides it
(sqlite:///path/file.db or mysql://user:password@host:port/database).
The key sealing upstream keys is --secret-key-file PATH, else $TIANSHU_SECRET_KEY (44 base64
characters), else $TIANSHU_SECRET_KEY_FILE, else DIR/secret.key; gateways sharing a database share it.
TIME is ISO-8601 UTC (2026-11-22T10:00:00Z), a date (2026-11-22) or an age (30m, 12h, 7d).
)";

// ---- version -------------------------------------------------------------------------

int cmd_version(const std::vector<std::string>& args) {
    auto a = parse_args(args, {"tianshu version [--json]", {}, {"--json"}, 0, 0});
    if (!a) return input_error(a.error());
    std::string abi = std::to_string(TS_ABI_MAJOR) + "." + std::to_string(TS_ABI_MINOR);
    if (a->flag("--json"))
        std::cout << Json{{"version", TIANSHU_VERSION},
                          {"plugin_abi", abi},
                          {"schema_version", store::known_schema_version()}}
                         .dump()
                  << "\n";
    else
        std::cout << "tianshu " << TIANSHU_VERSION << " (plugin ABI " << abi << ", store schema "
                  << store::known_schema_version() << ")\n";
    return kOk;
}

// ---- plugins list ----------------------------------------------------------------------

int cmd_plugins(const std::vector<std::string>& args) {
    CommandSpec spec{"tianshu plugins list [--plugins-dir DIR] [--scripts-dir DIR] [--json]",
                     {"--plugins-dir", "--scripts-dir"},
                     {"--json"},
                     1,
                     1};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    if (a->positional[0] != "list")
        return input_error(Error::invalid("unknown plugins command '" + a->positional[0] +
                                          "'\nusage: " + spec.usage));
    plugin::PluginCatalog catalog;
    auto problems = load_catalog(catalog, plugin_sources(a.value()));
    auto infos = catalog.list();
    if (a->flag("--json")) {
        Json out = Json::array();
        for (const auto& i : infos)
            out.push_back({{"name", i.name},
                           {"version", i.version},
                           {"kind", plugin::to_string(i.kind)},
                           {"abi", i.abi_version},
                           {"path", i.path},
                           {"description", i.description}});
        Json errors = Json::array();
        for (const auto& p : problems) errors.push_back(p.message);
        std::cout << Json{{"plugins", out}, {"problems", errors}}.dump(2) << "\n";
    } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& i : infos)
            rows.push_back(
                {i.name, i.version, std::string(plugin::to_string(i.kind)), i.abi_version, i.path});
        print_table({"NAME", "VERSION", "KIND", "ABI", "PATH"}, rows);
        std::cout << infos.size() << " plugin" << (infos.size() == 1 ? "" : "s") << " loaded\n";
        for (const auto& p : problems) std::cerr << "problem: " << p.message << "\n";
    }
    return problems.empty() ? kOk : kFailed;
}

// ---- serve -------------------------------------------------------------------------------

void raise_open_file_limit() {
    rlimit lim{};
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
}

void print_banner(const std::string& base, const std::optional<FirstStartSecrets>& secrets,
                  bool panel) {
    std::cout << "Tianshu " << TIANSHU_VERSION << " is serving on " << base << "\n";
    std::cout << "Admin panel: " << base << "/admin"
              << (panel ? "" : "  (not built: run `bash tools/build-panel.sh`)") << "\n";
    if (secrets) {
        std::string key = secrets->demo_key;
        std::cout << "\nFirst start: this store was just created. These secrets are shown ONCE and "
                     "stored only as hashes:\n";
        if (!secrets->admin_password.empty())
            std::cout << "  admin login:   " << secrets->admin_name << " / "
                      << secrets->admin_password << "   (panel: " << base << "/admin)\n";
        std::cout << "  demo API key:  " << key << "\n\n"
                  << "Try it (Anthropic Messages):\n"
                  << "  curl " << base << "/v1/messages -H 'x-api-key: " << key
                  << "' -H 'content-type: application/json' \\\n"
                  << "    -d "
                     "'{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":256,\"messages\":[{\"role\":"
                     "\"user\",\"content\":\"Hello!\"}]}'\n"
                  << "Try it (OpenAI Chat Completions):\n"
                  << "  curl " << base << "/v1/chat/completions -H 'Authorization: Bearer " << key
                  << "' -H 'content-type: application/json' \\\n"
                  << "    -d "
                     "'{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello!"
                     "\"}]}'\n";
    }
    std::cout << std::flush;
}

//! The built-in capability table, with the file of --capabilities (if given) laid over it.
core::Result<std::shared_ptr<const pipeline::CapabilityTable>> capability_table(
    const std::optional<std::string>& file) {
    auto table = std::make_shared<pipeline::CapabilityTable>(pipeline::CapabilityTable::builtin());
    if (!file) return std::shared_ptr<const pipeline::CapabilityTable>(std::move(table));
    std::ifstream in(*file, std::ios::binary);
    if (!in)
        return Error::invalid("--capabilities '" + *file +
                              "' cannot be read: check the path (a JSON capability table, see "
                              "docs/capabilities.md)");
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = pipeline::CapabilityTable::parse(text.str(), "--capabilities " + *file);
    if (!parsed) return parsed.take_error();
    table->merge(parsed.value());
    return std::shared_ptr<const pipeline::CapabilityTable>(std::move(table));
}

int cmd_serve(const std::vector<std::string>& args) {
    CommandSpec spec{
        "tianshu serve [--data DIR] [--listen HOST:PORT] [--db URL] [--plugins-dir DIR] "
        "[--scripts-dir DIR] "
        "[--chains-dir DIR] [--log-level LEVEL] [--max-threads N] [--drain-seconds N] "
        "[--stream-ping-ms N] [--redis URL] [--metering on|off] [--log-retention-days N] "
        "[--journal-priority idle|normal] "
        "[--header-timeout-seconds N] [--trusted-proxy CIDR]... "
        "[--slow-work-threads N] [--slow-work-queue N] [--login-failures-per-address N] "
        "[--login-failures-per-account N] [--login-window-seconds N] "
        "[--secret-key-file PATH] [--journal-adopt-seconds N] [--session-ttl-seconds N] "
        "[--session-max-bytes N] [--user-session-max-bytes N] [--capabilities FILE] "
        "[--panel-dir DIR]",
        {"--data",
         "--listen",
         "--db",
         "--plugins-dir",
         "--scripts-dir",
         "--chains-dir",
         "--log-level",
         "--max-threads",
         "--drain-seconds",
         "--stream-ping-ms",
         "--redis",
         "--metering",
         "--log-retention-days",
         "--journal-priority",
         "--header-timeout-seconds",
         "--trusted-proxy",
         "--slow-work-threads",
         "--slow-work-queue",
         "--login-failures-per-address",
         "--login-failures-per-account",
         "--login-window-seconds",
         kSecretKeyFileOption,
         "--journal-adopt-seconds",
         "--session-ttl-seconds",
         "--session-max-bytes",
         "--user-session-max-bytes",
         "--capabilities",
         "--panel-dir"},
        {},
        0,
        0};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    // Every flag is checked before anything is opened: a bad value changes nothing.
    auto settings = serve_settings(a.value());
    if (!settings) return input_error(settings.error());
    if (settings->log_level) core::set_log_level(*settings->log_level);
    server::ServerOptions options = settings->server;
    // The admin panel's built files, read once into memory (no Node at run time). A missing
    // build is not fatal: the model API and /admin/api serve, /admin says what to run.
    const char* panel_env = std::getenv("TIANSHU_PANEL_DIR");
    const std::string panel_dir = a->option_or(
        "--panel-dir", panel_env && *panel_env ? panel_env : TIANSHU_DEFAULT_PANEL_DIR);
    if (auto panel = server::PanelAssets::load(panel_dir); panel) {
        options.panel = std::move(panel).value();
    } else {
        options.panel_problem = panel.error().message;
        core::log(core::LogLevel::warn, "admin panel not served",
                  {{"error", panel.error().message}});
    }
    const int drain_seconds = settings->drain_seconds;
    auto capabilities = capability_table(a->option("--capabilities"));
    if (!capabilities) return input_error(capabilities.error());

    // Signals are taken by sigwait on this thread only; block them before any thread starts.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    std::signal(SIGPIPE, SIG_IGN);
    raise_open_file_limit();

    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    plugin::PluginCatalog catalog;
    for (const auto& p : load_catalog(catalog, plugin_sources(a.value())))
        core::log(core::LogLevel::error, "plugin not loaded", {{"error", p.message}});
    std::vector<core::Error> preset_problems;
    auto presets = load_presets(plugin_sources(a.value()), preset_problems);
    for (const auto& p : preset_problems)
        core::log(core::LogLevel::error, "provider preset not loaded", {{"error", p.message}});
    // The key check comes before the first-start setup: a gateway that stops here must not
    // have made (and never shown) the store's first secrets.
    auto secrets = open_secret_key(a.value());
    if (!secrets) return fail(secrets.error());
    RuntimeLoader loader(*db.value(), catalog, a->option_or("--chains-dir", ""), &secrets.value());
    loader.use_capabilities(capabilities.value());
    loader.use_presets(presets);
    if (auto problems = loader.unopenable_channel_keys(); !problems.empty()) {
        for (size_t i = 0; i + 1 < problems.size(); ++i) (void)fail(problems[i]);
        return fail(problems.back());
    }
    auto first_start = bootstrap_if_new(*db.value());
    if (!first_start) return fail(first_start.error());
    pipeline::RuntimeConfigHolder holder;
    auto first = loader.load();
    if (!first) return fail(first.error());
    holder.replace(first.value());

    // Metering: key limits, quota and the request log. Balances live in memory (one gateway)
    // or in Redis (several gateways sharing one quota).
    std::shared_ptr<hub::QuotaBook> book;
    if (auto redis = a->option("--redis")) {
        hub::RedisQuotaConfig rc;
        rc.url = *redis;
        auto opened = hub::RedisQuotaBook::open(rc);
        if (!opened) return fail(opened.error());
        book = std::move(opened).value();
    } else {
        book = std::make_shared<hub::MemoryQuotaBook>();
    }
    // Session state for strategies: in this gateway's memory, or in the same Redis (so
    // gateways behind one balancer share each session). Its own pool with short timeouts: a
    // strategy's call waits on it inside a request.
    std::unique_ptr<core::SessionStore> sessions;
    if (auto redis = a->option("--redis")) {
        hub::RedisPoolConfig pc;
        pc.url = *redis;
        pc.role = "session store";
        pc.connect_timeout = std::chrono::milliseconds(500);
        pc.command_timeout = std::chrono::milliseconds(500);
        auto pool = hub::RedisPool::open(pc);
        if (!pool) return fail(pool.error());
        sessions =
            std::make_unique<hub::RedisSessionStore>(settings->sessions, std::move(pool).value());
    } else {
        sessions = std::make_unique<hub::MemorySessionStore>(settings->sessions);
    }
    std::unique_ptr<hub::UsageJournal> journal;
    std::unique_ptr<hub::Billing> billing;
    server::GatewayServices services;
    services.sessions = sessions.get();
    if (settings->metering) {
        // Gateways sharing --data share this folder; each writes in its own subdirectory.
        auto opened = hub::UsageJournal::open(
            *db.value(), std::filesystem::path(a->option_or("--data", "data")) / "usage-journal",
            std::chrono::milliseconds(200), std::chrono::hours(24 * settings->log_retention_days),
            hub::UsageJournal::kSegmentBytes,
            std::chrono::seconds(settings->journal_adopt_seconds));
        if (!opened) return fail(opened.error());
        journal = std::move(opened).value();
        journal->set_background_priority(settings->journal_priority);
        billing = std::make_unique<hub::Billing>(*db.value(), book);
        billing->sync_key_limits(first.value()->payers, first.value()->revision);
        services.billing = billing.get();
        services.usage = journal.get();
    }

    // Password hashing runs on its own low-priority threads, never on the carriers.
    core::SlowWorkPool slow_work_pool(settings->slow_work);
    hub::PasswordHasher passwords(slow_work_pool);
    hub::LoginThrottle logins(settings->logins);
    server::Metrics metrics;
    {
        // What /metrics reads when scraped (never on the request path).
        server::MetricsSources sources;
        sources.channels = [&loader] { return loader.channel_states(); };
        if (journal) sources.journal_backlog = [j = journal.get()] { return j->counters().queued; };
        sources.version = TIANSHU_VERSION;
        sources.commit = TIANSHU_GIT_COMMIT;
        metrics.set_sources(std::move(sources));
    }
    server::AdminApiOptions admin_options;
    admin_options.in_flight = [&metrics] { return static_cast<long long>(metrics.in_flight()); };
    admin_options.plugins = loader.lookup();
    admin_options.presets = presets;
    admin_options.plugin_infos = [&catalog] { return catalog.list(); };
    admin_options.passwords = &passwords;
    admin_options.logins = &logins;
    // The playground runs in the server's own gateway, which exists once the server started.
    server::HttpServer* served = nullptr;
    admin_options.playground = [&served](const server::PlaygroundCall& call,
                                         server::ResponseWriter& out) {
        const server::Gateway* gateway = served ? served->gateway() : nullptr;
        if (gateway) return gateway->playground(call, out);
        server::PlaygroundTrace none;
        none.status = 503;
        none.failure = core::Error{
            core::ErrorKind::unavailable, "the gateway is still starting: retry in a moment", {}};
        return none;
    };
    // Changes bump the config revision; the watcher picks them up within its 500 ms poll.
    server::AdminApi admin(
        *db.value(), &secrets.value(), [] {}, admin_options);
    services.admin = &admin;

    server::HttpServer http(options, holder, metrics, services);
    served = &http;
    if (auto started = http.start(); !started) return fail(started.error());
    std::string host = options.listen.substr(0, options.listen.rfind(':'));
    print_banner("http://" + host + ":" + std::to_string(http.port()), first_start.value(),
                 options.panel != nullptr);
    core::log(core::LogLevel::info, "serving",
              {{"listen", host + ":" + std::to_string(http.port())},
               {"store", db.value()->redacted_url()},
               {"plugins", catalog.size()},
               {"chains", first.value()->chains->chains().size()}});

    int cut = 0;
    {
        ConfigWatcher watcher(loader, *db.value(), holder, std::chrono::milliseconds(500),
                              [&](const pipeline::RuntimeConfig& next) {
                                  if (billing) billing->sync_key_limits(next.payers, next.revision);
                              });
        int sig = 0;
        sigwait(&signals, &sig);
        core::log(core::LogLevel::info, "shutting down: finishing in-flight requests",
                  {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"},
                   {"in_flight", metrics.in_flight()},
                   {"drain_seconds", drain_seconds}});
        cut = static_cast<int>(http.shutdown(drain_seconds));
    }
    billing.reset();
    journal.reset();  // writes what is still queued to the database
    core::log(cut ? core::LogLevel::warn : core::LogLevel::info, "stopped",
              {{"requests_cut_off", cut}});
    return kOk;
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
    if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
        std::cout << kHelp;
        return args.empty() ? kBadInput : kOk;
    }
    std::vector<std::string> rest(args.begin() + 1, args.end());
    const std::string& command = args[0];
    try {
        if (command == "serve") return cmd_serve(rest);
        if (command == "version" || command == "--version") return cmd_version(rest);
        if (command == "plugins") return cmd_plugins(rest);
        if (command == "chain") return cmd_chain(rest);
        if (command == "user") return cmd_user(rest);
        if (command == "key") return cmd_key(rest);
        if (command == "tier" || command == "price" || command == "redeem" || command == "invite")
            return run_billing_command(command, rest);
        if (command == "channel") return cmd_channel(rest);
        if (command == "health-check") return cmd_health_check(rest);
        if (command == "logs") return cmd_logs(rest);
        if (command == "stats") return cmd_stats(rest);
        if (command == "status") return cmd_status(rest);
        if (command == "alerts") return cmd_alerts(rest);
    } catch (const std::exception& e) {
        std::cerr << "error: " << e.what() << "\n";
        return kFailed;
    }
    std::cerr << "error: unknown command '" << command << "'\n" << kHelp;
    return kBadInput;
}

}  // namespace tianshu::app
