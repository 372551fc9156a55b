#pragma once
// Versioned schema migrations. Each migration has a version, a name and its SQL per dialect;
// `migrate` applies the pending ones in order and records each in schema_migrations.

#include "core/error.hpp"
#include "store/database.hpp"

#include <string_view>
#include <vector>

namespace tianshu::store {

//! One step of the schema. Statements must be safe to rerun (CREATE ... IF NOT EXISTS,
//! INSERT IGNORE): MySQL commits DDL on its own, so a step cut short is simply run again.
struct Migration {
    int version = 0;
    std::string_view name;
    std::vector<std::string_view> sqlite;  //!< statements for SQLite
    std::vector<std::string_view> mysql;   //!< statements for MySQL / MariaDB
};

//! Every migration this binary knows, in ascending version order.
const std::vector<Migration>& migrations();

//! The highest version in migrations(): what this binary expects the database to be at.
int known_schema_version();

//! The version recorded in the database (0 for an empty database; creates the empty
//! schema_migrations table when it is missing).
core::Result<int> schema_version(Database& db);

//! Applies the pending migrations, each in its own transaction, and returns how many were
//! applied (0 when already up to date). Refuses a database whose schema is newer than this
//! binary knows, telling the operator to upgrade tianshu.
core::Result<int> migrate(Database& db);

}  // namespace tianshu::store
