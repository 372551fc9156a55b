#include "store/users.hpp"

#include "store/settings.hpp"
#include "store/tiers.hpp"

#include <soci/soci.h>

#include <cctype>

namespace tianshu::store {
namespace {

constexpr const char* select_users =
    "SELECT id, name, role, tier, password_hash, created_at, balance, invite_code, invited_by, "
    "enabled FROM users";

core::Error duplicate(std::string_view name) {
    return core::Error::invalid("a user named '" + std::string(name) +
                                "' already exists: choose another --name");
}

core::Error unknown_user(long long id) {
    return {
        core::ErrorKind::not_found,
        "there is no user with id " + std::to_string(id) + ": list the users to find the right id",
        {}};
}

core::Result<void> check_role(std::string_view role) {
    if (role != "root" && role != "admin" && role != "user")
        return core::Error::invalid("role '" + std::string(role) +
                                    "' is not one of root, admin, user");
    return {};
}

//! Runs SELECT ... FROM users + where, with at most one text or one id parameter.
std::vector<User> fetch(soci::session& s, const std::string& where, const std::string* text,
                        const long long* id) {
    User u;
    std::string invite_code;
    long long invited_by = 0;
    int enabled = 1;
    soci::indicator code_ind = soci::i_null, inviter_ind = soci::i_null;
    std::vector<User> out;
    soci::statement st(s);
    st.exchange(soci::into(u.id));
    st.exchange(soci::into(u.name));
    st.exchange(soci::into(u.role));
    st.exchange(soci::into(u.tier));
    st.exchange(soci::into(u.password_hash));
    st.exchange(soci::into(u.created_at));
    st.exchange(soci::into(u.balance));
    st.exchange(soci::into(invite_code, code_ind));
    st.exchange(soci::into(invited_by, inviter_ind));
    st.exchange(soci::into(enabled));
    if (text) st.exchange(soci::use(*text));
    if (id) st.exchange(soci::use(*id));
    st.alloc();
    st.prepare(std::string(select_users) + where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        User row = u;
        row.invite_code =
            code_ind == soci::i_null ? std::nullopt : std::optional<std::string>(invite_code);
        row.invited_by =
            inviter_ind == soci::i_null ? std::nullopt : std::optional<long long>(invited_by);
        row.enabled = enabled != 0;
        out.push_back(std::move(row));
    }
    return out;
}

std::optional<User> first(std::vector<User> found) {
    return found.empty() ? std::optional<User>() : std::optional<User>(std::move(found.front()));
}

}  // namespace

void require_user(soci::session& s, long long user_id) {
    int found = 0;
    s << "SELECT COUNT(*) FROM users WHERE id = :id", soci::use(user_id), soci::into(found);
    if (found == 0) throw StoreFailure(unknown_user(user_id));
}

namespace users {

core::Result<User> create(Database& db, const NewUser& user, std::optional<long long> invited_by) {
    if (user.name.empty()) return core::Error::invalid("a user needs a name: pass --name");
    if (user.name.size() > 255)
        return core::Error::invalid(
            "user name is longer than 255 characters: choose a shorter --name");
    if (auto ok = check_role(user.role); !ok) return ok.take_error();
    if (user.tier.empty()) return core::Error::invalid("a user needs a tier: pass --tier");
    return db.with_transaction("create user '" + user.name + "'", [&](soci::session& s) {
        bump_config_revision(s);
        return create(s, user, invited_by);
    });
}

User create(soci::session& s, const NewUser& user, std::optional<long long> invited_by) {
    int taken = 0;
    s << "SELECT COUNT(*) FROM users WHERE name = :name", soci::use(user.name), soci::into(taken);
    if (taken > 0) throw StoreFailure(duplicate(user.name));
    require_tier(s, user.tier);
    if (invited_by) require_user(s, *invited_by);
    User created;
    created.name = user.name;
    created.role = user.role;
    created.tier = user.tier;
    created.password_hash = user.password_hash;
    created.created_at = now_seconds();
    created.invited_by = invited_by;
    long long inviter = invited_by.value_or(0);
    soci::indicator inviter_ind = invited_by ? soci::i_ok : soci::i_null;
    try {
        s << "INSERT INTO users (name, role, tier, password_hash, created_at, balance, "
             "invited_by, enabled) VALUES (:name, :role, :tier, :hash, :at, 0, :inviter, 1)",
            soci::use(created.name), soci::use(created.role), soci::use(created.tier),
            soci::use(created.password_hash), soci::use(created.created_at),
            soci::use(inviter, inviter_ind);
    } catch (const soci::soci_error& e) {
        if (is_unique_violation(e)) throw StoreFailure(duplicate(user.name));
        throw;
    }
    s.get_last_insert_id("users", created.id);
    return created;
}

core::Result<std::optional<User>> find_by_name(Database& db, std::string_view name) {
    return db.with_session("find user '" + std::string(name) + "'",
                           [&](soci::session& s) { return find_by_name(s, name); });
}

std::optional<User> find_by_name(soci::session& s, std::string_view name) {
    std::string key(name);
    return first(fetch(s, " WHERE name = :name", &key, nullptr));
}

core::Result<std::optional<User>> find_by_id(Database& db, long long id) {
    return db.with_session("find user " + std::to_string(id), [&](soci::session& s) {
        return first(fetch(s, " WHERE id = :id", nullptr, &id));
    });
}

core::Result<std::optional<User>> find_by_invite_code(Database& db, std::string_view code) {
    return db.with_session("find the user with an invite code", [&](soci::session& s) {
        std::string key(code);
        return first(fetch(s, " WHERE invite_code = :code", &key, nullptr));
    });
}

core::Result<std::vector<User>> list(Database& db) {
    return db.with_session(
        "list users", [&](soci::session& s) { return fetch(s, " ORDER BY id", nullptr, nullptr); });
}

core::Result<long long> count(Database& db) {
    return db.with_session("count users", [&](soci::session& s) {
        long long n = 0;
        s << "SELECT COUNT(*) FROM users", soci::into(n);
        return n;
    });
}

core::Result<void> set_tier(Database& db, long long user_id, std::string_view tier) {
    std::string name(tier);
    return db.with_transaction("move user " + std::to_string(user_id) + " to tier '" + name + "'",
                               [&](soci::session& s) {
                                   bump_config_revision(s);
                                   set_tier(s, user_id, name);
                               });
}

void set_tier(soci::session& s, long long user_id, std::string_view tier) {
    std::string name(tier);
    require_user(s, user_id);
    require_tier(s, name);
    s << "UPDATE users SET tier = :tier WHERE id = :id", soci::use(name), soci::use(user_id);
}

core::Result<void> set_role(Database& db, long long user_id, std::string_view role) {
    if (auto ok = check_role(role); !ok) return ok.take_error();
    return db.with_transaction("set the role of user " + std::to_string(user_id),
                               [&](soci::session& s) {
                                   bump_config_revision(s);
                                   set_role(s, user_id, role);
                               });
}

void set_role(soci::session& s, long long user_id, std::string_view role) {
    if (auto ok = check_role(role); !ok) throw StoreFailure(ok.take_error());
    std::string value(role);
    require_user(s, user_id);
    s << "UPDATE users SET role = :role WHERE id = :id", soci::use(value), soci::use(user_id);
}

core::Result<void> set_enabled(Database& db, long long user_id, bool enabled) {
    return db.with_transaction(
        std::string(enabled ? "enable" : "disable") + " user " + std::to_string(user_id),
        [&](soci::session& s) {
            bump_config_revision(s);
            set_enabled(s, user_id, enabled);
        });
}

void set_enabled(soci::session& s, long long user_id, bool enabled) {
    int flag = enabled ? 1 : 0;
    require_user(s, user_id);
    s << "UPDATE users SET enabled = :enabled WHERE id = :id", soci::use(flag), soci::use(user_id);
}

core::Result<void> set_invite_code(Database& db, long long user_id,
                                   std::optional<std::string_view> code) {
    std::string value(code.value_or(""));
    if (code) {
        if (value.empty() || value.size() > 32)
            return core::Error::invalid("invite code '" + value +
                                        "' must be 1 to 32 characters long");
        for (char c : value)
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-')
                return core::Error::invalid("invite code '" + value +
                                            "' may only hold letters, digits, '_' and '-'");
    }
    soci::indicator ind = code ? soci::i_ok : soci::i_null;
    auto done = db.with_transaction(
        "set the invite code of user " + std::to_string(user_id), [&](soci::session& s) {
            bump_config_revision(s);
            require_user(s, user_id);
            try {
                s << "UPDATE users SET invite_code = :code WHERE id = :id", soci::use(value, ind),
                    soci::use(user_id);
            } catch (const soci::soci_error& e) {
                if (is_unique_violation(e))
                    throw StoreFailure(core::Error::invalid(
                        "invite code '" + value + "' belongs to another user: choose another"));
                throw;
            }
        });
    return done;
}

}  // namespace users
}  // namespace tianshu::store
