#include "plugin/plugin_factory.hpp"

namespace tianshu::plugin {

std::string_view to_string(PluginKind kind) {
    return kind == PluginKind::model ? "model" : "strategy";
}

}  // namespace tianshu::plugin
