#pragma once
// The Lua runtime inside the host: one VM per worker thread, shared by every script that
// runs on that thread; a sandbox of allowed globals; per-call instruction and memory budgets.
// Internal to host/plugin: the pipeline only sees LuaStrategy / LuaModel (lua_plugin.hpp).
//
// Lua is C: a Lua error is a longjmp. Every C function that Lua calls (lua_bindings.cpp,
// lua_sandbox.cpp) keeps C++ objects with destructors out of any frame an error can jump
// over: C++ work runs in a helper that returns before anything can raise, and leaves its
// results in LuaVm::scratch*. Calls into scripts go through lua_pcall only.

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include <lua.hpp>

#include "core/error.hpp"
#include "plugin/stage.hpp"

namespace tianshu::plugin {

//! Budgets for one call of a script. A call that exceeds one fails with script_failure; the
//! VM stays usable and the next call starts with a full budget.
struct LuaLimits {
    int64_t instructions = 20'000'000;       //!< Lua VM instructions (count hook)
    size_t memory_bytes = size_t{64} << 20;  //!< growth of the VM's heap during the call
};

//! One script's text, immutable once loaded; shared by all its instances and all threads.
struct LuaScript {
    std::string path;  //!< as loaded; names the script in errors, logs and Lua messages
    std::string source;
    uint64_t content_hash = 0;
    std::string chunkname;  //!< "@" + path: Lua messages read "path:line: ..."
    LuaLimits limits;
};

//! Which entry point of a script a call runs. `load` runs only the top level (inspection).
enum class LuaHook { load, on_request, on_stream_event, on_response_end, generate };
const char* to_string(LuaHook hook);

//! What a script's top level declares, read once at load in a scratch VM.
struct LuaScriptShape {
    std::string name, version, description, config_schema;
    bool has_generate = false, has_on_request = false, has_on_stream_event = false,
         has_on_response_end = false;
    bool advisory = false;  //!< plugin.advisory = true (ABI TS_FLAG_ADVISORY)
};

//! One call into a script.
struct LuaCall {
    const LuaScript* script = nullptr;
    LuaHook hook = LuaHook::load;
    RequestContext* ctx = nullptr;       //!< null at load: host functions then refuse
    const core::Json* config = nullptr;  //!< the instance config, visible as `config`
    core::StreamEvent* event = nullptr;  //!< on_stream_event only
    //! The plugin's name: namespaces its session state; route_decide's "by", decision notes.
    const std::string* plugin = nullptr;
};

//! A Lua state with the sandbox installed. Used by one fiber (or thread) at a time.
class LuaVm {
  public:
    //! The running fiber's VM (core::fiber_local), or this thread's off fibers; created on
    //! first use. A script may park (sleep_ms, an upstream call) and go on on another thread,
    //! so its VM follows the fiber. A failed call leaves it usable (stack reset, garbage
    //! collected after a memory failure), so it lives as long as the fiber or thread.
    static LuaVm& for_this_fiber();
    //! How many worker VMs were ever created (scratch VMs excluded). For tests/metrics.
    static uint64_t worker_vms_created();

    explicit LuaVm(bool worker = false);
    ~LuaVm();
    LuaVm(const LuaVm&) = delete;
    LuaVm& operator=(const LuaVm&) = delete;

    //! Runs the script's top level in a fresh environment, then its hook. Returns the hook's
    //! first result when it is a string ("" otherwise, or when the script lacks the hook).
    //! Errors are script_failure with source = the script path, logged once here.
    core::Result<std::string> call(const LuaCall& call);
    //! Runs the top level once (ctx-less) and reports its `plugin` table and hooks.
    core::Result<LuaScriptShape> inspect(const LuaScript& script);

    // -- for the C functions of lua_bindings.cpp / lua_sandbox.cpp --------------------------
    lua_State* state() const { return L_; }
    const LuaCall* current() const { return current_; }
    int array_mt_ref() const { return array_mt_ref_; }
    int frozen_set_ref() const { return frozen_set_ref_; }
    int env_slot_ref() const { return env_slot_ref_; }
    //! Lifts the memory budget while the host itself allocates (tracebacks).
    bool set_memory_limited(bool on) {
        bool was = mem_limited_;
        mem_limited_ = on;
        return was;
    }

    std::string scratch;      //!< a binding's string result, pushed after the C++ work ended
    core::Json scratch_json;  //!< a binding's JSON result
    std::string error_text;   //!< a binding's error, raised after the C++ work ended
    std::string traceback;    //!< set by the message handler for the failing call's log line
    std::string warning;      //!< lua_warn pieces until the message is complete

    bool instructions_exceeded = false;
    bool memory_refused = false;

  private:
    static void* allocate(void* ud, void* ptr, size_t osize, size_t nsize) noexcept;
    static void count_hook(lua_State* L, lua_Debug* ar);
    static int message_handler(lua_State* L);

    core::Result<void> push_compiled(const LuaScript& script);
    core::Error fail(const LuaCall& call, int status, std::string lua_message);
    void start_budget(const LuaLimits& limits);
    static int hook_count(const LuaLimits& limits);
    //! call() and inspect(): with `shape`, reads the top level's declarations instead of a hook.
    core::Result<std::string> run(const LuaCall& call, LuaScriptShape* shape);

    struct Compiled {
        uint64_t hash;
        int ref;
    };

    lua_State* L_ = nullptr;
    bool worker_ = false;
    size_t bytes_ = 0;      //!< bytes the VM holds now
    size_t mem_limit_ = 0;  //!< bytes_ may not grow past this while mem_limited_
    bool mem_limited_ = false;
    const LuaCall* current_ = nullptr;
    int array_mt_ref_ = LUA_NOREF, frozen_set_ref_ = LUA_NOREF, env_slot_ref_ = LUA_NOREF,
        env_mt_ref_ = LUA_NOREF, request_view_ref_ = LUA_NOREF;
    std::unordered_map<std::string, Compiled> compiled_;  //!< by script path
};

//! The VM that owns a Lua state (stored in the state's extra space).
inline LuaVm& vm_of(lua_State* L) {
    return **static_cast<LuaVm**>(lua_getextraspace(L));
}

// lua_sandbox.cpp: installs the allowed globals; leaves the frozen globals table on the stack.
void push_sandbox_globals(lua_State* L, LuaVm& vm);
// lua_bindings.cpp
void push_tianshu_library(lua_State* L);  //!< the `tianshu` table (not yet frozen)
void push_request_view(lua_State* L);     //!< the read-only `req` userdata
void push_event_table(lua_State* L, const core::StreamEvent& event);
//! JSON -> Lua (null: nil at top level and in objects, tianshu.null inside arrays). May raise.
void push_json(lua_State* L, const core::Json& value);
//! Lua -> JSON. Never raises: fills `error` and returns false instead.
bool lua_to_json(lua_State* L, int index, core::Json& out, std::string& error);

}  // namespace tianshu::plugin
