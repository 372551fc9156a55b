#include "router.hpp"

namespace tianshu::scenario_router {

RouteResult route(const RouterConfig& config, const nlohmann::json& request, const Headers& headers,
                  const std::optional<SessionRoute>& session, const SceneChooser& choose_scene,
                  const CapsLookup& caps, bool channel_failing) {
    RouteResult r;
    r.classification = classify(request, headers, config.classifier);
    const Scene* scene = choose_scene && wants_scene(config, r.classification, session)
                             ? choose_scene(r.classification)
                             : nullptr;
    // A stall is the session's: side calls (a subagent's own loop included) do not escalate it.
    if (is_conversation(r.classification.scenario)) {
        static const std::set<std::string> kNone;
        r.stall = find_stall(request, config.stall, session ? session->consumed : kNone);
    }
    RouteInputs in;
    in.classification = &r.classification;
    in.session = session;
    in.stall = r.stall;
    in.scene = scene;
    in.channel_failing = channel_failing;
    r.decision = decide(config, in, caps);
    return r;
}

bool wants_scene(const RouterConfig& config, const Classification& c,
                 const std::optional<SessionRoute>& session) {
    return !config.scenes.model.empty() && !config.scenes.scenes.empty() &&
           c.scenario == Scenario::main && !(c.agent_tag && config.honour_agent_tag) &&
           !(session && !session->model.empty()) && !c.newest_request.empty();
}

}  // namespace tianshu::scenario_router
