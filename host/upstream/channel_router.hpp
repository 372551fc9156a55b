#pragma once
// Channels: where a model name is served. A channel names a model plugin (an adapter for a
// real upstream, or a Lua custom model), the models it offers, a map from requested-model
// patterns to its own model names, its priority and weight, and its upstream keys. A model
// name resolves to a FailoverModel over every channel that serves it.

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pipeline/chain.hpp"
#include "pipeline/runner.hpp"
#include "upstream/circuit_breaker.hpp"
#include "upstream/failover_model.hpp"

namespace tianshu::upstream {

//! One upstream key of a channel. The adapter gets `secret` as its config "api_key".
struct ChannelKey {
    std::string id;      //!< stable name of the key: breakers and disabling are per id
    std::string secret;  //!< plaintext, only in the serving snapshot; never logged
    bool enabled = true;
};

//! A channel as configured (store row or demo bootstrap).
struct ChannelSpec {
    std::string name;
    std::string type;  //!< the model plugin that serves it, e.g. "demo"
    std::vector<std::string> models;
    std::vector<std::pair<std::string, std::string>>
        model_map;  //!< pattern -> channel model, in order
    core::Json config = core::Json::object();
    bool enabled = true;
    int priority = 0;  //!< higher is tried first; lower only when every higher one fails
    int weight = 1;    //!< share of traffic among channels of the same priority, >= 1
    //! Several keys rotate within the channel. Empty: one key, the config's own "api_key"
    //! (if any), with id kDefaultKeyId.
    std::vector<ChannelKey> keys = {};
    std::string proxy = {};  //!< HTTP proxy for this channel's upstream calls; empty: direct
};

//! The key id of a channel configured without a key list.
inline constexpr const char* kDefaultKeyId = "default";

//! What every router the app builds shares: breakers (so they survive configuration
//! rebuilds), the retry policy and the hooks of FailoverModel.
struct RouterServices {
    std::shared_ptr<CircuitBreakers> breakers;  //!< null: a fresh set for this router only
    FailoverPolicy policy;
    FailoverHooks hooks;
};

//! Parses "claude-*=up-model" into a map entry; the error names the flag value and the fix.
core::Result<std::pair<std::string, std::string>> parse_model_mapping(const std::string& text);

//! Immutable routing table built from the enabled channels. A model name resolves to every
//! channel that serves it: the channels listing it by name if any (exact names beat
//! patterns), else those whose most specific matching pattern is the most specific of all.
//! The result is a FailoverModel that picks among them by priority, weight and health.
class ChannelRouter final : public pipeline::ModelResolver {
  public:
    //! Channels that cannot be built (unknown type, bad config, bad weight or keys) are left
    //! out and reported in `problems`; the others serve.
    static std::shared_ptr<const ChannelRouter> build(std::vector<ChannelSpec> channels,
                                                      const pipeline::PluginLookup& plugins,
                                                      std::vector<core::Error>* problems,
                                                      RouterServices services = {});
    //! The FailoverModel for `model`; upstream_model and channel name the first choice by
    //! priority (the model sets ctx.channel and ctx.request.model to the one it calls).
    core::Result<pipeline::ResolvedModel> resolve(const std::string& model) const override;
    //! Every channel that can answer `model`, highest priority first; not_found when none.
    core::Result<std::vector<ChannelRoute>> candidates(const std::string& model) const;
    //! Every model name a client can ask for directly (for /v1/models).
    std::vector<std::string> model_names() const override;
    //! True when some candidate channel of `model` has a key that is not refused and whose
    //! breaker would admit now; false when every one is failing; nullopt when none serves it.
    std::optional<bool> serving(const std::string& model) const override;

  private:
    struct Entry {
        ChannelSpec spec;
        std::vector<KeyRoute> keys;
        std::shared_ptr<std::atomic<uint32_t>> next_key;
    };
    static core::Result<std::shared_ptr<plugin::Model>> make_model(
        const ChannelSpec& spec, const core::Json& config, const pipeline::PluginLookup& plugins);
    static core::Result<Entry> make_entry(const ChannelSpec& spec,
                                          const pipeline::PluginLookup& plugins,
                                          CircuitBreakers& breakers);
    static ChannelRoute route_of(const Entry& entry, const std::string& upstream_model);
    std::shared_ptr<FailoverModel> failover_for(const std::string& model,
                                                std::vector<ChannelRoute> routes) const;

    std::vector<Entry> channels_;
    RouterServices services_;
    //! Models asked for by exact name, built once: the common case costs no allocation.
    std::map<std::string, std::shared_ptr<FailoverModel>, std::less<>> exact_;
    //! Models reached through a model map (claude-* = ...), built on first use: matching every
    //! pattern and building the routes cost more than the rest of the lookup. Bounded, since
    //! clients choose the names; past the bound a name is resolved afresh each time.
    static constexpr size_t kMaxMappedModels = 1024;
    mutable std::shared_mutex mapped_mutex_;
    mutable std::unordered_map<std::string, std::shared_ptr<FailoverModel>> mapped_;
};

}  // namespace tianshu::upstream
