// The sandbox: the only globals a script sees. Everything here is reachable from every call
// of every script on the VM, so it is read-only: library tables are proxies that refuse
// writes (and rawset), so one call cannot leave state behind for the next.

#include <array>
#include <string_view>

#include "core/log.hpp"
#include "plugin/lua_vm.hpp"

namespace tianshu::plugin {

namespace {

constexpr std::array kBaseGlobals = {
    "assert",   "error",    "ipairs", "next",     "pairs",  "pcall",  "xpcall",       "select",
    "tonumber", "tostring", "type",   "rawequal", "rawget", "rawlen", "getmetatable", "_VERSION"};

int refuse_write(lua_State* L) {
    return luaL_error(L, "attempt to modify a read-only table");
}

int frozen_pairs(lua_State* L) {
    lua_pushcfunction(L, [](lua_State* S) -> int {
        luaL_checktype(S, 1, LUA_TTABLE);
        lua_settop(S, 2);
        return lua_next(S, 1) ? 2 : (lua_pushnil(S), 1);
    });
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_pushnil(L);
    return 3;
}

bool is_frozen(lua_State* L, int index) {
    index = lua_absindex(L, index);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L).frozen_set_ref());
    lua_pushvalue(L, index);
    bool frozen = lua_rawget(L, -2) != LUA_TNIL;
    lua_pop(L, 2);
    return frozen;
}

// rawset, refusing the read-only library tables.
int sandbox_rawset(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checkany(L, 2);
    luaL_checkany(L, 3);
    if (is_frozen(L, 1)) return luaL_error(L, "attempt to modify a read-only table");
    lua_settop(L, 3);
    lua_rawset(L, 1);
    return 1;
}

// setmetatable, refusing __gc: a finalizer would run outside any call's budget.
int sandbox_setmetatable(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    int t = lua_type(L, 2);
    luaL_argexpected(L, t == LUA_TNIL || t == LUA_TTABLE, 2, "nil or table");
    if (t == LUA_TTABLE) {
        lua_pushliteral(L, "__gc");
        if (lua_rawget(L, 2) != LUA_TNIL)
            return luaL_error(L, "__gc metamethods are not allowed in scripts");
        lua_pop(L, 1);
    }
    if (luaL_getmetafield(L, 1, "__metatable") != LUA_TNIL)
        return luaL_error(L, "cannot change a protected metatable");
    lua_settop(L, 2);
    lua_setmetatable(L, 1);
    return 1;
}

// load(text [, chunkname [, mode [, env]]]): source text only (mode is always "t"); the
// chunk's globals are `env`, or the calling script's own environment.
int sandbox_load(lua_State* L) {
    size_t n = 0;
    const char* text = luaL_checklstring(L, 1, &n);
    const char* name = luaL_optstring(L, 2, "=(load)");
    bool has_env = !lua_isnone(L, 4);
    int status = luaL_loadbufferx(L, text, n, name, "t");
    if (status != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (has_env)
        lua_pushvalue(L, 4);
    else
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L).env_slot_ref());
    if (!lua_setupvalue(L, -2, 1)) lua_pop(L, 1);
    return 1;
}

void log_print(LuaVm& vm, const char* text, size_t n) noexcept {
    try {
        const LuaCall* c = vm.current();
        core::log(core::LogLevel::info, std::string_view(text, n),
                  {{"script", c ? c->script->path : std::string()},
                   {"request_id", c && c->ctx ? c->ctx->request_id : std::string()}});
    } catch (...) {
    }
}

// print(...): one info log line attributed to the script.
int sandbox_print(lua_State* L) {
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; ++i) {
        if (i > 1) luaL_addchar(&b, '\t');
        luaL_tolstring(L, i, nullptr);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    size_t len = 0;
    const char* text = lua_tolstring(L, -1, &len);
    log_print(vm_of(L), text, len);
    return 0;
}

// Replaces the table at the top with a read-only proxy of it.
void freeze_top(lua_State* L) {
    int real = lua_gettop(L);
    lua_createtable(L, 0, 0);  // proxy
    lua_createtable(L, 0, 4);  // its metatable
    lua_pushvalue(L, real);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, refuse_write);
    lua_setfield(L, -2, "__newindex");
    lua_pushvalue(L, real);
    lua_pushcclosure(L, frozen_pairs, 1);
    lua_setfield(L, -2, "__pairs");
    lua_pushliteral(L, "read-only");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L).frozen_set_ref());
    lua_pushvalue(L, -2);
    lua_pushboolean(L, 1);
    lua_rawset(L, -3);
    lua_pop(L, 1);
    lua_replace(L, real);
}

}  // namespace

void push_sandbox_globals(lua_State* L, LuaVm&) {
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 0);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 0);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 0);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 0);
    const int utf8 = lua_gettop(L), math = utf8 - 1, table = utf8 - 2, string = utf8 - 3,
              base = utf8 - 4;

    lua_createtable(L, 0, 32);
    const int g = lua_gettop(L);
    for (const char* name : kBaseGlobals) {
        lua_getfield(L, base, name);
        lua_setfield(L, g, name);
    }
    lua_pushcfunction(L, sandbox_rawset);
    lua_setfield(L, g, "rawset");
    lua_pushcfunction(L, sandbox_setmetatable);
    lua_setfield(L, g, "setmetatable");
    lua_pushcfunction(L, sandbox_load);
    lua_setfield(L, g, "load");
    lua_pushcfunction(L, sandbox_print);
    lua_setfield(L, g, "print");

    // string: no dump; strings' own metatable is hidden so its __index cannot be reached.
    lua_pushnil(L);
    lua_setfield(L, string, "dump");
    lua_pushliteral(L, "");
    if (lua_getmetatable(L, -1)) {
        lua_pushboolean(L, 0);
        lua_setfield(L, -2, "__metatable");
        lua_pop(L, 1);
    }
    lua_pop(L, 1);

    const std::pair<int, const char*> libraries[] = {
        {string, "string"}, {table, "table"}, {math, "math"}, {utf8, "utf8"}};
    for (auto [index, name] : libraries) {
        lua_pushvalue(L, index);
        freeze_top(L);
        lua_setfield(L, g, name);
    }
    push_tianshu_library(L);
    freeze_top(L);
    lua_setfield(L, g, "tianshu");

    // The state's own global table is never a script's _ENV; empty it of what we did not copy.
    lua_pushglobaltable(L);
    for (const char* name : {"io", "os", "package", "require", "debug", "dofile", "loadfile",
                             "collectgarbage", "load", "string", "table", "math", "utf8"}) {
        lua_pushnil(L);
        lua_setfield(L, -2, name);
    }
    lua_pop(L, 1);
    lua_replace(L, base);  // leave g where base was
    lua_settop(L, base);
}

}  // namespace tianshu::plugin
