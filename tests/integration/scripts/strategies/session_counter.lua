-- Test-only pre strategy: keeps a turn counter and the previous user text in session state and
-- answers with them, so a test can see what a session holds across turns, users and gateways.
-- "fill N" stores N bytes instead of the text (to reach the session cap).
plugin = {
    name = "session_counter",
    version = "1.0.0",
    description = "Counts a session's turns in session state (integration test)",
}

function on_request(req)
    local turns = tonumber(tianshu.session_get("turns") or "0") + 1
    local previous = tianshu.session_get("last") or ""
    local text = req.last_user_text
    local stored, err = tianshu.session_put("turns", tostring(turns))
    if stored then
        local size = text:match("^fill (%d+)$")
        stored, err = tianshu.session_put("last", size and string.rep("x", tonumber(size)) or text)
    end
    tianshu.answer(string.format("turn=%d previous=%s source=%s stored=%s", turns, previous,
                                 req.session_source, stored and "yes" or err))
    return "answered"
end
