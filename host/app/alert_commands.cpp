// `tianshu alerts list` and `tianshu alerts resolve ID`: the alert outbox from the store
// (service/alerts.hpp), as the admin API's GET /alerts and POST /alerts/{id}/resolve show it.
#include <climits>
#include <iostream>

#include "app/cli_args.hpp"
#include "app/cli_table.hpp"
#include "app/command_support.hpp"
#include "service/alerts.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;

namespace {

const char* kAlertsUsage =
    "tianshu alerts list [--state open|resolved|all (default open)] [--limit N (default 100)]\n"
    "       tianshu alerts resolve ID\n"
    "       (each also takes [--data DIR | --db URL] [--json])";

int alerts_list(const std::vector<std::string>& args) {
    auto a =
        parse_args(args, {kAlertsUsage, store_options({"--state", "--limit"}), {"--json"}, 1, 1});
    if (!a) return input_error(a.error());
    const std::string state = a->option_or("--state", "open");
    int limit = 100;
    if (auto l = a->option("--limit")) {
        auto v = parse_count("--limit", *l, 1, 1000);
        if (!v) return input_error(v.error());
        limit = static_cast<int>(v.value());
    }
    if (state != "open" && state != "resolved" && state != "all")
        return input_error(Error::invalid("--state '" + state + "' must be open, resolved or all"));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto listed = service::alerts::list(service_env(*db.value()), state, limit);
    if (!listed) return fail(listed.error());
    if (a->flag("--json")) {
        Json rows = Json::array();
        for (const auto& alert : listed.value()) rows.push_back(service::alerts::alert_json(alert));
        print_json(rows);
        return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : listed.value())
        rows.push_back({std::to_string(x.id), x.state, x.severity, x.kind, x.subject,
                        std::to_string(x.count), format_time(x.last_seen_at), x.message});
    print_table({"ID", "STATE", "SEVERITY", "KIND", "SUBJECT", "COUNT", "LAST_SEEN", "MESSAGE"},
                rows);
    std::cout << rows.size() << " alert" << (rows.size() == 1 ? "" : "s") << "\n";
    return kOk;
}

int alerts_resolve(const std::vector<std::string>& args) {
    auto a = parse_args(args, {kAlertsUsage, store_options({}), {"--json"}, 2, 2});
    if (!a) return input_error(a.error());
    auto id = parse_count("ID", a->positional[1], 1, LLONG_MAX);
    if (!id) return input_error(id.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto resolved = service::alerts::resolve(service_env(*db.value()), id.value());
    if (!resolved) return fail(resolved.error());
    if (a->flag("--json")) {
        print_json(service::alerts::alert_json(resolved.value()));
        return kOk;
    }
    std::cout << "alert " << resolved->id << " (" << resolved->kind << ", " << resolved->subject
              << ") is " << resolved->state << "\n";
    return kOk;
}

}  // namespace

int cmd_alerts(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, {"--json"});
    if (sub == "list" && find_subcommand("alerts", sub)) return alerts_list(args);
    if (sub == "resolve" && find_subcommand("alerts", sub)) return alerts_resolve(args);
    for (const auto& a : args)
        if (is_help_flag(a)) return input_error(help_request(kAlertsUsage));
    return input_error(
        Error::invalid("unknown alerts command '" + sub + "'\nusage: " + kAlertsUsage));
}

}  // namespace tianshu::app
