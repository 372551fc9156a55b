#include "store/api_keys.hpp"

#include "store/json_columns.hpp"
#include "store/settings.hpp"
#include "store/users.hpp"

#include <arpa/inet.h>
#include <soci/soci.h>

#include <charconv>

namespace tianshu::store {
namespace {

//! The limit columns of one api_keys row as SOCI reads them (values plus NULL indicators).
struct LimitColumns {
    long long quota_limit = 0, quota_used = 0, expires_at = 0;
    soci::indicator quota_ind = soci::i_null, expires_ind = soci::i_null;
    std::string ip_allow, ip_deny, models;
    int rpm = 0, tpm = 0;
    soci::indicator rpm_ind = soci::i_null, tpm_ind = soci::i_null;

    static constexpr const char* columns =
        "k.quota_limit, k.quota_used, k.expires_at, k.ip_allow, k.ip_deny, k.models, k.rpm, k.tpm";

    void exchange(soci::statement& st) {
        st.exchange(soci::into(quota_limit, quota_ind));
        st.exchange(soci::into(quota_used));
        st.exchange(soci::into(expires_at, expires_ind));
        st.exchange(soci::into(ip_allow));
        st.exchange(soci::into(ip_deny));
        st.exchange(soci::into(models));
        st.exchange(soci::into(rpm, rpm_ind));
        st.exchange(soci::into(tpm, tpm_ind));
    }

    KeyLimits limits(long long key_id) const {
        std::string row = "API key " + std::to_string(key_id);
        KeyLimits l;
        if (quota_ind != soci::i_null) l.quota_limit = quota_limit;
        if (expires_ind != soci::i_null) l.expires_at = expires_at;
        l.ip_allow = parse_string_list(ip_allow, row, "ip_allow");
        l.ip_deny = parse_string_list(ip_deny, row, "ip_deny");
        l.models = parse_string_list(models, row, "models");
        if (rpm_ind != soci::i_null) l.rpm = rpm;
        if (tpm_ind != soci::i_null) l.tpm = tpm;
        return l;
    }
};

std::vector<ApiKey> fetch(soci::session& s, const std::string& where, const long long* param) {
    ApiKey k;
    long long revoked = 0;
    soci::indicator revoked_ind = soci::i_null;
    LimitColumns limits;
    std::vector<ApiKey> out;
    soci::statement st(s);
    st.exchange(soci::into(k.id));
    st.exchange(soci::into(k.user_id));
    st.exchange(soci::into(k.name));
    st.exchange(soci::into(k.key_prefix));
    st.exchange(soci::into(k.key_hash));
    st.exchange(soci::into(k.created_at));
    st.exchange(soci::into(revoked, revoked_ind));
    limits.exchange(st);
    if (param) st.exchange(soci::use(*param));
    st.alloc();
    st.prepare(std::string("SELECT k.id, k.user_id, k.name, k.key_prefix, k.key_hash, "
                           "k.created_at, k.revoked_at, ") +
               LimitColumns::columns + " FROM api_keys k" + where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        ApiKey row = k;
        row.revoked_at =
            revoked_ind == soci::i_null ? std::nullopt : std::optional<long long>(revoked);
        row.limits = limits.limits(k.id);
        row.quota_used = limits.quota_used;
        out.push_back(std::move(row));
    }
    return out;
}

std::vector<KeyOwner> fetch_owners(soci::session& s, const std::string& where,
                                   const std::string* hash) {
    KeyOwner o;
    LimitColumns limits;
    int enabled = 1;
    std::vector<KeyOwner> out;
    soci::statement st(s);
    st.exchange(soci::into(o.key_id));
    st.exchange(soci::into(o.key_name));
    st.exchange(soci::into(o.key_prefix));
    st.exchange(soci::into(o.user_id));
    st.exchange(soci::into(o.user_name));
    st.exchange(soci::into(o.role));
    st.exchange(soci::into(o.tier));
    st.exchange(soci::into(o.key_hash));
    st.exchange(soci::into(o.balance));
    st.exchange(soci::into(o.tier_ratio_ppm));
    st.exchange(soci::into(enabled));
    limits.exchange(st);
    if (hash) st.exchange(soci::use(*hash));
    st.alloc();
    // A user whose tier row is missing pays the list price rather than vanishing from auth.
    st.prepare(std::string("SELECT k.id, k.name, k.key_prefix, u.id, u.name, u.role, u.tier, "
                           "k.key_hash, u.balance, COALESCE(t.price_ratio_ppm, 1000000), "
                           "u.enabled, ") +
               LimitColumns::columns +
               " FROM api_keys k JOIN users u ON u.id = k.user_id "
               "LEFT JOIN tiers t ON t.name = u.tier WHERE k.revoked_at IS NULL" +
               where);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        KeyOwner row = o;
        row.limits = limits.limits(o.key_id);
        row.quota_used = limits.quota_used;
        row.user_enabled = enabled != 0;
        out.push_back(std::move(row));
    }
    return out;
}

core::Result<void> validate_limits(const KeyLimits& l) {
    if (l.quota_limit && *l.quota_limit < 0)
        return core::Error::invalid("quota_limit " + std::to_string(*l.quota_limit) +
                                    " is negative: give the micros the key may spend, or no "
                                    "limit for unlimited");
    if (l.rpm && *l.rpm <= 0)
        return core::Error::invalid("rpm " + std::to_string(*l.rpm) +
                                    " must be at least 1, or unset for no limit");
    if (l.tpm && *l.tpm <= 0)
        return core::Error::invalid("tpm " + std::to_string(*l.tpm) +
                                    " must be at least 1, or unset for no limit");
    for (const auto* list : {&l.ip_allow, &l.ip_deny})
        for (const auto& cidr : *list)
            if (auto ok = validate_cidr(cidr); !ok)
                return core::Error::invalid(
                    std::string(list == &l.ip_allow ? "ip_allow" : "ip_deny") + ": " +
                    ok.error().message);
    for (const auto& m : l.models)
        if (m.empty())
            return core::Error::invalid(
                "models: an empty model pattern matches nothing: remove it");
    return {};
}

}  // namespace

core::Result<void> validate_cidr(std::string_view cidr) {
    auto slash = cidr.find('/');
    std::string address(cidr.substr(0, slash));
    bool v6 = address.find(':') != std::string::npos;
    unsigned char buffer[16];
    if (inet_pton(v6 ? AF_INET6 : AF_INET, address.c_str(), buffer) != 1)
        return core::Error::invalid("'" + std::string(cidr) +
                                    "' is not an IP address or CIDR such as 10.0.0.0/8 or "
                                    "2001:db8::/32");
    if (slash != std::string_view::npos) {
        std::string_view bits = cidr.substr(slash + 1);
        int value = -1;
        auto [end, ec] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
        int max = v6 ? 128 : 32;
        if (ec != std::errc{} || end != bits.data() + bits.size() || value < 0 || value > max)
            return core::Error::invalid("the prefix length in '" + std::string(cidr) +
                                        "' must be a number from 0 to " + std::to_string(max));
    }
    return {};
}

namespace api_keys {

core::Result<ApiKey> create(Database& db, long long user_id, std::string_view name,
                            std::string_view key_prefix, std::string_view key_hash) {
    if (name.empty()) return core::Error::invalid("an API key needs a name: pass --name");
    if (key_hash.empty() || key_hash.size() > 128)
        return core::Error::invalid("an API key hash must be 1 to 128 characters");
    if (key_prefix.size() > 32)
        return core::Error::invalid("an API key prefix must be at most 32 characters");
    return db.with_transaction("create API key '" + std::string(name) + "'", [&](soci::session& s) {
        bump_config_revision(s);
        return create(s, user_id, name, key_prefix, key_hash);
    });
}

ApiKey create(soci::session& s, long long user_id, std::string_view name,
              std::string_view key_prefix, std::string_view key_hash) {
    int users = 0;
    s << "SELECT COUNT(*) FROM users WHERE id = :id", soci::use(user_id), soci::into(users);
    if (users == 0)
        throw StoreFailure(
            {core::ErrorKind::not_found,
             "there is no user with id " + std::to_string(user_id) + ": create the user first",
             {}});
    ApiKey key;
    key.user_id = user_id;
    key.name = std::string(name);
    key.key_prefix = std::string(key_prefix);
    key.key_hash = std::string(key_hash);
    key.created_at = now_seconds();
    try {
        s << "INSERT INTO api_keys (user_id, name, key_prefix, key_hash, created_at, "
             "quota_used, ip_allow, ip_deny, models) "
             "VALUES (:user, :name, :prefix, :hash, :at, 0, '[]', '[]', '[]')",
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
}

core::Result<std::optional<KeyOwner>> find_by_hash(Database& db, std::string_view key_hash) {
    return db.with_session("look up an API key", [&](soci::session& s) {
        std::string hash(key_hash);
        auto found = fetch_owners(s, " AND k.key_hash = :hash", &hash);
        return found.empty() ? std::optional<KeyOwner>()
                             : std::optional<KeyOwner>(std::move(found.front()));
    });
}

core::Result<std::vector<KeyOwner>> list_live(Database& db) {
    return db.with_session("list the live API keys", [&](soci::session& s) {
        return fetch_owners(s, " ORDER BY k.id", nullptr);
    });
}

core::Result<std::optional<ApiKey>> find(Database& db, long long key_id) {
    return db.with_session("find API key " + std::to_string(key_id), [&](soci::session& s) {
        auto found = fetch(s, " WHERE k.id = :id", &key_id);
        return found.empty() ? std::optional<ApiKey>()
                             : std::optional<ApiKey>(std::move(found.front()));
    });
}

core::Result<std::vector<ApiKey>> list(Database& db, std::optional<long long> user_id) {
    return db.with_session("list API keys", [&](soci::session& s) {
        return user_id ? fetch(s, " WHERE k.user_id = :user ORDER BY k.id", &*user_id)
                       : fetch(s, " ORDER BY k.id", nullptr);
    });
}

core::Result<void> update_limits(Database& db, long long key_id, const KeyLimits& limits) {
    if (auto ok = validate_limits(limits); !ok) return ok.take_error();
    return db.with_transaction("update the limits of API key " + std::to_string(key_id),
                               [&](soci::session& s) {
                                   bump_config_revision(s);
                                   update_limits(s, key_id, limits);
                               });
}

void update_limits(soci::session& s, long long key_id, const KeyLimits& limits) {
    if (auto ok = validate_limits(limits); !ok) throw StoreFailure(ok.take_error());
    int found = 0;
    s << "SELECT COUNT(*) FROM api_keys WHERE id = :id", soci::use(key_id), soci::into(found);
    if (found == 0)
        throw StoreFailure({core::ErrorKind::not_found,
                            "there is no API key with id " + std::to_string(key_id) +
                                ": list the keys to find its id",
                            {}});
    long long quota = limits.quota_limit.value_or(0);
    long long expires = limits.expires_at.value_or(0);
    int rpm = limits.rpm.value_or(0), tpm = limits.tpm.value_or(0);
    soci::indicator quota_ind = limits.quota_limit ? soci::i_ok : soci::i_null;
    soci::indicator expires_ind = limits.expires_at ? soci::i_ok : soci::i_null;
    soci::indicator rpm_ind = limits.rpm ? soci::i_ok : soci::i_null;
    soci::indicator tpm_ind = limits.tpm ? soci::i_ok : soci::i_null;
    std::string allow = string_list_text(limits.ip_allow), deny = string_list_text(limits.ip_deny),
                models = string_list_text(limits.models);
    s << "UPDATE api_keys SET quota_limit = :quota, expires_at = :expires, "
         "ip_allow = :allow, ip_deny = :deny, models = :models, rpm = :rpm, tpm = :tpm "
         "WHERE id = :id",
        soci::use(quota, quota_ind), soci::use(expires, expires_ind), soci::use(allow),
        soci::use(deny), soci::use(models), soci::use(rpm, rpm_ind), soci::use(tpm, tpm_ind),
        soci::use(key_id);
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

}  // namespace api_keys
}  // namespace tianshu::store
