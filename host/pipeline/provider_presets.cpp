#include "pipeline/provider_presets.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "pipeline/json_schema.hpp"

namespace tianshu::pipeline {

using core::Error;
using core::Json;

namespace {
#include "provider_preset_schema_text.inc"
;
constexpr std::string_view kSuffix = ".preset.json";
constexpr std::string_view kFix = "see docs/providers.md for the format";

const JsonSchema& preset_schema() {
    static const std::shared_ptr<const JsonSchema> schema = [] {
        auto compiled = JsonSchema::compile_text(kProviderPresetSchemaText);
        if (!compiled)
            throw std::logic_error("embedded provider preset schema does not compile: " +
                                   compiled.error().message);
        return compiled.value();
    }();
    return *schema;
}

bool is_pattern(std::string_view s) {
    return s.find_first_of("*?") != std::string_view::npos;
}

bool ends_with(std::string_view s, std::string_view tail) {
    return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}
}  // namespace

Json ProviderPreset::to_json() const {
    return Json{
        {"provider", name},
        {"display_name", display_name},
        {"description", description},
        {"adapter", adapter},
        {"base_url", base_url},
        {"key_required", key_required},
        {"options", options},
        {"models", models},
        {"models_endpoint", models_endpoint.empty() ? Json(nullptr) : Json(models_endpoint)},
        {"cache_telemetry", cache_telemetry.empty() ? Json(nullptr) : Json(cache_telemetry)},
        {"balance", !balance.is_null()},
        {"capabilities", capability_json}};
}

core::Result<ProviderPreset> PresetCatalog::parse(std::string_view text,
                                                  const std::filesystem::path& origin) {
    const std::string where = "provider preset " + origin.string();
    Json body = Json::parse(text, nullptr, false);
    if (body.is_discarded() || !body.is_object())
        return Error::invalid(where + ": not a JSON object; " + std::string(kFix));
    auto problems = preset_schema().validate(body);
    if (!problems.empty()) {
        std::string message = where + ": not a provider preset (" + std::string(kFix) + "):";
        for (const auto& p : problems) message += "\n  " + p.to_string();
        return Error::invalid(message);
    }
    // The model table is a capability table: the one parser checks every field.
    auto table = CapabilityTable::parse(Json{{"models", body["models"]}}.dump(), where);
    if (!table) return table.take_error();

    ProviderPreset p;
    p.name = body["provider"].get<std::string>();
    const std::string file = origin.filename().string();
    if (!origin.empty() && file != p.name + std::string(kSuffix))
        return Error::invalid(where + ": the file of provider '" + p.name + "' must be named " +
                              p.name + std::string(kSuffix));
    p.display_name = body["display_name"].get<std::string>();
    p.description = body.value("description", "");
    p.adapter = body["adapter"].get<std::string>();
    p.base_url = body["base_url"].get<std::string>();
    p.key_required = body.value("key_required", true);
    p.options = body.value("options", Json::object());
    if (p.options.contains("api_key"))
        return Error::invalid(where +
                              ": /options/api_key: a preset never holds a key; keys are "
                              "given per channel with --key, --key-stdin or --key-file");
    p.models_endpoint = body.value("models_endpoint", "");
    p.cache_telemetry = body.value("cache_telemetry", "");
    p.balance = body.value("balance", Json(nullptr));
    if (body.contains("default_models")) {
        for (const auto& m : body["default_models"]) p.models.push_back(m.get<std::string>());
    } else {
        for (const auto& [model, fields] : body["models"].items())
            if (!is_pattern(model)) p.models.push_back(model);
    }
    p.capabilities = std::make_shared<const CapabilityTable>(std::move(table).value());
    p.capability_json = body["models"];
    p.origin = origin;
    return p;
}

core::Result<void> PresetCatalog::add(ProviderPreset preset) {
    if (auto it = by_name_.find(preset.name); it != by_name_.end())
        return Error::invalid("provider preset '" + preset.name + "' is defined twice: in " +
                              it->second.origin.string() + " and in " + preset.origin.string() +
                              "; remove one of the files");
    std::string name = preset.name;
    by_name_.emplace(std::move(name), std::move(preset));
    return {};
}

std::vector<Error> PresetCatalog::load_directory(const std::filesystem::path& directory) {
    std::vector<Error> problems;
    std::error_code ec;
    std::vector<std::filesystem::path> files;
    for (std::filesystem::directory_iterator it(directory, ec), end; !ec && it != end;
         it.increment(ec))
        if (it->is_regular_file() && ends_with(it->path().filename().string(), kSuffix))
            files.push_back(it->path());
    if (ec) {
        problems.push_back(Error::invalid("cannot read provider presets in " + directory.string() +
                                          ": " + ec.message()));
        return problems;
    }
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
        std::ifstream in(f, std::ios::binary);
        std::ostringstream text;
        text << in.rdbuf();
        if (!in.good() && !in.eof()) {
            problems.push_back(Error::invalid("cannot read provider preset " + f.string()));
            continue;
        }
        auto preset = parse(text.str(), f);
        if (!preset) {
            problems.push_back(preset.take_error());
            continue;
        }
        if (auto added = add(std::move(preset).value()); !added)
            problems.push_back(added.take_error());
    }
    return problems;
}

const ProviderPreset* PresetCatalog::find(std::string_view name) const {
    auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
}

std::vector<const ProviderPreset*> PresetCatalog::list() const {
    std::vector<const ProviderPreset*> out;
    for (const auto& [name, p] : by_name_) out.push_back(&p);
    return out;
}

std::string PresetCatalog::names() const {
    std::string out;
    for (const auto& [name, p] : by_name_) out += (out.empty() ? "" : ", ") + name;
    return out.empty() ? "(none: the plugins directory has no *.preset.json)" : out;
}

}  // namespace tianshu::pipeline
