#include "service/users.hpp"

#include "hub/credentials.hpp"
#include "hub/money.hpp"
#include "hub/password_hasher.hpp"
#include "service/billing.hpp"
#include "store/database.hpp"
#include "store/settings.hpp"

namespace tianshu::service::users {

using core::Error;
using core::ErrorKind;

namespace {

bool known_role(const std::string& role) {
    return role == "root" || role == "admin" || role == "user";
}

//! A role `actor` may give: a known one, and root only from a root.
core::Result<void> may_give_role(const Actor& actor, const std::string& role) {
    if (!known_role(role))
        return Error::invalid("role '" + role + "' is not a role: give root, admin or user");
    if (role == "root" && actor.role != "root")
        return Error{ErrorKind::permission,
                     "only a root user may create root users or make a user root; you are '" +
                         actor.name + "' (role " + actor.role + ")",
                     {}};
    return {};
}

}  // namespace

core::Result<store::User> named(store::Database& db, const std::string& name) {
    auto user = store::users::find_by_name(db, name);
    if (!user) return user.take_error();
    if (!user.value())
        return Error{ErrorKind::not_found, "there is no user named '" + name + "'", {}};
    return *user.value();
}

core::Result<void> may_change(const Actor& actor, const store::User& target) {
    if (target.role == "root" && actor.role != "root")
        return Error{ErrorKind::permission,
                     "user '" + target.name +
                         "' is a root user: only a root user may change it, its keys or its "
                         "balance",
                     {}};
    return {};
}

core::Result<store::User> create(const Env& env, const NewAccount& account) {
    if (auto ok = may_give_role(env.actor, account.role); !ok) return ok.take_error();
    store::NewUser user{account.name, account.role, account.tier, {}};
    if (account.password) {
        if (account.password->size() < kMinPasswordLength)
            return Error::invalid("the password is shorter than " +
                                  std::to_string(kMinPasswordLength) +
                                  " characters: choose a longer one");
        if (env.passwords) {
            // On the password pool: a fiber parks meanwhile without holding its carrier.
            auto hashed = env.passwords->hash(*account.password);
            if (!hashed) return hashed.take_error();
            user.password_hash = std::move(hashed).value();
        } else {
            user.password_hash = hub::hash_password(*account.password);
        }
    }
    std::optional<long long> inviter;
    if (account.invite_code) {
        auto by = store::users::find_by_invite_code(env.db, *account.invite_code);
        if (!by) return by.take_error();
        if (!by.value())
            return Error::invalid("invite code '" + *account.invite_code +
                                  "' is no user's invite code: ask the inviter for theirs");
        inviter = by.value()->id;
    }
    return store::users::create(env.db, user, inviter);
}

core::Result<store::User> change(const Env& env, const store::User& target,
                                 const Changes& changes) {
    if (auto ok = may_change(env.actor, target); !ok) return ok.take_error();
    if (changes.role)
        if (auto ok = may_give_role(env.actor, *changes.role); !ok) return ok.take_error();
    // Locking oneself out needs a second administrator's hand.
    if (target.id == env.actor.user_id &&
        ((changes.enabled && !*changes.enabled) || (changes.role && *changes.role != target.role)))
        return Error{ErrorKind::permission,
                     "you cannot disable yourself or change your own role: ask another root user",
                     {}};
    return env.db.with_transaction("change user '" + target.name + "'", [&](soci::session& s) {
        store::bump_config_revision(s);
        if (changes.tier) store::users::set_tier(s, target.id, *changes.tier);
        if (changes.role) store::users::set_role(s, target.id, *changes.role);
        if (changes.enabled) store::users::set_enabled(s, target.id, *changes.enabled);
        auto fresh = store::users::find_by_name(s, target.name);
        if (!fresh)
            throw store::StoreFailure(
                Error::internal_error("user '" + target.name + "' vanished while changing"));
        return *fresh;
    });
}

core::Result<TopUpResult> topup(const Env& env, const store::User& target, const TopUp& topup) {
    if (auto ok = may_change(env.actor, target); !ok) return ok.take_error();
    if (topup.amount <= 0)
        return Error::invalid("the amount of a top-up must be more than 0, e.g. 12.5");
    if (auto ok = store::validate_ledger_ref(topup.ref); !ok) return ok.take_error();
    auto rebate = ledger::invite_rebate_ppm(env);
    if (!rebate) return rebate.take_error();
    auto change =
        store::ledger::topup(env.db, target.id, topup.amount, topup.ref,
                             topup.note.value_or("top-up by " + env.actor.name), rebate.value());
    if (!change) return change.take_error();
    TopUpResult out{change.value(), std::nullopt};
    if (change->inviter) {
        auto by = store::users::find_by_id(env.db, *change->inviter);
        if (by && by.value()) out.inviter = by.value()->name;
    }
    return out;
}

core::Result<InviteCode> invite_code(const Env& env, const store::User& user) {
    if (auto ok = may_change(env.actor, user); !ok) return ok.take_error();
    if (user.invite_code) return InviteCode{*user.invite_code, false};
    // Another user holding the same random code is practically impossible; retry anyway.
    for (int attempt = 0; attempt < 3; ++attempt) {
        std::string candidate = hub::random_password().substr(0, 12);
        auto set = store::users::set_invite_code(env.db, user.id, candidate);
        if (set) return InviteCode{candidate, true};
        if (set.error().kind != ErrorKind::invalid_request) return set.take_error();
    }
    return Error::internal_error("could not make a unique invite code: try again");
}

Json user_json(const store::User& user) {
    return Json{{"id", user.id},
                {"name", user.name},
                {"role", user.role},
                {"tier", user.tier},
                {"enabled", user.enabled},
                {"balance", hub::format_money(user.balance)},
                {"has_password", !user.password_hash.empty()},
                {"invite_code", user.invite_code ? Json(*user.invite_code) : Json(nullptr)},
                {"invited_by", user.invited_by ? Json(*user.invited_by) : Json(nullptr)},
                {"created_at", user.created_at}};
}

}  // namespace tianshu::service::users
