#include "store/channels.hpp"

#include "store/json_columns.hpp"
#include "store/settings.hpp"

#include <soci/soci.h>

#include <map>

namespace tianshu::store::channels {
namespace {

constexpr const char* select_channels =
    "SELECT id, name, type, base_url, models, model_map, config, enabled, created_at, priority, "
    "weight, proxy, timeout_ms, tags, updated_at FROM channels";

core::Error duplicate(std::string_view name) {
    return core::Error::invalid("a channel named '" + std::string(name) +
                                "' already exists: choose another --name");
}

core::Error unknown_channel(std::string_view name) {
    return {core::ErrorKind::not_found,
            "there is no channel named '" + std::string(name) +
                "': list the channels to see their names",
            {}};
}

nlohmann::json parse_column(const std::string& text, const Channel& c, const char* column) {
    try {
        return nlohmann::json::parse(text);
    } catch (const std::exception& e) {
        throw StoreFailure(core::Error::internal_error(
            "channel '" + c.name + "' has invalid JSON in its " + column + " column (" + e.what() +
            "): save the channel again"));
    }
}

//! The key pre-channel_keys callers put in config; empty when there is none.
std::string legacy_key(const nlohmann::json& config) {
    auto it = config.find("api_key");
    return it != config.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::vector<ChannelKey> fetch_keys(soci::session& s, const long long* channel_id) {
    ChannelKey k;
    int enabled = 1;
    long long disabled_at = 0;
    soci::indicator disabled_ind = soci::i_null;
    std::vector<ChannelKey> out;
    soci::statement st(s);
    st.exchange(soci::into(k.id));
    st.exchange(soci::into(k.channel_id));
    st.exchange(soci::into(k.sealed_key));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(k.disabled_reason));
    st.exchange(soci::into(disabled_at, disabled_ind));
    st.exchange(soci::into(k.created_at));
    if (channel_id) st.exchange(soci::use(*channel_id));
    st.alloc();
    st.prepare(std::string("SELECT id, channel_id, sealed_key, enabled, disabled_reason, "
                           "disabled_at, created_at FROM channel_keys") +
               (channel_id ? " WHERE channel_id = :channel" : "") + " ORDER BY id");
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        ChannelKey row = k;
        row.enabled = enabled != 0;
        row.disabled_at =
            disabled_ind == soci::i_null ? std::nullopt : std::optional<long long>(disabled_at);
        out.push_back(std::move(row));
    }
    return out;
}

std::vector<Channel> fetch(soci::session& s, const std::string& where, const std::string* name) {
    Channel c;
    std::string models, model_map, config, tags;
    int enabled = 1;
    std::vector<Channel> out;
    soci::statement st(s);
    st.exchange(soci::into(c.id));
    st.exchange(soci::into(c.name));
    st.exchange(soci::into(c.type));
    st.exchange(soci::into(c.base_url));
    st.exchange(soci::into(models));
    st.exchange(soci::into(model_map));
    st.exchange(soci::into(config));
    st.exchange(soci::into(enabled));
    st.exchange(soci::into(c.created_at));
    st.exchange(soci::into(c.priority));
    st.exchange(soci::into(c.weight));
    st.exchange(soci::into(c.proxy));
    st.exchange(soci::into(c.timeout_ms));
    st.exchange(soci::into(tags));
    st.exchange(soci::into(c.updated_at));
    if (name) st.exchange(soci::use(*name));
    st.alloc();
    st.prepare(select_channels + where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        Channel row = c;
        row.models = parse_column(models, c, "models");
        row.model_map = parse_column(model_map, c, "model_map");
        row.config = parse_column(config, c, "config");
        row.tags = parse_string_list(tags, "channel '" + c.name + "'", "tags");
        row.enabled = enabled != 0;
        out.push_back(std::move(row));
    }
    std::map<long long, Channel*> by_id;
    for (auto& ch : out) by_id[ch.id] = &ch;
    if (out.size() == 1) {
        out.front().keys = fetch_keys(s, &out.front().id);
    } else if (!out.empty()) {
        for (auto& k : fetch_keys(s, nullptr))
            if (auto it = by_id.find(k.channel_id); it != by_id.end())
                it->second->keys.push_back(std::move(k));
    }
    for (auto& ch : out) {
        if (!legacy_key(ch.config).empty()) continue;
        for (const auto& k : ch.keys)
            if (k.enabled) {
                ch.config["api_key"] = k.sealed_key;
                break;
            }
    }
    return out;
}

core::Result<void> validate(const Channel& c) {
    if (c.name.empty()) return core::Error::invalid("a channel needs a name: pass --name");
    if (c.name.size() > 255)
        return core::Error::invalid("channel name is longer than 255 characters");
    if (c.type.empty())
        return core::Error::invalid("channel '" + c.name +
                                    "' needs a type (the adapter plugin name)");
    if (!c.models.is_array())
        return core::Error::invalid("channel '" + c.name +
                                    "': models must be a JSON array of model names");
    for (const auto& m : c.models)
        if (!m.is_string())
            return core::Error::invalid("channel '" + c.name +
                                        "': every entry of models must be a string, got " +
                                        m.dump());
    if (!c.model_map.is_object())
        return core::Error::invalid("channel '" + c.name + "': model_map must be a JSON object");
    for (const auto& [pattern, target] : c.model_map.items())
        if (!target.is_string())
            return core::Error::invalid("channel '" + c.name + "': model_map entry '" + pattern +
                                        "' must map to a model name string, got " + target.dump());
    if (!c.config.is_object())
        return core::Error::invalid("channel '" + c.name + "': config must be a JSON object");
    if (c.weight < 1)
        return core::Error::invalid("channel '" + c.name + "': weight " + std::to_string(c.weight) +
                                    " must be at least 1");
    if (c.timeout_ms < 0)
        return core::Error::invalid("channel '" + c.name + "': timeout_ms " +
                                    std::to_string(c.timeout_ms) +
                                    " is negative: use 0 for the adapter's default");
    if (!c.proxy.empty() && c.proxy.rfind("http://", 0) != 0 && c.proxy.rfind("https://", 0) != 0)
        return core::Error::invalid("channel '" + c.name + "': proxy '" + c.proxy +
                                    "' must be an http:// or https:// URL, or empty for none");
    for (const auto& k : c.keys)
        if (k.sealed_key.empty())
            return core::Error::invalid("channel '" + c.name + "': an upstream key is empty");
    return {};
}

Channel find_or_fail(soci::session& s, const std::string& name) {
    auto found = fetch(s, " WHERE name = :name", &name);
    if (found.empty()) throw StoreFailure(unknown_channel(name));
    return std::move(found.front());
}

ChannelKey insert_key(soci::session& s, long long channel_id, const std::string& sealed,
                      bool enabled) {
    ChannelKey k;
    k.channel_id = channel_id;
    k.sealed_key = sealed;
    k.enabled = enabled;
    k.created_at = now_seconds();
    int flag = enabled ? 1 : 0;
    long long disabled_at = k.created_at;
    soci::indicator disabled_ind = enabled ? soci::i_null : soci::i_ok;
    s << "INSERT INTO channel_keys (channel_id, sealed_key, enabled, disabled_reason, "
         "disabled_at, created_at) VALUES (:channel, :sealed, :enabled, '', :disabled_at, :at)",
        soci::use(k.channel_id), soci::use(k.sealed_key), soci::use(flag),
        soci::use(disabled_at, disabled_ind), soci::use(k.created_at);
    if (!enabled) k.disabled_at = disabled_at;
    s.get_last_insert_id("channel_keys", k.id);
    return k;
}

//! Writes every column of `c` to the row `id` (the legacy config key already moved out).
void write_row(soci::session& s, const Channel& c, long long id) {
    std::string models = c.models.dump(), model_map = c.model_map.dump(), config = c.config.dump(),
                tags = string_list_text(c.tags);
    int enabled = c.enabled ? 1 : 0;
    long long at = now_seconds();
    try {
        s << "UPDATE channels SET name = :name, type = :type, base_url = :url, models = :models, "
             "model_map = :map, config = :config, enabled = :enabled, priority = :priority, "
             "weight = :weight, proxy = :proxy, timeout_ms = :timeout, tags = :tags, "
             "updated_at = :at WHERE id = :id",
            soci::use(c.name), soci::use(c.type), soci::use(c.base_url), soci::use(models),
            soci::use(model_map), soci::use(config), soci::use(enabled), soci::use(c.priority),
            soci::use(c.weight), soci::use(c.proxy), soci::use(c.timeout_ms), soci::use(tags),
            soci::use(at), soci::use(id);
    } catch (const soci::soci_error& e) {
        if (is_unique_violation(e)) throw StoreFailure(duplicate(c.name));
        throw;
    }
}

core::Error unknown_key(long long key_id) {
    return {core::ErrorKind::not_found,
            "there is no upstream key with id " + std::to_string(key_id) +
                ": list the channels to see their keys",
            {}};
}

}  // namespace

core::Result<Channel> create(Database& db, const Channel& channel) {
    if (auto ok = validate(channel); !ok) return ok.take_error();
    return db.with_transaction("create channel '" + channel.name + "'", [&](soci::session& s) {
        bump_config_revision(s);
        return create(s, channel);
    });
}

Channel create(soci::session& s, const Channel& channel) {
    int taken = 0;
    s << "SELECT COUNT(*) FROM channels WHERE name = :name", soci::use(channel.name),
        soci::into(taken);
    if (taken > 0) throw StoreFailure(duplicate(channel.name));
    Channel created = channel;
    created.keys.clear();
    created.created_at = now_seconds();
    created.updated_at = created.created_at;
    std::string sealed = legacy_key(created.config);
    created.config.erase("api_key");
    std::string models = created.models.dump(), model_map = created.model_map.dump(),
                config = created.config.dump(), tags = string_list_text(created.tags);
    int enabled = created.enabled ? 1 : 0;
    try {
        s << "INSERT INTO channels (name, type, base_url, models, model_map, config, enabled, "
             "created_at, priority, weight, proxy, timeout_ms, tags, updated_at) "
             "VALUES (:name, :type, :url, :models, :map, :config, :enabled, :at, :priority, "
             ":weight, :proxy, :timeout, :tags, :updated)",
            soci::use(created.name), soci::use(created.type), soci::use(created.base_url),
            soci::use(models), soci::use(model_map), soci::use(config), soci::use(enabled),
            soci::use(created.created_at), soci::use(created.priority), soci::use(created.weight),
            soci::use(created.proxy), soci::use(created.timeout_ms), soci::use(tags),
            soci::use(created.updated_at);
    } catch (const soci::soci_error& e) {
        if (is_unique_violation(e)) throw StoreFailure(duplicate(channel.name));
        throw;
    }
    s.get_last_insert_id("channels", created.id);
    if (!sealed.empty()) created.keys.push_back(insert_key(s, created.id, sealed, true));
    for (const auto& k : channel.keys)
        created.keys.push_back(insert_key(s, created.id, k.sealed_key, k.enabled));
    if (!sealed.empty()) created.config["api_key"] = sealed;
    return created;
}

core::Result<std::vector<Channel>> list(Database& db) {
    return db.with_session("list channels",
                           [&](soci::session& s) { return fetch(s, " ORDER BY id", nullptr); });
}

core::Result<std::optional<Channel>> find_by_name(Database& db, std::string_view name) {
    return db.with_session("find channel '" + std::string(name) + "'",
                           [&](soci::session& s) { return find_by_name(s, name); });
}

std::optional<Channel> find_by_name(soci::session& s, std::string_view name) {
    std::string key(name);
    auto found = fetch(s, " WHERE name = :name", &key);
    return found.empty() ? std::optional<Channel>()
                         : std::optional<Channel>(std::move(found.front()));
}

core::Result<Channel> update(Database& db, std::string_view name, const ChannelChanges& changes) {
    std::string key(name);
    return db.with_transaction("update channel '" + key + "'", [&](soci::session& s) {
        bump_config_revision(s);
        return update(s, key, changes);
    });
}

Channel update(soci::session& s, std::string_view name, const ChannelChanges& changes) {
    std::string key(name);
    Channel c = find_or_fail(s, key);
    // The key reads put into config for old callers is not part of the stored config.
    c.config.erase("api_key");
    if (changes.name) c.name = *changes.name;
    if (changes.type) c.type = *changes.type;
    if (changes.base_url) c.base_url = *changes.base_url;
    if (changes.models) c.models = *changes.models;
    if (changes.model_map) c.model_map = *changes.model_map;
    if (changes.config) c.config = *changes.config;
    if (changes.enabled) c.enabled = *changes.enabled;
    if (changes.priority) c.priority = *changes.priority;
    if (changes.weight) c.weight = *changes.weight;
    if (changes.proxy) c.proxy = *changes.proxy;
    if (changes.timeout_ms) c.timeout_ms = *changes.timeout_ms;
    if (changes.tags) c.tags = *changes.tags;
    if (auto ok = validate(c); !ok) throw StoreFailure(ok.take_error());
    if (c.name != key) {
        int taken = 0;
        s << "SELECT COUNT(*) FROM channels WHERE name = :name", soci::use(c.name),
            soci::into(taken);
        if (taken > 0) throw StoreFailure(duplicate(c.name));
    }
    // A config["api_key"] written by an old caller becomes a key unless it is one already.
    std::string sealed = legacy_key(c.config);
    c.config.erase("api_key");
    write_row(s, c, c.id);
    bool known = sealed.empty();
    for (const auto& k : c.keys) known = known || k.sealed_key == sealed;
    if (!known) insert_key(s, c.id, sealed, true);
    return find_or_fail(s, c.name);
}

core::Result<void> remove(Database& db, std::string_view name) {
    std::string key(name);
    return db.with_transaction("remove channel '" + key + "'", [&](soci::session& s) {
        bump_config_revision(s);
        long long id = 0;
        s << "SELECT id FROM channels WHERE name = :name", soci::use(key), soci::into(id);
        if (!s.got_data()) throw StoreFailure(unknown_channel(key));
        // Explicit, not only ON DELETE CASCADE: the cascade needs SQLite's foreign_keys pragma.
        s << "DELETE FROM channel_keys WHERE channel_id = :id", soci::use(id);
        s << "DELETE FROM channels WHERE id = :id", soci::use(id);
    });
}

core::Result<void> set_enabled(Database& db, std::string_view name, bool enabled) {
    std::string key(name);
    return db.with_transaction(
        std::string(enabled ? "enable" : "disable") + " channel '" + key + "'",
        [&](soci::session& s) {
            bump_config_revision(s);
            int found = 0;
            s << "SELECT COUNT(*) FROM channels WHERE name = :name", soci::use(key),
                soci::into(found);
            if (found == 0) throw StoreFailure(unknown_channel(key));
            int flag = enabled ? 1 : 0;
            long long at = now_seconds();
            s << "UPDATE channels SET enabled = :enabled, updated_at = :at WHERE name = :name",
                soci::use(flag), soci::use(at), soci::use(key);
        });
}

core::Result<ChannelKey> add_key(Database& db, std::string_view channel,
                                 std::string_view sealed_key) {
    std::string name(channel);
    if (sealed_key.empty())
        return core::Error::invalid("the upstream key for channel '" + name +
                                    "' is empty: pass --key");
    return db.with_transaction("add a key to channel '" + name + "'", [&](soci::session& s) {
        bump_config_revision(s);
        return add_key(s, name, sealed_key);
    });
}

ChannelKey add_key(soci::session& s, std::string_view channel, std::string_view sealed_key) {
    std::string name(channel), sealed(sealed_key);
    if (sealed.empty())
        throw StoreFailure(core::Error::invalid("the upstream key for channel '" + name +
                                                "' is empty: pass --key"));
    long long id = 0;
    s << "SELECT id FROM channels WHERE name = :name", soci::use(name), soci::into(id);
    if (!s.got_data()) throw StoreFailure(unknown_channel(name));
    return insert_key(s, id, sealed, true);
}

core::Result<void> remove_key(Database& db, long long key_id) {
    return db.with_transaction("remove upstream key " + std::to_string(key_id),
                               [&](soci::session& s) {
                                   bump_config_revision(s);
                                   remove_key(s, key_id);
                               });
}

void remove_key(soci::session& s, long long key_id) {
    soci::statement st =
        (s.prepare << "DELETE FROM channel_keys WHERE id = :id", soci::use(key_id));
    st.execute(true);
    if (st.get_affected_rows() == 0) throw StoreFailure(unknown_key(key_id));
}

core::Result<void> set_key_enabled(Database& db, long long key_id, bool enabled,
                                   std::string_view reason) {
    return db.with_transaction(
        std::string(enabled ? "enable" : "disable") + " upstream key " + std::to_string(key_id),
        [&](soci::session& s) {
            bump_config_revision(s);
            set_key_enabled(s, key_id, enabled, reason);
        });
}

void set_key_enabled(soci::session& s, long long key_id, bool enabled, std::string_view reason) {
    std::string why(enabled ? "" : reason);
    int flag = enabled ? 1 : 0;
    long long at = now_seconds();
    soci::indicator at_ind = enabled ? soci::i_null : soci::i_ok;
    // Counted first: MySQL reports 0 affected rows for an UPDATE that changes nothing.
    int found = 0;
    s << "SELECT COUNT(*) FROM channel_keys WHERE id = :id", soci::use(key_id), soci::into(found);
    if (found == 0) throw StoreFailure(unknown_key(key_id));
    s << "UPDATE channel_keys SET enabled = :enabled, disabled_reason = :reason, "
         "disabled_at = :at WHERE id = :id",
        soci::use(flag), soci::use(why), soci::use(at, at_ind), soci::use(key_id);
}

void apply(const ChannelChanges& ch, Channel& c) {
    if (ch.name) c.name = *ch.name;
    if (ch.type) c.type = *ch.type;
    if (ch.base_url) c.base_url = *ch.base_url;
    if (ch.models) c.models = *ch.models;
    if (ch.model_map) c.model_map = *ch.model_map;
    if (ch.config) c.config = *ch.config;
    if (ch.enabled) c.enabled = *ch.enabled;
    if (ch.priority) c.priority = *ch.priority;
    if (ch.weight) c.weight = *ch.weight;
    if (ch.proxy) c.proxy = *ch.proxy;
    if (ch.timeout_ms) c.timeout_ms = *ch.timeout_ms;
    if (ch.tags) c.tags = *ch.tags;
}

}  // namespace tianshu::store::channels
