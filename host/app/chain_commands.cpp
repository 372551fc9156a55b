// `tianshu chain import | list | export | versions | rollback | dry-run`: the operator's side of
// service/chains, the same operations the admin API's /chains routes call.
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <sstream>

#include "app/cli_args.hpp"
#include "app/command_support.hpp"
#include "app/runtime_loader.hpp"
#include "core/log.hpp"
#include "service/chains.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;
namespace chains = service::chains;

namespace {

const char* kChainUsage =
    R"(usage: (all chain commands)
  tianshu chain import FILE [--data DIR] [--db URL] [--plugins-dir DIR] [--scripts-dir DIR] [--json]
  tianshu chain list [--data DIR] [--db URL] [--json]
  tianshu chain export ID [--version N] [--data DIR] [--db URL]
  tianshu chain versions ID [--data DIR] [--db URL] [--json]
  tianshu chain rollback ID VERSION [--data DIR] [--db URL] [--plugins-dir DIR] [--scripts-dir DIR] [--json]
  tianshu chain dry-run FILE [--request FILE] [--tier T] [--plugins-dir DIR] [--scripts-dir DIR] [--json]

import    validates FILE against the loaded plugins and saves it as its id's next version
list      the newest version of every chain
export    a chain's JSON (the newest version, or --version N)
versions  every saved version of a chain, oldest first
rollback  saves version VERSION again as the newest version (running gateways use it within 2 s)
dry-run   runs FILE's pre stages over a request (--request FILE, an Anthropic Messages body; a
          one-message sample by default), then its post stages over a canned answer, and shows
          what each stage changed and how long it took; no upstream is called
)";

core::Result<std::string> read_text(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Error::invalid("cannot read '" + path + "': " + std::strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string join(const Json& array) {
    std::string out;
    for (const auto& v : array) {
        if (!out.empty()) out += ",";
        out += v.is_string() ? v.get<std::string>() : v.dump();
    }
    return out;
}

//! Parses `rest` against `spec`; on --help prints the chain usage and sets `code` to kOk.
std::optional<ParsedArgs> parse_or_help(const std::vector<std::string>& rest,
                                        const CommandSpec& spec, int& code) {
    for (const auto& arg : rest)
        if (arg == "--help" || arg == "-h") {
            std::cout << "usage: " << spec.usage << "\n\n" << kChainUsage;
            code = kOk;
            return std::nullopt;
        }
    auto a = parse_args(rest, spec);
    if (!a) {
        code = input_error(a.error());
        return std::nullopt;
    }
    return std::move(a).value();
}

//! The loaded catalog's lookup; problems are logged, the good plugins load.
pipeline::PluginLookup load_plugins(plugin::PluginCatalog& catalog, const ParsedArgs& a) {
    for (const auto& p : load_catalog(catalog, plugin_sources(a)))
        core::log(core::LogLevel::warn, "plugin not loaded", {{"error", p.message}});
    return [&catalog](const std::string& n) { return catalog.find(n); };
}

int chain_import(const std::vector<std::string>& rest) {
    int code = kOk;
    auto a = parse_or_help(rest,
                           {"tianshu chain import FILE [--data DIR] [--json]",
                            {"--data", "--db", "--plugins-dir", "--scripts-dir"},
                            {"--json"},
                            1,
                            1},
                           code);
    if (!a) return code;
    auto text = read_text(a->positional[0]);
    if (!text) return input_error(text.error());
    plugin::PluginCatalog catalog;
    auto plugins = load_plugins(catalog, *a);
    // Validate before opening the store: an invalid file changes nothing, not even a new store.
    auto spec = pipeline::parse_chain_text(text.value(), plugins);
    if (!spec) {
        std::cerr << "error: " << a->positional[0] << ": " << spec.error().message
                  << "\nnothing was imported\n";
        return kBadInput;
    }
    auto db = open_store(*a);
    if (!db) return fail(db.error());
    auto saved = chains::save(service_env(*db.value(), nullptr, plugins), spec->body);
    if (!saved) return fail(saved.error(), kBadInput);
    if (a->flag("--json"))
        std::cout << Json{{"id", saved->id}, {"version", saved->version}}.dump() << "\n";
    else
        std::cout << "imported chain '" << saved->id << "' as version " << saved->version << "\n";
    return kOk;
}

int chain_list(const std::vector<std::string>& rest) {
    int code = kOk;
    auto a = parse_or_help(
        rest, {"tianshu chain list [--data DIR] [--json]", {"--data", "--db"}, {"--json"}, 0, 0},
        code);
    if (!a) return code;
    auto db = open_store(*a);
    if (!db) return fail(db.error());
    auto all = chains::list(service_env(*db.value()));
    if (!all) return fail(all.error());
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : all.value()) {
        Json body = Json::parse(c.body, nullptr, false);
        if (body.is_discarded()) body = Json::object();
        std::string mode = body.contains("routing") ? body["routing"].value("mode", "") : "";
        out.push_back({{"id", c.chain_id},
                       {"version", c.version},
                       {"created_at", c.created_at},
                       {"tiers", body.value("tiers", Json::array())},
                       {"models", body.value("models", Json::array())},
                       {"routing", mode}});
        rows.push_back({c.chain_id, std::to_string(c.version),
                        join(body.value("tiers", Json::array())),
                        join(body.value("models", Json::array())), mode});
    }
    if (a->flag("--json")) {
        std::cout << out.dump(2) << "\n";
    } else {
        print_table({"ID", "VERSION", "TIERS", "MODELS", "ROUTING"}, rows);
        std::cout << rows.size() << " chain" << (rows.size() == 1 ? "" : "s") << "\n";
    }
    return kOk;
}

//! A positive version number, or an error naming the argument.
core::Result<int> version_number(const std::string& text, const std::string& what) {
    try {
        size_t used = 0;
        int v = std::stoi(text, &used);
        if (used == text.size() && v >= 1) return v;
    } catch (const std::exception&) {
    }
    return Error::invalid(what + " '" + text +
                          "' is not a version number: use 1, 2, ... as `tianshu chain versions "
                          "ID` lists them");
}

int chain_export(const std::vector<std::string>& rest) {
    int code = kOk;
    auto a = parse_or_help(rest,
                           {"tianshu chain export ID [--version N] [--data DIR]",
                            {"--data", "--db", "--version"},
                            {"--json"},
                            1,
                            1},
                           code);
    if (!a) return code;
    std::optional<int> version;
    if (auto v = a->option("--version")) {
        auto n = version_number(*v, "--version");
        if (!n) return input_error(n.error());
        version = n.value();
    }
    auto db = open_store(*a);
    if (!db) return fail(db.error());
    auto found = chains::get(service_env(*db.value()), a->positional[0], version);
    if (!found)
        return found.error().kind == core::ErrorKind::not_found ? input_error(found.error())
                                                                : fail(found.error());
    std::cout << found->body;
    if (found->body.empty() || found->body.back() != '\n') std::cout << "\n";
    return kOk;
}

int chain_versions(const std::vector<std::string>& rest) {
    int code = kOk;
    auto a = parse_or_help(
        rest,
        {"tianshu chain versions ID [--data DIR] [--json]", {"--data", "--db"}, {"--json"}, 1, 1},
        code);
    if (!a) return code;
    auto db = open_store(*a);
    if (!db) return fail(db.error());
    auto all = chains::versions(service_env(*db.value()), a->positional[0]);
    if (!all)
        return all.error().kind == core::ErrorKind::not_found ? input_error(all.error())
                                                              : fail(all.error());
    if (a->flag("--json")) {
        Json out = Json::array();
        for (const auto& c : all.value())
            out.push_back({{"version", c.version}, {"created_at", c.created_at}});
        print_json(Json{{"id", a->positional[0]}, {"versions", out}});
        return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : all.value())
        rows.push_back({std::to_string(c.version), format_time(c.created_at)});
    print_table({"VERSION", "CREATED"}, rows);
    std::cout << rows.size() << " version" << (rows.size() == 1 ? "" : "s") << "\n";
    return kOk;
}

int chain_rollback(const std::vector<std::string>& rest) {
    int code = kOk;
    auto a = parse_or_help(rest,
                           {"tianshu chain rollback ID VERSION [--data DIR] [--json]",
                            {"--data", "--db", "--plugins-dir", "--scripts-dir"},
                            {"--json"},
                            2,
                            2},
                           code);
    if (!a) return code;
    auto version = version_number(a->positional[1], "VERSION");
    if (!version) return input_error(version.error());
    plugin::PluginCatalog catalog;
    auto plugins = load_plugins(catalog, *a);
    auto db = open_store(*a);
    if (!db) return fail(db.error());
    auto saved =
        chains::rollback(service_env(*db.value(), nullptr, plugins), a->positional[0], *version);
    if (!saved) {
        auto kind = saved.error().kind;
        return kind == core::ErrorKind::not_found || kind == core::ErrorKind::invalid_request
                   ? input_error(saved.error())
                   : fail(saved.error());
    }
    if (a->flag("--json"))
        std::cout << Json{{"id", saved->id},
                          {"version", saved->version},
                          {"restored_from", version.value()}}
                         .dump()
                  << "\n";
    else
        std::cout << "chain '" << saved->id << "' version " << version.value()
                  << " saved again as version " << saved->version << "\n";
    return kOk;
}

//! What `chain dry-run` runs when no --request is given.
Json sample_request(const Json& chain) {
    std::string model = "claude-sonnet-4";
    if (chain.contains("models") && chain["models"].is_array() && !chain["models"].empty() &&
        chain["models"][0].is_string()) {
        std::string pattern = chain["models"][0].get<std::string>();
        if (pattern.find('*') == std::string::npos) model = pattern;
    }
    return Json{{"model", model},
                {"max_tokens", 256},
                {"messages", Json::array({{{"role", "user"}, {"content", "Hello!"}}})}};
}

int chain_dry_run(const std::vector<std::string>& rest) {
    int code = kOk;
    auto a = parse_or_help(rest,
                           {"tianshu chain dry-run FILE [--request FILE] [--tier T] [--json]",
                            {"--request", "--tier", "--plugins-dir", "--scripts-dir"},
                            {"--json"},
                            1,
                            1},
                           code);
    if (!a) return code;
    auto text = read_text(a->positional[0]);
    if (!text) return input_error(text.error());
    Json chain = Json::parse(text.value(), nullptr, false);
    if (chain.is_discarded())
        return input_error(Error::invalid(a->positional[0] + ": not valid JSON"));
    Json request = sample_request(chain);
    if (auto path = a->option("--request")) {
        auto body = read_text(*path);
        if (!body) return input_error(body.error());
        request = Json::parse(body.value(), nullptr, false);
        if (request.is_discarded())
            return input_error(Error::invalid(*path + ": --request is not valid JSON"));
    }
    plugin::PluginCatalog catalog;
    auto plugins = load_plugins(catalog, *a);
    auto report = chains::dry_run(plugins, chain, request, a->option("--tier"));
    if (!report) return input_error(report.error());
    if (a->flag("--json")) {
        print_json(chains::to_json(report.value()));
        return kOk;
    }
    for (const auto& s : report->stages) {
        std::cout << s.where << " " << s.name << ": " << s.outcome;
        if (s.outcome != "skipped")
            std::cout << (s.changed ? ", changed" : ", no change") << " (" << s.elapsed_us
                      << " us)";
        std::cout << "\n";
        if (s.error) std::cout << "    error: " << *s.error << "\n";
        for (const auto& m : s.side_calls)
            std::cout << "    call_model('" << m << "') refused: no upstream in a dry run\n";
        for (const auto& n : s.notes) std::cout << "    note " << n << "\n";
        for (const auto& d : s.diff) {
            std::cout << "    " << d.op << " " << (d.path.empty() ? "/" : d.path);
            if (d.before) std::cout << "  before: " << d.before->dump();
            if (d.after) std::cout << "  after: " << d.after->dump();
            std::cout << "\n";
        }
    }
    std::cout << "final request: " << report->final_request.dump() << "\n";
    bool failed = false;
    for (const auto& s : report->stages) failed = failed || s.outcome == "failed";
    return failed ? kFailed : kOk;
}

}  // namespace

int cmd_chain(const std::vector<std::string>& args) {
    const std::string sub = args.empty() ? "" : args[0];
    std::vector<std::string> rest(args.begin() + (args.empty() ? 0 : 1), args.end());
    if (sub == "import") return chain_import(rest);
    if (sub == "list") return chain_list(rest);
    if (sub == "export") return chain_export(rest);
    if (sub == "versions") return chain_versions(rest);
    if (sub == "rollback") return chain_rollback(rest);
    if (sub == "dry-run") return chain_dry_run(rest);
    if (sub == "--help" || sub == "-h" || sub == "help") {
        std::cout << kChainUsage;
        return kOk;
    }
    std::cerr << "error: "
              << (sub.empty() ? "a chain command is needed" : "unknown chain command '" + sub + "'")
              << "\n"
              << kChainUsage;
    return kBadInput;
}

}  // namespace tianshu::app
