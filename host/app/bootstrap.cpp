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

    FirstStartSecrets secrets;
    secrets.admin_name = "admin";
    auto admin = store::users::find_by_name(db, "admin");
    if (!admin) return admin.take_error();
    if (!admin.value()) {
        secrets.admin_password = hub::random_password();
        auto made = store::users::create(
            db,
            store::NewUser{"admin", "root", "default", hub::hash_password(secrets.admin_password)});
        if (!made) return made.take_error();
    }
    auto demo = store::users::find_by_name(db, "demo");
    if (!demo) return demo.take_error();
    long long demo_id = 0;
    if (demo.value()) {
        demo_id = demo.value()->id;
    } else {
        auto made = store::users::create(db, store::NewUser{"demo", "user", "default", ""});
        if (!made) return made.take_error();
        demo_id = made->id;
    }
    secrets.demo_key = hub::generate_api_key();
    if (auto k =
            store::api_keys::create(db, demo_id, "demo-key", hub::api_key_prefix(secrets.demo_key),
                                    hub::api_key_hash(secrets.demo_key));
        !k)
        return k.take_error();

    auto channel = store::channels::find_by_name(db, "demo");
    if (!channel) return channel.take_error();
    if (!channel.value()) {
        store::Channel c;
        c.name = "demo";
        c.type = "demo";
        c.models = nlohmann::json::array({"demo-model"});
        c.model_map = nlohmann::json{{"*", "demo-model"}};
        c.config = nlohmann::json::object();
        if (auto made = store::channels::create(db, c); !made) return made.take_error();
    }
    auto chain = store::chains::latest(db, "demo");
    if (!chain) return chain.take_error();
    if (!chain.value())
        if (auto saved = store::chains::save(db, "demo", demo_chain_json()); !saved)
            return saved.take_error();

    if (auto r = store::settings::set(db, kBootstrapped, "1"); !r) return r.take_error();
    return std::optional<FirstStartSecrets>{std::move(secrets)};
}

}  // namespace tianshu::app
