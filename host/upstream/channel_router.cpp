#include "upstream/channel_router.hpp"

#include <algorithm>
#include <set>

#include "core/glob.hpp"

namespace tianshu::upstream {

using core::Error;

core::Result<std::pair<std::string, std::string>> parse_model_mapping(const std::string& text) {
    auto eq = text.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == text.size())
        return Error::invalid("model mapping '" + text +
                              "' must look like PATTERN=MODEL, e.g. 'claude-*=deepseek-chat'");
    return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

std::shared_ptr<const ChannelRouter> ChannelRouter::build(std::vector<ChannelSpec> channels,
                                                          const pipeline::PluginLookup& plugins,
                                                          std::vector<core::Error>* problems) {
    auto router = std::make_shared<ChannelRouter>();
    std::sort(channels.begin(), channels.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (auto& spec : channels) {
        if (!spec.enabled) continue;
        auto made = make_entry(spec, plugins);
        if (!made) {
            if (problems) problems->push_back(made.take_error());
            continue;
        }
        router->channels_.push_back({std::move(spec), std::move(made).value()});
    }
    return router;
}

core::Result<std::shared_ptr<plugin::Model>> ChannelRouter::make_entry(
    const ChannelSpec& spec, const pipeline::PluginLookup& plugins) {
    auto factory = plugins(spec.type);
    if (!factory)
        return Error::invalid("channel '" + spec.name + "': type '" + spec.type +
                              "' is not a loaded model plugin: see `tianshu plugins list`");
    if (factory->info().kind != plugin::PluginKind::model)
        return Error::invalid("channel '" + spec.name + "': plugin '" + spec.type +
                              "' is a strategy; a channel's type must be a model plugin");
    if (!factory->info().config_schema.empty()) {
        auto schema = pipeline::JsonSchema::compile_text(factory->info().config_schema);
        if (schema) {
            auto problems = schema.value()->validate(spec.config, "/config");
            if (!problems.empty())
                return Error::invalid("channel '" + spec.name +
                                      "': " + problems.front().to_string());
        }
    }
    auto model = factory->create_model(spec.config);
    if (!model) {
        auto e = model.take_error();
        e.message = "channel '" + spec.name + "': " + e.message;
        return e;
    }
    return std::move(model).value();
}

core::Result<pipeline::ResolvedModel> ChannelRouter::resolve(const std::string& model) const {
    for (const auto& c : channels_)
        if (std::find(c.spec.models.begin(), c.spec.models.end(), model) != c.spec.models.end())
            return pipeline::ResolvedModel{c.model, model, c.spec.name};
    const Entry* best = nullptr;
    const std::string* target = nullptr;
    int best_specificity = -1;
    for (const auto& c : channels_)
        for (const auto& [pattern, to] : c.spec.model_map)
            if (core::glob_match(pattern, model) &&
                core::glob_specificity(pattern) > best_specificity) {
                best = &c;
                target = &to;
                best_specificity = core::glob_specificity(pattern);
            }
    if (best) return pipeline::ResolvedModel{best->model, *target, best->spec.name};
    return Error{core::ErrorKind::not_found,
                 "model '" + model +
                     "' is not served by any enabled channel: add it to a channel's models or "
                     "map it (e.g. --map '" +
                     model + "=<channel model>')",
                 {}};
}

std::vector<std::string> ChannelRouter::model_names() const {
    std::set<std::string> names;
    for (const auto& c : channels_) names.insert(c.spec.models.begin(), c.spec.models.end());
    return {names.begin(), names.end()};
}

}  // namespace tianshu::upstream
