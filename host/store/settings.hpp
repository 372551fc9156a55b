#pragma once
// Settings (named text values) and the configuration revision a running server polls.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace tianshu::store {

namespace settings {

core::Result<std::optional<std::string>> get(Database& db, std::string_view name);
//! Creates or replaces a setting (and bumps the configuration revision).
core::Result<void> set(Database& db, std::string_view name, std::string_view value);
//! get() inside the caller's transaction; on MySQL a locking read, so it sees the latest commit.
std::optional<std::string> get(soci::session& s, std::string_view name);
//! set() inside the caller's transaction, which has bumped the configuration revision.
void set(soci::session& s, std::string_view name, std::string_view value);

}  // namespace settings

//! A number that grows on every write to users, api_keys, channels, chains or settings:
//! a server compares it with the one it loaded to know when to reload.
core::Result<long long> config_revision(Database& db);

//! Adds one to the configuration revision. Call it first in every transaction that changes
//! configuration: it also serialises those writers (row lock / SQLite write lock).
void bump_config_revision(soci::session& session);

}  // namespace tianshu::store
