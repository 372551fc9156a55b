-- Each call must see a fresh world: globals and file-level locals start over.
local calls = 0
function on_request(req)
    calls = calls + 1
    local seen = tostring(leaked_global) .. ":" .. calls .. ":" .. tostring(config.extra)
    leaked_global = "set"
    config.extra = "mutated"
    return seen
end
