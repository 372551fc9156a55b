#pragma once
// Users: who may hold API keys and log in to the admin panel.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! A stored user. `role` is "root", "admin" or "user"; `tier` names the membership tier
//! whose chains serve the user's requests. `password_hash` is hub::hash_password's output
//! (empty when the user cannot log in to the panel).
struct User {
    long long id = 0;
    std::string name;
    std::string role;
    std::string tier;
    std::string password_hash;
    long long created_at = 0;
};

//! What it takes to create a user.
struct NewUser {
    std::string name;
    std::string role = "user";
    std::string tier = "default";
    std::string password_hash;
};

namespace users {

//! Creates a user; a taken name is an invalid_request error naming it.
core::Result<User> create(Database& db, const NewUser& user);
//! The user with this exact name, or nullopt.
core::Result<std::optional<User>> find_by_name(Database& db, std::string_view name);
//! Every user, by id.
core::Result<std::vector<User>> list(Database& db);
core::Result<long long> count(Database& db);

}  // namespace users
}  // namespace tianshu::store
