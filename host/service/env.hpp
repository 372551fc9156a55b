#pragma once
// What every service operation may use. Front ends (CLI, admin REST API) build one Env and
// pass it to the operations in host/service/*.hpp; an operation never reads anything else.

#include "pipeline/chain.hpp"

namespace tianshu::store {
class Database;
}
namespace tianshu::hub {
class SecretBox;
class PasswordHasher;
}  // namespace tianshu::hub

namespace tianshu::service {

struct Env {
    store::Database& db;
    //! Seals upstream keys; null refuses operations that store a key.
    const hub::SecretBox* secrets = nullptr;
    //! The loaded plugins, for chain and channel validation; empty refuses those operations.
    pipeline::PluginLookup plugins;
    //! Hashes passwords (may be null in front ends that never set one).
    const hub::PasswordHasher* passwords = nullptr;
};

}  // namespace tianshu::service
