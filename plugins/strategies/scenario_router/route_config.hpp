// scenario_router's configuration, read from the chain stage's JSON (already validated against
// config_schema.hpp by the host) into plain values.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "classifier.hpp"
#include "scenario.hpp"
#include "stall.hpp"

namespace tianshu::scenario_router {

//! A scene for main turns: the routing model picks one by name from its description.
struct Scene {
    std::string name;
    std::string description;
    std::vector<std::string> models;  //!< candidates, first preferred
};

//! The scene classifier: a small routing model asked through call_model.
struct SceneConfig {
    std::string model;  //!< the routing model; empty = no scenes
    std::vector<Scene> scenes;
    size_t max_request_chars = 2000;  //!< the newest request is cut to this many bytes
    uint32_t timeout_ms = 3000;       //!< the routing model's time box (call_model_within)
};

struct RouterConfig {
    std::map<Scenario, std::vector<std::string>> scenarios;  //!< scenario → ordered candidates
    std::vector<std::string> order;  //!< the ladder a session climbs (weakest first)
    ClassifierConfig classifier;
    StallRule stall;
    SceneConfig scenes;
    bool honour_agent_tag = true;
    uint32_t session_ttl_seconds = 0;  //!< 0 = the host's default

    //! The scenario's candidates; a conversation scenario, background, compact and web_search
    //! without their own fall back to main's. A subagent without its own keeps its model.
    const std::vector<std::string>* candidates(Scenario s) const;
    //! Where `model` sits on the ladder; -1 when it is not on it.
    int ladder_index(std::string_view model) const;
};

//! Reads a config; throws std::invalid_argument naming the field and the fix.
RouterConfig parse_config(std::string_view json);

}  // namespace tianshu::scenario_router
