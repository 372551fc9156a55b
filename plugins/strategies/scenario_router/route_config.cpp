#include "route_config.hpp"

#include <algorithm>
#include <stdexcept>

namespace tianshu::scenario_router {

namespace {

using Json = nlohmann::json;

std::vector<std::string> models_of(const Json& v, const std::string& field) {
    std::vector<std::string> out;
    if (v.is_string()) {
        out.push_back(v.get<std::string>());
    } else if (v.is_array()) {
        for (const auto& m : v) {
            if (!m.is_string())
                throw std::invalid_argument(field +
                                            ": every candidate must be a model name string");
            out.push_back(m.get<std::string>());
        }
    } else {
        throw std::invalid_argument(field + ": give a model name or a list of model names");
    }
    for (const auto& m : out)
        if (m.empty()) throw std::invalid_argument(field + ": a model name is empty; remove it");
    return out;
}

void add_unique(std::vector<std::string>& to, const std::vector<std::string>& from) {
    for (const auto& m : from)
        if (std::find(to.begin(), to.end(), m) == to.end()) to.push_back(m);
}

}  // namespace

const std::vector<std::string>* RouterConfig::candidates(Scenario s) const {
    auto it = scenarios.find(s);
    if (it != scenarios.end() && !it->second.empty()) return &it->second;
    if (s == Scenario::subagent) return nullptr;
    auto main = scenarios.find(Scenario::main);
    return main != scenarios.end() && !main->second.empty() ? &main->second : nullptr;
}

int RouterConfig::ladder_index(std::string_view model) const {
    for (size_t i = 0; i < order.size(); ++i)
        if (order[i] == model) return static_cast<int>(i);
    return -1;
}

RouterConfig parse_config(std::string_view text) {
    Json j = Json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        throw std::invalid_argument("scenario_router: the config must be a JSON object");
    RouterConfig c;
    if (auto it = j.find("scenarios"); it != j.end()) {
        if (!it->is_object())
            throw std::invalid_argument("scenarios: must be an object of scenario → model(s)");
        for (const auto& [name, v] : it->items()) {
            auto s = scenario_from(name);
            if (!s) {
                std::string known;
                for (Scenario k : kAllScenarios)
                    known += (known.empty() ? "" : ", ") + std::string(to_string(k));
                throw std::invalid_argument("scenarios." + name +
                                            ": unknown scenario; use one of " + known);
            }
            c.scenarios[*s] = models_of(v, "scenarios." + name);
        }
    }
    if (auto it = j.find("order"); it != j.end()) c.order = models_of(*it, "order");
    if (auto it = j.find("long_context_tokens"); it != j.end())
        c.classifier.long_context_tokens = it->get<int64_t>();
    if (auto it = j.find("think_min_effort"); it != j.end()) {
        auto e = effort_from(it->get<std::string>());
        if (!e || *e == Effort::none)
            throw std::invalid_argument("think_min_effort: use low, medium, high or max");
        c.classifier.think_min_effort = *e;
    }
    if (auto it = j.find("stall"); it != j.end()) {
        c.stall.window = it->value("window", c.stall.window);
        c.stall.failures = it->value("failures", c.stall.failures);
        if (c.stall.failures < 1 || c.stall.window < c.stall.failures)
            throw std::invalid_argument("stall: failures must be ≥ 1 and ≤ window");
    }
    if (auto it = j.find("honour_agent_tag"); it != j.end()) c.honour_agent_tag = it->get<bool>();
    if (auto it = j.find("session_ttl_seconds"); it != j.end())
        c.session_ttl_seconds = it->get<uint32_t>();
    if (auto it = j.find("scenes"); it != j.end()) {
        c.scenes.model = it->value("model", std::string());
        c.scenes.max_request_chars = it->value("max_request_chars", c.scenes.max_request_chars);
        c.scenes.timeout_ms = it->value("timeout_ms", c.scenes.timeout_ms);
        for (const auto& s : it->value("list", Json::array())) {
            Scene scene;
            scene.name = s.value("name", std::string());
            scene.description = s.value("description", std::string());
            if (scene.name.empty())
                throw std::invalid_argument("scenes.list: every scene needs a name");
            scene.models =
                models_of(s.value("models", Json()), "scenes.list." + scene.name + ".models");
            c.scenes.scenes.push_back(std::move(scene));
        }
        if (!c.scenes.scenes.empty() && c.scenes.model.empty())
            throw std::invalid_argument(
                "scenes.model: scenes need a routing model; name a small model that classifies "
                "the user's request");
    }
    // The ladder defaults to every configured model in the order they first appear: main's
    // candidates first, then the other conversation scenarios', then the scenes'.
    if (c.order.empty()) {
        if (auto it = c.scenarios.find(Scenario::main); it != c.scenarios.end())
            add_unique(c.order, it->second);
        for (Scenario s : kAllScenarios)
            if (is_conversation(s) && c.scenarios.count(s)) add_unique(c.order, c.scenarios.at(s));
        for (const auto& scene : c.scenes.scenes) add_unique(c.order, scene.models);
    }
    return c;
}

}  // namespace tianshu::scenario_router
