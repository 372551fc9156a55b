#include "app/bootstrap.hpp"

#include "hub/credentials.hpp"
#include "store/api_keys.hpp"
#include "store/chains.hpp"
#include "store/channels.hpp"
#include "store/settings.hpp"
#include "store/users.hpp"

namespace tianshu::app {

namespace {
constexpr const char* kBootstrapped = "bootstrapped";
}

std::string demo_chain_json() {
    return R"({
  "id": "demo",
  "description": "Demo pipeline: every tier, every model, answered by the demo channel's Lua model.",
  "tiers": ["*"],
  "models": ["*"],
  "routing": { "mode": "passthrough" },
  "pre": [],
  "post": []
}
)";
}

core::Result<std::optional<FirstStartSecrets>> bootstrap_if_new(store::Database& db) {
    auto done = store::settings::get(db, kBootstrapped);
    if (!done) return done.take_error();
    if (done.value()) return std::optional<FirstStartSecrets>{};

    // The slow work before the transaction, so that others starting at once wait only for the
    // inserts. Only the instance whose transaction creates the setup shows these.
    FirstStartSecrets secrets;
    secrets.admin_name = "admin";
    secrets.admin_password = hub::random_password();
    const std::string admin_hash = hub::hash_password(secrets.admin_password);
    secrets.demo_key = hub::generate_api_key();

    // One transaction, begun by the revision bump, which serialises it with every other
    // configuration writer (SQLite's write lock, MySQL's row lock): of several gateways starting
    // together on a new store, the first creates the whole setup and the others, let in after
    // its commit, find the setting and create nothing.
    auto created = db.with_transaction("set up the new store (first start)", [&](soci::session& s) {
        store::bump_config_revision(s);
        if (store::settings::get(s, kBootstrapped)) return false;
        // A store set up by a version that made these one by one may hold some of them.
        if (store::users::find_by_name(s, "admin"))
            secrets.admin_password.clear();
        else
            store::users::create(s, store::NewUser{"admin", "root", "default", admin_hash});
        auto demo = store::users::find_by_name(s, "demo");
        const long long demo_id =
            demo ? demo->id
                 : store::users::create(s, store::NewUser{"demo", "user", "default", ""}).id;
        store::api_keys::create(s, demo_id, "demo-key", hub::api_key_prefix(secrets.demo_key),
                                hub::api_key_hash(secrets.demo_key));
        if (!store::channels::find_by_name(s, "demo")) {
            store::Channel c;
            c.name = "demo";
            c.type = "demo";
            c.models = nlohmann::json::array({"demo-model"});
            c.model_map = nlohmann::json{{"*", "demo-model"}};
            c.config = nlohmann::json::object();
            store::channels::create(s, c);
        }
        if (!store::chains::latest(s, "demo")) store::chains::save(s, "demo", demo_chain_json());
        store::settings::set(s, kBootstrapped, "1");
        return true;
    });
    if (!created) {
        // A unique key can still be what lets a second instance in second (a store whose
        // writers do not all bump the revision): then the other one did it. Read again.
        auto again = store::settings::get(db, kBootstrapped);
        if (again && again.value()) return std::optional<FirstStartSecrets>{};
        return core::Error{created.error().kind,
                           "the first-start setup of " + db.redacted_url() +
                               " failed: " + created.error().message +
                               " (fix the database and start tianshu serve again)",
                           {}};
    }
    if (!created.value()) return std::optional<FirstStartSecrets>{};
    return std::optional<FirstStartSecrets>{std::move(secrets)};
}

}  // namespace tianshu::app
