#include "store/channels.hpp"

#include "store/settings.hpp"

#include <soci/soci.h>

namespace tianshu::store::channels {
namespace {

core::Error duplicate(std::string_view name) {
    return core::Error::invalid("a channel named '" + std::string(name) +
                                "' already exists: choose another --name");
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

std::vector<Channel> fetch(soci::session& s, const std::string& where, const std::string* name) {
    Channel c;
    std::string models, model_map, config;
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
    if (name) st.exchange(soci::use(*name));
    st.alloc();
    st.prepare(
        "SELECT id, name, type, base_url, models, model_map, config, enabled, created_at FROM "
        "channels" +
        where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        Channel row = c;
        row.models = parse_column(models, c, "models");
        row.model_map = parse_column(model_map, c, "model_map");
        row.config = parse_column(config, c, "config");
        row.enabled = enabled != 0;
        out.push_back(std::move(row));
    }
    return out;
}

}  // namespace

core::Result<Channel> create(Database& db, const Channel& channel) {
    if (channel.name.empty()) return core::Error::invalid("a channel needs a name: pass --name");
    if (channel.name.size() > 255)
        return core::Error::invalid("channel name is longer than 255 characters");
    if (channel.type.empty())
        return core::Error::invalid("channel '" + channel.name +
                                    "' needs a type (the adapter plugin name)");
    if (!channel.models.is_array())
        return core::Error::invalid("channel '" + channel.name +
                                    "': models must be a JSON array of model names");
    for (const auto& m : channel.models)
        if (!m.is_string())
            return core::Error::invalid("channel '" + channel.name +
                                        "': every entry of models must be a string, got " +
                                        m.dump());
    if (!channel.model_map.is_object())
        return core::Error::invalid("channel '" + channel.name +
                                    "': model_map must be a JSON object");
    if (!channel.config.is_object())
        return core::Error::invalid("channel '" + channel.name + "': config must be a JSON object");
    return db.with_transaction("create channel '" + channel.name + "'", [&](soci::session& s) {
        bump_config_revision(s);
        int taken = 0;
        s << "SELECT COUNT(*) FROM channels WHERE name = :name", soci::use(channel.name),
            soci::into(taken);
        if (taken > 0) throw StoreFailure(duplicate(channel.name));
        Channel created = channel;
        created.created_at = now_seconds();
        std::string models = channel.models.dump(), model_map = channel.model_map.dump(),
                    config = channel.config.dump();
        int enabled = channel.enabled ? 1 : 0;
        try {
            s << "INSERT INTO channels (name, type, base_url, models, model_map, config, enabled, "
                 "created_at) "
                 "VALUES (:name, :type, :url, :models, :map, :config, :enabled, :at)",
                soci::use(created.name), soci::use(created.type), soci::use(created.base_url),
                soci::use(models), soci::use(model_map), soci::use(config), soci::use(enabled),
                soci::use(created.created_at);
        } catch (const soci::soci_error& e) {
            if (is_unique_violation(e)) throw StoreFailure(duplicate(channel.name));
            throw;
        }
        s.get_last_insert_id("channels", created.id);
        return created;
    });
}

core::Result<std::vector<Channel>> list(Database& db) {
    return db.with_session("list channels",
                           [&](soci::session& s) { return fetch(s, " ORDER BY id", nullptr); });
}

core::Result<std::optional<Channel>> find_by_name(Database& db, std::string_view name) {
    return db.with_session("find channel '" + std::string(name) + "'", [&](soci::session& s) {
        std::string key(name);
        auto found = fetch(s, " WHERE name = :name", &key);
        return found.empty() ? std::optional<Channel>()
                             : std::optional<Channel>(std::move(found.front()));
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
            if (found == 0)
                throw StoreFailure({core::ErrorKind::not_found,
                                    "there is no channel named '" + key +
                                        "': list the channels to see their names",
                                    {}});
            int flag = enabled ? 1 : 0;
            s << "UPDATE channels SET enabled = :enabled WHERE name = :name", soci::use(flag),
                soci::use(key);
        });
}

}  // namespace tianshu::store::channels
