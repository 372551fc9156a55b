-- config.mode: "loop" spins forever, "pcall_loop" tries to catch the budget error and go on,
-- "rep" builds a 1 GiB string, "table" grows a table without end; anything else is a normal call.
function on_request(req)
    local mode = config.mode
    if mode == "loop" then
        while true do end
    elseif mode == "pcall_loop" then
        for _ = 1, 1000 do pcall(function() while true do end end) end
    elseif mode == "rep" then
        local s = string.rep("x", 1 << 30)
        return tostring(#s)
    elseif mode == "table" then
        local t = {}
        local i = 0
        while true do
            i = i + 1
            t[i] = { i, tostring(i) }
        end
    elseif mode == "error" then
        local t = nil
        return t.field
    end
    return "ok"
end
