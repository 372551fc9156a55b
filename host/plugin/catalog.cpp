#include "plugin/catalog.hpp"

#include <algorithm>
#include <mutex>
#include <system_error>

#include "plugin/so_plugin.hpp"

namespace tianshu::plugin {

using core::Error;
using core::ErrorKind;

std::vector<Error> PluginCatalog::load_directory(const std::filesystem::path& directory) {
    std::vector<Error> errors;
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (std::filesystem::directory_iterator it(directory, ec), end; !ec && it != end;
         it.increment(ec)) {
        std::error_code type_ec;
        if (it->path().extension() == ".so" && it->is_regular_file(type_ec))
            files.push_back(it->path());
    }
    if (ec) {
        errors.push_back(
            Error{ErrorKind::plugin_failure,
                  "cannot read plugin directory " + directory.string() + ": " + ec.message(),
                  directory.string()});
        return errors;
    }
    std::sort(files.begin(), files.end());
    for (const auto& file : files) {
        auto factory = SoPluginFactory::load(file);
        if (!factory) {
            errors.push_back(factory.take_error());
            continue;
        }
        auto added = add(std::move(factory).value());
        if (!added) errors.push_back(added.take_error());
    }
    return errors;
}

core::Result<void> PluginCatalog::add(std::shared_ptr<PluginFactory> factory) {
    const PluginInfo& info = factory->info();
    std::unique_lock lock(mutex_);
    auto [it, inserted] = by_name_.try_emplace(info.name, factory);
    if (!inserted) {
        return Error{ErrorKind::plugin_failure,
                     "two plugins are named '" + info.name + "': " + it->second->info().path +
                         " and " + info.path + "; remove one or rename it",
                     info.path};
    }
    return {};
}

std::shared_ptr<PluginFactory> PluginCatalog::find(std::string_view name) const {
    std::shared_lock lock(mutex_);
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : it->second;
}

std::vector<PluginInfo> PluginCatalog::list() const {
    std::shared_lock lock(mutex_);
    std::vector<PluginInfo> out;
    out.reserve(by_name_.size());
    for (const auto& [name, factory] : by_name_) out.push_back(factory->info());
    return out;
}

size_t PluginCatalog::size() const {
    std::shared_lock lock(mutex_);
    return by_name_.size();
}

}  // namespace tianshu::plugin
