#include "service/channels.hpp"

#include "hub/secret_box.hpp"
#include "store/database.hpp"
#include "store/settings.hpp"
#include "upstream/channel_router.hpp"

namespace tianshu::service::channels {

using core::Error;
using core::ErrorKind;

namespace {

core::Result<const hub::SecretBox*> need_secrets(const Env& env) {
    if (!env.secrets)
        return Error{ErrorKind::unavailable,
                     "there is no secret key, so upstream keys cannot be sealed or opened: give "
                     "the data directory holding secret.key (or --secret-key-file)",
                     {}};
    return env.secrets;
}

//! The plaintext of a stored key (a legacy key stored in clear is its own plaintext).
core::Result<std::string> open_key(const hub::SecretBox& box, const store::Channel& c,
                                   const store::ChannelKey& k) {
    if (!hub::SecretBox::is_sealed(k.sealed_key)) return k.sealed_key;
    auto opened = box.open(k.sealed_key, c.name);
    if (!opened)
        return Error::internal_error("cannot open upstream key " + std::to_string(k.id) +
                                     " of channel '" + c.name + "': " + opened.error().message +
                                     "; nothing was changed (remove the key and add it again)");
    return opened;
}

//! A key that stays through a rename, opened so it can be sealed for the new name.
struct Kept {
    store::ChannelKey key;
    std::string plaintext;
};

}  // namespace

core::Result<store::Channel> named(store::Database& db, const std::string& name) {
    auto channel = store::channels::find_by_name(db, name);
    if (!channel) return channel.take_error();
    if (!channel.value())
        return Error{ErrorKind::not_found, "there is no channel named '" + name + "'", {}};
    return *channel.value();
}

core::Result<void> check(const Env& env, const store::Channel& c,
                         const std::optional<std::string>& first_key) {
    return check(env.plugins, c, first_key);
}

core::Result<void> check(const pipeline::PluginLookup& plugins, const store::Channel& c,
                         const std::optional<std::string>& first_key) {
    if (c.models.empty() && c.model_map.empty())
        return Error::invalid("channel '" + c.name +
                              "' needs models or a model mapping, or no request can reach it");
    if (!plugins)
        return Error{ErrorKind::unavailable,
                     "there is no plugin catalog to check the channel's type and config "
                     "against: use `tianshu channel add`, or the admin API of `tianshu serve`",
                     {}};
    core::Json config = c.config.is_object() ? c.config : core::Json::object();
    config.erase("api_key");
    config.erase("provider");  // the host's, not the adapter's
    upstream::ChannelSpec probe{c.name, c.type, {}, {}, config, true};
    if (!c.base_url.empty() && !probe.config.contains("base_url"))
        probe.config["base_url"] = c.base_url;
    if (first_key) probe.config["api_key"] = *first_key;
    std::vector<Error> problems;
    (void)upstream::ChannelRouter::build({probe}, plugins, &problems);
    if (!problems.empty()) return Error::invalid(problems.front().message);
    return {};
}

core::Result<void> apply_preset(const pipeline::PresetCatalog* presets, const std::string& provider,
                                store::Channel& c) {
    const auto* preset = presets ? presets->find(provider) : nullptr;
    if (!preset)
        return Error::invalid(
            "provider '" + provider + "' has no preset: choose one of " +
            (presets ? presets->names() : std::string("(no presets are loaded)")) +
            " (`tianshu channel presets` lists them), or add the channel "
            "with --type and --base-url");
    if (!c.type.empty() && c.type != preset->adapter)
        return Error::invalid("--type '" + c.type + "' does not match provider '" + provider +
                              "', whose adapter is '" + preset->adapter +
                              "': leave --type out to use the preset's");
    c.type = preset->adapter;
    if (c.base_url.empty()) c.base_url = preset->base_url;
    if (c.models.empty() && c.model_map.empty())
        for (const auto& m : preset->models) c.models.push_back(m);
    if (!c.config.is_object()) c.config = Json::object();
    // The channel's own options win over the preset's quirks.
    Json options = preset->options;
    if (c.config.contains("options") && c.config["options"].is_object())
        for (const auto& [k, v] : c.config["options"].items()) options[k] = v;
    if (!options.empty()) c.config["options"] = options;
    c.config["provider"] = preset->name;
    return {};
}

Json presets_json(const pipeline::PresetCatalog* presets) {
    Json out = Json::array();
    if (presets)
        for (const auto* p : presets->list()) out.push_back(p->to_json());
    return out;
}

core::Result<store::Channel> create(const Env& env, store::Channel c,
                                    const std::vector<std::string>& plain_keys) {
    for (std::size_t i = 0; i < plain_keys.size(); ++i)
        if (plain_keys[i].empty())
            return Error::invalid("upstream key " + std::to_string(i + 1) +
                                  " is empty: give the upstream's API key");
    c.config.erase("api_key");
    if (auto ok =
            check(env, c, plain_keys.empty() ? std::nullopt : std::optional(plain_keys.front()));
        !ok)
        return ok.take_error();
    c.keys.clear();
    if (!plain_keys.empty()) {
        auto box = need_secrets(env);
        if (!box) return box.take_error();
        for (const auto& k : plain_keys) {
            store::ChannelKey sealed;
            sealed.sealed_key = box.value()->seal(k, c.name);
            c.keys.push_back(std::move(sealed));
        }
    }
    return store::channels::create(env.db, c);
}

bool has_any(const Edit& e) {
    const store::ChannelChanges& ch = e.changes;
    return ch.name || ch.type || ch.base_url || ch.models || ch.model_map || ch.config ||
           ch.enabled || ch.priority || ch.weight || ch.proxy || ch.timeout_ms || ch.tags ||
           !e.replace_keys.empty() || !e.add_keys.empty() || !e.remove_key_ids.empty();
}

core::Result<store::Channel> edit(const Env& env, const std::string& name, const Edit& given) {
    if (!has_any(given)) return Error::invalid("nothing to change: give at least one field");
    Edit e = given;
    const store::ChannelChanges& ch = e.changes;
    for (const auto* list : {&e.replace_keys, &e.add_keys})
        for (const auto& k : *list)
            if (k.empty()) return Error::invalid("an upstream key to add is empty");
    auto found = named(env.db, name);
    if (!found) return found.take_error();
    const store::Channel before = std::move(found).value();
    // A new config keeps the channel's provider (a host field): replacing the adapter's
    // options does not make it forget which preset's capability table applies.
    if (e.changes.config && !before.provider().empty() && e.changes.config->is_object() &&
        !e.changes.config->contains("provider"))
        (*e.changes.config)["provider"] = before.provider();
    for (long long id : e.remove_key_ids)
        if (std::none_of(before.keys.begin(), before.keys.end(),
                         [&](const store::ChannelKey& k) { return k.id == id; }))
            return Error{ErrorKind::not_found,
                         "channel '" + name + "' has no upstream key with id " +
                             std::to_string(id) + ": list the channel to see its key ids",
                         {}};
    const bool renaming = ch.name && *ch.name != before.name;
    const std::string new_name = renaming ? *ch.name : before.name;
    if (renaming && new_name.empty()) return Error::invalid("the channel's new name is empty");
    // Only what decides whether the channel can serve is checked again: toggling 'enabled'
    // or changing tags needs no plugin catalog.
    const bool recheck = ch.type || ch.base_url || ch.config || ch.models || ch.model_map;
    const bool touches_keys =
        (renaming && !before.keys.empty()) || !e.replace_keys.empty() || !e.add_keys.empty();
    const hub::SecretBox* box = nullptr;
    if (touches_keys) {
        auto need = need_secrets(env);
        if (!need) return need.take_error();
        box = need.value();
    }
    // Keys that stay are opened before anything changes: one that cannot be opened stops the
    // edit with nothing changed.
    std::vector<Kept> kept;
    if ((renaming || (recheck && env.secrets)) && e.replace_keys.empty()) {
        for (const auto& k : before.keys) {
            if (std::find(e.remove_key_ids.begin(), e.remove_key_ids.end(), k.id) !=
                e.remove_key_ids.end())
                continue;
            auto plain = open_key(*env.secrets, before, k);
            if (!plain) return plain.take_error();
            kept.push_back({k, std::move(plain).value()});
        }
    }
    store::Channel after = before;
    store::channels::apply(ch, after);
    after.name = new_name;
    if (recheck) {
        std::optional<std::string> sample;
        if (!e.replace_keys.empty())
            sample = e.replace_keys.front();
        else if (!e.add_keys.empty())
            sample = e.add_keys.front();
        else if (!kept.empty())
            sample = kept.front().plaintext;
        if (auto ok = check(env, after, sample); !ok) return ok.take_error();
    }
    store::ChannelChanges row = ch;
    if (!renaming) row.name.reset();
    const bool row_changes = row.name || row.type || row.base_url || row.models || row.model_map ||
                             row.config || row.enabled || row.priority || row.weight || row.proxy ||
                             row.timeout_ms || row.tags;
    return env.db.with_transaction("edit channel '" + name + "'", [&](soci::session& s) {
        store::bump_config_revision(s);
        if (row_changes) store::channels::update(s, name, row);
        std::vector<long long> to_remove = e.remove_key_ids;
        if (!e.replace_keys.empty())
            for (const auto& k : before.keys) to_remove.push_back(k.id);
        // New seals first, old rows last; all of it commits together or not at all.
        for (const auto* list : {&e.replace_keys, &e.add_keys})
            for (const auto& k : *list)
                store::channels::add_key(s, new_name, box->seal(k, new_name));
        if (renaming) {
            for (const auto& k : kept) {
                auto added =
                    store::channels::add_key(s, new_name, box->seal(k.plaintext, new_name));
                if (!k.key.enabled)
                    store::channels::set_key_enabled(s, added.id, false, k.key.disabled_reason);
                to_remove.push_back(k.key.id);
            }
        }
        std::sort(to_remove.begin(), to_remove.end());
        to_remove.erase(std::unique(to_remove.begin(), to_remove.end()), to_remove.end());
        for (long long id : to_remove) store::channels::remove_key(s, id);
        auto now = store::channels::find_by_name(s, new_name);
        if (!now)
            throw store::StoreFailure(
                Error::internal_error("channel '" + new_name + "' vanished while editing"));
        return *now;
    });
}

core::Result<store::Channel> set_enabled(const Env& env, const std::string& name, bool enabled) {
    if (auto done = store::channels::set_enabled(env.db, name, enabled); !done)
        return done.take_error();
    return named(env.db, name);
}

core::Result<void> remove(const Env& env, const std::string& name) {
    return store::channels::remove(env.db, name);
}

core::Result<store::ChannelKey> add_key(const Env& env, const std::string& name,
                                        const std::string& plain_key) {
    if (plain_key.empty())
        return Error::invalid("the upstream key is empty: give the upstream's API key");
    auto box = need_secrets(env);
    if (!box) return box.take_error();
    auto channel = named(env.db, name);
    if (!channel) return channel.take_error();
    return store::channels::add_key(env.db, name, box.value()->seal(plain_key, name));
}

core::Result<void> remove_key(const Env& env, const std::string& name, long long key_id) {
    auto channel = named(env.db, name);
    if (!channel) return channel.take_error();
    if (std::none_of(channel->keys.begin(), channel->keys.end(),
                     [&](const store::ChannelKey& k) { return k.id == key_id; }))
        return Error{ErrorKind::not_found,
                     "channel '" + name + "' has no upstream key with id " +
                         std::to_string(key_id) + ": list the channel to see its key ids",
                     {}};
    return store::channels::remove_key(env.db, key_id);
}

core::Result<std::vector<store::Channel>> list(const Env& env) {
    return store::channels::list(env.db);
}

std::string redacted_proxy(const std::string& proxy) {
    const auto scheme = proxy.find("://");
    if (scheme == std::string::npos) return proxy;
    const auto host_from = scheme + 3;
    // The user info ends at the LAST '@', as store::proxy_origin cuts it: a password may hold
    // '@', '/', '?' or '#' unescaped.
    const auto at = proxy.rfind('@');
    if (at == std::string::npos || at < host_from) return proxy;
    const auto colon = proxy.find(':', host_from);
    // "user:password@host" keeps the user; a bare "token@host" is a secret as a whole.
    const std::string user = colon != std::string::npos && colon < at
                                 ? proxy.substr(host_from, colon - host_from) + ":"
                                 : std::string();
    return proxy.substr(0, host_from) + user + "***" + proxy.substr(at);
}

Json channel_key_json(const store::ChannelKey& k) {
    // Never the key, sealed or not: an API that never returns it cannot leak it.
    return Json{{"id", k.id},
                {"enabled", k.enabled},
                {"disabled_reason", k.disabled_reason},
                {"disabled_at", k.disabled_at ? Json(*k.disabled_at) : Json(nullptr)},
                {"created_at", k.created_at}};
}

Json channel_json(const store::Channel& c) {
    Json config = c.config;
    // Reads fill config.api_key with the first sealed key for older callers: not for us.
    if (config.is_object()) config.erase("api_key");
    Json keys = Json::array();
    for (const auto& k : c.keys) keys.push_back(channel_key_json(k));
    return Json{{"id", c.id},
                {"name", c.name},
                {"type", c.type},
                {"provider", c.provider().empty() ? Json(nullptr) : Json(c.provider())},
                {"base_url", c.base_url},
                {"models", c.models},
                {"model_map", c.model_map},
                {"config", config},
                {"enabled", c.enabled},
                {"priority", c.priority},
                {"weight", c.weight},
                {"proxy", redacted_proxy(c.proxy)},
                {"timeout_ms", c.timeout_ms},
                {"tags", c.tags},
                {"keys", keys},
                {"created_at", c.created_at},
                {"updated_at", c.updated_at}};
}

}  // namespace tianshu::service::channels
