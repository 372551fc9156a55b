-- Test-only pre strategy for the route decision, decision notes, request headers and the
-- capability table (ABI 1.4), driven by its config:
--   mode "route": decide rank `agent` to config.model, then try rank `default` to
--     config.lower_model (must be outranked), note what it saw of the client's headers;
--   mode "set_model": tianshu.set_model(config.model) (an older strategy's way);
--   mode "caps": answer with the JSON of tianshu.capabilities(config.model);
--   mode "serving": answer with tostring(tianshu.model_serving(config.model)).
plugin = {
    name = "route_probe",
    version = "1.0.0",
    description = "Exercises route_decide, decision_note, request_header and capabilities (integration test)",
}

local function json_text(v)
    if v == nil then return "nil" end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. tostring(v[k]) end
    return table.concat(parts, ",")
end

function on_request(req)
    local mode = config.mode or "route"
    if mode == "caps" then
        tianshu.answer(json_text(tianshu.capabilities(config.model or "")))
        return "answered"
    end
    if mode == "serving" then
        tianshu.answer(tostring(tianshu.model_serving(config.model)))
        return "answered"
    end
    if mode == "set_model" then
        tianshu.set_model(config.model)
        return
    end
    local probe = tianshu.request_header("X-Route-Probe")
    local hidden = tianshu.request_header("x-api-key") == nil
        and tianshu.request_header("Authorization") == nil
        and tianshu.request_header("cookie") == nil
    local high = tianshu.route_decide("agent", "subagent", config.model, "agent asked with probe " .. tostring(probe))
    local low = tianshu.route_decide("default", "main", config.lower_model, "scenario default")
    local current = tianshu.route_current()
    tianshu.decision_note("ranks", "agent " .. tostring(high) .. " / default " .. tostring(low)
        .. " / current " .. current.model .. " by " .. current.by)
    tianshu.decision_note("headers", "credentials hidden " .. tostring(hidden))
end
