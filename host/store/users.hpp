#pragma once
// Users: who may hold API keys and log in to the admin panel, with their balance.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! A stored user. `role` is "root", "admin" or "user"; `tier` names the membership tier
//! whose chains serve the user's requests. `password_hash` is hub::hash_password's output
//! (empty when the user cannot log in to the panel). `balance` is in micro-units
//! (1 unit = 1,000,000) and always equals the sum of the user's ledger rows.
struct User {
    long long id = 0;
    std::string name;
    std::string role;
    std::string tier;
    std::string password_hash;
    long long created_at = 0;
    long long balance = 0;
    std::optional<std::string> invite_code;  //!< the code others sign up with, when set
    std::optional<long long> invited_by;     //!< who invited this user (earns invite rebates)
    bool enabled = true;                     //!< a disabled user's keys are refused
};

//! What it takes to create a user.
struct NewUser {
    std::string name;
    std::string role = "user";
    std::string tier = "default";
    std::string password_hash;
};

namespace users {

//! Creates a user; a taken name is an invalid_request error naming it, an unknown tier or
//! inviter a not_found error naming it. `invited_by` is the inviting user's id, if any.
core::Result<User> create(Database& db, const NewUser& user,
                          std::optional<long long> invited_by = std::nullopt);
//! create() inside the caller's transaction, which has bumped the configuration revision; the
//! values are already validated. Throws StoreFailure for a taken name, unknown tier or inviter.
User create(soci::session& s, const NewUser& user,
            std::optional<long long> invited_by = std::nullopt);
//! The user with this exact name, or nullopt.
core::Result<std::optional<User>> find_by_name(Database& db, std::string_view name);
//! find_by_name() inside the caller's transaction.
std::optional<User> find_by_name(soci::session& s, std::string_view name);
core::Result<std::optional<User>> find_by_id(Database& db, long long id);
//! The user whose invite code this is (exact match), or nullopt.
core::Result<std::optional<User>> find_by_invite_code(Database& db, std::string_view code);
//! Every user with their balance, by id.
core::Result<std::vector<User>> list(Database& db);
core::Result<long long> count(Database& db);

//! Moves a user to a tier; an unknown user or tier is a not_found error naming it.
core::Result<void> set_tier(Database& db, long long user_id, std::string_view tier);
//! Changes a user's role ("root", "admin" or "user").
core::Result<void> set_role(Database& db, long long user_id, std::string_view role);
core::Result<void> set_enabled(Database& db, long long user_id, bool enabled);
//! set_tier(), set_role(), set_enabled() inside the caller's transaction (which has bumped the
//! configuration revision); they throw StoreFailure where the others return the error.
void set_tier(soci::session& s, long long user_id, std::string_view tier);
void set_role(soci::session& s, long long user_id, std::string_view role);
void set_enabled(soci::session& s, long long user_id, bool enabled);
//! Sets (or with nullopt clears) a user's invite code: 1 to 32 of A-Z a-z 0-9 _ -; a code
//! another user has is an invalid_request error.
core::Result<void> set_invite_code(Database& db, long long user_id,
                                   std::optional<std::string_view> code);

}  // namespace users

//! Throws StoreFailure(not_found naming the id) unless the user exists.
void require_user(soci::session& session, long long user_id);

}  // namespace tianshu::store
