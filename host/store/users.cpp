#include "store/users.hpp"

#include "store/settings.hpp"

#include <soci/soci.h>

namespace tianshu::store::users {
namespace {

constexpr const char* select_users =
    "SELECT id, name, role, tier, password_hash, created_at FROM users";

core::Error duplicate(std::string_view name) {
    return core::Error::invalid("a user named '" + std::string(name) +
                                "' already exists: choose another --name");
}

std::vector<User> fetch(soci::session& s, const std::string& where, const std::string* param) {
    User u;
    std::vector<User> out;
    soci::statement st(s);
    st.exchange(soci::into(u.id));
    st.exchange(soci::into(u.name));
    st.exchange(soci::into(u.role));
    st.exchange(soci::into(u.tier));
    st.exchange(soci::into(u.password_hash));
    st.exchange(soci::into(u.created_at));
    if (param) st.exchange(soci::use(*param));
    st.alloc();
    st.prepare(std::string(select_users) + where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) out.push_back(u);
    return out;
}

}  // namespace

core::Result<User> create(Database& db, const NewUser& user) {
    if (user.name.empty()) return core::Error::invalid("a user needs a name: pass --name");
    if (user.name.size() > 255)
        return core::Error::invalid(
            "user name is longer than 255 characters: choose a shorter --name");
    if (user.role != "root" && user.role != "admin" && user.role != "user")
        return core::Error::invalid("role '" + user.role + "' is not one of root, admin, user");
    if (user.tier.empty()) return core::Error::invalid("a user needs a tier: pass --tier");
    return db.with_transaction("create user '" + user.name + "'", [&](soci::session& s) {
        bump_config_revision(s);
        int taken = 0;
        s << "SELECT COUNT(*) FROM users WHERE name = :name", soci::use(user.name),
            soci::into(taken);
        if (taken > 0) throw StoreFailure(duplicate(user.name));
        User created{0, user.name, user.role, user.tier, user.password_hash, now_seconds()};
        try {
            s << "INSERT INTO users (name, role, tier, password_hash, created_at) "
                 "VALUES (:name, :role, :tier, :hash, :at)",
                soci::use(created.name), soci::use(created.role), soci::use(created.tier),
                soci::use(created.password_hash), soci::use(created.created_at);
        } catch (const soci::soci_error& e) {
            if (is_unique_violation(e)) throw StoreFailure(duplicate(user.name));
            throw;
        }
        s.get_last_insert_id("users", created.id);
        return created;
    });
}

core::Result<std::optional<User>> find_by_name(Database& db, std::string_view name) {
    return db.with_session("find user '" + std::string(name) + "'", [&](soci::session& s) {
        std::string key(name);
        auto found = fetch(s, " WHERE name = :name", &key);
        return found.empty() ? std::optional<User>()
                             : std::optional<User>(std::move(found.front()));
    });
}

core::Result<std::vector<User>> list(Database& db) {
    return db.with_session("list users",
                           [&](soci::session& s) { return fetch(s, " ORDER BY id", nullptr); });
}

core::Result<long long> count(Database& db) {
    return db.with_session("count users", [&](soci::session& s) {
        long long n = 0;
        s << "SELECT COUNT(*) FROM users", soci::into(n);
        return n;
    });
}

}  // namespace tianshu::store::users
