#include "service/keys.hpp"

#include "hub/credentials.hpp"
#include "hub/money.hpp"
#include "service/users.hpp"
#include "store/database.hpp"
#include "store/settings.hpp"

namespace tianshu::service::keys {

using core::Error;
using core::ErrorKind;

core::Result<CreatedKey> create(const Env& env, const store::User& owner, const std::string& name,
                                const store::KeyLimits& limits) {
    if (auto ok = users::may_change(env.actor, owner); !ok) return ok.take_error();
    if (name.empty()) return Error::invalid("an API key needs a name: give one");
    if (name.size() > 255)
        return Error::invalid("the key name is longer than 255 characters: choose a shorter one");
    std::string secret = hub::generate_api_key();
    const bool limited = !(limits == store::KeyLimits{});
    auto made = env.db.with_transaction(
        "create API key '" + name + "' for user '" + owner.name + "'", [&](soci::session& s) {
            store::bump_config_revision(s);
            store::ApiKey key = store::api_keys::create(
                s, owner.id, name, hub::api_key_prefix(secret), hub::api_key_hash(secret));
            // Same transaction: a key never exists, even for a moment, without its limits.
            if (limited) {
                store::api_keys::update_limits(s, key.id, limits);
                key.limits = limits;
            }
            return key;
        });
    if (!made) return made.take_error();
    return CreatedKey{std::move(made).value(), std::move(secret)};
}

core::Result<store::ApiKey> set_limits(const Env& env, const store::ApiKey& key,
                                       const store::User& owner, const store::KeyLimits& limits) {
    if (auto ok = users::may_change(env.actor, owner); !ok) return ok.take_error();
    if (key.revoked_at)
        return Error::invalid("API key " + std::to_string(key.id) +
                              " is revoked: create a new key instead of changing it");
    if (auto done = store::api_keys::update_limits(env.db, key.id, limits); !done)
        return done.take_error();
    store::ApiKey changed = key;
    changed.limits = limits;
    return changed;
}

core::Result<void> revoke(const Env& env, const store::ApiKey& key, const store::User& owner) {
    if (auto ok = users::may_change(env.actor, owner); !ok) return ok.take_error();
    if (key.revoked_at)
        return Error{ErrorKind::not_found,
                     "API key " + std::to_string(key.id) + " ('" + key.name +
                         "') is already revoked: there is no live key to revoke",
                     {}};
    return store::api_keys::revoke(env.db, key.id);
}

core::Result<std::vector<store::ApiKey>> list(const Env& env, std::optional<long long> user_id) {
    return store::api_keys::list(env.db, user_id);
}

core::Result<std::pair<store::ApiKey, store::User>> with_owner(const Env& env, long long key_id) {
    auto key = key_id <= 0 ? core::Result<std::optional<store::ApiKey>>(std::nullopt)
                           : store::api_keys::find(env.db, key_id);
    if (!key) return key.take_error();
    if (!key.value())
        return Error{ErrorKind::not_found,
                     "there is no API key with id " + std::to_string(key_id) +
                         ": list the keys to find its id",
                     {}};
    auto owner = store::users::find_by_id(env.db, key.value()->user_id);
    if (!owner) return owner.take_error();
    if (!owner.value())
        return Error{
            ErrorKind::not_found,
            "API key " + std::to_string(key_id) + " belongs to a user that no longer exists",
            {}};
    return std::pair{*key.value(), *owner.value()};
}

namespace {
core::Result<store::User> acting_user(const Env& env) {
    auto me = store::users::find_by_id(env.db, env.actor.user_id);
    if (!me) return me.take_error();
    if (!me.value())
        return Error{ErrorKind::permission,
                     "this operation acts on your own account, and '" + env.actor.name +
                         "' has none: log in as a user",
                     {}};
    return *me.value();
}
}  // namespace

core::Result<CreatedKey> create_own(const Env& env, const std::string& name,
                                    const store::KeyLimits& limits) {
    auto me = acting_user(env);
    if (!me) return me.take_error();
    return create(env, me.value(), name, limits);
}

core::Result<std::vector<store::ApiKey>> list_own(const Env& env) {
    return store::api_keys::list(env.db, env.actor.user_id);
}

core::Result<void> revoke_own(const Env& env, long long key_id) {
    auto found = with_owner(env, key_id);
    // Someone else's key answers as if it did not exist: ids are not a way to probe accounts.
    if (!found || found->first.user_id != env.actor.user_id)
        return Error{ErrorKind::not_found,
                     "you have no API key with id " + std::to_string(key_id) +
                         ": GET /admin/api/me/keys lists yours",
                     {}};
    if (found->first.revoked_at)
        return Error{ErrorKind::not_found,
                     "your API key " + std::to_string(key_id) + " is already revoked",
                     {}};
    return store::api_keys::revoke(env.db, key_id);
}

Json key_json(const store::ApiKey& k, const std::string& user_name) {
    const store::KeyLimits& l = k.limits;
    auto money_or_null = [](const std::optional<long long>& micros) {
        return micros ? Json(hub::format_money(*micros)) : Json(nullptr);
    };
    return Json{{"id", k.id},
                {"user", user_name},
                {"user_id", k.user_id},
                {"name", k.name},
                {"prefix", k.key_prefix},
                {"created_at", k.created_at},
                {"revoked_at", k.revoked_at ? Json(*k.revoked_at) : Json(nullptr)},
                {"quota_used", hub::format_money(k.quota_used)},
                {"limits",
                 {{"quota", money_or_null(l.quota_limit)},
                  {"expires_at", l.expires_at ? Json(*l.expires_at) : Json(nullptr)},
                  {"ip_allow", l.ip_allow},
                  {"ip_deny", l.ip_deny},
                  {"models", l.models},
                  {"rpm", l.rpm ? Json(*l.rpm) : Json(nullptr)},
                  {"tpm", l.tpm ? Json(*l.tpm) : Json(nullptr)}}}};
}

}  // namespace tianshu::service::keys
