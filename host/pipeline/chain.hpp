#pragma once
// Chains: which requests a pipeline serves, and the strategies it runs. A chain is JSON
// (schemas/chain.schema.json), validated against the schema and the loaded plugins before
// anything is built; a built set of chains is immutable and replaced atomically.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "pipeline/json_schema.hpp"
#include "plugin/plugin_factory.hpp"

namespace tianshu::pipeline {

enum class RoutingMode { passthrough, managed };

//! What a stage's failure means (the stage's "on_error").
enum class OnError {
    fail,      //!< a clean error to the client (a policy block, a refusal)
    continue_  //!< the request goes on as if the stage were not there (advisory strategies)
};

struct StageSpec {
    std::string plugin;
    core::Json config = core::Json::object();
    std::optional<OnError> on_error;  //!< unset: from the plugin (TS_FLAG_ADVISORY)
    std::optional<std::chrono::milliseconds> deadline;  //!< "deadline_ms"; unset: none of its own
};

//! How a built stage fails. A stage fails when its hook fails or returns after its deadline
//! (which also bounds call_model inside it).
struct StagePolicy {
    std::string plugin;
    std::string where;  //!< "/pre/0", "/post/1": the stage in its chain, for logs
    OnError on_error = OnError::fail;
    std::optional<std::chrono::milliseconds> deadline;
    bool soft() const { return on_error == OnError::continue_; }
};

//! A chain document, parsed. `body` keeps the document as given (for export).
struct ChainSpec {
    std::string id;
    int64_t version = 0;  //!< assigned by the store; 0 for a file not yet saved
    std::string description;
    int64_t priority = 0;
    std::vector<std::string> tiers;
    std::vector<std::string> models;
    RoutingMode mode = RoutingMode::passthrough;
    std::string routing_model;
    std::vector<StageSpec> pre;
    std::vector<StageSpec> post;
    core::Json body;
};

//! Finds a loaded plugin by name; null when there is none.
using PluginLookup = std::function<std::shared_ptr<plugin::PluginFactory>(const std::string&)>;

//! The compiled chain schema (embedded in the binary from schemas/chain.schema.json).
const JsonSchema& chain_schema();

//! Every problem with a chain document: schema violations, unknown plugins, a model plugin
//! used as a strategy, configs that do not match the plugin's declared schema.
std::vector<SchemaProblem> validate_chain(const core::Json& body, const PluginLookup& plugins);

//! validate_chain, then parse. The error message lists every problem, one per line.
core::Result<ChainSpec> parse_chain(const core::Json& body, const PluginLookup& plugins);
core::Result<ChainSpec> parse_chain_text(std::string_view text, const PluginLookup& plugins);

//! A chain with its strategy instances made. Immutable once built.
class Chain {
  public:
    static core::Result<std::shared_ptr<const Chain>> build(ChainSpec spec,
                                                            const PluginLookup& plugins);

    const ChainSpec& spec() const { return spec_; }
    const std::vector<std::shared_ptr<plugin::Strategy>>& pre() const { return pre_; }
    const std::vector<std::shared_ptr<plugin::Strategy>>& post() const { return post_; }
    //! The post strategies that asked for stream events (the only ones called per event).
    const std::vector<std::shared_ptr<plugin::Strategy>>& stream_hooks() const {
        return stream_hooks_;
    }
    //! The policy of pre()[i], post()[i], stream_hooks()[i].
    const StagePolicy& pre_policy(size_t i) const { return pre_policies_[i]; }
    const StagePolicy& post_policy(size_t i) const { return post_policies_[i]; }
    const StagePolicy& stream_policy(size_t i) const { return stream_policies_[i]; }

    bool serves_tier(const std::string& tier) const;
    //! -1 when no pattern matches `model`, else the specificity of the best pattern.
    int model_match(const std::string& model) const;

  private:
    ChainSpec spec_;
    std::vector<std::shared_ptr<plugin::Strategy>> pre_, post_, stream_hooks_;
    std::vector<StagePolicy> pre_policies_, post_policies_, stream_policies_;
};

//! An immutable set of chains and the rule that picks one for a request.
class ChainSet {
  public:
    explicit ChainSet(std::vector<std::shared_ptr<const Chain>> chains);
    //! Highest priority, then most specific model pattern, then id. Null when none serves.
    const Chain* match(const std::string& tier, const std::string& model) const;
    const std::vector<std::shared_ptr<const Chain>>& chains() const { return chains_; }

  private:
    std::vector<std::shared_ptr<const Chain>> chains_;
};

}  // namespace tianshu::pipeline
