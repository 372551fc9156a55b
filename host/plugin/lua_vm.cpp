#include "plugin/lua_vm.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <memory>

#include "core/fiber.hpp"
#include "core/log.hpp"

namespace tianshu::plugin {

namespace {
std::atomic<uint64_t> g_worker_vms{0};

constexpr int kMaxHookCount = INT_MAX;

std::string describe_bytes(size_t bytes) {
    if (bytes % (size_t{1} << 20) == 0) return std::to_string(bytes >> 20) + " MiB";
    if (bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
    return std::to_string(bytes) + " bytes";
}

int panic(lua_State* L) {
    const char* msg = lua_tostring(L, -1);
    core::log(core::LogLevel::error, "Lua panic (unprotected error); aborting",
              {{"error", msg ? msg : "(not a string)"}});
    return 0;  // Lua aborts
}

void warn(void* ud, const char* msg, int tocont) {
    auto* vm = static_cast<LuaVm*>(ud);
    try {
        vm->warning += msg;
        if (tocont) return;
        if (!vm->warning.empty() && vm->warning[0] != '@')  // "@on"/"@off" are controls
            core::log(core::LogLevel::warn, "Lua warning",
                      {{"warning", vm->warning},
                       {"script", vm->current() ? vm->current()->script->path : ""}});
        vm->warning.clear();
    } catch (...) {
        vm->warning.clear();
    }
}
}  // namespace

const char* to_string(LuaHook hook) {
    switch (hook) {
        case LuaHook::load:
            return "load";
        case LuaHook::on_request:
            return "on_request";
        case LuaHook::on_stream_event:
            return "on_stream_event";
        case LuaHook::on_response_end:
            return "on_response_end";
        case LuaHook::generate:
            return "generate";
    }
    return "?";
}

LuaVm& LuaVm::for_this_fiber() {
    // The running fiber's VM (a script may park inside sleep_ms or an upstream call, and go on
    // on another thread), or this thread's when not on a fiber.
    static const size_t key = core::new_fiber_local_key();
    std::shared_ptr<void>& slot = core::fiber_local(key);
    if (!slot) slot = std::make_shared<LuaVm>(true);
    return *static_cast<LuaVm*>(slot.get());
}

uint64_t LuaVm::worker_vms_created() {
    return g_worker_vms.load();
}

void* LuaVm::allocate(void* ud, void* ptr, size_t osize, size_t nsize) noexcept {
    auto* vm = static_cast<LuaVm*>(ud);
    size_t old = ptr ? osize : 0;  // when ptr is null, osize is a type tag, not a size
    if (nsize == 0) {
        std::free(ptr);
        vm->bytes_ -= old;
        return nullptr;
    }
    if (nsize > old && vm->mem_limited_ && vm->bytes_ + (nsize - old) > vm->mem_limit_) {
        vm->memory_refused = true;  // Lua collects garbage and retries before it gives up
        return nullptr;
    }
    void* p = std::realloc(ptr, nsize);
    if (!p) return nullptr;
    vm->bytes_ = vm->bytes_ - old + nsize;
    return p;
}

LuaVm::LuaVm(bool worker) : worker_(worker) {
    L_ = lua_newstate(&LuaVm::allocate, this);
    if (!L_) throw std::runtime_error("cannot create a Lua state (out of memory)");
    *static_cast<LuaVm**>(lua_getextraspace(L_)) = this;
    lua_atpanic(L_, panic);
    lua_setwarnf(L_, warn, this);

    // Registry slots the bindings use.
    lua_createtable(L_, 0, 2);  // marks tables that must become JSON arrays
    lua_pushliteral(L_, "tianshu.array");
    lua_setfield(L_, -2, "__metatable");
    array_mt_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    lua_createtable(L_, 0, 8);  // weak set of read-only library proxies
    lua_createtable(L_, 0, 1);
    lua_pushliteral(L_, "k");
    lua_setfield(L_, -2, "__mode");
    lua_setmetatable(L_, -2);
    frozen_set_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    lua_pushboolean(L_, 0);  // the running call's environment (the default env of `load`)
    env_slot_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    push_request_view(L_);
    request_view_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);

    // Every call's environment: a fresh table whose reads fall through to the frozen globals.
    lua_createtable(L_, 0, 2);
    push_sandbox_globals(L_, *this);
    lua_setfield(L_, -2, "__index");
    lua_pushboolean(L_, 0);
    lua_setfield(L_, -2, "__metatable");
    env_mt_ref_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    lua_gc(L_, LUA_GCGEN, 0, 0);  // many short-lived tables per call: generational suits
    if (worker_) ++g_worker_vms;
}

LuaVm::~LuaVm() {
    if (L_) lua_close(L_);
}

void LuaVm::count_hook(lua_State* L, lua_Debug*) {
    // From here on every instruction fails, so a script cannot pcall its way past the budget.
    vm_of(L).instructions_exceeded = true;
    lua_sethook(L, &LuaVm::count_hook, LUA_MASKCOUNT, 1);
    luaL_error(L, "instruction budget exceeded");
}

int LuaVm::message_handler(lua_State* L) {
    LuaVm& vm = vm_of(L);
    if (!lua_isstring(L, 1)) {
        lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        lua_replace(L, 1);
    }
    if (vm.instructions_exceeded || vm.memory_refused) return 1;
    bool was = vm.set_memory_limited(false);
    luaL_traceback(L, L, nullptr, 1);
    vm.set_memory_limited(was);
    const char* tb = lua_tostring(L, -1);
    try {
        vm.traceback = tb ? tb : "";
    } catch (...) {
    }
    lua_pop(L, 1);
    return 1;
}

core::Result<void> LuaVm::push_compiled(const LuaScript& script) {
    auto it = compiled_.find(script.path);
    if (it != compiled_.end() && it->second.hash == script.content_hash) {
        lua_rawgeti(L_, LUA_REGISTRYINDEX, it->second.ref);
        return {};
    }
    if (script.source.rfind(LUA_SIGNATURE, 0) == 0) {
        return core::Error{core::ErrorKind::script_failure,
                           "script '" + script.path +
                               "' is precompiled Lua bytecode; only Lua source text is loaded",
                           script.path};
    }
    int status = luaL_loadbufferx(L_, script.source.data(), script.source.size(),
                                  script.chunkname.c_str(), "t");
    if (status != LUA_OK) {
        const char* msg = lua_tostring(L_, -1);
        std::string text = msg ? msg : "(no message)";
        lua_pop(L_, 1);
        return core::Error{core::ErrorKind::script_failure,
                           "script '" + script.path + "' does not compile: " + text, script.path};
    }
    if (it != compiled_.end()) luaL_unref(L_, LUA_REGISTRYINDEX, it->second.ref);
    lua_pushvalue(L_, -1);
    compiled_[script.path] = Compiled{script.content_hash, luaL_ref(L_, LUA_REGISTRYINDEX)};
    return {};
}

void LuaVm::start_budget(const LuaLimits& limits) {
    instructions_exceeded = false;
    memory_refused = false;
    mem_limit_ = bytes_ + limits.memory_bytes;
    mem_limited_ = true;
    lua_sethook(L_, &LuaVm::count_hook, LUA_MASKCOUNT, hook_count(limits));
}

core::Error LuaVm::fail(const LuaCall& call, int status, std::string lua_message) {
    const LuaScript& s = *call.script;
    std::string where = std::string(" in ") + to_string(call.hook);
    std::string message;
    if (instructions_exceeded) {
        message = "script '" + s.path + "' exceeded its instruction budget (" +
                  std::to_string(s.limits.instructions) + " instructions)" + where;
    } else if (status == LUA_ERRMEM || memory_refused) {
        message = "script '" + s.path + "' exceeded its memory budget (" +
                  describe_bytes(s.limits.memory_bytes) + ")" + where;
    } else {
        message = "script '" + s.path + "' failed" + where + ": " + lua_message;
    }
    std::string request_id = call.ctx ? call.ctx->request_id : std::string();
    core::LogFields fields{
        {"script", s.path}, {"hook", to_string(call.hook)}, {"request_id", request_id}};
    if (!traceback.empty() && !instructions_exceeded && status != LUA_ERRMEM)
        fields.emplace_back("traceback", traceback);
    core::log(core::LogLevel::error, message, fields);
    return core::Error{core::ErrorKind::script_failure, std::move(message), s.path};
}

int LuaVm::hook_count(const LuaLimits& limits) {
    if (limits.instructions >= kMaxHookCount) return kMaxHookCount;
    return static_cast<int>(std::max<int64_t>(1, limits.instructions));
}

core::Result<std::string> LuaVm::call(const LuaCall& c) {
    return run(c, nullptr);
}

core::Result<LuaScriptShape> LuaVm::inspect(const LuaScript& script) {
    LuaScriptShape shape;
    LuaCall c;
    c.script = &script;
    c.hook = LuaHook::load;
    auto r = run(c, &shape);
    if (!r) return r.take_error();
    if (!r.value().empty())
        return core::Error{core::ErrorKind::script_failure,
                           "script '" + script.path + "': " + r.value(), script.path};
    return shape;
}

namespace {
// Reads a string field of the `plugin` table (raw: no metamethods run outside pcall).
bool read_field(lua_State* L, int table, const char* key, std::string& out, std::string& error) {
    lua_pushstring(L, key);
    int t = lua_rawget(L, table);
    bool ok = true;
    if (t == LUA_TSTRING) {
        size_t n = 0;
        const char* s = lua_tolstring(L, -1, &n);
        out.assign(s, n);
    } else if (t != LUA_TNIL) {
        error = std::string("plugin.") + key + " must be a string, not a " + lua_typename(L, t);
        ok = false;
    }
    lua_pop(L, 1);
    return ok;
}

bool defines_function(lua_State* L, int env, const char* name) {
    lua_pushstring(L, name);
    bool yes = lua_rawget(L, env) == LUA_TFUNCTION;
    lua_pop(L, 1);
    return yes;
}

// Fills `shape` from a top level that ran in `env`; a problem goes to `error`.
void read_shape(lua_State* L, int env, LuaScriptShape& shape, std::string& error) {
    shape.has_generate = defines_function(L, env, "generate");
    shape.has_on_request = defines_function(L, env, "on_request");
    shape.has_on_stream_event = defines_function(L, env, "on_stream_event");
    shape.has_on_response_end = defines_function(L, env, "on_response_end");
    lua_pushliteral(L, "plugin");
    int t = lua_rawget(L, env);
    const int plugin = lua_gettop(L);
    if (t == LUA_TTABLE) {
        if (read_field(L, plugin, "name", shape.name, error) &&
            read_field(L, plugin, "version", shape.version, error) &&
            read_field(L, plugin, "description", shape.description, error)) {
            lua_pushliteral(L, "advisory");
            int at = lua_rawget(L, plugin);
            if (at == LUA_TBOOLEAN)
                shape.advisory = lua_toboolean(L, -1) != 0;
            else if (at != LUA_TNIL)
                error =
                    std::string("plugin.advisory must be a boolean, not a ") + lua_typename(L, at);
            lua_pop(L, 1);
            lua_pushliteral(L, "config_schema");
            int st = lua_rawget(L, plugin);
            if (st == LUA_TSTRING) {
                shape.config_schema = lua_tostring(L, -1);
            } else if (st == LUA_TTABLE) {
                core::Json schema;
                if (lua_to_json(L, lua_gettop(L), schema, error))
                    shape.config_schema = schema.dump();
                else
                    error = "plugin.config_schema: " + error;
            } else if (st != LUA_TNIL) {
                error = std::string("plugin.config_schema must be JSON text or a table, not a ") +
                        lua_typename(L, st);
            }
            lua_pop(L, 1);
        }
    } else if (t != LUA_TNIL) {
        error = std::string("`plugin` must be a table, not a ") + lua_typename(L, t);
    }
    lua_pop(L, 1);
}
}  // namespace

core::Result<std::string> LuaVm::run(const LuaCall& c, LuaScriptShape* shape) {
    lua_State* L = L_;
    // Nothing below may raise outside lua_pcall: a nested call (call_model running a script
    // from inside a binding) would otherwise longjmp through C++ frames. So: stack space is
    // checked (lua_checkstack does not raise) and the outer call's memory limit is lifted
    // until this call's own budget starts.
    if (!lua_checkstack(L, 16))
        return core::Error{core::ErrorKind::script_failure,
                           "script '" + c.script->path +
                               "' cannot run: Lua stack exhausted (calls nested too deep)",
                           c.script->path};
    const bool outer_limited = mem_limited_;
    mem_limited_ = false;
    const int base = lua_gettop(L);
    lua_pushcfunction(L, &LuaVm::message_handler);
    const int handler = base + 1;
    if (auto compiled = push_compiled(*c.script); !compiled) {
        lua_settop(L, base);
        mem_limited_ = outer_limited;
        core::log(core::LogLevel::error, compiled.error().message,
                  {{"script", c.script->path},
                   {"hook", to_string(c.hook)},
                   {"request_id", c.ctx ? c.ctx->request_id : std::string()}});
        return compiled.take_error();
    }
    const int fn = base + 2;

    // Re-entrancy (call_model may run another script on this thread): remember what the
    // outer call had set, restore it on the way out.
    const LuaCall* outer = current_;
    const size_t outer_limit = mem_limit_;
    const bool outer_instr = instructions_exceeded, outer_mem = memory_refused;
    instructions_exceeded = false;
    memory_refused = false;
    traceback.clear();
    if (!lua_getupvalue(L, fn, 1)) lua_pushnil(L);     // base + 3: the chunk's previous _ENV
    lua_rawgeti(L, LUA_REGISTRYINDEX, env_slot_ref_);  // base + 4: the outer call's env

    lua_createtable(L, 0, 8);  // base + 5: this call's environment
    const int env = base + 5;
    lua_rawgeti(L, LUA_REGISTRYINDEX, env_mt_ref_);
    lua_setmetatable(L, env);
    if (c.config && c.config->is_object() && !c.config->empty()) {
        // push_json raises on absurd nesting: convert under pcall, never unprotected.
        lua_pushcfunction(L, [](lua_State* S) -> int {
            push_json(S, *static_cast<const core::Json*>(lua_touserdata(S, 1)));
            return 1;
        });
        lua_pushlightuserdata(L, const_cast<core::Json*>(c.config));
        if (int st = lua_pcall(L, 1, 1, 0); st != LUA_OK) {
            const char* msg = lua_tostring(L, -1);
            core::Error error =
                fail(c, st, std::string("its config cannot be converted: ") + (msg ? msg : "?"));
            lua_pushvalue(L, base + 4);
            lua_rawseti(L, LUA_REGISTRYINDEX, env_slot_ref_);
            lua_settop(L, base);
            instructions_exceeded = outer_instr;
            memory_refused = outer_mem;
            mem_limited_ = outer_limited;
            return error;
        }
    } else {
        lua_createtable(L, 0, 0);
    }
    lua_setfield(L, env, "config");
    lua_pushvalue(L, env);
    lua_setupvalue(L, fn, 1);
    lua_pushvalue(L, env);
    lua_rawseti(L, LUA_REGISTRYINDEX, env_slot_ref_);
    int event_table = 0;
    if (c.hook == LuaHook::on_stream_event && c.event) {
        push_event_table(L, *c.event);  // base + 6, kept to read ev.text back
        event_table = base + 6;
    }

    current_ = &c;
    traceback.clear();
    start_budget(c.script->limits);

    lua_pushvalue(L, fn);
    int status = lua_pcall(L, 0, 0, handler);
    if (status == LUA_OK && c.hook != LuaHook::load) {
        lua_pushstring(L, to_string(c.hook));
        if (lua_rawget(L, env) == LUA_TFUNCTION) {
            lua_rawgeti(L, LUA_REGISTRYINDEX, request_view_ref_);
            if (event_table) lua_pushvalue(L, event_table);
            status = lua_pcall(L, event_table ? 2 : 1, 1, handler);
        }
    }
    mem_limited_ = false;
    lua_sethook(L, nullptr, 0, 0);

    core::Result<std::string> result = std::string();
    if (status != LUA_OK) {
        const char* msg = lua_tostring(L, -1);
        result = fail(c, status, msg ? msg : "(no message)");
        if (status == LUA_ERRMEM || memory_refused) lua_gc(L, LUA_GCCOLLECT);
    } else if (shape) {
        std::string error;
        read_shape(L, env, *shape, error);
        result = std::move(error);
    } else {
        std::string returned;
        if (lua_type(L, -1) == LUA_TSTRING) returned = lua_tostring(L, -1);
        // ev.text is written back unless the script replaced the whole event (set_event).
        const bool replaced = c.ctx && c.ctx->stream_stage && c.ctx->stream_stage->replaced;
        if (event_table && !replaced &&
            c.event->type == core::StreamEvent::Type::content_block_delta) {
            lua_pushliteral(L, "text");
            if (lua_rawget(L, event_table) == LUA_TSTRING) {
                size_t n = 0;
                const char* s = lua_tolstring(L, -1, &n);
                if (std::string_view(s, n) != c.event->text) c.event->text.assign(s, n);
            }
        }
        result = std::move(returned);
    }

    // Restore the outer call's view; at top level drop this call's env so its memory can go.
    if (outer)
        lua_pushvalue(L, base + 3);
    else
        lua_pushnil(L);
    lua_setupvalue(L, fn, 1);
    if (outer)
        lua_pushvalue(L, base + 4);
    else
        lua_pushboolean(L, 0);
    lua_rawseti(L, LUA_REGISTRYINDEX, env_slot_ref_);
    lua_settop(L, base);
    current_ = outer;
    instructions_exceeded = outer_instr;
    memory_refused = outer_mem;
    mem_limit_ = outer_limit;
    mem_limited_ = outer_limited;
    if (outer) lua_sethook(L, &LuaVm::count_hook, LUA_MASKCOUNT, hook_count(outer->script->limits));
    return result;
}

}  // namespace tianshu::plugin
