// `tianshu user add`, `tianshu key create`, `tianshu channel add|list`: the pieces of the hub
// a newcomer and the tests need to wire a client to a model.
#include <iostream>

#include "app/cli_args.hpp"
#include "app/command_support.hpp"
#include "hub/credentials.hpp"
#include "hub/secret_box.hpp"
#include "store/api_keys.hpp"
#include "store/channels.hpp"
#include "store/users.hpp"
#include "upstream/channel_router.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;

namespace {
const std::set<std::string> kStoreOptions{"--data", "--db"};

std::set<std::string> with_store(std::set<std::string> extra) {
    extra.insert(kStoreOptions.begin(), kStoreOptions.end());
    return extra;
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        std::string item =
            s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}
}  // namespace

int cmd_user(const std::vector<std::string>& args) {
    CommandSpec spec{
        "tianshu user add --name NAME [--tier TIER] [--role user|admin] [--data DIR] [--json]",
        with_store({"--name", "--tier", "--role"}),
        {"--json"},
        1,
        1};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    if (a->positional[0] != "add")
        return input_error(Error::invalid("unknown user command '" + a->positional[0] +
                                          "'\nusage: " + spec.usage));
    auto name = a->option("--name");
    if (!name || name->empty())
        return input_error(Error::invalid("--name is required\nusage: " + spec.usage));
    std::string role = a->option_or("--role", "user");
    if (role != "user" && role != "admin")
        return input_error(Error::invalid("--role '" + role + "' must be user or admin"));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = store::users::create(
        *db.value(), store::NewUser{*name, role, a->option_or("--tier", "default"), ""});
    if (!user)
        return user.error().kind == core::ErrorKind::invalid_request ? input_error(user.error())
                                                                     : fail(user.error());
    if (a->flag("--json"))
        std::cout << Json{{"id", user->id},
                          {"name", user->name},
                          {"role", user->role},
                          {"tier", user->tier}}
                         .dump()
                  << "\n";
    else
        std::cout << "added user '" << user->name << "' (id " << user->id << ", tier " << user->tier
                  << ")\n";
    return kOk;
}

int cmd_key(const std::vector<std::string>& args) {
    CommandSpec spec{"tianshu key create --user NAME --name KEYNAME [--data DIR] [--json]",
                     with_store({"--user", "--name"}),
                     {"--json"},
                     1,
                     1};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    if (a->positional[0] != "create")
        return input_error(
            Error::invalid("unknown key command '" + a->positional[0] + "'\nusage: " + spec.usage));
    auto user_name = a->option("--user");
    auto key_name = a->option("--name");
    if (!user_name || !key_name)
        return input_error(Error::invalid("--user and --name are required\nusage: " + spec.usage));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = store::users::find_by_name(*db.value(), *user_name);
    if (!user) return fail(user.error());
    if (!user.value())
        return input_error(Error::invalid("no user named '" + *user_name +
                                          "': add one with `tianshu user add --name " + *user_name +
                                          "`"));
    std::string key = hub::generate_api_key();
    auto made = store::api_keys::create(*db.value(), user.value()->id, *key_name,
                                        hub::api_key_prefix(key), hub::api_key_hash(key));
    if (!made) return fail(made.error());
    if (a->flag("--json")) {
        std::cout << Json{{"id", made->id}, {"user", *user_name}, {"name", *key_name}, {"key", key}}
                         .dump()
                  << "\n";
    } else {
        std::cout << "created key '" << *key_name << "' for user '" << *user_name
                  << "'. It is shown once and stored only as a hash:\n"
                  << key << "\n";
    }
    return kOk;
}

int cmd_channel(const std::vector<std::string>& args) {
    CommandSpec spec{
        "tianshu channel add --name NAME --type PLUGIN --models a,b [--map 'PATTERN=MODEL']... "
        "[--base-url URL] [--key UPSTREAM_KEY] [--config JSON] [--data DIR] [--json]\n       "
        "tianshu channel list "
        "[--data DIR] [--json]",
        with_store({"--name", "--type", "--models", "--map", "--base-url", "--key", "--config",
                    "--plugins-dir", "--scripts-dir"}),
        {"--json"},
        1,
        1};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    const std::string sub = a->positional[0];
    if (sub == "list") {
        auto db = open_store(a.value());
        if (!db) return fail(db.error());
        auto list = store::channels::list(*db.value());
        if (!list) return fail(list.error());
        Json out = Json::array();
        std::vector<std::vector<std::string>> rows;
        for (const auto& c : list.value()) {
            out.push_back({{"name", c.name},
                           {"type", c.type},
                           {"base_url", c.base_url},
                           {"models", c.models},
                           {"model_map", c.model_map},
                           {"enabled", c.enabled}});
            std::string models;
            for (const auto& m : c.models)
                models += (models.empty() ? "" : ",") + m.get<std::string>();
            rows.push_back({c.name, c.type, models, c.enabled ? "yes" : "no"});
        }
        if (a->flag("--json")) {
            std::cout << out.dump(2) << "\n";
        } else {
            print_table({"NAME", "TYPE", "MODELS", "ENABLED"}, rows);
            std::cout << rows.size() << " channel" << (rows.size() == 1 ? "" : "s") << "\n";
        }
        return kOk;
    }
    if (sub != "add")
        return input_error(
            Error::invalid("unknown channel command '" + sub + "'\nusage: " + spec.usage));
    store::Channel c;
    auto name = a->option("--name");
    auto type = a->option("--type");
    if (!name || !type)
        return input_error(Error::invalid("--name and --type are required\nusage: " + spec.usage));
    c.name = *name;
    // "openai" is the short name operators use for any OpenAI-compatible upstream.
    c.type = *type == "openai" ? "openai_compat" : *type;
    c.base_url = a->option_or("--base-url", "");
    c.models = Json::array();
    for (const auto& m : split_list(a->option_or("--models", ""))) c.models.push_back(m);
    c.model_map = Json::object();
    for (const auto& m : a->all("--map")) {
        auto mapping = upstream::parse_model_mapping(m);
        if (!mapping) return input_error(Error::invalid("--map: " + mapping.error().message));
        c.model_map[mapping->first] = mapping->second;
    }
    if (c.models.empty() && c.model_map.empty())
        return input_error(Error::invalid(
            "a channel needs --models or at least one --map, or no request can reach it"));
    if (auto cfg = a->option("--config")) {
        c.config = Json::parse(*cfg, nullptr, false);
        if (c.config.is_discarded() || !c.config.is_object())
            return input_error(
                Error::invalid("--config must be a JSON object, e.g. '{\"delay_ms\": 50}'"));
    }
    // Refuse now what the server could only leave out later: an unknown type or a bad config.
    plugin::PluginCatalog catalog;
    (void)load_catalog(catalog, plugin_sources(a.value()));
    upstream::ChannelSpec probe{c.name, c.type, {}, {}, c.config, true};
    if (!c.base_url.empty()) probe.config["base_url"] = c.base_url;
    auto key = a->option("--key");
    if (key) probe.config["api_key"] = *key;
    std::vector<Error> problems;
    (void)upstream::ChannelRouter::build(
        {probe}, [&](const std::string& n) { return catalog.find(n); }, &problems);
    if (!problems.empty()) return input_error(problems.front());
    // The store first: it creates the data directory the secret file lives in.
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (key) {
        // The upstream key is stored sealed (AES-256-GCM, bound to the channel's name).
        auto box = hub::SecretBox::open_or_create(secret_file_for(a->option_or("--data", "data")));
        if (!box) return fail(box.error());
        c.config["api_key"] = box->seal(*key, c.name);
    }
    auto made = store::channels::create(*db.value(), c);
    if (!made)
        return made.error().kind == core::ErrorKind::invalid_request ? input_error(made.error())
                                                                     : fail(made.error());
    if (a->flag("--json"))
        std::cout << Json{{"id", made->id}, {"name", made->name}}.dump() << "\n";
    else
        std::cout << "added channel '" << made->name << "' (type " << made->type << ")\n";
    return kOk;
}

}  // namespace tianshu::app
