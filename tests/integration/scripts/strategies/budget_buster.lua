-- Test-only: runs away when asked. "loop" in the last user message spins forever (the
-- instruction budget must stop it); "alloc" allocates without bound (the memory budget must
-- stop it). Anything else passes through untouched. As a post stage, a text delta containing
-- "spin" loops forever mid-stream.
plugin = {
    name = "budget_buster",
    version = "1.0.0",
    description = "Exceeds the Lua budgets on demand (integration test)",
}

function on_request(req)
    local text = tianshu.last_user_text()
    if text:find("loop", 1, true) then
        local n = 0
        while true do n = n + 1 end
    elseif text:find("alloc", 1, true) then
        local t = {}
        local i = 0
        while true do
            i = i + 1
            t[i] = string.rep("x", 4096) .. i
        end
    end
end

function on_stream_event(req, ev)
    if ev.type == "content_block_delta" and ev.kind == "text" and ev.text:find("spin", 1, true) then
        local n = 0
        while true do n = n + 1 end
    end
end
