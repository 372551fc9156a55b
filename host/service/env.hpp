#pragma once
// What every service operation may use. Front ends (CLI, admin REST API) build one Env and
// pass it to the operations in host/service/*.hpp; an operation never reads anything else.

#include <memory>
#include <string>

#include "pipeline/chain.hpp"
#include "pipeline/provider_presets.hpp"

namespace tianshu::store {
class Database;
}
namespace tianshu::hub {
class SecretBox;
class PasswordHasher;
}  // namespace tianshu::hub

namespace tianshu::service {

//! Who asks for an operation: the rules of who may change whom read it. The CLI runs on the
//! host with the store's own credentials, so it acts as a root operator (id 0, no account).
struct Actor {
    long long user_id = 0;  //!< 0: the operator on the host, no account of its own
    std::string name = "operator";
    std::string role = "root";  //!< "root", "admin" or "user"
};

struct Env {
    store::Database& db;
    //! Seals upstream keys; null refuses operations that store a key.
    const hub::SecretBox* secrets = nullptr;
    //! The loaded plugins, for chain and channel validation; empty refuses those operations.
    pipeline::PluginLookup plugins;
    //! Hashes passwords (may be null in front ends that never set one).
    const hub::PasswordHasher* passwords = nullptr;
    //! Who is acting.
    Actor actor;
    //! The inviter's share of a top-up, in ppm, when the `invite_rebate_ppm` setting is unset.
    long long invite_rebate_ppm = 0;
    //! The provider presets (the plugins directory's *.preset.json); null: none loaded.
    std::shared_ptr<const pipeline::PresetCatalog> presets = nullptr;
};

}  // namespace tianshu::service
