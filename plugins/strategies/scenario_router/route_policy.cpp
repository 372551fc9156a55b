#include "route_policy.hpp"

#include <algorithm>

namespace tianshu::scenario_router {

namespace {

using Json = nlohmann::json;

constexpr size_t kMaxConsumed = 32;

//! The first model of `list` that can take the request, or nullopt.
std::optional<std::string> first_fit(const std::vector<std::string>& list, const Classification& c,
                                     const CapsLookup& caps) {
    for (const auto& m : list)
        if (!unfit(m, c, caps)) return m;
    return std::nullopt;
}

//! The first model above `from` on the ladder that can take the request.
std::optional<std::string> climb(const RouterConfig& config, const std::string& from,
                                 const Classification& c, const CapsLookup& caps) {
    int at = config.ladder_index(from);
    for (size_t i = static_cast<size_t>(at + 1); i < config.order.size(); ++i) {
        if (config.order[i] == from) continue;
        if (!unfit(config.order[i], c, caps)) return config.order[i];
    }
    return std::nullopt;
}

//! A first choice from `preferred`: its first model when it fits, else the next that does, else
//! up the ladder. `why` is the choice's reason when the first fits.
RouteDecision first_choice(const RouterConfig& config, const std::vector<std::string>& preferred,
                           int rank, const std::string& why, const std::string& scenario,
                           const Classification& c, const CapsLookup& caps) {
    RouteDecision d;
    d.scenario = scenario;
    const std::string& head = preferred.front();
    auto problem = unfit(head, c, caps);
    if (!problem) {
        d.rank = rank;
        d.model = head;
        d.reason = why;
        return d;
    }
    auto next = first_fit(preferred, c, caps);
    if (!next) next = climb(config, head, c, caps);
    if (!next) {
        d.rank = rank;
        d.model = head;
        d.reason = why + "; " + *problem + ", and no configured model fits";
        return d;
    }
    d.rank = TS_ROUTE_ESCALATION;
    d.model = *next;
    d.reason = *problem;
    return d;
}

std::string stall_reason(const Stall& s, const RouterConfig& config) {
    return "stall: " + s.tool + " failed " + std::to_string(s.failed_ids.size()) +
           " times in the last " + std::to_string(config.stall.window) + " tool calls";
}

}  // namespace

ModelCaps caps_from_json(const Json& j) {
    ModelCaps caps;
    if (!j.is_object()) return caps;
    if (auto it = j.find("context_window"); it != j.end() && it->is_number_integer())
        caps.context_window = it->get<int64_t>();
    if (auto it = j.find("vision"); it != j.end() && it->is_boolean())
        caps.vision = it->get<bool>();
    return caps;
}

Json SessionRoute::to_json() const {
    return Json{{"model", model}, {"rank", rank}, {"switches", switches}, {"consumed", consumed}};
}

std::optional<SessionRoute> SessionRoute::from_json(const Json& j) {
    if (!j.is_object() || !j.contains("model") || !j["model"].is_string()) return std::nullopt;
    SessionRoute s;
    s.model = j["model"].get<std::string>();
    if (s.model.empty()) return std::nullopt;
    s.rank = j.value("rank", static_cast<int>(TS_ROUTE_DEFAULT));
    s.switches = j.value("switches", 0);
    if (auto it = j.find("consumed"); it != j.end() && it->is_array())
        for (const auto& id : *it)
            if (id.is_string()) s.consumed.insert(id.get<std::string>());
    return s;
}

std::optional<std::string> unfit(const std::string& model, const Classification& c,
                                 const CapsLookup& caps) {
    if (!caps) return std::nullopt;
    auto known = caps(model);
    if (!known) return std::nullopt;
    if (known->context_window && c.estimated_tokens > *known->context_window)
        return "window overflow: about " + std::to_string(c.estimated_tokens) + " tokens > " +
               std::to_string(*known->context_window) + " of " + model;
    if (c.has_image && known->vision && !*known->vision) return "image for text-only " + model;
    return std::nullopt;
}

std::optional<RouteDecision> decide(const RouterConfig& config, const RouteInputs& in,
                                    const CapsLookup& caps) {
    const Classification& c = *in.classification;
    const std::string scenario(to_string(c.scenario));

    // What the request would get on its own: an agent's tag, a scene, or the scenario default.
    std::vector<std::string> tagged;
    const std::vector<std::string>* preferred = nullptr;
    int rank = TS_ROUTE_DEFAULT;
    std::string why = "scenario default";
    if (c.agent_tag && config.honour_agent_tag) {
        tagged.push_back(c.agent_tag->model);
        preferred = &tagged;
        rank = TS_ROUTE_AGENT;
        why = "agent tag <tianshu-model>";
    } else if (in.scene && is_conversation(c.scenario) && !in.scene->models.empty()) {
        preferred = &in.scene->models;
        rank = TS_ROUTE_SCENE;
        why = "scene " + in.scene->name;
    } else {
        preferred = config.candidates(c.scenario);
    }

    // Side calls are routed per request and never move the session's model.
    if (!is_conversation(c.scenario)) {
        if (!preferred || preferred->empty()) return std::nullopt;
        return first_choice(config, *preferred, rank, why, scenario, c, caps);
    }

    // The session already has a model: it keeps it unless a hard reason appears.
    if (in.session && !in.session->model.empty()) {
        const SessionRoute& s = *in.session;
        std::optional<std::string> hard = unfit(s.model, c, caps);
        if (!hard && in.stall) hard = stall_reason(*in.stall, config);
        if (!hard && in.channel_failing) hard = "channels of " + s.model + " failing";
        if (!hard) {
            RouteDecision d;
            d.rank = s.rank;
            d.scenario = scenario;
            d.model = s.model;
            d.reason = "session keeps " + s.model;
            return d;
        }
        SessionRoute next = s;
        if (in.stall)
            for (const auto& id : in.stall->failed_ids) next.consumed.insert(id);
        while (next.consumed.size() > kMaxConsumed) next.consumed.erase(next.consumed.begin());
        RouteDecision d;
        d.scenario = scenario;
        auto up = climb(config, s.model, c, caps);
        if (!up) {
            d.rank = s.rank;
            d.model = s.model;
            d.reason = *hard + "; no model above " + s.model + " fits";
        } else {
            d.rank = TS_ROUTE_ESCALATION;
            d.model = *up;
            d.reason = *hard;
            next.model = *up;
            next.rank = TS_ROUTE_ESCALATION;
            ++next.switches;
        }
        d.session = next;
        return d;
    }

    // A new session (or none): the first choice, escalated at once if it cannot take the request.
    if (!preferred || preferred->empty()) return std::nullopt;
    RouteDecision d = first_choice(config, *preferred, rank, why, scenario, c, caps);
    SessionRoute fresh;
    fresh.model = d.model;
    fresh.rank = d.rank;
    if (in.stall) {
        if (auto up = climb(config, d.model, c, caps)) {
            d.reason = stall_reason(*in.stall, config);
            d.model = *up;
            d.rank = TS_ROUTE_ESCALATION;
            fresh.model = *up;
            fresh.rank = d.rank;
        }
        for (const auto& id : in.stall->failed_ids) fresh.consumed.insert(id);
    }
    d.session = fresh;
    return d;
}

}  // namespace tianshu::scenario_router
