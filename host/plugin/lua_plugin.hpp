#pragma once
// Lua scripts as building blocks: scripts/models/*.lua answer like models,
// scripts/strategies/*.lua run around them. See docs in scripts/README.md for the contract.

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "plugin/lua_vm.hpp"
#include "plugin/plugin_factory.hpp"

namespace tianshu::plugin {

//! Makes LuaStrategy / LuaModel instances of one script file. Thread-safe (immutable).
class LuaPluginFactory : public PluginFactory {
  public:
    LuaPluginFactory(PluginInfo info, std::shared_ptr<const LuaScript> script,
                     LuaScriptShape shape);

    // PluginFactory
    const PluginInfo& info() const override { return info_; }
    core::Result<std::shared_ptr<Strategy>> create_strategy(const core::Json& config) override;
    core::Result<std::shared_ptr<Model>> create_model(const core::Json& config) override;

    const LuaScriptShape& shape() const { return shape_; }

  private:
    PluginInfo info_;
    std::shared_ptr<const LuaScript> script_;
    LuaScriptShape shape_;
};

//! A strategy script instance: its hooks run on the calling thread's VM, in a fresh
//! environment with `config` set to the instance config.
class LuaStrategy : public Strategy {
  public:
    LuaStrategy(std::string name, std::shared_ptr<const LuaScript> script, LuaScriptShape shape,
                core::Json config);

    // Strategy
    const std::string& name() const override { return name_; }
    //! Script returns "answered" (after tianshu.answer) or nothing / "continue". Calling
    //! tianshu.answer is enough: the outcome is then `answered`.
    core::Result<HookOutcome> on_request(RequestContext& ctx) override;
    core::Result<void> on_stream_event(RequestContext& ctx, core::StreamEvent& event) override;
    bool wants_stream_events() const override { return shape_.has_on_stream_event; }
    core::Result<void> on_response_end(RequestContext& ctx) override;

  private:
    std::string name_;
    std::shared_ptr<const LuaScript> script_;
    LuaScriptShape shape_;
    core::Json config_;
};

//! A model script instance: generate(req) emits text with tianshu.emit; the host finishes
//! the message with end_turn if the script did not call tianshu.finish.
class LuaModel : public Model {
  public:
    LuaModel(std::string name, std::shared_ptr<const LuaScript> script, core::Json config);

    // Model
    const std::string& name() const override { return name_; }
    core::Result<void> generate(RequestContext& ctx) override;

  private:
    std::string name_;
    std::shared_ptr<const LuaScript> script_;
    core::Json config_;
};

//! Loads one script: reads it, refuses bytecode, runs its top level once in a scratch VM to
//! learn its `plugin` table and hooks. `kind` unset: a script defining generate is a model.
core::Result<std::shared_ptr<LuaPluginFactory>> load_lua_script(const std::filesystem::path& file,
                                                                std::optional<PluginKind> kind = {},
                                                                const LuaLimits& limits = {});

//! What load_lua_scripts found: the scripts that load, and one error per script that did not.
struct LuaScriptCatalog {
    std::vector<std::shared_ptr<PluginFactory>> factories;
    std::vector<core::Error> errors;  //!< each names the script path (Error::source too)
};

//! Loads dir/models/*.lua (models) and dir/strategies/*.lua (strategies), in name order. A bad
//! script does not stop the others. Fails only when `dir` is not a readable directory.
core::Result<LuaScriptCatalog> load_lua_scripts(const std::filesystem::path& dir,
                                                const LuaLimits& limits = {});

//! Worker-thread VMs created so far (one per thread that ran a script).
inline uint64_t lua_vms_created() {
    return LuaVm::worker_vms_created();
}

}  // namespace tianshu::plugin
