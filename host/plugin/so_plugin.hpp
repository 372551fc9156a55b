#pragma once
// `.so` plugins: a library loaded through the C ABI (abi.h) becomes a PluginFactory whose
// instances are Strategy or Model stages. Everything the pipeline sees is stage.hpp.

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "core/error.hpp"
#include "plugin/plugin_factory.hpp"
#include "tianshu/abi.h"

namespace tianshu::plugin {

//! One loaded plugin library: the validated descriptor and the handle that keeps it mapped.
//! Shared by the factory and every instance, so the code stays loaded while any lives.
struct SoLibrary;

//! Loads one `.so` plugin and makes Strategy/Model instances of it. Thread-safe.
class SoPluginFactory : public PluginFactory {
  public:
    //! Loads `path` (RTLD_NOW, local) and checks it against this host's ABI. Errors name the
    //! path and say what to do: not a plugin, other ABI major, missing required hook…
    static core::Result<std::shared_ptr<SoPluginFactory>> load(const std::filesystem::path& path);

    explicit SoPluginFactory(std::shared_ptr<const SoLibrary> library);

    // PluginFactory
    const PluginInfo& info() const override;
    core::Result<std::shared_ptr<Strategy>> create_strategy(const core::Json& config) override;
    core::Result<std::shared_ptr<Model>> create_model(const core::Json& config) override;

    //! The descriptor as this host reads it (fields past the plugin's struct_size are zero).
    const ts_plugin_descriptor& descriptor() const;

  private:
    std::shared_ptr<const SoLibrary> library_;
};

//! One instance made by create(): destroyed when the last stage holding it goes away.
class SoInstance;

//! A strategy implemented by a `.so` plugin's hooks.
class SoStrategy final : public Strategy {
  public:
    explicit SoStrategy(std::shared_ptr<SoInstance> instance);

    // Strategy
    const std::string& name() const override;
    core::Result<HookOutcome> on_request(RequestContext& ctx) override;
    core::Result<void> on_stream_event(RequestContext& ctx, core::StreamEvent& event) override;
    bool wants_stream_events() const override;
    core::Result<void> on_response_end(RequestContext& ctx) override;

  private:
    std::shared_ptr<SoInstance> instance_;
};

//! A model implemented by a `.so` plugin's generate hook.
class SoModel final : public Model {
  public:
    explicit SoModel(std::shared_ptr<SoInstance> instance);

    // Model
    const std::string& name() const override;
    core::Result<void> generate(RequestContext& ctx) override;

  private:
    std::shared_ptr<SoInstance> instance_;
};

}  // namespace tianshu::plugin
