#pragma once
// First start: an empty store gets an admin, a demo user with an API key, a demo channel
// served by the Lua demo model, and a demo chain — so a newcomer's first curl works.

#include <optional>
#include <string>

#include "core/error.hpp"
#include "store/database.hpp"

namespace tianshu::app {

//! Secrets shown once, at the first start. Only hashes are stored.
struct FirstStartSecrets {
    std::string admin_name;
    std::string admin_password;
    std::string demo_key;
};

//! The demo chain's JSON (also what `tianshu chain export demo` prints after first start).
std::string demo_chain_json();

//! Creates the demo configuration if the store has never been bootstrapped. Returns the
//! secrets to print, or nullopt when the store was already set up. Safe to re-run after a
//! crash half-way: each piece is created only if missing.
core::Result<std::optional<FirstStartSecrets>> bootstrap_if_new(store::Database& db);

}  // namespace tianshu::app
