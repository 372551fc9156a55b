-- Returns a comma-separated list of everything the sandbox let through ("" when sealed).
function on_request(req)
    local found = {}
    for _, name in ipairs({ "io", "os", "package", "require", "debug", "dofile", "loadfile",
                            "collectgarbage", "coroutine" }) do
        if _ENV[name] ~= nil then found[#found + 1] = name end
    end
    if string.dump ~= nil then found[#found + 1] = "string.dump" end
    if ("x").dump ~= nil then found[#found + 1] = "(''):dump" end
    local f, err = load("\27Lua\84\0\25\147\13\10\26\10\4\8\8", "=bytecode")
    if f ~= nil then found[#found + 1] = "load(bytecode)" end
    if not tostring(err):find("binary") then found[#found + 1] = "load message: " .. tostring(err) end
    local text = load("return tianshu ~= nil and io == nil and marker")
    marker = true
    if not (text and text()) then found[#found + 1] = "load(text) env" end
    if pcall(function() string.upper = nil end) then found[#found + 1] = "string writable" end
    if pcall(rawset, table, "x", 1) then found[#found + 1] = "rawset on table library" end
    if pcall(setmetatable, math, {}) then found[#found + 1] = "setmetatable on math" end
    if pcall(setmetatable, {}, { __gc = function() end }) then found[#found + 1] = "__gc allowed" end
    if getmetatable("") then found[#found + 1] = "string metatable reachable" end
    if type(print) ~= "function" or type(table.unpack) ~= "function" then found[#found + 1] = "missing basics" end
    return table.concat(found, ",")
end
