// One routing step, host-free: classify the request, look for a stall, decide. The plugin
// (scenario_router.cpp), the unit tests and the benchmark all go through this.
#pragma once

#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "classifier.hpp"
#include "route_config.hpp"
#include "route_policy.hpp"
#include "stall.hpp"

namespace tianshu::scenario_router {

struct RouteResult {
    Classification classification;
    std::optional<Stall> stall;
    std::optional<RouteDecision> decision;  //!< nullopt: nothing configured, the model stays
};

//! Picks the main turn's scene; called only when wants_scene() holds. nullptr = no scene (the
//! routing model failed or named none: fail open).
using SceneChooser = std::function<const Scene*(const Classification&)>;

RouteResult route(const RouterConfig& config, const nlohmann::json& request, const Headers& headers,
                  const std::optional<SessionRoute>& session, const SceneChooser& choose_scene,
                  const CapsLookup& caps, bool channel_failing = false);

//! True when the request should be shown to the scene classifier: scenes are configured, it is a
//! main turn with a genuine request and no agent tag, and its session has no model yet (scenes
//! choose a session's first model; after that it sticks).
bool wants_scene(const RouterConfig& config, const Classification& c,
                 const std::optional<SessionRoute>& session);

}  // namespace tianshu::scenario_router
