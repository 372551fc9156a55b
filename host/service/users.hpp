#pragma once
// Accounts: creating users, changing their tier, role or state, topping them up, their invite
// codes, and the rule of who may change whom.

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/ledger.hpp"
#include "store/users.hpp"

namespace tianshu::service::users {

using Json = nlohmann::json;

//! The shortest password a user may have.
inline constexpr std::size_t kMinPasswordLength = 8;

//! The user named `name`, or not_found naming it.
core::Result<store::User> named(store::Database& db, const std::string& name);
//! Whether `actor` may change `target`: only a root changes a root user (or its keys, money).
core::Result<void> may_change(const Actor& actor, const store::User& target);

struct NewAccount {
    std::string name;
    std::string role = "user";
    std::string tier = "default";
    std::optional<std::string> password = {};     //!< plaintext; none: the user cannot log in
    std::optional<std::string> invite_code = {};  //!< the inviter's code, if any
};
//! users.create: a new user; a root may be made by a root only.
core::Result<store::User> create(const Env& env, const NewAccount& account);

struct Changes {
    std::optional<std::string> tier = {};
    std::optional<std::string> role = {};
    std::optional<bool> enabled = {};
};
//! users.change: tier, role and enabled in one transaction; nobody disables themselves or
//! changes their own role.
core::Result<store::User> change(const Env& env, const store::User& target, const Changes& changes);

struct TopUp {
    long long amount = 0;  //!< micros, > 0
    std::optional<std::string> ref = {};
    std::optional<std::string> note = {};  //!< default: "top-up by <actor>"
};
struct TopUpResult {
    store::BalanceChange change;
    std::optional<std::string> inviter;  //!< the name of who got the rebate
};
//! users.topup: credits the user (and the inviter's rebate) once per ref.
core::Result<TopUpResult> topup(const Env& env, const store::User& target, const TopUp& topup);

struct InviteCode {
    std::string code;
    bool created = false;
};
//! users.invite_code: the user's invite code, made on first ask.
core::Result<InviteCode> invite_code(const Env& env, const store::User& user);

//! The user as the admin API and the panel show it.
Json user_json(const store::User& user);

}  // namespace tianshu::service::users
