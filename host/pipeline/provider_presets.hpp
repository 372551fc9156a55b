#pragma once
// Provider presets (docs/providers.md): data files `*.preset.json` that ship with the adapter
// plugins (plugins/adapters/presets) or with a third party's adapter, in the plugins directory.
// A preset names the adapter plugin that speaks to the provider, its base URL, the adapter
// options its quirks need, the models it is known to serve and a capability table for them.
// `channel add --provider NAME` fills a channel from it; the runtime reads the capability
// table of a channel's preset between the global table and the channel's own options.
// The host knows no provider by name: everything provider-specific is in these files.

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "pipeline/capability_table.hpp"

namespace tianshu::pipeline {

struct ProviderPreset {
    std::string name;          //!< what `--provider` takes, e.g. "deepseek"
    std::string display_name;  //!< what the panel shows, e.g. "DeepSeek"
    std::string description;
    std::string adapter;   //!< the adapter plugin's name, e.g. "openai_compat"
    std::string base_url;  //!< the adapter's base URL
    bool key_required = true;
    core::Json options = core::Json::object();  //!< adapter options the provider's quirks need
    std::vector<std::string> models;            //!< known model names, prefilled on add
    std::string models_endpoint;                //!< path under base_url listing models ("" = none)
    std::string cache_telemetry;                //!< how usage reports cached input ("" = unknown)
    core::Json balance = nullptr;  //!< how to read the account balance (null = no endpoint)
    std::shared_ptr<const CapabilityTable> capabilities;  //!< never null
    core::Json capability_json = core::Json::object();    //!< the file's "models", as written
    std::filesystem::path origin;                         //!< the file it came from

    //! The preset as the API and `channel presets --json` show it.
    core::Json to_json() const;
};

//! Presets by name. Immutable once loaded; safe to read from many threads.
class PresetCatalog {
  public:
    //! Reads every `*.preset.json` in `directory` (not recursive, in name order). A file that
    //! does not parse is reported (the error names its path, the field and the fix) and
    //! skipped; a second preset with a name already loaded is refused naming both files.
    std::vector<core::Error> load_directory(const std::filesystem::path& directory);
    //! One preset file's text; `origin` names it in errors.
    static core::Result<ProviderPreset> parse(std::string_view text,
                                              const std::filesystem::path& origin);
    core::Result<void> add(ProviderPreset preset);

    //! Null when there is no preset of that name.
    const ProviderPreset* find(std::string_view name) const;
    //! Sorted by name.
    std::vector<const ProviderPreset*> list() const;
    //! "deepseek, moonshot, ..." for error messages.
    std::string names() const;
    size_t size() const { return by_name_.size(); }

  private:
    std::map<std::string, ProviderPreset, std::less<>> by_name_;
};

}  // namespace tianshu::pipeline
