#include "store/tiers.hpp"

#include "store/settings.hpp"

#include <soci/soci.h>

namespace tianshu::store {
namespace {

core::Error unknown_tier(std::string_view name) {
    return {core::ErrorKind::not_found,
            "there is no tier named '" + std::string(name) +
                "': list the tiers to see their names, or create it first",
            {}};
}

core::Result<void> check_ratio(std::string_view name, long long ratio) {
    if (ratio < 0)
        return core::Error::invalid("tier '" + std::string(name) + "': price ratio " +
                                    std::to_string(ratio) +
                                    " ppm is negative: use 1000000 for the list price");
    return {};
}

std::vector<Tier> fetch(soci::session& s, const std::string& where, const std::string* name) {
    Tier t;
    int route_header = 1;
    std::vector<Tier> out;
    soci::statement st(s);
    st.exchange(soci::into(t.name));
    st.exchange(soci::into(t.price_ratio_ppm));
    st.exchange(soci::into(t.description));
    st.exchange(soci::into(t.created_at));
    st.exchange(soci::into(route_header));
    if (name) st.exchange(soci::use(*name));
    st.alloc();
    st.prepare("SELECT name, price_ratio_ppm, description, created_at, route_header FROM tiers" +
               where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        t.route_header = route_header != 0;
        out.push_back(t);
    }
    return out;
}

}  // namespace

void require_tier(soci::session& s, const std::string& tier) {
    int found = 0;
    s << "SELECT COUNT(*) FROM tiers WHERE name = :name", soci::use(tier), soci::into(found);
    if (found == 0) throw StoreFailure(unknown_tier(tier));
}

namespace tiers {

core::Result<Tier> create(Database& db, const Tier& tier) {
    if (tier.name.empty()) return core::Error::invalid("a tier needs a name: pass --name");
    if (tier.name.size() > 64)
        return core::Error::invalid("tier name '" + tier.name +
                                    "' is longer than 64 characters: choose a shorter --name");
    if (auto ok = check_ratio(tier.name, tier.price_ratio_ppm); !ok) return ok.take_error();
    return db.with_transaction("create tier '" + tier.name + "'", [&](soci::session& s) {
        bump_config_revision(s);
        int taken = 0;
        s << "SELECT COUNT(*) FROM tiers WHERE name = :name", soci::use(tier.name),
            soci::into(taken);
        if (taken > 0)
            throw StoreFailure(core::Error::invalid("a tier named '" + tier.name +
                                                    "' already exists: choose another --name"));
        Tier created = tier;
        created.created_at = now_seconds();
        s << "INSERT INTO tiers (name, price_ratio_ppm, description, created_at) "
             "VALUES (:name, :ratio, :description, :at)",
            soci::use(created.name), soci::use(created.price_ratio_ppm),
            soci::use(created.description), soci::use(created.created_at);
        return created;
    });
}

core::Result<std::vector<Tier>> list(Database& db) {
    return db.with_session("list tiers",
                           [&](soci::session& s) { return fetch(s, " ORDER BY name", nullptr); });
}

core::Result<std::optional<Tier>> find(Database& db, std::string_view name) {
    std::string key(name);
    return db.with_session("find tier '" + key + "'", [&](soci::session& s) {
        auto found = fetch(s, " WHERE name = :name", &key);
        return found.empty() ? std::optional<Tier>() : std::optional<Tier>(found.front());
    });
}

core::Result<void> set_ratio(Database& db, std::string_view name, long long price_ratio_ppm) {
    if (auto ok = check_ratio(name, price_ratio_ppm); !ok) return ok.take_error();
    std::string key(name);
    return db.with_transaction("set the price ratio of tier '" + key + "'", [&](soci::session& s) {
        bump_config_revision(s);
        require_tier(s, key);
        s << "UPDATE tiers SET price_ratio_ppm = :ratio WHERE name = :name",
            soci::use(price_ratio_ppm), soci::use(key);
    });
}

core::Result<void> set_route_header(Database& db, std::string_view name, bool shown) {
    std::string key(name);
    int value = shown ? 1 : 0;
    return db.with_transaction("set the route header of tier '" + key + "'", [&](soci::session& s) {
        bump_config_revision(s);
        require_tier(s, key);
        s << "UPDATE tiers SET route_header = :shown WHERE name = :name", soci::use(value),
            soci::use(key);
    });
}

core::Result<void> remove(Database& db, std::string_view name) {
    std::string key(name);
    return db.with_transaction("remove tier '" + key + "'", [&](soci::session& s) {
        bump_config_revision(s);
        require_tier(s, key);
        long long members = 0;
        s << "SELECT COUNT(*) FROM users WHERE tier = :name", soci::use(key), soci::into(members);
        if (members > 0)
            throw StoreFailure(core::Error::invalid(
                "tier '" + key + "' still has " + std::to_string(members) + " user" +
                (members == 1 ? "" : "s") + ": move them to another tier first"));
        s << "DELETE FROM tiers WHERE name = :name", soci::use(key);
    });
}

}  // namespace tiers
}  // namespace tianshu::store
