#pragma once
// The model capability table (docs/capabilities.md): model names and glob patterns ->
// ModelCapabilities. A small table is built into the binary; `serve --capabilities FILE`
// adds to it and overrides it; a channel's options override both for that channel's models.
// The lookup reads one immutable snapshot (RuntimeConfig), never the store.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/model_capabilities.hpp"
#include "pipeline/json_schema.hpp"
#include "pipeline/runner.hpp"
#include "plugin/stage.hpp"

namespace tianshu::pipeline {

//! The compiled capability table schema (embedded from schemas/capabilities.schema.json).
const JsonSchema& capabilities_schema();

//! Patterns -> capabilities. Immutable once built; safe to read from many threads.
class CapabilityTable {
  public:
    //! A table file's text. The error names `origin`, each wrong field's JSON pointer and the
    //! fix.
    static core::Result<CapabilityTable> parse(std::string_view text, std::string_view origin);
    //! The table built into the binary (host/pipeline/builtin_capabilities.json).
    static const CapabilityTable& builtin();

    //! `over`'s entries are laid over this table's: a pattern both have gets `over`'s fields
    //! where it sets them; new patterns are added.
    void merge(const CapabilityTable& over);
    //! The entry of the most specific pattern matching `model`: an exact name beats every
    //! pattern, then the pattern with most literal characters; on a tie the first listed.
    //! Null when none matches.
    const core::ModelCapabilities* find(std::string_view model) const;
    size_t size() const { return entries_.size(); }

  private:
    std::vector<std::pair<std::string, core::ModelCapabilities>> entries_;
};

//! Reads the capability fields of a channel's adapter options ({"vision": false, ...});
//! other option keys are ignored. Errors name `channel` and the option.
core::Result<core::ModelCapabilities> channel_capabilities(const core::Json& options,
                                                           std::string_view channel);

//! The lookup of a snapshot: channel override > the channel's preset table > the global table
//! (most specific pattern in each) > unknown.
class ModelCapabilityBook final : public plugin::CapabilitySource {
  public:
    //! `preset_by_channel`: the capability table of each channel's provider preset, laid
    //! between the global table and the channel's own options.
    ModelCapabilityBook(std::shared_ptr<const CapabilityTable> table,
                        std::map<std::string, core::ModelCapabilities, std::less<>> by_channel,
                        std::shared_ptr<const ModelResolver> models,
                        std::map<std::string, std::shared_ptr<const CapabilityTable>, std::less<>>
                            preset_by_channel = {})
        : table_(std::move(table)),
          by_channel_(std::move(by_channel)),
          preset_by_channel_(std::move(preset_by_channel)),
          models_(std::move(models)) {}

    //! `model` as the provider knows it (looked up first) and as the client asked for it,
    //! served by `channel` (empty: no channel override).
    std::optional<core::ModelCapabilities> lookup(std::string_view upstream_model,
                                                  std::string_view requested_model,
                                                  std::string_view channel) const;

    // plugin::CapabilitySource
    //! A gateway model name resolves (through the snapshot's channels) to the channel tried
    //! first and its upstream name; while a model generates, the current target is the
    //! channel's own model on ctx.channel.
    std::optional<core::ModelCapabilities> capabilities(const plugin::RequestContext& ctx,
                                                        std::string_view model) const override;
    //! Asks the snapshot's channels (the resolver) about a gateway model name; empty: the
    //! request's model (in on_request, the gateway name it is routed to so far).
    std::optional<bool> serving(const plugin::RequestContext& ctx,
                                std::string_view model) const override;

  private:
    std::shared_ptr<const CapabilityTable> table_;
    std::map<std::string, core::ModelCapabilities, std::less<>> by_channel_;
    std::map<std::string, std::shared_ptr<const CapabilityTable>, std::less<>> preset_by_channel_;
    std::shared_ptr<const ModelResolver> models_;
};

}  // namespace tianshu::pipeline
