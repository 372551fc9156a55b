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
                                                          std::vector<core::Error>* problems,
                                                          RouterServices services) {
    auto router = std::make_shared<ChannelRouter>();
    if (!services.breakers) services.breakers = std::make_shared<CircuitBreakers>();
    std::sort(channels.begin(), channels.end(),
              [](const auto& a, const auto& b) { return a.name < b.name; });
    for (auto& spec : channels) {
        if (!spec.enabled) continue;
        auto made = make_entry(spec, plugins, *services.breakers);
        if (!made) {
            if (problems) problems->push_back(made.take_error());
            continue;
        }
        router->channels_.push_back(std::move(made).value());
    }
    router->services_ = std::move(services);
    for (const auto& name : router->model_names()) {
        auto routes = router->candidates(name);
        if (routes) router->exact_[name] = router->failover_for(name, std::move(routes).value());
    }
    return router;
}

core::Result<std::shared_ptr<plugin::Model>> ChannelRouter::make_model(
    const ChannelSpec& spec, const core::Json& config, const pipeline::PluginLookup& plugins) {
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
            auto problems = schema.value()->validate(config, "/config");
            if (!problems.empty())
                return Error::invalid("channel '" + spec.name +
                                      "': " + problems.front().to_string());
        }
    }
    auto model = factory->create_model(config);
    if (!model) {
        auto e = model.take_error();
        e.message = "channel '" + spec.name + "': " + e.message;
        return e;
    }
    return std::move(model).value();
}

core::Result<ChannelRouter::Entry> ChannelRouter::make_entry(const ChannelSpec& spec,
                                                             const pipeline::PluginLookup& plugins,
                                                             CircuitBreakers& breakers) {
    if (spec.weight < 1)
        return Error::invalid("channel '" + spec.name + "': weight " + std::to_string(spec.weight) +
                              " must be at least 1 (it is the channel's share of traffic among "
                              "channels of the same priority)");
    std::vector<ChannelKey> keys = spec.keys;
    if (keys.empty()) {
        // No key list: the config's own api_key (or none, for models that need no key).
        ChannelKey only{kDefaultKeyId, {}, true};
        if (spec.config.contains("api_key") && spec.config["api_key"].is_string())
            only.secret = spec.config["api_key"].get<std::string>();
        keys.push_back(std::move(only));
    }
    std::set<std::string> ids;
    Entry entry;
    for (size_t i = 0; i < keys.size(); ++i) {
        const auto& key = keys[i];
        if (key.id.empty())
            return Error::invalid("channel '" + spec.name + "': key #" + std::to_string(i + 1) +
                                  " has no id; give every key of a channel a unique id");
        if (!ids.insert(key.id).second)
            return Error::invalid("channel '" + spec.name + "': key id '" + key.id +
                                  "' appears twice; give every key of a channel a unique id");
        if (!key.enabled) continue;
        core::Json config = spec.config;
        if (!spec.keys.empty()) config["api_key"] = key.secret;
        auto model = make_model(spec, config, plugins);
        if (!model) return model.take_error();
        entry.keys.push_back(KeyRoute{key.id, std::move(model).value(),
                                      breakers.for_key(spec.name, key.id),
                                      std::make_shared<std::atomic<bool>>(false)});
    }
    if (entry.keys.empty())
        return Error::invalid("channel '" + spec.name +
                              "': every key is disabled; add a key or re-enable one");
    entry.spec = spec;
    // The models hold what they need; the routing table keeps no plaintext key.
    for (auto& k : entry.spec.keys) k.secret.clear();
    if (entry.spec.config.is_object()) entry.spec.config.erase("api_key");
    entry.next_key = std::make_shared<std::atomic<uint32_t>>(0);
    return entry;
}

ChannelRoute ChannelRouter::route_of(const Entry& entry, const std::string& upstream_model) {
    return ChannelRoute{entry.spec.name, upstream_model, entry.spec.priority, entry.spec.weight,
                        entry.keys,      entry.next_key, entry.spec.proxy};
}

std::shared_ptr<FailoverModel> ChannelRouter::failover_for(const std::string& model,
                                                           std::vector<ChannelRoute> routes) const {
    return std::make_shared<FailoverModel>(model, std::move(routes), services_.policy,
                                           services_.hooks);
}

std::optional<bool> ChannelRouter::serving(const std::string& model) const {
    auto routes = candidates(model);
    if (!routes) return std::nullopt;
    for (const auto& route : routes.value())
        for (const auto& key : route.keys)
            if (!(key.disabled && key.disabled->load(std::memory_order_relaxed)) &&
                (!key.breaker || key.breaker->available()))
                return true;
    return false;
}

core::Result<std::vector<ChannelRoute>> ChannelRouter::candidates(const std::string& model) const {
    std::vector<ChannelRoute> routes;
    for (const auto& c : channels_)
        if (std::find(c.spec.models.begin(), c.spec.models.end(), model) != c.spec.models.end())
            routes.push_back(route_of(c, model));
    if (routes.empty()) {
        // Each channel offers its most specific matching pattern; the most specific of those
        // win, so a dedicated mapping is not diluted by a catch-all elsewhere.
        int best = -1;
        std::vector<std::pair<const Entry*, const std::string*>> matches;
        for (const auto& c : channels_) {
            int mine = -1;
            const std::string* target = nullptr;
            for (const auto& [pattern, to] : c.spec.model_map)
                if (core::glob_match(pattern, model) && core::glob_specificity(pattern) > mine) {
                    mine = core::glob_specificity(pattern);
                    target = &to;
                }
            if (!target || mine < best) continue;
            if (mine > best) matches.clear();
            best = mine;
            matches.emplace_back(&c, target);
        }
        for (const auto& [entry, target] : matches) routes.push_back(route_of(*entry, *target));
    }
    if (routes.empty())
        return Error{core::ErrorKind::not_found,
                     "model '" + model +
                         "' is not served by any enabled channel: add it to a channel's models "
                         "or map it (e.g. --map '" +
                         model + "=<channel model>')",
                     {}};
    sort_by_priority(routes);
    return routes;
}

core::Result<pipeline::ResolvedModel> ChannelRouter::resolve(const std::string& model) const {
    std::shared_ptr<FailoverModel> failover;
    if (auto it = exact_.find(model); it != exact_.end()) {
        failover = it->second;
    } else {
        {
            std::shared_lock lock(mapped_mutex_);
            if (auto m = mapped_.find(model); m != mapped_.end()) failover = m->second;
        }
        if (!failover) {
            auto routes = candidates(model);
            if (!routes) return routes.take_error();
            failover = failover_for(model, std::move(routes).value());
            std::unique_lock lock(mapped_mutex_);
            if (mapped_.size() < kMaxMappedModels)
                failover = mapped_.try_emplace(model, failover).first->second;
        }
    }
    const auto& first = failover->routes().front();
    return pipeline::ResolvedModel{failover, first.upstream_model, first.channel};
}

std::vector<std::string> ChannelRouter::model_names() const {
    std::set<std::string> names;
    for (const auto& c : channels_) names.insert(c.spec.models.begin(), c.spec.models.end());
    return {names.begin(), names.end()};
}

}  // namespace tianshu::upstream
