// scenario_router: routes each request by what kind of call it is (main turn, subagent,
// background, compaction, thinking, long context, image, web search, tool continuation), keeps a
// session on its model unless a hard reason appears, and records every decision through
// route_decide. The routing itself is host-free (router.hpp); this file only talks to the host.
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

#include "config_schema.hpp"
#include "router.hpp"
#include "scenes.hpp"

namespace {

namespace sr = tianshu::scenario_router;
using Json = nlohmann::json;
using tianshu::sdk::detail::str;
using tianshu::sdk::detail::take;
using tianshu::sdk::detail::view;

constexpr std::string_view kRouteKey = "route";
constexpr std::string_view kSceneKey = "scene";

//! The 1.4 host functions this plugin uses that plugin.hpp does not wrap, each probed (rule 2).
//! Session state goes through tianshu::sdk::Request.
struct Host14 {
    const ts_host_api* api;
    ts_request* request;

    std::optional<std::string> header(const char* name) const {
        if (!TS_HOST_HAS(api, request_header)) return std::nullopt;
        ts_str out{nullptr, 0};
        if (api->request_header(request, str(name), &out) != TS_OK) return std::nullopt;
        return std::string(view(out));
    }
    std::optional<sr::ModelCaps> capabilities(const std::string& model) const {
        if (!TS_HOST_HAS(api, model_capabilities)) return std::nullopt;
        ts_buf out{nullptr, 0};
        if (api->model_capabilities(request, str(model), &out) != TS_OK) {
            if (out.ptr) api->free(out.ptr);
            return std::nullopt;
        }
        Json j = Json::parse(take(api, out), nullptr, false);
        if (j.is_discarded()) return std::nullopt;
        return sr::caps_from_json(j);
    }
    //! The decision through route_decide; on a host without it, the model alone.
    bool decide(const sr::RouteDecision& d) const {
        if (!TS_HOST_HAS(api, route_decide))
            return api->request_set_model(request, str(d.model)) == TS_OK;
        return api->route_decide(request, d.rank, str(d.scenario), str(d.model), str(d.reason)) ==
               TS_OK;
    }
};

//! The stored JSON under `key`, or null.
Json stored(const tianshu::sdk::Request& request, std::string_view key) {
    auto text = request.session_get(key);
    if (!text) return Json();
    Json j = Json::parse(*text, nullptr, false);
    return j.is_discarded() ? Json() : j;
}

class ScenarioRouter {
  public:
    // TS_FLAG_MAY_SUSPEND: call_model may park the hook; nothing here is thread-local.
    static constexpr uint32_t flags = TS_FLAG_ADVISORY | TS_FLAG_MAY_SUSPEND;

    ScenarioRouter(const tianshu::sdk::Host&, std::string_view config_json)
        : config_(sr::parse_config(config_json)) {}

    void on_request(tianshu::sdk::Request& request) {
        Host14 host{request.api(), request.handle()};
        auto body_text = request.get_json("");
        if (!body_text) return;
        Json body = Json::parse(*body_text, nullptr, false);
        if (body.is_discarded() || !body.is_object()) return;

        sr::Headers headers;
        for (const char* name : sr::kClassifierHeaders)
            if (auto v = host.header(name)) headers[name] = *v;
        std::optional<sr::SessionRoute> session =
            sr::SessionRoute::from_json(stored(request, kRouteKey));

        std::map<std::string, std::optional<sr::ModelCaps>> known;
        sr::CapsLookup caps = [&](const std::string& model) {
            auto it = known.find(model);
            if (it == known.end()) it = known.emplace(model, host.capabilities(model)).first;
            return it->second;
        };

        // A hard trigger: every channel of the session's model is failing (the host's breakers).
        // (Request::serving probes the host: unknown or older hosts never count as failing.)
        const bool channel_failing = session && !session->model.empty() &&
                                     request.serving(session->model) == std::optional(false);
        sr::RouteResult r = sr::route(
            config_, body, headers, session,
            [&](const sr::Classification& c) { return scene_of(request, c); }, caps,
            channel_failing);

        // The tag never leaves the gateway, whether or not it is honoured.
        if (r.classification.agent_tag)
            for (const auto& edit : r.classification.agent_tag->edits)
                request.set_json(edit.pointer, Json(edit.text).dump());

        if (!r.decision) return;
        if (host.decide(*r.decision) && r.decision->session)
            remember(request, kRouteKey, r.decision->session->to_json());
    }

  private:
    //! The main turn's scene: from the session's cache for this turn, else from the routing
    //! model. nullptr when the model fails or names no scene (fail open: the session's model,
    //! here the scenario's default).
    const sr::Scene* scene_of(tianshu::sdk::Request& request, const sr::Classification& c) {
        Json cached = stored(request, kSceneKey);
        if (cached.is_object() && cached.value("turn", -1) == c.user_turn) {
            std::string name = cached.value("scene", "");
            for (const auto& s : config_.scenes.scenes)
                if (s.name == name) return &s;
        }
        auto answer = request.call_model(config_.scenes.model,
                                         sr::scene_prompt(config_.scenes, c.newest_request),
                                         config_.scenes.timeout_ms);
        if (!answer) {
            request.log(TS_LOG_WARN,
                        "scenario_router: the scene model failed; keeping the default");
            return nullptr;
        }
        auto index = sr::parse_scene_answer(config_.scenes, *answer);
        if (!index) {
            request.log(TS_LOG_INFO, "scenario_router: the scene model named no configured scene");
            return nullptr;
        }
        const sr::Scene& s = config_.scenes.scenes[*index];
        remember(request, kSceneKey, Json{{"turn", c.user_turn}, {"scene", s.name}});
        return &s;
    }

    //! Stores `value`; on failure (a cap, an unreachable store) the session just routes anew.
    void remember(tianshu::sdk::Request& request, std::string_view key, const Json& value) const {
        if (request.session_put(key, value.dump(), config_.session_ttl_seconds) != TS_OK)
            request.log(TS_LOG_DEBUG, "scenario_router: session state not stored");
    }

    sr::RouterConfig config_;
};

}  // namespace

TIANSHU_PLUGIN(ScenarioRouter, "scenario_router", "1.0.0", TS_KIND_STRATEGY,
               tianshu::scenario_router::kConfigSchema,
               "Routes each request by its scenario (main, subagent, background, compaction, "
               "thinking, long context, image, web search, tool continuation); sessions stick to "
               "their model and only move up on a hard reason.")
