#include "store/api_keys.hpp"

#include "store/settings.hpp"

#include <soci/soci.h>

namespace tianshu::store::api_keys {
namespace {

std::vector<ApiKey> fetch(soci::session& s, const std::string& where, const long long* user_id) {
    ApiKey k;
    long long revoked = 0;
    soci::indicator revoked_ind = soci::i_null;
    std::vector<ApiKey> out;
    soci::statement st(s);
    st.exchange(soci::into(k.id));
    st.exchange(soci::into(k.user_id));
    st.exchange(soci::into(k.name));
    st.exchange(soci::into(k.key_prefix));
    st.exchange(soci::into(k.key_hash));
    st.exchange(soci::into(k.created_at));
    st.exchange(soci::into(revoked, revoked_ind));
    if (user_id) st.exchange(soci::use(*user_id));
    st.alloc();
    st.prepare(
        "SELECT id, user_id, name, key_prefix, key_hash, created_at, revoked_at FROM api_keys" +
        where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        k.revoked_at =
            revoked_ind == soci::i_null ? std::nullopt : std::optional<long long>(revoked);
        out.push_back(k);
    }
    return out;
}

}  // namespace

core::Result<ApiKey> create(Database& db, long long user_id, std::string_view name,
                            std::string_view key_prefix, std::string_view key_hash) {
    if (name.empty()) return core::Error::invalid("an API key needs a name: pass --name");
    if (key_hash.empty() || key_hash.size() > 128)
        return core::Error::invalid("an API key hash must be 1 to 128 characters");
    if (key_prefix.size() > 32)
        return core::Error::invalid("an API key prefix must be at most 32 characters");
    return db.with_transaction("create API key '" + std::string(name) + "'", [&](soci::session& s) {
        bump_config_revision(s);
        int users = 0;
        s << "SELECT COUNT(*) FROM users WHERE id = :id", soci::use(user_id), soci::into(users);
        if (users == 0)
            throw StoreFailure(
                {core::ErrorKind::not_found,
                 "there is no user with id " + std::to_string(user_id) + ": create the user first",
                 {}});
        ApiKey key{0,
                   user_id,
                   std::string(name),
                   std::string(key_prefix),
                   std::string(key_hash),
                   now_seconds(),
                   {}};
        try {
            s << "INSERT INTO api_keys (user_id, name, key_prefix, key_hash, created_at) "
                 "VALUES (:user, :name, :prefix, :hash, :at)",
                soci::use(key.user_id), soci::use(key.name), soci::use(key.key_prefix),
                soci::use(key.key_hash), soci::use(key.created_at);
        } catch (const soci::soci_error& e) {
            if (is_unique_violation(e))
                throw StoreFailure(
                    core::Error::invalid("this API key is already stored: generate a new key"));
            throw;
        }
        s.get_last_insert_id("api_keys", key.id);
        return key;
    });
}

core::Result<std::optional<KeyOwner>> find_by_hash(Database& db, std::string_view key_hash) {
    return db.with_session("look up an API key", [&](soci::session& s) {
        std::string hash(key_hash);
        KeyOwner o;
        s << "SELECT k.id, k.name, k.key_prefix, u.id, u.name, u.role, u.tier "
             "FROM api_keys k JOIN users u ON u.id = k.user_id "
             "WHERE k.key_hash = :hash AND k.revoked_at IS NULL",
            soci::use(hash), soci::into(o.key_id), soci::into(o.key_name), soci::into(o.key_prefix),
            soci::into(o.user_id), soci::into(o.user_name), soci::into(o.role), soci::into(o.tier);
        return s.got_data() ? std::optional<KeyOwner>(std::move(o)) : std::nullopt;
    });
}

core::Result<std::vector<ApiKey>> list(Database& db, std::optional<long long> user_id) {
    return db.with_session("list API keys", [&](soci::session& s) {
        return user_id ? fetch(s, " WHERE user_id = :user ORDER BY id", &*user_id)
                       : fetch(s, " ORDER BY id", nullptr);
    });
}

core::Result<void> revoke(Database& db, long long key_id) {
    return db.with_transaction("revoke API key " + std::to_string(key_id), [&](soci::session& s) {
        bump_config_revision(s);
        long long at = now_seconds();
        soci::statement st =
            (s.prepare
                 << "UPDATE api_keys SET revoked_at = :at WHERE id = :id AND revoked_at IS NULL",
             soci::use(at), soci::use(key_id));
        st.execute(true);
        if (st.get_affected_rows() == 0)
            throw StoreFailure({core::ErrorKind::not_found,
                                "there is no live API key with id " + std::to_string(key_id) +
                                    ": list the keys to find its id (it may already be revoked)",
                                {}});
    });
}

}  // namespace tianshu::store::api_keys
