// Migration 2 and the API hub's configuration data: tiers, users, key limits, channels with
// their upstream keys, prices. Same cases on SQLite and MariaDB (see test_database.hpp).

#include "store/api_keys.hpp"
#include "store/channels.hpp"
#include "store/migrations.hpp"
#include "store/prices.hpp"
#include "store/settings.hpp"
#include "store/tiers.hpp"
#include "store/users.hpp"
#include "test_database.hpp"

#include <soci/soci.h>
#include <catch2/catch.hpp>

using namespace tianshu;
using namespace tianshu::store;
using namespace tianshu::store::testing;

namespace {

long long revision(Database& db) {
    auto r = config_revision(db);
    REQUIRE(r.ok());
    return r.value();
}

//! Applies only migration 1, as a database made by the previous release would be.
void migrate_to_version_1(Database& db) {
    const Migration& first = migrations().front();
    REQUIRE(first.version == 1);
    REQUIRE(schema_version(db).ok());
    auto done = db.with_session("apply migration 1 only", [&](soci::session& s) {
        for (std::string_view sql : on_mysql(db) ? first.mysql : first.sqlite)
            s << std::string(sql);
        s << "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'v1', 0)";
    });
    REQUIRE(done.ok());
}

}  // namespace

TEST_CASE(
    "migration 2 upgrades a version-1 database: the sealed key in config moves to "
    "channel_keys and existing tiers become rows") {
    TestDatabase t(false);
    Database& db = *t;
    migrate_to_version_1(db);
    const std::string sealed = "v1:c2VhbGVkLWtleS1ieXRlcw==";
    auto seeded = db.with_session("write version-1 data", [&](soci::session& s) {
        s << "INSERT INTO users (name, role, tier, password_hash, created_at) VALUES "
             "('alice', 'user', 'gold', '', 100)";
        s << "INSERT INTO users (name, role, tier, password_hash, created_at) VALUES "
             "('bob', 'user', 'default', '', 100)";
        s << "INSERT INTO api_keys (user_id, name, key_prefix, key_hash, created_at) VALUES "
             "(1, 'k', 'sk-ts-AAAA', 'hash-v1', 100)";
        std::string config = R"({"api_key":")" + sealed + R"(","delay_ms":5})";
        s << "INSERT INTO channels (name, type, base_url, models, model_map, config, enabled, "
             "created_at) VALUES ('deepseek', 'openai_compat', 'https://x/v1', '[\"m\"]', '{}', "
             ":config, 1, 200)",
            soci::use(config);
        s << "INSERT INTO channels (name, type, base_url, models, model_map, config, enabled, "
             "created_at) VALUES ('keyless', 'demo', '', '[]', '{}', '{}', 1, 300)";
    });
    REQUIRE(seeded.ok());

    auto applied = migrate(db);
    INFO((applied.ok() ? "" : applied.error().message));
    REQUIRE(applied.ok());
    CHECK(applied.value() == known_schema_version() - 1);

    auto deepseek = channels::find_by_name(db, "deepseek").value().value();
    REQUIRE(deepseek.keys.size() == 1);
    CHECK(deepseek.keys[0].sealed_key == sealed);
    CHECK(deepseek.keys[0].enabled);
    CHECK(deepseek.keys[0].created_at == 200);
    CHECK(deepseek.updated_at == 200);
    CHECK(deepseek.weight == 1);
    CHECK(deepseek.priority == 0);
    CHECK(deepseek.config["delay_ms"] == 5);
    // The stored config no longer holds the key (reads show it for old callers only).
    auto stored_config = db.with_session("read config", [](soci::session& s) {
        std::string config;
        s << "SELECT config FROM channels WHERE name = 'deepseek'", soci::into(config);
        return nlohmann::json::parse(config);
    });
    REQUIRE(stored_config.ok());
    CHECK_FALSE(stored_config->contains("api_key"));
    CHECK(stored_config.value()["delay_ms"] == 5);
    CHECK(deepseek.config["api_key"] == sealed);
    CHECK(channels::find_by_name(db, "keyless").value()->keys.empty());

    auto tier_names = tiers::list(db).value();
    REQUIRE(tier_names.size() == 2);
    CHECK(tier_names[0].name == "default");
    CHECK(tier_names[0].price_ratio_ppm == ppm_one);
    CHECK(tier_names[1].name == "gold");
    auto alice = users::find_by_name(db, "alice").value().value();
    CHECK(alice.balance == 0);
    CHECK(alice.enabled);
    CHECK_FALSE(alice.invite_code.has_value());
    auto key = api_keys::find_by_hash(db, "hash-v1").value().value();
    CHECK(key.quota_used == 0);
    CHECK(key.limits == KeyLimits{});
    CHECK(migrate(db).value() == 0);
}

TEST_CASE("tiers are created, listed, re-priced, and removed only when no user is in them") {
    TestDatabase t;
    Database& db = *t;
    auto seeded = tiers::find(db, "default");
    REQUIRE(seeded.ok());
    REQUIRE(seeded->has_value());
    CHECK(seeded.value()->price_ratio_ppm == 1'000'000);

    long long r = revision(db);
    auto gold = tiers::create(db, {"gold", 800'000, "20% off", 0});
    REQUIRE(gold.ok());
    CHECK(gold->created_at > 0);
    CHECK(revision(db) > r);
    auto dup = tiers::create(db, {"gold", 1, "", 0});
    REQUIRE_FALSE(dup.ok());
    CHECK_THAT(dup.error().message, Catch::Contains("'gold' already exists"));
    auto negative = tiers::create(db, {"cheap", -1, "", 0});
    REQUIRE_FALSE(negative.ok());
    CHECK_THAT(negative.error().message, Catch::Contains("-1"));

    REQUIRE(tiers::set_ratio(db, "gold", 750'000).ok());
    CHECK(tiers::find(db, "gold").value()->price_ratio_ppm == 750'000);
    auto unknown = tiers::set_ratio(db, "platinum", 1);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().kind == core::ErrorKind::not_found);
    CHECK_THAT(unknown.error().message, Catch::Contains("'platinum'"));

    User alice = make_user(db, "alice");
    REQUIRE(users::set_tier(db, alice.id, "gold").ok());
    auto in_use = tiers::remove(db, "gold");
    REQUIRE_FALSE(in_use.ok());
    CHECK_THAT(in_use.error().message, Catch::Contains("1 user"));
    CHECK(tiers::find(db, "gold").value().has_value());
    REQUIRE(users::set_tier(db, alice.id, "default").ok());
    REQUIRE(tiers::remove(db, "gold").ok());
    CHECK_FALSE(tiers::find(db, "gold").value().has_value());
    CHECK(tiers::list(db).value().size() == 1);
}

TEST_CASE("users: tier, role, enabled and invite code are set by id and read back") {
    TestDatabase t;
    Database& db = *t;
    User alice = make_user(db, "alice");
    REQUIRE(tiers::create(db, {"pro", 900'000, "", 0}).ok());

    auto no_tier = users::set_tier(db, alice.id, "enterprise");
    REQUIRE_FALSE(no_tier.ok());
    CHECK(no_tier.error().kind == core::ErrorKind::not_found);
    CHECK_THAT(no_tier.error().message, Catch::Contains("'enterprise'"));
    auto no_user = users::set_tier(db, alice.id + 1000, "pro");
    REQUIRE_FALSE(no_user.ok());
    CHECK(no_user.error().kind == core::ErrorKind::not_found);
    auto create_unknown_tier = users::create(db, {"zed", "user", "enterprise", ""});
    REQUIRE_FALSE(create_unknown_tier.ok());
    CHECK(create_unknown_tier.error().kind == core::ErrorKind::not_found);

    REQUIRE(users::set_tier(db, alice.id, "pro").ok());
    REQUIRE(users::set_role(db, alice.id, "admin").ok());
    REQUIRE(users::set_enabled(db, alice.id, false).ok());
    REQUIRE(users::set_invite_code(db, alice.id, std::string_view("ALICE-2024")).ok());
    CHECK_FALSE(users::set_role(db, alice.id, "god").ok());

    auto found = users::find_by_id(db, alice.id).value().value();
    CHECK(found.tier == "pro");
    CHECK(found.role == "admin");
    CHECK_FALSE(found.enabled);
    CHECK(found.invite_code == std::optional<std::string>("ALICE-2024"));
    CHECK_FALSE(users::find_by_id(db, alice.id + 1000).value().has_value());

    auto by_code = users::find_by_invite_code(db, "ALICE-2024");
    REQUIRE(by_code.ok());
    REQUIRE(by_code->has_value());
    CHECK(by_code.value()->id == alice.id);
    CHECK_FALSE(users::find_by_invite_code(db, "alice-2024").value().has_value());

    auto bob = users::create(db, {"bob", "user", "default", ""}, alice.id);
    REQUIRE(bob.ok());
    CHECK(bob->invited_by == std::optional<long long>(alice.id));
    auto taken = users::set_invite_code(db, bob->id, std::string_view("ALICE-2024"));
    REQUIRE_FALSE(taken.ok());
    CHECK_THAT(taken.error().message, Catch::Contains("belongs to another user"));
    CHECK_FALSE(users::set_invite_code(db, bob->id, std::string_view("has space")).ok());
    REQUIRE(users::set_invite_code(db, bob->id, std::string_view("BOB")).ok());
    REQUIRE(users::set_invite_code(db, bob->id, std::nullopt).ok());
    CHECK_FALSE(users::find_by_id(db, bob->id).value()->invite_code.has_value());
    auto ghost_inviter = users::create(db, {"carol", "user", "default", ""}, 999999);
    REQUIRE_FALSE(ghost_inviter.ok());
    CHECK(ghost_inviter.error().kind == core::ErrorKind::not_found);

    auto all = users::list(db).value();
    REQUIRE(all.size() == 2);
    CHECK(all[0].balance == 0);
    CHECK(all[1].invited_by == std::optional<long long>(alice.id));
}

TEST_CASE("API key limits are stored, validated, and reach the owner rows auth caches") {
    TestDatabase t;
    Database& db = *t;
    REQUIRE(tiers::create(db, {"pro", 850'000, "", 0}).ok());
    User alice = make_user(db, "alice");
    REQUIRE(users::set_tier(db, alice.id, "pro").ok());
    User bob = make_user(db, "bob");
    auto k1 = api_keys::create(db, alice.id, "laptop", "sk-ts-AAAA", "hash-1").value();
    auto k2 = api_keys::create(db, bob.id, "ci", "sk-ts-BBBB", "hash-2").value();
    auto k3 = api_keys::create(db, bob.id, "old", "sk-ts-CCCC", "hash-3").value();
    REQUIRE(api_keys::revoke(db, k3.id).ok());

    KeyLimits limits;
    limits.quota_limit = 5'000'000;
    limits.expires_at = 1'900'000'000;
    limits.ip_allow = {"10.0.0.0/8", "2001:db8::/32"};
    limits.ip_deny = {"10.1.2.3"};
    limits.models = {"deepseek-*", "qwen-max"};
    limits.rpm = 60;
    limits.tpm = 100000;
    long long r = revision(db);
    REQUIRE(api_keys::update_limits(db, k1.id, limits).ok());
    CHECK(revision(db) > r);

    auto stored = api_keys::find(db, k1.id);
    REQUIRE(stored.ok());
    REQUIRE(stored->has_value());
    CHECK(stored.value()->limits == limits);
    CHECK(stored.value()->quota_used == 0);
    CHECK_FALSE(api_keys::find(db, 424242).value().has_value());

    auto live = api_keys::list_live(db);
    REQUIRE(live.ok());
    REQUIRE(live->size() == 2);
    const KeyOwner& a = live.value()[0];
    CHECK(a.key_id == k1.id);
    CHECK(a.key_hash == "hash-1");
    CHECK(a.user_name == "alice");
    CHECK(a.tier == "pro");
    CHECK(a.tier_ratio_ppm == 850'000);
    CHECK(a.limits == limits);
    CHECK(a.balance == 0);
    CHECK(a.user_enabled);
    CHECK(live.value()[1].key_id == k2.id);
    CHECK(live.value()[1].limits == KeyLimits{});
    CHECK(live.value()[1].tier_ratio_ppm == ppm_one);

    REQUIRE(users::set_enabled(db, bob.id, false).ok());
    auto disabled_owner = api_keys::find_by_hash(db, "hash-2").value().value();
    CHECK_FALSE(disabled_owner.user_enabled);

    KeyLimits cleared;
    REQUIRE(api_keys::update_limits(db, k1.id, cleared).ok());
    CHECK(api_keys::find(db, k1.id).value()->limits == cleared);

    KeyLimits bad;
    bad.ip_allow = {"10.0.0.0/33"};
    auto bad_prefix = api_keys::update_limits(db, k1.id, bad);
    REQUIRE_FALSE(bad_prefix.ok());
    CHECK_THAT(bad_prefix.error().message, Catch::Contains("ip_allow"));
    CHECK_THAT(bad_prefix.error().message, Catch::Contains("10.0.0.0/33"));
    bad.ip_allow = {"example.com"};
    CHECK_FALSE(api_keys::update_limits(db, k1.id, bad).ok());
    KeyLimits negative;
    negative.quota_limit = -1;
    CHECK_FALSE(api_keys::update_limits(db, k1.id, negative).ok());
    auto missing = api_keys::update_limits(db, 424242, limits);
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == core::ErrorKind::not_found);
}

TEST_CASE("channels: new fields, edits by name with rename, keys added, disabled and removed") {
    TestDatabase t;
    Database& db = *t;
    Channel c;
    c.name = "deepseek";
    c.type = "openai_compat";
    c.base_url = "https://api.deepseek.com/v1";
    c.models = {"deepseek-chat"};
    c.priority = 5;
    c.weight = 3;
    c.proxy = "http://proxy.local:3128";
    c.timeout_ms = 45000;
    c.tags = {"cn", "cheap"};
    c.config = {{"api_key", "v1:sealed-from-config"}};
    auto created = channels::create(db, c);
    INFO((created.ok() ? "" : created.error().message));
    REQUIRE(created.ok());
    REQUIRE(created->keys.size() == 1);
    CHECK(created->keys[0].sealed_key == "v1:sealed-from-config");

    auto found = channels::find_by_name(db, "deepseek").value().value();
    CHECK(found.priority == 5);
    CHECK(found.weight == 3);
    CHECK(found.proxy == "http://proxy.local:3128");
    CHECK(found.timeout_ms == 45000);
    CHECK(found.tags == std::vector<std::string>{"cn", "cheap"});
    CHECK(found.updated_at >= found.created_at);
    REQUIRE(found.keys.size() == 1);

    auto second = channels::add_key(db, "deepseek", "v1:second");
    REQUIRE(second.ok());
    CHECK_FALSE(channels::add_key(db, "nope", "v1:x").ok());
    REQUIRE(channels::set_key_enabled(db, created->keys[0].id, false, "401 from upstream").ok());
    auto keys = channels::find_by_name(db, "deepseek").value()->keys;
    REQUIRE(keys.size() == 2);
    CHECK_FALSE(keys[0].enabled);
    CHECK(keys[0].disabled_reason == "401 from upstream");
    CHECK(keys[0].disabled_at.has_value());
    CHECK(keys[1].enabled);
    // Old callers reading config["api_key"] see the first key still in rotation.
    CHECK(channels::find_by_name(db, "deepseek").value()->config["api_key"] == "v1:second");
    REQUIRE(channels::set_key_enabled(db, created->keys[0].id, true).ok());
    REQUIRE(channels::set_key_enabled(db, created->keys[0].id, true).ok());
    keys = channels::find_by_name(db, "deepseek").value()->keys;
    CHECK(keys[0].enabled);
    CHECK(keys[0].disabled_reason.empty());
    CHECK_FALSE(keys[0].disabled_at.has_value());
    CHECK(channels::set_key_enabled(db, 987654, false, "x").error().kind ==
          core::ErrorKind::not_found);

    Channel other;
    other.name = "qwen";
    other.type = "openai_compat";
    REQUIRE(channels::create(db, other).ok());

    ChannelChanges edit;
    edit.name = "deepseek-cn";
    edit.weight = 7;
    edit.tags = std::vector<std::string>{"cn"};
    edit.models = nlohmann::json::array({"deepseek-chat", "deepseek-reasoner"});
    long long r = revision(db);
    auto updated = channels::update(db, "deepseek", edit);
    INFO((updated.ok() ? "" : updated.error().message));
    REQUIRE(updated.ok());
    CHECK(revision(db) > r);
    CHECK(updated->name == "deepseek-cn");
    CHECK(updated->weight == 7);
    CHECK(updated->priority == 5);
    CHECK(updated->proxy == "http://proxy.local:3128");
    CHECK(updated->models.size() == 2);
    CHECK(updated->keys.size() == 2);
    CHECK_FALSE(channels::find_by_name(db, "deepseek").value().has_value());

    ChannelChanges clash;
    clash.name = "qwen";
    auto taken = channels::update(db, "deepseek-cn", clash);
    REQUIRE_FALSE(taken.ok());
    CHECK_THAT(taken.error().message, Catch::Contains("'qwen' already exists"));
    ChannelChanges bad_weight;
    bad_weight.weight = 0;
    auto zero = channels::update(db, "deepseek-cn", bad_weight);
    REQUIRE_FALSE(zero.ok());
    CHECK_THAT(zero.error().message, Catch::Contains("weight 0"));
    ChannelChanges bad_proxy;
    bad_proxy.proxy = "socks://x";
    CHECK_FALSE(channels::update(db, "deepseek-cn", bad_proxy).ok());
    CHECK(channels::update(db, "missing", edit).error().kind == core::ErrorKind::not_found);

    // An old caller writing the config back with the key it read adds no key.
    ChannelChanges round_trip;
    round_trip.config = channels::find_by_name(db, "deepseek-cn").value()->config;
    REQUIRE(channels::update(db, "deepseek-cn", round_trip).ok());
    CHECK(channels::find_by_name(db, "deepseek-cn").value()->keys.size() == 2);

    REQUIRE(channels::remove_key(db, second->id).ok());
    CHECK(channels::remove_key(db, second->id).error().kind == core::ErrorKind::not_found);
    CHECK(channels::find_by_name(db, "deepseek-cn").value()->keys.size() == 1);

    REQUIRE(channels::remove(db, "deepseek-cn").ok());
    CHECK(channels::remove(db, "deepseek-cn").error().kind == core::ErrorKind::not_found);
    auto orphans = db.with_session("count keys", [](soci::session& s) {
        long long n = -1;
        s << "SELECT COUNT(*) FROM channel_keys", soci::into(n);
        return n;
    });
    CHECK(orphans.value() == 0);
    auto rest = channels::list(db).value();
    REQUIRE(rest.size() == 1);
    CHECK(rest[0].name == "qwen");
}

TEST_CASE("prices are upserted, listed by model and removed") {
    TestDatabase t;
    Database& db = *t;
    Price chat{"deepseek-chat", 270'000, 1'100'000, 70'000, 0, 0, 0, 0};
    Price glob{"deepseek-*", 500'000, 2'000'000, 0, 0, 2'000'000, 1'000, 0};
    REQUIRE(prices::upsert(db, chat).ok());
    REQUIRE(prices::upsert(db, glob).ok());
    chat.output_per_m = 1'200'000;
    auto replaced = prices::upsert(db, chat);
    REQUIRE(replaced.ok());
    CHECK(replaced->updated_at > 0);

    auto all = prices::list(db);
    REQUIRE(all.ok());
    REQUIRE(all->size() == 2);
    CHECK(all.value()[0].model == "deepseek-*");
    Price got_glob = all.value()[0], got_chat = all.value()[1];
    got_glob.updated_at = got_chat.updated_at = 0;
    CHECK(got_glob == glob);
    CHECK(got_chat == chat);

    Price negative{"x", -1, 0, 0, 0, 0, 0, 0};
    auto bad = prices::upsert(db, negative);
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message, Catch::Contains("input_per_m -1"));
    REQUIRE(prices::remove(db, "deepseek-*").ok());
    CHECK(prices::remove(db, "deepseek-*").error().kind == core::ErrorKind::not_found);
    CHECK(prices::list(db).value().size() == 1);
}
