#pragma once
// Channels: where a model name is served. A channel names a model plugin (a Lua custom
// model now; adapter plugins for real upstreams later), the models it offers, and a map from
// requested-model patterns to its own model names.

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/chain.hpp"
#include "pipeline/runner.hpp"

namespace tianshu::upstream {

//! A channel as configured (store row or demo bootstrap).
struct ChannelSpec {
    std::string name;
    std::string type;  //!< the model plugin that serves it, e.g. "demo"
    std::vector<std::string> models;
    std::vector<std::pair<std::string, std::string>>
        model_map;  //!< pattern -> channel model, in order
    core::Json config = core::Json::object();
    bool enabled = true;
};

//! Parses "claude-*=up-model" into a map entry; the error names the flag value and the fix.
core::Result<std::pair<std::string, std::string>> parse_model_mapping(const std::string& text);

//! Immutable routing table built from the enabled channels; resolves a model name to the
//! channel's model instance. Exact model names win over patterns; patterns are tried from
//! the most specific; channels in name order.
class ChannelRouter final : public pipeline::ModelResolver {
  public:
    //! Channels that cannot be built (unknown type, bad config) are left out and reported
    //! in `problems`; the others serve.
    static std::shared_ptr<const ChannelRouter> build(std::vector<ChannelSpec> channels,
                                                      const pipeline::PluginLookup& plugins,
                                                      std::vector<core::Error>* problems);
    core::Result<pipeline::ResolvedModel> resolve(const std::string& model) const override;
    //! Every model name a client can ask for directly (for /v1/models).
    std::vector<std::string> model_names() const override;

  private:
    static core::Result<std::shared_ptr<plugin::Model>> make_entry(
        const ChannelSpec& spec, const pipeline::PluginLookup& plugins);
    struct Entry {
        ChannelSpec spec;
        std::shared_ptr<plugin::Model> model;
    };
    std::vector<Entry> channels_;
};

}  // namespace tianshu::upstream
