// The `tianshu` table: the host functions of sdk/include/tianshu/abi.h, for scripts. Each
// binding calls the one implementation in request_access.hpp.
//
// Longjmp discipline (see lua_vm.hpp): a binding checks its arguments (may raise), runs its
// C++ work inside `guarded` (never raises; results go to vm.scratch*, errors to
// vm.error_text), and only then pushes results or raises, with no C++ object alive in its
// own frame.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "core/fiber.hpp"
#include "core/log.hpp"
#include "plugin/lua_vm.hpp"
#include "plugin/request_access.hpp"

namespace tianshu::plugin {

namespace {

char g_null_sentinel;  // tianshu.null: JSON null where Lua's nil cannot stand (inside arrays)
constexpr int kMaxJsonDepth = 128;
constexpr lua_Integer kMaxSleepMs = 60000;

template <class F>
bool guarded(LuaVm& vm, F&& work) noexcept {
    try {
        return work();
    } catch (const std::exception& e) {
        vm.error_text = e.what();
    } catch (...) {
        vm.error_text = "unknown C++ exception";
    }
    return false;
}

int raise_error_text(lua_State* L, LuaVm& vm) {
    lua_pushlstring(L, vm.error_text.data(), vm.error_text.size());
    return lua_error(L);
}

int push_scratch(lua_State* L, LuaVm& vm) {
    lua_pushlstring(L, vm.scratch.data(), vm.scratch.size());
    return 1;
}

// The request of the running hook; raises when there is none (at load) or the hook is wrong.
RequestContext* context(lua_State* L, const char* function) {
    const LuaCall* c = vm_of(L).current();
    if (!c || !c->ctx)
        luaL_error(L, "tianshu.%s is only available while a hook runs, not at load", function);
    return c->ctx;
}

LuaHook hook(lua_State* L) {
    return vm_of(L).current()->hook;
}

int l_model(lua_State* L) {
    RequestContext* ctx = context(L, "model");
    lua_pushlstring(L, ctx->request.model.data(), ctx->request.model.size());
    return 1;
}

// Runs a route decision (C++ work, inside `guarded`); pushes true when it stands, false when a
// decision of higher rank does; raises with the reason when it is invalid.
template <class Decide>
int push_route_outcome(lua_State* L, LuaVm& vm, Decide&& decide) {
    bool decided = false;
    if (!guarded(vm, [&] {
            core::Result<RouteOutcome> r = decide();
            if (!r) {
                vm.error_text = "tianshu." + r.error().message;
                return false;
            }
            decided = r.value() == RouteOutcome::decided;
            return true;
        }))
        return raise_error_text(L, vm);
    lua_pushboolean(L, decided);
    return 1;
}

int l_set_model(lua_State* L) {
    RequestContext* ctx = context(L, "set_model");
    size_t n = 0;
    const char* m = luaL_checklstring(L, 1, &n);
    if (n == 0) return luaL_error(L, "tianshu.set_model: the model must not be empty");
    LuaVm& vm = vm_of(L);
    // A route decision of rank DEFAULT by this script (request_access.hpp); false when a
    // decision of higher rank stands.
    return push_route_outcome(L, vm, [&] {
        const LuaCall* c = vm.current();
        return set_model_decision(*ctx, std::string_view(m, n),
                                  c && c->plugin ? *c->plugin : std::string());
    });
}

int l_system(lua_State* L) {
    RequestContext* ctx = context(L, "system");
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            vm.scratch = ctx->request.system_text();
            return true;
        }))
        return raise_error_text(L, vm);
    return push_scratch(L, vm);
}

int l_set_system(lua_State* L) {
    RequestContext* ctx = context(L, "set_system");
    size_t n = 0;
    const char* t = luaL_checklstring(L, 1, &n);
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            set_system_text(*ctx, std::string(t, n));
            return true;
        }))
        return raise_error_text(L, vm);
    return 0;
}

int l_last_user_text(lua_State* L) {
    RequestContext* ctx = context(L, "last_user_text");
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            vm.scratch = ctx->request.last_user_text();
            return true;
        }))
        return raise_error_text(L, vm);
    return push_scratch(L, vm);
}

// get(pointer) -> value, or nil when absent.
int l_get(lua_State* L) {
    RequestContext* ctx = context(L, "get");
    size_t n = 0;
    const char* p = luaL_checklstring(L, 1, &n);
    LuaVm& vm = vm_of(L);
    bool found = false;
    bool ok = guarded(vm, [&] {
        auto r = request_get(*ctx, std::string_view(p, n));
        if (r) {
            vm.scratch_json = std::move(r).value();
            found = true;
            return true;
        }
        if (r.error().kind == core::ErrorKind::not_found) return true;
        vm.error_text = "tianshu.get: " + r.error().message;
        return false;
    });
    if (!ok) return raise_error_text(L, vm);
    if (!found) return 0;
    push_json(L, vm.scratch_json);
    return 1;
}

// set(pointer, value) -> true, or false when it would change the model while a route decision
// of higher rank stands (nothing changed; a model change is a DEFAULT decision, like
// set_model). Raises with the reason when the request would become invalid.
int l_set(lua_State* L) {
    RequestContext* ctx = context(L, "set");
    size_t n = 0;
    const char* p = luaL_checklstring(L, 1, &n);
    luaL_checkany(L, 2);
    LuaVm& vm = vm_of(L);
    bool decided = true;
    bool ok = guarded(vm, [&] {
        core::Json value;
        std::string error;
        if (!lua_to_json(L, 2, value, error)) {
            vm.error_text = "tianshu.set: " + error;
            return false;
        }
        const LuaCall* c = vm.current();
        auto r = request_set(*ctx, std::string_view(p, n), std::move(value),
                             c && c->plugin ? *c->plugin : std::string());
        if (!r) {
            vm.error_text = "tianshu.set: " + r.error().message;
            return false;
        }
        decided = r.value() == RouteOutcome::decided;
        return true;
    });
    if (!ok) return raise_error_text(L, vm);
    // false: the change would move the model and a route decision of higher rank stands.
    lua_pushboolean(L, decided);
    return 1;
}

int l_attribute(lua_State* L) {
    RequestContext* ctx = context(L, "attribute");
    size_t n = 0;
    const char* name = luaL_checklstring(L, 1, &n);
    const std::string* value = request_attribute(*ctx, std::string_view(name, n));
    if (!value) return 0;
    lua_pushlstring(L, value->data(), value->size());
    return 1;
}

int l_answer(lua_State* L) {
    RequestContext* ctx = context(L, "answer");
    if (hook(L) != LuaHook::on_request)
        return luaL_error(L, "tianshu.answer is only allowed in on_request");
    size_t n = 0;
    const char* t = luaL_checklstring(L, 1, &n);
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            answer_text(*ctx, std::string(t, n));
            return true;
        }))
        return raise_error_text(L, vm);
    return 0;
}

// emit(text) -> true, or false when the client has gone (stop generating and return).
int l_emit(lua_State* L) {
    RequestContext* ctx = context(L, "emit");
    size_t n = 0;
    const char* t = luaL_checklstring(L, 1, &n);
    LuaVm& vm = vm_of(L);
    bool alive = false;
    bool ok = guarded(vm, [&] {
        if (hook(L) != LuaHook::generate) {
            vm.error_text = "tianshu.emit is only allowed in generate";
            return false;
        }
        auto r = ModelOutput(*ctx).text(std::string_view(t, n));
        if (!r)
            vm.error_text = "tianshu.emit: " + r.error().message;
        else
            alive = r.value();
        return r.ok();
    });
    if (!ok) return raise_error_text(L, vm);
    lua_pushboolean(L, alive);
    return 1;
}

// finish([stop_reason]) -> true, or false when the client has gone.
int l_finish(lua_State* L) {
    RequestContext* ctx = context(L, "finish");
    size_t n = 0;
    const char* reason = luaL_optlstring(L, 1, "end_turn", &n);
    LuaVm& vm = vm_of(L);
    bool alive = false;
    bool ok = guarded(vm, [&] {
        if (hook(L) != LuaHook::generate) {
            vm.error_text = "tianshu.finish is only allowed in generate";
            return false;
        }
        auto stop = core::stop_reason_from_string(std::string_view(reason, n));
        if (stop == core::StopReason::none) {
            vm.error_text =
                "tianshu.finish: unknown stop reason '" + std::string(reason, n) +
                "' (use end_turn, max_tokens, stop_sequence, tool_use, pause_turn or refusal)";
            return false;
        }
        auto r = ModelOutput(*ctx).finish(stop, nullptr);
        if (!r)
            vm.error_text = "tianshu.finish: " + r.error().message;
        else
            alive = r.value();
        return r.ok();
    });
    if (!ok) return raise_error_text(L, vm);
    lua_pushboolean(L, alive);
    return 1;
}

int l_response_text(lua_State* L) {
    RequestContext* ctx = context(L, "response_text");
    if (hook(L) != LuaHook::on_response_end)
        return luaL_error(L, "tianshu.response_text is only allowed in on_response_end");
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            vm.scratch = ctx->response.text();
            return true;
        }))
        return raise_error_text(L, vm);
    return push_scratch(L, vm);
}

// call_model(model, prompt[, timeout_ms]) -> text, or nil and the error message. With
// timeout_ms the call waits no longer than that (nor past the request's deadline).
int l_call_model(lua_State* L) {
    RequestContext* ctx = context(L, "call_model");
    size_t mn = 0, pn = 0;
    const char* model = luaL_checklstring(L, 1, &mn);
    const char* prompt = luaL_checklstring(L, 2, &pn);
    const lua_Integer timeout_ms = luaL_optinteger(L, 3, 0);
    if (timeout_ms < 0) return luaL_error(L, "tianshu.call_model: timeout_ms must be >= 0");
    LuaVm& vm = vm_of(L);
    bool ok = guarded(vm, [&] {
        // The nested call may run another script on this VM; it restores our state.
        auto r = call_model(
            *ctx, std::string(model, mn), std::string(prompt, pn),
            timeout_ms > 0 ? std::optional(std::chrono::milliseconds(timeout_ms)) : std::nullopt);
        if (!r) {
            vm.error_text = r.error().message;
            return false;
        }
        vm.scratch = std::move(r).value();
        return true;
    });
    if (!ok) {
        luaL_pushfail(L);
        lua_pushlstring(L, vm.error_text.data(), vm.error_text.size());
        return 2;
    }
    return push_scratch(L, vm);
}

// log(level, message): level is "debug" | "info" | "warn" | "error".
int l_log(lua_State* L) {
    static const char* const levels[] = {"debug", "info", "warn", "error", nullptr};
    int level = luaL_checkoption(L, 1, nullptr, levels);
    size_t n = 0;
    const char* msg = luaL_checklstring(L, 2, &n);
    LuaVm& vm = vm_of(L);
    guarded(vm, [&] {
        const LuaCall* c = vm.current();
        core::log(static_cast<core::LogLevel>(level), std::string_view(msg, n),
                  {{"script", c ? c->script->path : std::string()},
                   {"request_id", c && c->ctx ? c->ctx->request_id : std::string()}});
        return true;
    });
    return 0;
}

// sleep_ms(n) -> true, or false when the request's deadline cut the sleep short. At most
// 60000 ms per call. On a fiber the request parks meanwhile (its carrier serves others): for
// pacing a demo stream, not for waiting on work.
int l_sleep_ms(lua_State* L) {
    lua_Integer ms = luaL_checkinteger(L, 1);
    const LuaCall* c = vm_of(L).current();
    ms = std::clamp<lua_Integer>(ms, 0, kMaxSleepMs);
    auto now = std::chrono::steady_clock::now();
    auto until = now + std::chrono::milliseconds(ms);
    bool full = true;
    if (c && c->ctx && c->ctx->deadline < until) {
        until = std::max(now, c->ctx->deadline);
        full = false;
    }
    core::sleep(std::chrono::ceil<std::chrono::milliseconds>(until - now));
    lua_pushboolean(L, full);
    return 1;
}

// array([t]) -> t, marked to become a JSON array even when empty.
int l_array(lua_State* L) {
    if (lua_isnoneornil(L, 1))
        lua_createtable(L, 0, 0);
    else
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L).array_mt_ref());
    lua_setmetatable(L, 1);
    return 1;
}

// ---- stream rewriting (ABI 1.4; on_stream_event of a chain's post stage) ----
// Events are tables in the shape of Anthropic's streaming events (or their JSON text).

// The current event's handle; raises outside on_stream_event.
EventHandle stream_handle(lua_State* L, const char* function) {
    RequestContext* ctx = context(L, function);
    const LuaCall* c = vm_of(L).current();
    if (c->hook != LuaHook::on_stream_event || !c->event)
        luaL_error(L, "tianshu.%s is only allowed in on_stream_event", function);
    return EventHandle{c->event, ctx->stream_stage};
}

// An event argument (a table or JSON text) as JSON text, into vm.scratch; false + error_text.
bool event_argument(lua_State* L, LuaVm& vm, int index, const char* function) {
    if (lua_type(L, index) == LUA_TSTRING) {
        size_t n = 0;
        const char* t = lua_tolstring(L, index, &n);
        vm.scratch.assign(t, n);
        return true;
    }
    core::Json value;
    std::string error;
    if (!lua_to_json(L, index, value, error)) {
        vm.error_text = std::string("tianshu.") + function + ": " + error;
        return false;
    }
    vm.scratch = value.dump();
    return true;
}

// Raises with the reason unless `r` succeeded.
template <class R>
bool stream_result(LuaVm& vm, const char* function, const R& r) {
    if (r) return true;
    vm.error_text = std::string("tianshu.") + function + ": " + r.error().message;
    return false;
}

// event() -> the current event as a table.
int l_event(lua_State* L) {
    EventHandle h = stream_handle(L, "event");
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            vm.scratch_json = core::Json::parse(event_json(*h.event));
            return true;
        }))
        return raise_error_text(L, vm);
    push_json(L, vm.scratch_json);
    return 1;
}

// set_event(ev): replace the current event; raises when ev is not one streaming event.
int l_set_event(lua_State* L) {
    EventHandle h = stream_handle(L, "set_event");
    luaL_checkany(L, 1);
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            return event_argument(L, vm, 1, "set_event") &&
                   stream_result(vm, "set_event", event_set_json(h, vm.scratch));
        }))
        return raise_error_text(L, vm);
    return 0;
}

// drop_event(): the current event does not go on.
int l_drop_event(lua_State* L) {
    EventHandle h = stream_handle(L, "drop_event");
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] { return stream_result(vm, "drop_event", event_drop(h)); }))
        return raise_error_text(L, vm);
    return 0;
}

// hold_event() -> true, or false when the stage already holds the host's cap (it goes on).
int l_hold_event(lua_State* L) {
    EventHandle h = stream_handle(L, "hold_event");
    LuaVm& vm = vm_of(L);
    bool held = false;
    if (!guarded(vm, [&] {
            auto r = event_hold(h);
            held = r.ok();
            return r.ok() || r.error().kind == core::ErrorKind::request_too_large ||
                   stream_result(vm, "hold_event", r);
        }))
        return raise_error_text(L, vm);
    lua_pushboolean(L, held);
    return 1;
}

int l_held_count(lua_State* L) {
    stream_handle(L, "held_count");
    lua_pushinteger(L, static_cast<lua_Integer>(held_count(*context(L, "held_count"))));
    return 1;
}

// held_event(i) -> the i-th held event as a table (1 = oldest), or nil.
int l_held_event(lua_State* L) {
    stream_handle(L, "held_event");
    RequestContext* ctx = context(L, "held_event");
    lua_Integer i = luaL_checkinteger(L, 1);
    if (i < 1 || static_cast<size_t>(i) > held_count(*ctx)) return 0;
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            auto json = held_event_json(*ctx, static_cast<size_t>(i - 1));
            if (!stream_result(vm, "held_event", json)) return false;
            vm.scratch_json = core::Json::parse(json.value());
            return true;
        }))
        return raise_error_text(L, vm);
    push_json(L, vm.scratch_json);
    return 1;
}

// A held-events operation without arguments (release_held, discard_held).
int held_operation(lua_State* L, const char* function,
                   core::Result<void> (*operation)(RequestContext&)) {
    stream_handle(L, function);
    RequestContext* ctx = context(L, function);
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] { return stream_result(vm, function, operation(*ctx)); }))
        return raise_error_text(L, vm);
    return 0;
}

// release_held(): every held event goes on, oldest first, before the current one.
int l_release_held(lua_State* L) {
    return held_operation(L, "release_held", &held_release);
}

// discard_held(): forget every held event.
int l_discard_held(lua_State* L) {
    return held_operation(L, "discard_held", &held_discard);
}

// emit_event(ev): insert an event before the current one (after those inserted before).
int l_emit_event(lua_State* L) {
    stream_handle(L, "emit_event");
    RequestContext* ctx = context(L, "emit_event");
    luaL_checkany(L, 1);
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            return event_argument(L, vm, 1, "emit_event") &&
                   stream_result(vm, "emit_event", stream_emit(*ctx, vm.scratch));
        }))
        return raise_error_text(L, vm);
    return 0;
}

// ---- session state (ABI 1.4 session_get / session_put / session_delete) ----------------------
// A bad key raises (a bug in the script); a cap or an unreachable store returns nil and the
// message, so an advisory strategy can carry on without its state.

const std::string& session_plugin(lua_State* L) {
    static const std::string none;
    const LuaCall* c = vm_of(L).current();
    return c && c->plugin ? *c->plugin : none;
}

//! Runs one session operation (`op` returns core::Result<void>) under `guarded`. Returns 0 when it
//! succeeded; else leaves the message in vm.error_text and returns how the binding ends: a raise
//! for a bad key, else nil and the message (pushed here).
template <class Op>
int session_op(lua_State* L, LuaVm& vm, const char* function, Op&& op, bool& failed) {
    auto kind = core::ErrorKind::internal;
    failed = !guarded(vm, [&] {
        core::Result<void> r = op();
        if (!r) {
            kind = r.error().kind;
            vm.error_text = std::string("tianshu.") + function + ": " + r.error().message;
        }
        return r.ok();
    });
    if (!failed) return 0;
    if (kind == core::ErrorKind::invalid_request) return -1;
    luaL_pushfail(L);
    lua_pushlstring(L, vm.error_text.data(), vm.error_text.size());
    return 2;
}

// session_get(key) -> value, or nil when absent (nil and the message when the store failed).
int l_session_get(lua_State* L) {
    RequestContext* ctx = context(L, "session_get");
    size_t n = 0;
    const char* key = luaL_checklstring(L, 1, &n);
    LuaVm& vm = vm_of(L);
    bool found = false, failed = false;
    const int ends = session_op(
        L, vm, "session_get",
        [&]() -> core::Result<void> {
            auto r = session_get(*ctx, session_plugin(L), std::string_view(key, n));
            if (!r) return r.take_error();
            if ((found = r.value().has_value())) vm.scratch = std::move(*r.value());
            return {};
        },
        failed);
    if (ends < 0) return raise_error_text(L, vm);
    if (failed) return ends;
    if (!found) return 0;
    return push_scratch(L, vm);
}

// session_put(key, value[, ttl_seconds]) -> true, or nil and the message (a cap, the store).
int l_session_put(lua_State* L) {
    RequestContext* ctx = context(L, "session_put");
    size_t kn = 0, vn = 0;
    const char* key = luaL_checklstring(L, 1, &kn);
    const char* value = luaL_checklstring(L, 2, &vn);
    const lua_Integer ttl = luaL_optinteger(L, 3, 0);
    if (ttl < 0 || ttl > std::numeric_limits<uint32_t>::max())
        return luaL_error(L, "tianshu.session_put: ttl_seconds must be 0 (the default) or more");
    LuaVm& vm = vm_of(L);
    bool failed = false;
    const int ends = session_op(
        L, vm, "session_put",
        [&] {
            return session_put(*ctx, session_plugin(L), std::string_view(key, kn),
                               std::string_view(value, vn), std::chrono::seconds(ttl));
        },
        failed);
    if (ends < 0) return raise_error_text(L, vm);
    if (failed) return ends;
    lua_pushboolean(L, 1);
    return 1;
}

// session_delete(key) -> true, or nil and the message when the store failed.
int l_session_delete(lua_State* L) {
    RequestContext* ctx = context(L, "session_delete");
    size_t n = 0;
    const char* key = luaL_checklstring(L, 1, &n);
    LuaVm& vm = vm_of(L);
    bool failed = false;
    const int ends = session_op(
        L, vm, "session_delete",
        [&] { return session_erase(*ctx, session_plugin(L), std::string_view(key, n)); }, failed);
    if (ends < 0) return raise_error_text(L, vm);
    if (failed) return ends;
    lua_pushboolean(L, 1);
    return 1;
}

// ---- end of session state -----------------------------------------------------------------------

// ---- 1.4: capabilities, route decision, decision notes, request headers ----

std::string script_name(LuaVm& vm) {
    const LuaCall* c = vm.current();
    return c && c->plugin ? *c->plugin : std::string("unknown");
}

// capabilities([model]) -> table of what the host knows, or nil.
int l_capabilities(lua_State* L) {
    RequestContext* ctx = context(L, "capabilities");
    size_t n = 0;
    const char* m = luaL_optlstring(L, 1, "", &n);
    LuaVm& vm = vm_of(L);
    bool found = false;
    if (!guarded(vm, [&] {
            auto caps = model_capabilities(*ctx, std::string_view(m, n));
            found = caps.has_value();
            if (found) vm.scratch_json = caps->to_json();
            return true;
        }))
        return raise_error_text(L, vm);
    if (!found) return 0;
    push_json(L, vm.scratch_json);
    return 1;
}

// model_serving([model]) -> true, false (every channel serving it is failing), or nil (no
// channel serves it).
int l_model_serving(lua_State* L) {
    RequestContext* ctx = context(L, "model_serving");
    size_t n = 0;
    const char* m = luaL_optlstring(L, 1, "", &n);
    LuaVm& vm = vm_of(L);
    std::optional<bool> serving;
    if (!guarded(vm, [&] {
            serving = model_serving(*ctx, std::string_view(m, n));
            return true;
        }))
        return raise_error_text(L, vm);
    if (!serving) return 0;
    lua_pushboolean(L, *serving ? 1 : 0);
    return 1;
}

// route_decide(rank, scenario, model[, reason]) -> true, or false when outranked. rank: 1..5
// or "default" | "scene" | "agent" | "escalation" | "pin". on_request only.
int l_route_decide(lua_State* L) {
    RequestContext* ctx = context(L, "route_decide");
    if (hook(L) != LuaHook::on_request)
        return luaL_error(L, "tianshu.route_decide is only allowed in on_request");
    int rank = 0;
    if (lua_type(L, 1) == LUA_TSTRING) {
        size_t rn = 0;
        const char* r = lua_tolstring(L, 1, &rn);
        rank = route_rank_from_name(std::string_view(r, rn));
        if (rank == 0)
            return luaL_error(L,
                              "tianshu.route_decide: unknown rank '%s' (use default, scene, "
                              "agent, escalation or pin)",
                              r);
    } else {
        rank = static_cast<int>(luaL_checkinteger(L, 1));
    }
    size_t sn = 0, mn = 0, why_n = 0;
    const char* scenario = luaL_checklstring(L, 2, &sn);
    const char* model = luaL_checklstring(L, 3, &mn);
    const char* reason = luaL_optlstring(L, 4, "", &why_n);
    LuaVm& vm = vm_of(L);
    return push_route_outcome(L, vm, [&] {
        return route_decide(*ctx, rank, std::string_view(scenario, sn), std::string_view(model, mn),
                            std::string_view(reason, why_n), script_name(vm));
    });
}

// route_current() -> {rank, scenario, model, reason, by}, or nil when none was made.
int l_route_current(lua_State* L) {
    RequestContext* ctx = context(L, "route_current");
    if (!ctx->route) return 0;
    LuaVm& vm = vm_of(L);
    if (!guarded(vm, [&] {
            vm.scratch_json = route_json(*ctx->route);
            return true;
        }))
        return raise_error_text(L, vm);
    push_json(L, vm.scratch_json);
    return 1;
}

// decision_note(kind, reason) -> true, or false when the request's notes are full.
int l_decision_note(lua_State* L) {
    RequestContext* ctx = context(L, "decision_note");
    size_t kn = 0, rn = 0;
    const char* kind = luaL_checklstring(L, 1, &kn);
    const char* reason = luaL_optlstring(L, 2, "", &rn);
    LuaVm& vm = vm_of(L);
    bool noted = false;
    if (!guarded(vm, [&] {
            auto r = decision_note(*ctx, script_name(vm), std::string_view(kind, kn),
                                   std::string_view(reason, rn));
            if (!r) {
                vm.error_text = "tianshu." + r.error().message;
                return false;
            }
            noted = r.value() == NoteOutcome::noted;
            return true;
        }))
        return raise_error_text(L, vm);
    lua_pushboolean(L, noted);
    return 1;
}

// request_header(name) -> the client's header, or nil (absent, or a credential). on_request.
int l_request_header(lua_State* L) {
    RequestContext* ctx = context(L, "request_header");
    if (hook(L) != LuaHook::on_request)
        return luaL_error(L, "tianshu.request_header is only allowed in on_request");
    size_t n = 0;
    const char* name = luaL_checklstring(L, 1, &n);
    auto value = request_header(*ctx, std::string_view(name, n));
    if (!value) return 0;
    lua_pushlstring(L, value->data(), value->size());
    return 1;
}

// req: a read-only view of the request for the hook's first argument.
int request_view_index(lua_State* L) {
    const LuaCall* c = vm_of(L).current();
    if (!c || !c->ctx) return 0;
    size_t n = 0;
    const char* k = lua_tolstring(L, 2, &n);
    if (!k) return 0;
    std::string_view key(k, n);
    if (key == "model") return l_model(L);
    if (key == "system") return l_system(L);
    if (key == "last_user_text") return l_last_user_text(L);
    if (key == "id") key = "request_id";
    const std::string* value = request_attribute(*c->ctx, key);
    if (!value) return 0;
    lua_pushlstring(L, value->data(), value->size());
    return 1;
}

int request_view_newindex(lua_State* L) {
    return luaL_error(L,
                      "req is read-only: change the request with tianshu.set_model, "
                      "tianshu.set_system or tianshu.set");
}

const char* delta_kind_name(core::StreamEvent::DeltaKind k) {
    using K = core::StreamEvent::DeltaKind;
    switch (k) {
        case K::text:
            return "text";
        case K::input_json:
            return "input_json";
        case K::thinking:
            return "thinking";
        case K::signature:
            return "signature";
    }
    return "text";
}

void push_json_at(lua_State* L, const core::Json& v, int depth, bool in_array) {
    if (depth > kMaxJsonDepth)
        luaL_error(L, "JSON value nested deeper than %d levels", kMaxJsonDepth);
    luaL_checkstack(L, 4, "JSON value too deep");
    switch (v.type()) {
        case core::Json::value_t::null:
            if (in_array)
                lua_pushlightuserdata(L, &g_null_sentinel);
            else
                lua_pushnil(L);
            return;
        case core::Json::value_t::boolean:
            lua_pushboolean(L, v.get<bool>());
            return;
        case core::Json::value_t::number_integer:
            lua_pushinteger(L, v.get<int64_t>());
            return;
        case core::Json::value_t::number_unsigned: {
            uint64_t u = v.get<uint64_t>();
            if (u <= static_cast<uint64_t>(INT64_MAX))
                lua_pushinteger(L, static_cast<lua_Integer>(u));
            else
                lua_pushnumber(L, static_cast<lua_Number>(u));
            return;
        }
        case core::Json::value_t::number_float:
            lua_pushnumber(L, v.get<double>());
            return;
        case core::Json::value_t::string: {
            const auto& s = v.get_ref<const std::string&>();
            lua_pushlstring(L, s.data(), s.size());
            return;
        }
        case core::Json::value_t::array: {
            const auto& a = v.get_ref<const core::Json::array_t&>();
            lua_createtable(L, static_cast<int>(std::min<size_t>(a.size(), INT32_MAX)), 0);
            lua_Integer i = 0;
            for (const auto& item : a) {
                push_json_at(L, item, depth + 1, true);
                lua_rawseti(L, -2, ++i);
            }
            lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L).array_mt_ref());
            lua_setmetatable(L, -2);
            return;
        }
        case core::Json::value_t::object: {
            const auto& o = v.get_ref<const core::Json::object_t&>();
            lua_createtable(L, 0, static_cast<int>(std::min<size_t>(o.size(), INT32_MAX)));
            for (const auto& [key, item] : o) {
                if (item.is_null()) continue;
                lua_pushlstring(L, key.data(), key.size());
                push_json_at(L, item, depth + 1, false);
                lua_rawset(L, -3);
            }
            return;
        }
        default:
            lua_pushnil(L);
            return;  // binary / discarded: not produced by our parser
    }
}

bool to_json_at(lua_State* L, int index, core::Json& out, std::string& error, int depth) {
    if (depth > kMaxJsonDepth) {
        error = "table nested deeper than " + std::to_string(kMaxJsonDepth) + " levels (a cycle?)";
        return false;
    }
    index = lua_absindex(L, index);
    switch (lua_type(L, index)) {
        case LUA_TNIL:
            out = nullptr;
            return true;
        case LUA_TBOOLEAN:
            out = lua_toboolean(L, index) != 0;
            return true;
        case LUA_TNUMBER:
            if (lua_isinteger(L, index)) {
                out = static_cast<int64_t>(lua_tointeger(L, index));
            } else {
                double d = lua_tonumber(L, index);
                if (!std::isfinite(d)) {
                    error = "a number that is not finite cannot become JSON";
                    return false;
                }
                out = d;
            }
            return true;
        case LUA_TSTRING: {
            size_t n = 0;
            const char* s = lua_tolstring(L, index, &n);
            out = std::string(s, n);
            return true;
        }
        case LUA_TLIGHTUSERDATA:
            if (lua_touserdata(L, index) == &g_null_sentinel) {
                out = nullptr;
                return true;
            }
            break;
        case LUA_TTABLE:
            break;
        default:
            break;
    }
    if (lua_type(L, index) != LUA_TTABLE) {
        error = std::string("a ") + luaL_typename(L, index) + " value cannot become JSON";
        return false;
    }
    if (!lua_checkstack(L, 4)) {
        error = "out of Lua stack converting a table to JSON";
        return false;
    }
    bool marked_array = false;
    if (lua_getmetatable(L, index)) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm_of(L).array_mt_ref());
        marked_array = lua_rawequal(L, -1, -2);
        lua_pop(L, 2);
    }
    // Classify the keys: all strings (object) or exactly 1..n (array).
    size_t count = 0;
    lua_Integer max_key = 0;
    bool string_keys = false, integer_keys = false;
    lua_pushnil(L);
    while (lua_next(L, index)) {
        lua_pop(L, 1);
        ++count;
        if (lua_type(L, -1) == LUA_TSTRING) {
            string_keys = true;
        } else if (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 1) {
            integer_keys = true;
            max_key = std::max(max_key, lua_tointeger(L, -1));
        } else {
            error = std::string("a table key of type ") + luaL_typename(L, -1) +
                    " cannot become JSON (use string keys for objects, 1..n for arrays)";
            lua_pop(L, 1);
            return false;
        }
    }
    if (string_keys && (integer_keys || marked_array)) {
        error = "a table mixes array items and string keys; JSON needs one or the other";
        return false;
    }
    if (integer_keys || marked_array) {
        if (static_cast<size_t>(max_key) != count) {
            error = "a table has gaps in its array items (use tianshu.null for JSON null)";
            return false;
        }
        out = core::Json::array();
        for (lua_Integer i = 1; i <= max_key; ++i) {
            lua_rawgeti(L, index, i);
            core::Json item;
            bool ok = to_json_at(L, -1, item, error, depth + 1);
            lua_pop(L, 1);
            if (!ok) return false;
            out.push_back(std::move(item));
        }
        return true;
    }
    out = core::Json::object();
    lua_pushnil(L);
    while (lua_next(L, index)) {
        size_t n = 0;
        const char* k = lua_tolstring(L, -2, &n);  // a string key: no conversion happens
        core::Json item;
        bool ok = to_json_at(L, -1, item, error, depth + 1);
        lua_pop(L, 1);
        if (!ok) {
            error = "at '" + std::string(k, n) + "': " + error;
            lua_pop(L, 1);
            return false;
        }
        out[std::string(k, n)] = std::move(item);
    }
    return true;
}

}  // namespace

void push_json(lua_State* L, const core::Json& value) {
    push_json_at(L, value, 0, false);
}

bool lua_to_json(lua_State* L, int index, core::Json& out, std::string& error) {
    try {
        return to_json_at(L, index, out, error, 0);
    } catch (const std::exception& e) {
        error = e.what();
        return false;
    }
}

void push_tianshu_library(lua_State* L) {
    static const luaL_Reg functions[] = {
        {"model", l_model},
        {"set_model", l_set_model},
        {"system", l_system},
        {"set_system", l_set_system},
        {"last_user_text", l_last_user_text},
        {"get", l_get},
        {"set", l_set},
        {"attribute", l_attribute},
        {"answer", l_answer},
        {"emit", l_emit},
        {"finish", l_finish},
        {"response_text", l_response_text},
        {"call_model", l_call_model},
        {"log", l_log},
        {"sleep_ms", l_sleep_ms},
        {"array", l_array},
        // stream rewriting (ABI 1.4)
        {"event", l_event},
        {"set_event", l_set_event},
        {"drop_event", l_drop_event},
        {"hold_event", l_hold_event},
        {"held_count", l_held_count},
        {"held_event", l_held_event},
        {"release_held", l_release_held},
        {"discard_held", l_discard_held},
        {"emit_event", l_emit_event},

        // 1.4: session state
        {"session_get", l_session_get},
        {"session_put", l_session_put},
        {"session_delete", l_session_delete},
        // 1.4: capabilities, route decision, decision notes, request headers
        {"capabilities", l_capabilities},
        {"route_decide", l_route_decide},
        {"route_current", l_route_current},
        {"decision_note", l_decision_note},
        {"request_header", l_request_header},
        {"model_serving", l_model_serving},
        {nullptr, nullptr},
    };
    luaL_newlib(L, functions);
    lua_pushlightuserdata(L, &g_null_sentinel);
    lua_setfield(L, -2, "null");
}

void push_request_view(lua_State* L) {
    lua_newuserdatauv(L, 0, 0);
    lua_createtable(L, 0, 3);
    lua_pushcfunction(L, request_view_index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, request_view_newindex);
    lua_setfield(L, -2, "__newindex");
    lua_pushliteral(L, "tianshu.request");
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
}

void push_event_table(lua_State* L, const core::StreamEvent& e) {
    lua_createtable(L, 0, 4);
    {
        const std::string_view name = core::to_string(e.type);
        lua_pushlstring(L, name.data(), name.size());
    }
    lua_setfield(L, -2, "type");
    lua_pushinteger(L, e.index);
    lua_setfield(L, -2, "index");
    if (e.type == core::StreamEvent::Type::content_block_delta) {
        lua_pushstring(L, delta_kind_name(e.delta_kind));
        lua_setfield(L, -2, "kind");
        lua_pushlstring(L, e.text.data(), e.text.size());
        lua_setfield(L, -2, "text");
    }
}

}  // namespace tianshu::plugin
