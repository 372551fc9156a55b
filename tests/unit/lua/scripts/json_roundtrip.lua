-- Returns the JSON the host sees after converting Lua values (tested from C++).
function on_request(req)
    tianshu.set("/metadata", {
        int = 3, float = 2.5, whole_float = 2.0, str = "s", yes = true,
        list = { 1, 2, 3 }, empty_object = {}, empty_list = tianshu.array(),
        nested = { a = { b = { tianshu.null, "x" } } },
    })
    local m = tianshu.get("/metadata")
    assert(math.type(m.int) == "integer", "int")
    assert(math.type(m.float) == "float", "float")
    assert(math.type(m.whole_float) == "float", "whole float")
    assert(#m.list == 3 and m.list[3] == 3, "list")
    assert(m.nested.a.b[1] == tianshu.null, "null in array")
    assert(tianshu.get("/no/such/thing") == nil, "absent")
    local ok, err = pcall(tianshu.set, "/max_tokens", "not a number")
    assert(not ok and err:find("max_tokens"), "set error: " .. tostring(err))
    local ok2, err2 = pcall(tianshu.set, "/metadata", { 1, 2, x = 3 })
    assert(not ok2 and err2:find("mixes"), "mixed table: " .. tostring(err2))
    return "ok"
end
