// The route decision: which model a classified request goes to, with which rank and why, and how
// the session's sticky model moves. A pure function of the config, the classification, the
// session's state and what is known of each model's capabilities.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

#include "classifier.hpp"
#include "route_config.hpp"
#include "stall.hpp"

namespace tianshu::scenario_router {

//! What the router needs of a model (ts_host_api.model_capabilities); unknown = no limit.
struct ModelCaps {
    std::optional<int64_t> context_window;
    std::optional<bool> vision;
};
using CapsLookup = std::function<std::optional<ModelCaps>(const std::string& model)>;

//! Reads model_capabilities' JSON object.
ModelCaps caps_from_json(const nlohmann::json& j);

//! The session's routing state, kept in session state between requests.
struct SessionRoute {
    std::string model;               //!< the session's sticky model
    int rank = TS_ROUTE_DEFAULT;     //!< the rank it was chosen with
    int switches = 0;                //!< how often it moved (each one a hard trigger)
    std::set<std::string> consumed;  //!< tool_use ids of failures a stall escalation used

    nlohmann::json to_json() const;
    //! nullopt when `j` is not a stored route (then the session starts anew).
    static std::optional<SessionRoute> from_json(const nlohmann::json& j);
};

struct RouteInputs {
    const Classification* classification = nullptr;
    std::optional<SessionRoute> session;  //!< the stored route; nullopt = new or no session
    std::optional<Stall> stall;           //!< a stall in the history, consumed ids left out
    const Scene* scene = nullptr;         //!< the main turn's scene, when one was classified
    bool channel_failing = false;         //!< the session model's channels are failing
};

struct RouteDecision {
    int rank = TS_ROUTE_DEFAULT;  //!< ts_route_rank
    std::string scenario;
    std::string model;
    std::string reason;                   //!< no prompt text: names, numbers, signals
    std::optional<SessionRoute> session;  //!< the state to store; nullopt = leave it as it is
};

//! nullopt when nothing is configured for the request's scenario (it keeps its model).
std::optional<RouteDecision> decide(const RouterConfig& config, const RouteInputs& in,
                                    const CapsLookup& caps);

//! Why `model` cannot take this request (window overflow, image for a text-only model), or
//! nullopt when it can (or nothing is known of it).
std::optional<std::string> unfit(const std::string& model, const Classification& c,
                                 const CapsLookup& caps);

}  // namespace tianshu::scenario_router
