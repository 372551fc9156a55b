#pragma once
// Builds the serving snapshot (API keys, chains, channels) from the store and chain files,
// and keeps it fresh: a watcher polls the store's config revision and swaps in a new
// snapshot when anything changed, so CLI and admin changes apply without a restart.

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "hub/secret_box.hpp"
#include "pipeline/provider_presets.hpp"
#include "pipeline/runtime_config.hpp"
#include "plugin/catalog.hpp"
#include "server/metrics.hpp"
#include "store/database.hpp"
#include "upstream/channel_router.hpp"

namespace tianshu::app {

//! Where building blocks come from.
struct PluginSources {
    std::filesystem::path plugins_dir;  //!< .so plugins
    std::filesystem::path scripts_dir;  //!< Lua: models/ and strategies/
};

//! Loads every .so plugin and Lua script; problems are returned (and each is one log line
//! at serve time), the good ones load.
std::vector<core::Error> load_catalog(plugin::PluginCatalog& catalog, const PluginSources& sources);
//! The provider presets (`*.preset.json`) in the plugins directory; problems are appended to
//! `problems` (a file that does not parse is left out, naming the file and the field).
std::shared_ptr<const pipeline::PresetCatalog> load_presets(const PluginSources& sources,
                                                            std::vector<core::Error>& problems);

//! Makes RuntimeConfig snapshots from the store (+ optional chain files).
class RuntimeLoader {
  public:
    //! `secrets` opens sealed upstream keys; without it, channels with a sealed key are left out.
    //! Circuit breakers live in the loader, so they survive every rebuild of the router; a key
    //! an upstream refuses (401/403/402) is disabled in the store with its reason, and an
    //! alert raised in the outbox (both written by the loader's KeyRefusalWriter thread, never
    //! on the request that saw the refusal).
    RuntimeLoader(store::Database& db, const plugin::PluginCatalog& catalog,
                  std::filesystem::path chains_dir = {}, const hub::SecretBox* secrets = nullptr);
    ~RuntimeLoader();  // writes the refusals still queued

    //! A whole new snapshot. A chain or channel that no longer builds (a plugin went away)
    //! is left out with one error log line; the rest serve.
    core::Result<std::shared_ptr<const pipeline::RuntimeConfig>> load() const;
    pipeline::PluginLookup lookup() const;
    //! The capability table every snapshot uses (the built-in one unless set: serve
    //! --capabilities merges a file over it). Call before the first load().
    void use_capabilities(std::shared_ptr<const pipeline::CapabilityTable> table) {
        capabilities_ = std::move(table);
    }
    //! The provider presets (the plugins directory's *.preset.json): a channel added from one
    //! (its config's "provider") reads the preset's capability table. Call before load().
    void use_presets(std::shared_ptr<const pipeline::PresetCatalog> presets) {
        presets_ = std::move(presets);
    }
    //! One error per channel whose stored upstream keys this gateway's secret key cannot open
    //! (sealed with another gateway's key, or damaged), naming the channel and the fix; serve
    //! checks at start, so a gateway started with the wrong key stops there and says so, instead
    //! of leaving the channel out and failing its requests.
    std::vector<core::Error> unopenable_channel_keys() const;
    //! Each channel of the last load(): its keys enabled and disabled, and their breakers now
    //! (for /metrics; read when scraped).
    std::vector<server::ChannelState> channel_states() const;

  private:
    class KeyRefusalWriter;
    store::Database& db_;
    std::shared_ptr<KeyRefusalWriter> refusals_;
    const plugin::PluginCatalog& catalog_;
    std::filesystem::path chains_dir_;
    const hub::SecretBox* secrets_;
    upstream::RouterServices services_;
    //! The channels and key ids of the last load(): (channel, [(key id, enabled)]).
    struct LoadedChannel {
        std::string name;
        std::vector<std::pair<std::string, bool>> keys;
    };
    mutable std::mutex loaded_mutex_;
    mutable std::vector<LoadedChannel> loaded_;
    std::shared_ptr<const pipeline::CapabilityTable> capabilities_ =
        std::make_shared<pipeline::CapabilityTable>(pipeline::CapabilityTable::builtin());
    std::shared_ptr<const pipeline::PresetCatalog> presets_;
};

//! Polls the store's config revision and reloads on change.
class ConfigWatcher {
  public:
    //! `on_reload` runs on the watcher's thread after each new snapshot is in place.
    using ReloadHook = std::function<void(const pipeline::RuntimeConfig&)>;
    ConfigWatcher(const RuntimeLoader& loader, store::Database& db,
                  pipeline::RuntimeConfigHolder& holder,
                  std::chrono::milliseconds interval = std::chrono::milliseconds(500),
                  ReloadHook on_reload = {});
    ~ConfigWatcher();

  private:
    void run();
    const RuntimeLoader& loader_;
    store::Database& db_;
    pipeline::RuntimeConfigHolder& holder_;
    std::chrono::milliseconds interval_;
    ReloadHook on_reload_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

}  // namespace tianshu::app
