#pragma once
// The catalog: every building block the host can put in a chain, by name.

#include <filesystem>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "plugin/plugin_factory.hpp"

namespace tianshu::plugin {

//! Plugin factories by unique name. Loading happens at start-up; reads (find, list) are
//! thread-safe at any time, including while another thread adds.
class PluginCatalog {
  public:
    //! Loads every `*.so` in `directory` (not recursive, in name order). A file that fails is
    //! reported (the error names its path) and skipped; the others load. Empty = all loaded.
    std::vector<core::Error> load_directory(const std::filesystem::path& directory);
    //! Adds a factory; a second plugin with the same name is refused, naming both paths.
    core::Result<void> add(std::shared_ptr<PluginFactory> factory);
    //! Null when no plugin has that name.
    std::shared_ptr<PluginFactory> find(std::string_view name) const;
    //! What `tianshu plugins list` shows, sorted by name.
    std::vector<PluginInfo> list() const;
    size_t size() const;

  private:
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::shared_ptr<PluginFactory>, std::less<>> by_name_;
};

}  // namespace tianshu::plugin
