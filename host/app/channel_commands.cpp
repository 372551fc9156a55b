// `tianshu channel add|list|edit|enable|disable|remove|test|presets` and `tianshu health-check`:
// the operator's hands on upstream channels and their keys. Upstream keys are sealed with
// hub::SecretBox bound to the channel's name, so a rename re-seals them, and a probe opens
// them only in memory, for the one call it makes.
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <sys/stat.h>

#include "app/cli_args.hpp"
#include "app/cli_table.hpp"
#include "app/command_support.hpp"
#include "app/runtime_loader.hpp"
#include "hub/secret_box.hpp"
#include "service/channel_probe.hpp"
#include "service/channel_upstream.hpp"
#include "service/channels.hpp"
#include "store/channels.hpp"
#include "upstream/channel_router.hpp"
#include "upstream/wire_upstream.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;

namespace {

const char* kChannelUsage =
    "tianshu channel add --name NAME (--provider PRESET | --type PLUGIN --models a,b) "
    "[--map 'PATTERN=MODEL']... [--base-url URL] [--key UPSTREAM_KEY]... [--key-stdin] "
    "[--key-file PATH] [--priority N] [--weight N] [--proxy URL] [--timeout-ms N] [--tag TAG]... "
    "[--config JSON] [--data DIR] [--secret-key-file PATH] [--json]\n"
    "       tianshu channel list [--data DIR] [--json]\n"
    "       tianshu channel presets [--plugins-dir DIR] [--json]\n"
    "       tianshu channel edit --name NAME [--rename NEW] [any add flag but --provider; --key, "
    "--key-stdin and --key-file replace every key] [--add-key KEY]... [--remove-key ID]... "
    "[--data DIR] [--secret-key-file PATH] [--json]\n"
    "       tianshu channel enable|disable|remove --name NAME [--data DIR] [--json]\n"
    "       tianshu channel test [--name NAME]... [--data DIR] [--plugins-dir DIR] "
    "[--secret-key-file PATH] [--json]\n"
    "       tianshu channel models --name NAME [--sync] [--data DIR] [--plugins-dir DIR] "
    "[--secret-key-file PATH] [--json]\n"
    "       tianshu channel balance [--name NAME]... [--data DIR] [--plugins-dir DIR] "
    "[--secret-key-file PATH] [--json]\n"
    "--key-stdin and --key-file read upstream keys, one per line (blank lines and lines "
    "starting with '#' are skipped), so that no shell history or process list shows them";

//! A whole number from a flag; the error names the flag, the value and the accepted range.
core::Result<int> parse_int_flag(const std::string& flag, const std::string& text, long long min,
                                 long long max, const std::string& meaning) {
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno == ERANGE || v < min || v > max)
        return Error::invalid(flag + " '" + text + "' must be a whole number from " +
                              std::to_string(min) + " to " + std::to_string(max) + " (" + meaning +
                              ")");
    return static_cast<int>(v);
}

core::Result<long long> parse_key_id(const std::string& text) {
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || v <= 0)
        return Error::invalid("--remove-key '" + text +
                              "' must be a key id (a positive number): see `tianshu channel list "
                              "--json` for the ids of a channel's keys");
    return v;
}

std::string join(const Json& array) {
    std::string out;
    for (const auto& v : array) out += (out.empty() ? "" : ",") + v.get<std::string>();
    return out;
}

//! Upstream keys from a text: one per line, surrounding blanks and CR removed, blank lines and
//! '#' comments skipped.
std::vector<std::string> keys_of_text(const std::string& text) {
    std::vector<std::string> keys;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
        const auto first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        const auto last = line.find_last_not_of(" \t\r");
        keys.push_back(line.substr(first, last - first + 1));
    }
    return keys;
}

//! The upstream keys of --key, --key-stdin and --key-file, in that order. Reading stdin or the
//! file happens once, here; an empty source is an error naming the flag and the fix.
core::Result<std::vector<std::string>> keys_from_flags(const ParsedArgs& a) {
    std::vector<std::string> keys = a.all("--key");
    for (const auto& k : keys)
        if (k.empty()) return Error::invalid("--key '' is empty: pass the upstream's API key");
    if (a.flag("--key-stdin")) {
        std::ostringstream text;
        text << std::cin.rdbuf();
        auto read = keys_of_text(text.str());
        if (read.empty())
            return Error::invalid(
                "--key-stdin read no key: pipe the keys in, one per line, e.g. "
                "`tianshu channel add ... --key-stdin < keys.txt`");
        keys.insert(keys.end(), read.begin(), read.end());
    }
    if (auto file = a.option("--key-file")) {
        std::ifstream in(*file, std::ios::binary);
        if (file->empty() || !in)
            return Error::invalid("--key-file '" + *file +
                                  "' cannot be read: give the path of a file holding the keys, "
                                  "one per line");
        std::ostringstream text;
        text << in.rdbuf();
        auto read = keys_of_text(text.str());
        if (read.empty())
            return Error::invalid("--key-file '" + *file +
                                  "' holds no key: write the keys in it, one per line");
        struct stat st {};
        if (::stat(file->c_str(), &st) == 0 && (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
            std::cerr << "warning: --key-file '" << *file
                      << "' may be read by other users: `chmod 600 " << *file << "`\n";
        keys.insert(keys.end(), read.begin(), read.end());
    }
    return keys;
}

//! The channel fields `add` and `edit` share, read from their flags; unset flags stay unset.
core::Result<store::ChannelChanges> changes_from_flags(const ParsedArgs& a) {
    store::ChannelChanges ch;
    if (auto t = a.option("--type")) ch.type = *t == "openai" ? "openai_compat" : *t;
    if (auto u = a.option("--base-url")) ch.base_url = *u;
    if (auto m = a.option("--models")) {
        Json models = Json::array();
        for (const auto& name : split_list(*m)) models.push_back(name);
        ch.models = models;
    }
    if (!a.all("--map").empty()) {
        Json map = Json::object();
        for (const auto& m : a.all("--map")) {
            auto mapping = upstream::parse_model_mapping(m);
            if (!mapping) return Error::invalid("--map: " + mapping.error().message);
            map[mapping->first] = mapping->second;
        }
        ch.model_map = map;
    }
    if (auto cfg = a.option("--config")) {
        Json config = Json::parse(*cfg, nullptr, false);
        if (config.is_discarded() || !config.is_object())
            return Error::invalid("--config must be a JSON object, e.g. '{\"delay_ms\": 50}'");
        if (config.contains("api_key"))
            return Error::invalid(
                "--config must not hold \"api_key\": pass upstream keys with --key, so they are "
                "stored sealed");
        ch.config = config;
    }
    if (auto p = a.option("--priority")) {
        auto v = parse_int_flag("--priority", *p, -1'000'000, 1'000'000,
                                "higher priorities are tried first");
        if (!v) return v.take_error();
        ch.priority = v.value();
    }
    if (auto w = a.option("--weight")) {
        auto v = parse_int_flag("--weight", *w, 1, 1'000'000,
                                "the channel's share of traffic within its priority");
        if (!v) return v.take_error();
        ch.weight = v.value();
    }
    if (auto t = a.option("--timeout-ms")) {
        auto v = parse_int_flag("--timeout-ms", *t, 0, 3'600'000,
                                "0 keeps the adapter's default timeout");
        if (!v) return v.take_error();
        ch.timeout_ms = v.value();
    }
    if (auto p = a.option("--proxy")) {
        if (!p->empty() && p->rfind("http://", 0) != 0 && p->rfind("https://", 0) != 0)
            return Error::invalid("--proxy '" + *p +
                                  "' must be an http:// or https:// URL (or '' for no proxy)");
        ch.proxy = *p;
    }
    if (!a.all("--tag").empty()) {
        std::vector<std::string> tags;
        for (const auto& t : a.all("--tag"))
            if (!t.empty() && std::find(tags.begin(), tags.end(), t) == tags.end())
                tags.push_back(t);
        ch.tags = tags;  // `--tag ''` alone clears them
    }
    return ch;
}

bool has_any(const store::ChannelChanges& ch) {
    return ch.name || ch.type || ch.base_url || ch.models || ch.model_map || ch.config ||
           ch.enabled || ch.priority || ch.weight || ch.proxy || ch.timeout_ms || ch.tags;
}

core::Result<hub::SecretBox> open_secrets(const ParsedArgs& a) {
    return open_secret_key(a);
}

//! Prints "N/M <what> tested" on stderr as each probe finishes.
std::function<void(size_t, size_t)> progress_to_stderr(const std::string& what) {
    return [what](size_t done, size_t total) {
        std::cerr << done << "/" << total << " " << what << " tested" << std::endl;
    };
}

//! Opens a channel key for a probe; the error names the channel and the secret file.
core::Result<std::string> unseal(const hub::SecretBox& box, const store::Channel& c,
                                 const std::string& sealed) {
    if (!hub::SecretBox::is_sealed(sealed)) return sealed;  // a legacy plaintext key
    return box.open(sealed, c.name);
}

//! The table and JSON of probe results; returns the exit code (1 when any failed).
int report_probes(const std::vector<service::channels::ProbeResult>& results, bool json,
                  const std::function<void(size_t, Json&)>& extra_json = {}) {
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    size_t failed = 0;
    for (size_t i = 0; i < results.size(); ++i) {
        const auto& r = results[i];
        const auto& p = r;
        failed += r.ok ? 0 : 1;
        Json row{
            {"channel", p.channel},
            {"key_id", p.key_id == 0 ? Json(nullptr) : Json(p.key_id)},
            {"model", p.model},
            {"status", r.ok ? "ok" : "error"},
            {"latency_ms", r.latency_ms},
            {"models_seen", r.model_seen.empty() ? Json::array() : Json::array({r.model_seen})},
            {"error", r.error}};
        if (extra_json) extra_json(i, row);
        out.push_back(row);
        rows.push_back({p.channel, p.key_id == 0 ? "-" : std::to_string(p.key_id), p.model,
                        r.ok ? "ok" : "error", std::to_string(r.latency_ms) + " ms",
                        r.model_seen.empty() ? "-" : r.model_seen, r.error});
    }
    if (json) {
        std::cout << out.dump(2) << "\n";
    } else {
        print_table({"CHANNEL", "KEY", "MODEL", "STATUS", "LATENCY", "MODELS SEEN", "ERROR"}, rows);
        std::cout << (results.size() - failed) << " ok, " << failed << " failed\n";
    }
    return failed == 0 ? kOk : kFailed;
}

// ---- subcommands ---------------------------------------------------------------------------

int channel_list(const ParsedArgs& a) {
    auto db = open_store(a);
    if (!db) return fail(db.error());
    auto list = store::channels::list(*db.value());
    if (!list) return fail(list.error());
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& c : list.value()) {
        // The same JSON as the admin API: never a key, the proxy without its password.
        out.push_back(service::channels::channel_json(c));
        const auto disabled = std::count_if(c.keys.begin(), c.keys.end(),
                                            [](const store::ChannelKey& k) { return !k.enabled; });
        std::string key_text = std::to_string(c.keys.size());
        if (disabled > 0) key_text += " (" + std::to_string(disabled) + " disabled)";
        std::string models = join(c.models);
        for (const auto& [pattern, target] : c.model_map.items())
            models += (models.empty() ? "" : ",") + pattern + "=" + target.get<std::string>();
        rows.push_back({c.name, c.type, std::to_string(c.priority), std::to_string(c.weight),
                        key_text, models, c.enabled ? "yes" : "no"});
    }
    if (a.flag("--json")) {
        std::cout << out.dump(2) << "\n";
    } else {
        print_table({"NAME", "TYPE", "PRIORITY", "WEIGHT", "KEYS", "MODELS", "ENABLED"}, rows);
        std::cout << rows.size() << " channel" << (rows.size() == 1 ? "" : "s") << "\n";
    }
    return kOk;
}

int channel_add(const ParsedArgs& a) {
    auto name = a.option("--name");
    auto type = a.option("--type");
    auto provider = a.option("--provider");
    if (!name || (!type && !provider))
        return input_error(
            Error::invalid("--name and either --provider or --type are required (`tianshu channel "
                           "presets` lists the providers)\nusage: " +
                           std::string(kChannelUsage)));
    for (const auto& f : {"--rename", "--add-key", "--remove-key"})
        if (a.option(f))
            return input_error(
                Error::invalid(std::string(f) + " belongs to `tianshu channel edit`, not add"));
    auto changes = changes_from_flags(a);
    if (!changes) return input_error(changes.error());
    store::Channel c;
    c.name = *name;
    store::channels::apply(changes.value(), c);
    auto read_keys = keys_from_flags(a);
    if (!read_keys) return input_error(read_keys.error());
    const auto& keys = read_keys.value();
    plugin::PluginCatalog catalog;
    (void)load_catalog(catalog, plugin_sources(a));
    auto lookup = [&](const std::string& n) { return catalog.find(n); };
    if (provider) {
        // The presets are read only when one is asked for.
        std::vector<Error> preset_problems;
        auto presets = load_presets(plugin_sources(a), preset_problems);
        if (auto ok = service::channels::apply_preset(presets.get(), *provider, c); !ok) {
            for (const auto& p : preset_problems) std::cerr << "warning: " << p.message << "\n";
            return input_error(ok.error());
        }
        if (keys.empty() && presets->find(*provider)->key_required)
            return input_error(Error::invalid(
                "provider '" + *provider +
                "' needs an upstream API key: pass --key-stdin (and pipe the key in) or "
                "--key-file PATH"));
    }
    if (service::channels::probe_model_of(c).empty())
        return input_error(Error::invalid(
            "a channel needs --models or at least one --map, or no request can reach it"));
    // Every flag is checked before anything is opened: a bad type or config changes nothing.
    if (auto ok = service::channels::check(
            lookup, c, keys.empty() ? std::nullopt : std::optional(keys.front()));
        !ok)
        return input_error(ok.error());
    // The store first: it creates the data directory the secret file lives in.
    auto db = open_store(a);
    if (!db) return fail(db.error());
    std::optional<hub::SecretBox> box;
    if (!keys.empty()) {
        // Upstream keys are stored sealed (AES-256-GCM, bound to the channel's name).
        auto opened = open_secrets(a);
        if (!opened) return fail(opened.error());
        box = std::move(opened).value();
    }
    auto made =
        service::channels::create(service_env(*db.value(), box ? &*box : nullptr, lookup), c, keys);
    if (!made) return store_error(made.error());
    if (a.flag("--json"))
        std::cout
            << Json{{"id", made->id}, {"name", made->name}, {"keys", made->keys.size()}}.dump()
            << "\n";
    else
        std::cout << "added channel '" << made->name << "' (type " << made->type
                  << (made->provider().empty() ? "" : ", provider " + made->provider()) << ", "
                  << made->keys.size() << " key" << (made->keys.size() == 1 ? "" : "s") << ", "
                  << made->models.size() << " model" << (made->models.size() == 1 ? "" : "s")
                  << ")\n";
    return kOk;
}

int channel_edit(const ParsedArgs& a) {
    auto name = a.option("--name");
    if (!name)
        return input_error(Error::invalid("--name is required (the channel to edit)\nusage: " +
                                          std::string(kChannelUsage)));
    auto changes = changes_from_flags(a);
    if (!changes) return input_error(changes.error());
    if (auto r = a.option("--rename")) {
        if (r->empty())
            return input_error(Error::invalid("--rename '' is empty: give the new channel name"));
        if (*r != *name) changes->name = *r;
    }
    if (a.option("--provider"))
        return input_error(Error::invalid(
            "--provider belongs to `tianshu channel add`: to change a channel's provider, add a "
            "new channel from the preset and remove this one"));
    auto read_keys = keys_from_flags(a);
    if (!read_keys) return input_error(read_keys.error());
    const auto& replace_keys = read_keys.value();
    const auto add_keys = a.all("--add-key");
    std::vector<long long> remove_ids;
    for (const auto& text : a.all("--remove-key")) {
        auto id = parse_key_id(text);
        if (!id) return input_error(id.error());
        remove_ids.push_back(id.value());
    }
    for (const auto* list : {&replace_keys, &add_keys})
        for (const auto& k : *list)
            if (k.empty())
                return input_error(
                    Error::invalid("an upstream key passed to --key/--add-key is empty"));
    if (!has_any(changes.value()) && replace_keys.empty() && add_keys.empty() && remove_ids.empty())
        return input_error(
            Error::invalid("nothing to change: pass at least one flag to edit\n"
                           "usage: " +
                           std::string(kChannelUsage)));

    auto db = open_store(a);
    if (!db) return fail(db.error());
    auto found = store::channels::find_by_name(*db.value(), *name);
    if (!found) return fail(found.error());
    if (!found.value())
        return input_error(
            Error::invalid("no channel named '" + *name + "': see `tianshu channel list`"));
    const bool renaming = changes->name.has_value();
    const bool touches_keys = renaming || !replace_keys.empty() || !add_keys.empty();
    std::optional<hub::SecretBox> box;
    if (touches_keys) {
        auto opened = open_secrets(a);
        if (!opened) return fail(opened.error());
        box = std::move(opened).value();
    }
    plugin::PluginCatalog catalog;
    (void)load_catalog(catalog, plugin_sources(a));
    auto lookup = [&](const std::string& n) { return catalog.find(n); };
    service::channels::Edit edit{changes.value(), replace_keys, add_keys, remove_ids};
    auto now = service::channels::edit(service_env(*db.value(), box ? &*box : nullptr, lookup),
                                       *name, edit);
    if (!now) {
        if (now.error().kind == core::ErrorKind::not_found && !remove_ids.empty())
            return input_error(Error::invalid("--remove-key: " + now.error().message +
                                              " (see `tianshu channel list --json`)"));
        return store_error(now.error());
    }
    const store::Channel before = *found.value();
    const auto& c = now.value();
    if (a.flag("--json"))
        std::cout << Json{{"id", c.id}, {"name", c.name}, {"keys", c.keys.size()}}.dump() << "\n";
    else
        std::cout << "updated channel '" << c.name << "'"
                  << (renaming ? " (renamed from '" + before.name + "')" : std::string()) << ", "
                  << c.keys.size() << " key" << (c.keys.size() == 1 ? "" : "s") << "\n";
    return kOk;
}

int channel_toggle_or_remove(const ParsedArgs& a, const std::string& sub) {
    auto name = a.option("--name");
    if (!name)
        return input_error(Error::invalid("--name is required (the channel to " + sub +
                                          ")\nusage: " + std::string(kChannelUsage)));
    auto db = open_store(a);
    if (!db) return fail(db.error());
    const service::Env env = service_env(*db.value());
    core::Result<void> done{};
    if (sub == "remove") {
        done = service::channels::remove(env, *name);
    } else if (auto c = service::channels::set_enabled(env, *name, sub == "enable"); !c) {
        done = c.take_error();
    }
    if (!done) {
        if (done.error().kind == core::ErrorKind::not_found)
            return input_error(
                Error::invalid("no channel named '" + *name + "': see `tianshu channel list`"));
        return fail(done.error());
    }
    const std::string past = sub == "remove" ? "removed" : sub + "d";
    if (a.flag("--json"))
        std::cout << Json{{"name", *name}, {"action", past}}.dump() << "\n";
    else
        std::cout << past << " channel '" << *name << "'\n";
    return kOk;
}

int channel_test(const ParsedArgs& a) {
    auto db = open_store(a);
    if (!db) return fail(db.error());
    auto list = store::channels::list(*db.value());
    if (!list) return fail(list.error());
    std::vector<store::Channel> chosen;
    const auto names = a.all("--name");
    for (const auto& n : names) {
        auto it = std::find_if(list->begin(), list->end(),
                               [&](const store::Channel& c) { return c.name == n; });
        if (it == list->end())
            return input_error(
                Error::invalid("--name '" + n + "': no such channel; see `tianshu channel list`"));
        chosen.push_back(*it);
    }
    if (names.empty()) chosen = list.value();
    if (chosen.empty()) {
        if (a.flag("--json"))
            std::cout << "[]\n";
        else
            std::cout << "no channels to test: add one with `tianshu channel add`\n";
        return kOk;
    }
    auto box = open_secrets(a);
    if (!box) return fail(box.error());
    plugin::PluginCatalog catalog;
    for (const auto& p : load_catalog(catalog, plugin_sources(a)))
        std::cerr << "warning: " << p.message << "\n";
    service::channels::TestOptions options;
    options.names = names;
    // Every key in rotation: a dead second key is found before users meet it. Keys out of
    // rotation are what `tianshu health-check` tests (and re-enables).
    options.every_key = true;
    options.enabled_keys_only = true;
    options.progress = progress_to_stderr("channels");
    auto results =
        service::channels::test(service_env(*db.value(), &box.value(),
                                            [&](const std::string& n) { return catalog.find(n); }),
                                options);
    if (!results) return fail(results.error());
    return report_probes(results.value(), a.flag("--json"));
}

//! `channel presets`: the provider presets in the plugins directory.
int channel_presets(const ParsedArgs& a) {
    std::vector<Error> problems;
    auto presets = load_presets(plugin_sources(a), problems);
    for (const auto& p : problems) std::cerr << "warning: " << p.message << "\n";
    if (a.flag("--json")) {
        std::cout << service::channels::presets_json(presets.get()).dump(2) << "\n";
        return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto* p : presets->list()) {
        std::string models;
        for (const auto& m : p->models) models += (models.empty() ? "" : ",") + m;
        rows.push_back({p->name, p->display_name, p->adapter, p->base_url,
                        models.empty() ? "(discovered from the upstream)" : models});
    }
    print_table({"PROVIDER", "NAME", "ADAPTER", "BASE URL", "MODELS"}, rows);
    std::cout << rows.size() << " provider preset" << (rows.size() == 1 ? "" : "s")
              << "; add one with `tianshu channel add --name NAME --provider PROVIDER "
                 "--key-stdin`\n";
    return kOk;
}

//! The service Env for channels.models / channels.balance: the store, the secret key (when
//! there is one: a channel without sealed keys needs none), the plugins and the presets.
struct UpstreamEnv {
    std::unique_ptr<store::Database> db;
    std::optional<hub::SecretBox> box;
    plugin::PluginCatalog catalog;
    std::shared_ptr<const pipeline::PresetCatalog> presets;
};

core::Result<void> open_upstream_env(const ParsedArgs& a, UpstreamEnv& u) {
    auto db = open_store(a);
    if (!db) return db.take_error();
    u.db = std::move(db).value();
    if (auto box = open_secrets(a)) u.box = std::move(box).value();
    (void)load_catalog(u.catalog, plugin_sources(a));
    std::vector<Error> problems;
    u.presets = load_presets(plugin_sources(a), problems);
    for (const auto& p : problems) std::cerr << "warning: " << p.message << "\n";
    return {};
}

service::Env upstream_env(UpstreamEnv& u) {
    auto env = service_env(*u.db, u.box ? &*u.box : nullptr,
                           [&u](const std::string& n) { return u.catalog.find(n); });
    env.presets = u.presets;
    return env;
}

std::string joined(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
    return out.empty() ? "(none)" : out;
}

//! `channel models --name NAME [--sync]`: what the upstream lists next to what the channel
//! serves; --sync makes the channel serve the upstream's list.
int channel_models(const ParsedArgs& a) {
    auto name = a.option("--name");
    if (!name)
        return input_error(
            Error::invalid("--name is required (the channel whose upstream to ask)"
                           "\nusage: " +
                           std::string(kChannelUsage)));
    UpstreamEnv u;
    if (auto ok = open_upstream_env(a, u); !ok) return fail(ok.error());
    const service::Env env = upstream_env(u);
    auto r = a.flag("--sync") ? service::channels::sync_models(env, *name)
                              : service::channels::models_of(env, *name);
    if (!r) {
        if (r.error().kind == core::ErrorKind::not_found)
            return input_error(
                Error::invalid("no channel named '" + *name + "': see `tianshu channel list`"));
        return fail(r.error());
    }
    if (a.flag("--json")) {
        std::cout << service::channels::models_report_json(r.value()).dump(2) << "\n";
        return kOk;
    }
    std::cout << "channel '" << r->channel << "': the upstream lists " << r->upstream.size()
              << " model" << (r->upstream.size() == 1 ? "" : "s") << " (" << r->url << ")\n"
              << "  upstream: " << joined(r->upstream) << "\n"
              << "  served:   " << joined(r->served) << "\n"
              << "  new:      " << joined(r->added) << "\n"
              << "  gone:     " << joined(r->gone) << "\n";
    if (r->synced)
        std::cout << "synced: the channel now serves the upstream's " << r->upstream.size()
                  << " model" << (r->upstream.size() == 1 ? "" : "s") << "\n";
    else if (!r->added.empty() || !r->gone.empty())
        std::cout << "run `tianshu channel models --name " << r->channel
                  << " --sync` to serve exactly the upstream's list\n";
    return kOk;
}

//! `channel balance [--name NAME]...`: each channel's account balance, where its provider
//! offers one. Exit 1 when any offered balance could not be read.
int channel_balance(const ParsedArgs& a) {
    UpstreamEnv u;
    if (auto ok = open_upstream_env(a, u); !ok) return fail(ok.error());
    const auto names = a.all("--name");
    auto reports = service::channels::balances(upstream_env(u), names);
    if (!reports) {
        if (reports.error().kind == core::ErrorKind::not_found)
            return input_error(
                Error::invalid(reports.error().message + ": see `tianshu channel list`"));
        return fail(reports.error());
    }
    bool failed = false;
    for (const auto& r : reports.value()) failed = failed || (r.offered && !r.ok);
    if (a.flag("--json")) {
        Json rows = Json::array();
        for (const auto& r : reports.value())
            rows.push_back(service::channels::balance_report_json(r));
        std::cout << rows.dump(2) << "\n";
        return failed ? kFailed : kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : reports.value()) {
        std::string shown;
        for (const auto& b : r.balances)
            shown += (shown.empty() ? "" : ", ") + b.amount + " " + b.currency;
        rows.push_back({r.channel, r.provider.empty() ? "-" : r.provider,
                        r.ok        ? shown
                        : r.offered ? "error"
                                    : "not offered by the provider"});
    }
    print_table({"CHANNEL", "PROVIDER", "BALANCE"}, rows);
    for (const auto& r : reports.value())
        if (r.offered && !r.ok) std::cerr << "error: " << r.error << "\n";
    return failed ? kFailed : kOk;
}

}  // namespace

int cmd_channel(const std::vector<std::string>& args) {
    CommandSpec spec{
        kChannelUsage,
        {"--data",        "--db",       "--name",    "--type",       "--models",
         "--map",         "--base-url", "--key",     "--config",     "--plugins-dir",
         "--scripts-dir", "--priority", "--weight",  "--proxy",      "--timeout-ms",
         "--tag",         "--rename",   "--add-key", "--remove-key", kSecretKeyFileOption,
         "--provider",    "--key-file"},
        {"--json", "--key-stdin", "--sync"},
        1,
        1};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    const std::string sub = a->positional[0];
    if (!find_subcommand("channel", sub))
        return input_error(
            Error::invalid("unknown channel command '" + sub + "'\nusage: " + spec.usage));
    if (sub == "list") return channel_list(a.value());
    if (sub == "add") return channel_add(a.value());
    if (sub == "edit") return channel_edit(a.value());
    if (sub == "enable" || sub == "disable" || sub == "remove")
        return channel_toggle_or_remove(a.value(), sub);
    if (sub == "test") return channel_test(a.value());
    if (sub == "presets") return channel_presets(a.value());
    if (sub == "models") return channel_models(a.value());
    if (sub == "balance") return channel_balance(a.value());
    return input_error(
        Error::invalid("unknown channel command '" + sub + "'\nusage: " + spec.usage));
}

int cmd_health_check(const std::vector<std::string>& args) {
    CommandSpec spec{
        "tianshu health-check [--data DIR] [--db URL] [--plugins-dir DIR] [--scripts-dir DIR] "
        "[--secret-key-file PATH] [--json]",
        {"--data", "--db", "--plugins-dir", "--scripts-dir", kSecretKeyFileOption},
        {"--json"},
        0,
        0};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto list = store::channels::list(*db.value());
    if (!list) return fail(list.error());
    auto box = open_secrets(a.value());
    if (!box) return fail(box.error());
    plugin::PluginCatalog catalog;
    for (const auto& p : load_catalog(catalog, plugin_sources(a.value())))
        std::cerr << "warning: " << p.message << "\n";
    // Only keys the gateway took out of rotation (they carry a reason): a key an operator
    // disabled by hand stays disabled.
    using service::channels::Probe;
    const pipeline::PluginLookup plugins = [&](const std::string& n) { return catalog.find(n); };
    std::vector<Probe> probes;
    for (const auto& c : list.value())
        for (const auto& k : c.keys) {
            if (k.enabled || k.disabled_reason.empty()) continue;
            auto plain = unseal(box.value(), c, k.sealed_key);
            if (!plain)
                probes.push_back(
                    {c.name, k.id, service::channels::probe_model_of(c), nullptr, plain.error()});
            else
                probes.push_back(service::channels::make_probe(plugins, c, plain.value(), k.id));
        }
    if (probes.empty()) {
        if (a->flag("--json"))
            std::cout << "[]\n";
        else
            std::cout << "no key was disabled by the gateway: nothing to check\n";
        return kOk;
    }
    auto results = service::channels::run_probes(probes, progress_to_stderr("disabled keys"));
    if (auto kept = service::channels::record_results(*db.value(), results); !kept)
        std::cerr << "warning: the probe results were not recorded for the Health page: "
                  << kept.error().message << "\n";
    std::vector<bool> reenabled(probes.size(), false);
    for (size_t i = 0; i < probes.size(); ++i) {
        if (!results[i].ok) continue;
        auto on = store::channels::set_key_enabled(*db.value(), probes[i].key_id, true);
        if (!on) {
            results[i].ok = false;
            results[i].error = "the probe succeeded but re-enabling failed: " + on.error().message;
            continue;
        }
        reenabled[i] = true;
        if (!a->flag("--json"))
            std::cout << "re-enabled key " << probes[i].key_id << " of channel '"
                      << probes[i].channel << "'\n";
    }
    return report_probes(results, a->flag("--json"),
                         [&](size_t i, Json& row) { row["reenabled"] = reenabled[i]; });
}

}  // namespace tianshu::app
