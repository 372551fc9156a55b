#include "app/runtime_loader.hpp"

#include <condition_variable>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "core/log.hpp"
#include "hub/credentials.hpp"
#include "hub/ip_filter.hpp"
#include "plugin/lua_plugin.hpp"
#include "service/alerts.hpp"
#include "store/api_keys.hpp"
#include "store/chains.hpp"
#include "store/channels.hpp"
#include "store/prices.hpp"
#include "store/settings.hpp"
#include "store/tiers.hpp"
#include "store/users.hpp"
#include "upstream/channel_router.hpp"

namespace tianshu::app {

using core::Error;

namespace {

//! API keys by hash, in memory: a lookup hashes the presented key and finds it in a map.
class KeyTable final : public pipeline::KeyDirectory {
  public:
    const pipeline::Identity* find(std::string_view presented_key) const override {
        auto it = by_hash_.find(hub::api_key_digest(presented_key));
        return it == by_hash_.end() ? nullptr : &it->second;
    }
    //! SHA-256 is uniform: its first bytes are a good enough hash for the map.
    struct DigestHash {
        size_t operator()(const hub::ApiKeyDigest& d) const {
            size_t h;
            std::memcpy(&h, d.data(), sizeof h);
            return h;
        }
    };
    std::unordered_map<hub::ApiKeyDigest, pipeline::Identity, DigestHash> by_hash_;
};

// Seconds since the epoch (the store's unit) as the rate limiter's clock.
hub::RateClock::time_point from_seconds(long long s) {
    return hub::RateClock::time_point(std::chrono::seconds(s));
}

//! Live keys with their owners and limits. A key whose stored limits no longer parse (an IP
//! rule) is left out with an error line: serving it without its restrictions would be worse.
core::Result<std::shared_ptr<const KeyTable>> load_keys(
    store::Database& db, std::vector<std::shared_ptr<const hub::Payer>>& payers) {
    auto keys = store::api_keys::list_live(db);
    if (!keys) return keys.take_error();
    auto table = std::make_shared<KeyTable>();
    for (const auto& k : keys.value()) {
        auto payer = std::make_shared<hub::Payer>();
        payer->user_id = k.user_id;
        payer->user_name = k.user_name;
        payer->key_id = k.key_id;
        payer->key_name = k.key_name;
        payer->tier_ratio_ppm = k.tier_ratio_ppm;
        payer->quota_limit = k.limits.quota_limit;
        payer->quota_used = k.quota_used;
        auto& l = payer->limits;
        l.key_id = k.key_id;
        l.key_name = k.key_name;
        l.user_enabled = k.user_enabled;
        if (k.limits.expires_at) l.expires_at = from_seconds(*k.limits.expires_at);
        auto filter = hub::IpFilter::build(k.limits.ip_allow, k.limits.ip_deny);
        if (!filter) {
            core::log(core::LogLevel::error, "API key left out: its IP rules do not parse",
                      {{"key_id", k.key_id}, {"error", filter.error().message}});
            continue;
        }
        l.ip_filter = std::move(filter).value();
        l.allowed_models = k.limits.models;
        l.rpm = k.limits.rpm.value_or(0);
        l.tpm = k.limits.tpm.value_or(0);
        const auto digest = hub::api_key_digest_from_hex(k.key_hash);
        if (!digest) {
            core::log(core::LogLevel::error,
                      "API key left out: its stored hash is not 64 hex digits (the row was not "
                      "written by tianshu; revoke the key and create another)",
                      {{"key_id", k.key_id}});
            continue;
        }
        payers.push_back(payer);
        table->by_hash_[*digest] =
            pipeline::Identity{k.user_name, k.tier, k.key_name, k.key_id, std::move(payer)};
    }
    return std::shared_ptr<const KeyTable>(std::move(table));
}

core::Result<std::shared_ptr<const hub::PriceTable>> load_prices(store::Database& db) {
    auto rows = store::prices::list(db);
    if (!rows) return rows.take_error();
    std::vector<hub::PriceEntry> entries;
    for (const auto& p : rows.value())
        entries.push_back({p.model,
                           {p.input_per_m, p.output_per_m, p.cache_read_per_m, p.cache_write_per_m,
                            p.reasoning_per_m, p.per_call}});
    auto table = hub::PriceTable::build(std::move(entries));
    if (!table) return table.take_error();
    return std::make_shared<const hub::PriceTable>(std::move(table).value());
}

std::vector<std::string> chain_texts_from_dir(const std::filesystem::path& dir) {
    std::vector<std::string> texts;
    if (dir.empty() || !std::filesystem::is_directory(dir)) return texts;
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::directory_iterator(dir))
        if (entry.path().extension() == ".json") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(f);
        std::stringstream ss;
        ss << in.rdbuf();
        texts.push_back(ss.str());
    }
    return texts;
}

}  // namespace

std::vector<core::Error> load_catalog(plugin::PluginCatalog& catalog,
                                      const PluginSources& sources) {
    std::vector<core::Error> problems;
    if (!sources.plugins_dir.empty()) {
        if (std::filesystem::is_directory(sources.plugins_dir)) {
            auto errors = catalog.load_directory(sources.plugins_dir);
            problems.insert(problems.end(), errors.begin(), errors.end());
        } else {
            problems.push_back(Error::invalid("plugins directory '" + sources.plugins_dir.string() +
                                              "' does not exist: pass --plugins-dir DIR"));
        }
    }
    if (!sources.scripts_dir.empty()) {
        if (std::filesystem::is_directory(sources.scripts_dir)) {
            auto loaded = plugin::load_lua_scripts(sources.scripts_dir);
            if (!loaded) {
                problems.push_back(loaded.take_error());
            } else {
                problems.insert(problems.end(), loaded->errors.begin(), loaded->errors.end());
                for (auto& f : loaded->factories)
                    if (auto r = catalog.add(f); !r) problems.push_back(r.take_error());
            }
        } else {
            problems.push_back(Error::invalid("scripts directory '" + sources.scripts_dir.string() +
                                              "' does not exist: pass --scripts-dir DIR"));
        }
    }
    return problems;
}

std::shared_ptr<const pipeline::PresetCatalog> load_presets(const PluginSources& sources,
                                                            std::vector<core::Error>& problems) {
    auto presets = std::make_shared<pipeline::PresetCatalog>();
    if (!sources.plugins_dir.empty() && std::filesystem::is_directory(sources.plugins_dir)) {
        auto errors = presets->load_directory(sources.plugins_dir);
        problems.insert(problems.end(), errors.begin(), errors.end());
    }
    return presets;
}

//! Writes what requests learn about upstream keys to the store on its own thread: the key
//! disabled with its reason, then an alert in the outbox. A request that saw the refusal only
//! queues it (FailoverModel already skips the key in memory), so it never waits for the
//! database. Disabling bumps the config revision, so every instance drops the key.
class RuntimeLoader::KeyRefusalWriter {
  public:
    struct Refusal {
        std::string channel, key_id, reason;
    };

    explicit KeyRefusalWriter(store::Database& db) : db_(db), thread_([this] { run(); }) {}
    ~KeyRefusalWriter() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        thread_.join();
    }
    void post(Refusal r) {
        {
            std::lock_guard lock(mutex_);
            queue_.push_back(std::move(r));
        }
        wake_.notify_one();
    }

  private:
    void run() {
        std::unique_lock lock(mutex_);
        for (;;) {
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) return;  // stopping, and everything is written
            std::vector<Refusal> batch = std::move(queue_);
            queue_.clear();
            lock.unlock();
            for (const auto& r : batch) write(r);
            lock.lock();
        }
    }
    void write(const Refusal& r) {
        long long id = 0;
        try {
            id = std::stoll(r.key_id);
        } catch (...) {
            id = 0;  // a channel without a key list: nothing stored to disable
        }
        if (id > 0)
            if (auto done = store::channels::set_key_enabled(db_, id, false, r.reason); !done)
                core::log(core::LogLevel::error, "cannot record the disabled upstream key",
                          {{"channel", r.channel},
                           {"key_id", r.key_id},
                           {"error", done.error().message}});
        store::AlertRaise alert;
        alert.kind = service::alerts::kUpstreamKeyDisabled;
        alert.severity = "critical";
        alert.subject = r.channel;
        alert.message = "channel '" + r.channel + "': the upstream refused key " + r.key_id + " (" +
                        r.reason +
                        "); the key is disabled: fix or replace it (`tianshu channel edit`), "
                        "`tianshu health-check` re-enables it once it answers";
        alert.dedup_key =
            std::string(service::alerts::kUpstreamKeyDisabled) + ":" + r.channel + "#" + r.key_id;
        if (auto raised = service::alerts::raise(db_, alert); !raised)
            core::log(
                core::LogLevel::error, "cannot raise the alert",
                {{"channel", r.channel}, {"key_id", r.key_id}, {"error", raised.error().message}});
    }

    store::Database& db_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<Refusal> queue_;
    bool stopping_ = false;
    std::thread thread_;  // last: starts once the rest is built
};

RuntimeLoader::RuntimeLoader(store::Database& db, const plugin::PluginCatalog& catalog,
                             std::filesystem::path chains_dir, const hub::SecretBox* secrets)
    : db_(db),
      refusals_(std::make_shared<KeyRefusalWriter>(db)),
      catalog_(catalog),
      chains_dir_(std::move(chains_dir)),
      secrets_(secrets) {
    services_.breakers = std::make_shared<upstream::CircuitBreakers>();
    // Routers built from this loader may outlive it in a snapshot: the hook holds the writer.
    services_.hooks.on_key_disabled = [writer = refusals_](const std::string& channel,
                                                           const std::string& key_id,
                                                           const std::string& reason) {
        // The alert operators watch for; `tianshu health-check` re-enables the key once it
        // answers again.
        core::log(core::LogLevel::error, "alert: upstream key disabled",
                  {{"channel", channel}, {"key_id", key_id}, {"reason", reason}});
        writer->post({channel, key_id, reason});
    };
}

RuntimeLoader::~RuntimeLoader() = default;

pipeline::PluginLookup RuntimeLoader::lookup() const {
    const auto* catalog = &catalog_;
    return [catalog](const std::string& name) { return catalog->find(name); };
}

core::Result<std::shared_ptr<const pipeline::RuntimeConfig>> RuntimeLoader::load() const {
    auto revision = store::config_revision(db_);
    if (!revision) return revision.take_error();
    std::vector<std::shared_ptr<const hub::Payer>> payers;
    auto keys = load_keys(db_, payers);
    if (!keys) return keys.take_error();
    auto prices = load_prices(db_);
    if (!prices) return prices.take_error();

    auto plugins = lookup();
    std::map<std::string, std::shared_ptr<const pipeline::Chain>> chains;
    auto add_chain = [&](const std::string& text, const std::string& origin, int64_t version) {
        auto spec = pipeline::parse_chain_text(text, plugins);
        if (!spec) {
            core::log(core::LogLevel::error, "chain left out: it does not validate",
                      {{"origin", origin}, {"error", spec.error().message}});
            return;
        }
        spec->version = version;
        auto chain = pipeline::Chain::build(std::move(spec).value(), plugins);
        if (!chain) {
            core::log(core::LogLevel::error, "chain left out: it does not build",
                      {{"origin", origin}, {"error", chain.error().message}});
            return;
        }
        chains[chain.value()->spec().id] = chain.value();
    };
    for (const auto& text : chain_texts_from_dir(chains_dir_))
        add_chain(text, chains_dir_.string(), 0);
    auto stored = store::chains::list_latest(db_);
    if (!stored) return stored.take_error();
    for (const auto& c : stored.value())
        add_chain(c.body, "store:" + c.chain_id + "@" + std::to_string(c.version), c.version);
    std::vector<std::shared_ptr<const pipeline::Chain>> chain_list;
    for (auto& [id, c] : chains) chain_list.push_back(c);

    auto channels = store::channels::list(db_);
    if (!channels) return channels.take_error();
    std::vector<upstream::ChannelSpec> specs;
    std::vector<LoadedChannel> loaded;
    for (const auto& c : channels.value()) {
        LoadedChannel l{c.name, {}};
        for (const auto& k : c.keys) l.keys.emplace_back(std::to_string(k.id), k.enabled);
        loaded.push_back(std::move(l));
    }
    {
        std::lock_guard lock(loaded_mutex_);
        loaded_ = std::move(loaded);
    }
    // Each channel's capability options override the table for the models it serves.
    std::map<std::string, core::ModelCapabilities, std::less<>> channel_capabilities;
    std::map<std::string, std::shared_ptr<const pipeline::CapabilityTable>, std::less<>>
        preset_capabilities;
    for (const auto& c : channels.value()) {
        if (auto provider = c.provider(); !provider.empty()) {
            const auto* preset = presets_ ? presets_->find(provider) : nullptr;
            if (preset)
                preset_capabilities.emplace(c.name, preset->capabilities);
            else
                core::log(core::LogLevel::warn, "channel provider preset not loaded",
                          {{"channel", c.name},
                           {"provider", provider},
                           {"effect", "the preset's capability table does not apply"}});
        }
        if (c.config.is_object() && c.config.contains("options")) {
            auto caps = pipeline::channel_capabilities(c.config["options"], c.name);
            if (!caps)
                core::log(core::LogLevel::error, "channel capability options ignored",
                          {{"channel", c.name}, {"error", caps.error().message}});
            else if (!caps->empty())
                channel_capabilities.emplace(c.name, std::move(caps).value());
        }
        upstream::ChannelSpec spec;
        spec.name = c.name;
        spec.type = c.type;
        spec.enabled = c.enabled;
        spec.config = c.config;
        spec.config.erase("api_key");   // keys come from the channel's key list
        spec.config.erase("provider");  // the host's, not the adapter's
        spec.priority = c.priority;
        spec.proxy = c.proxy;
        if (c.timeout_ms > 0) {
            // The channel's timeout bounds the wait for the first byte and between chunks,
            // unless its adapter config sets those itself.
            if (!spec.config.contains("first_byte_timeout_ms"))
                spec.config["first_byte_timeout_ms"] = c.timeout_ms;
            if (!spec.config.contains("idle_timeout_ms"))
                spec.config["idle_timeout_ms"] = c.timeout_ms;
        }
        spec.weight = std::max(1, c.weight);
        if (!c.base_url.empty() && !spec.config.contains("base_url"))
            spec.config["base_url"] = c.base_url;
        bool keys_open = true;
        for (const auto& k : c.keys) {
            // Upstream keys are sealed at rest; the plaintext lives only in this snapshot.
            auto opened = !hub::SecretBox::is_sealed(k.sealed_key)
                              ? core::Result<std::string>(k.sealed_key)
                          : secrets_ ? secrets_->open(k.sealed_key, c.name)
                                     : core::Result<std::string>(
                                           Error{core::ErrorKind::internal,
                                                 "no secret file to open the sealed upstream key",
                                                 {}});
            if (!opened) {
                core::log(core::LogLevel::error, "channel left out",
                          {{"channel", c.name}, {"error", opened.error().message}});
                keys_open = false;
                break;
            }
            spec.keys.push_back({std::to_string(k.id), opened.value(), k.enabled});
        }
        if (!keys_open) continue;
        for (const auto& m : c.models) spec.models.push_back(m.get<std::string>());
        for (const auto& [pattern, target] : c.model_map.items())
            spec.model_map.emplace_back(pattern, target.get<std::string>());
        specs.push_back(std::move(spec));
    }
    std::vector<Error> channel_errors;
    auto router =
        upstream::ChannelRouter::build(std::move(specs), plugins, &channel_errors, services_);
    for (const auto& e : channel_errors)
        core::log(core::LogLevel::error, "channel left out", {{"error", e.message}});

    auto config = std::make_shared<pipeline::RuntimeConfig>();
    config->keys = keys.value();
    config->chains = std::make_shared<pipeline::ChainSet>(std::move(chain_list));
    config->models = router;
    config->prices = prices.value();
    config->payers = std::move(payers);
    config->revision = revision.value();
    config->capabilities = std::make_shared<pipeline::ModelCapabilityBook>(
        capabilities_, std::move(channel_capabilities), router, std::move(preset_capabilities));
    auto tiers = store::tiers::list(db_);
    if (!tiers) return tiers.take_error();
    for (const auto& t : tiers.value())
        if (!t.route_header) config->tiers_without_route_header.insert(t.name);
    return std::shared_ptr<const pipeline::RuntimeConfig>(std::move(config));
}

std::vector<server::ChannelState> RuntimeLoader::channel_states() const {
    std::vector<LoadedChannel> loaded;
    {
        std::lock_guard lock(loaded_mutex_);
        loaded = loaded_;
    }
    std::vector<server::ChannelState> out;
    for (const auto& c : loaded) {
        server::ChannelState s;
        s.channel = c.name;
        // A channel without a key list calls its upstream as upstream::kDefaultKeyId.
        auto keys = c.keys;
        const bool keyless = keys.empty();
        if (keyless) keys.emplace_back(upstream::kDefaultKeyId, true);
        for (const auto& [id, enabled] : keys) {
            if (!keyless) ++(enabled ? s.keys_enabled : s.keys_disabled);
            switch (services_.breakers->state_of(c.name, id)) {
                case upstream::BreakerState::closed:
                    ++s.breakers_closed;
                    break;
                case upstream::BreakerState::open:
                    ++s.breakers_open;
                    break;
                case upstream::BreakerState::half_open:
                    ++s.breakers_half_open;
                    break;
            }
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<Error> RuntimeLoader::unopenable_channel_keys() const {
    auto channels = store::channels::list(db_);
    if (!channels) return {channels.error()};
    std::vector<Error> problems;
    for (const auto& c : channels.value())
        for (const auto& k : c.keys) {
            if (!hub::SecretBox::is_sealed(k.sealed_key)) continue;
            if (!secrets_) {
                problems.push_back(Error::internal_error(
                    "channel '" + c.name +
                    "' has sealed upstream keys and no secret key opens them"));
                break;
            }
            if (auto opened = secrets_->open(k.sealed_key, c.name); !opened) {
                problems.push_back(opened.error());
                break;
            }
        }
    return problems;
}

ConfigWatcher::ConfigWatcher(const RuntimeLoader& loader, store::Database& db,
                             pipeline::RuntimeConfigHolder& holder,
                             std::chrono::milliseconds interval, ReloadHook on_reload)
    : loader_(loader),
      db_(db),
      holder_(holder),
      interval_(interval),
      on_reload_(std::move(on_reload)),
      thread_([this] { run(); }) {}

ConfigWatcher::~ConfigWatcher() {
    stop_ = true;
    thread_.join();
}

void ConfigWatcher::run() {
    while (!stop_) {
        for (auto waited = std::chrono::milliseconds(0); waited < interval_ && !stop_;
             waited += std::chrono::milliseconds(50))
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        if (stop_) break;
        auto revision = store::config_revision(db_);
        if (!revision) {
            core::log(core::LogLevel::warn,
                      "cannot read the config revision; still serving the last configuration",
                      {{"error", revision.error().message}});
            continue;
        }
        auto current = holder_.snapshot();
        if (current && current->revision == revision.value()) continue;
        auto next = loader_.load();
        if (!next) {
            core::log(core::LogLevel::error, "reload failed; still serving the last configuration",
                      {{"error", next.error().message}});
            continue;
        }
        holder_.replace(next.value());
        if (on_reload_) on_reload_(*next.value());
        core::log(core::LogLevel::info, "configuration reloaded",
                  {{"revision", next.value()->revision},
                   {"chains", next.value()->chains->chains().size()}});
    }
}

}  // namespace tianshu::app
