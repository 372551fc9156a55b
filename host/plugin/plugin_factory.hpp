#pragma once
// The catalog's view of a loadable building block: a `.so` library or a Lua script.

#include <memory>
#include <string>

#include "core/error.hpp"
#include "plugin/stage.hpp"

namespace tianshu::plugin {

enum class PluginKind { strategy, model };
std::string_view to_string(PluginKind kind);

//! What `tianshu plugins list` shows and what chain validation needs.
struct PluginInfo {
    std::string name;
    std::string version;
    PluginKind kind = PluginKind::strategy;
    std::string abi_version;  //!< "1.1" for .so plugins, "lua" for scripts
    std::string path;
    std::string description;
    std::string config_schema;  //!< JSON Schema text; empty = any object
    //! TS_FLAG_ADVISORY (a Lua script: plugin.advisory = true): a failing stage of it lets the
    //! request go on unless the chain's stage says "on_error": "fail".
    bool advisory = false;
};

//! Makes instances of one plugin from validated JSON configs. Thread-safe.
class PluginFactory {
  public:
    virtual ~PluginFactory() = default;
    virtual const PluginInfo& info() const = 0;
    //! The config has already been validated against info().config_schema.
    virtual core::Result<std::shared_ptr<Strategy>> create_strategy(const core::Json& config) = 0;
    virtual core::Result<std::shared_ptr<Model>> create_model(const core::Json& config) = 0;
};

}  // namespace tianshu::plugin
