#pragma once
// The host side of the C ABI: the one ts_host_api table given to every `.so` plugin, and
// the thread-local "which plugin, which hook" scope the table's functions read. The table is
// a thin binding over request_access.hpp — the same functions Lua scripts see.

#include <string>

#include "core/stream_event.hpp"
#include "plugin/stage.hpp"
#include "tianshu/abi.h"

namespace tianshu::plugin {

//! The function table handed to create(); static, valid for the life of the process.
const ts_host_api* host_api();

//! The hook a plugin is running on this thread; some host functions are phase-bound
//! (request_answer_text in on_request only).
enum class HookPhase { none, create, on_request, on_stream_event, on_response_end, generate };

//! Marks "plugin X is running hook Y on this thread" for the duration of one hook call, so
//! host functions can attribute log lines and check phases without a per-call lookup.
class HookScope {
  public:
    HookScope(const std::string& plugin, HookPhase phase)
        : saved_plugin_(current_plugin), saved_phase_(current_phase) {
        current_plugin = &plugin;
        current_phase = phase;
    }
    ~HookScope() {
        current_plugin = saved_plugin_;
        current_phase = saved_phase_;
    }
    HookScope(const HookScope&) = delete;
    HookScope& operator=(const HookScope&) = delete;

    //! Null outside any hook.
    static const std::string* plugin() { return current_plugin; }
    static HookPhase phase() { return current_phase; }

  private:
    static constinit inline thread_local const std::string* current_plugin = nullptr;
    static constinit inline thread_local HookPhase current_phase = HookPhase::none;
    const std::string* saved_plugin_;
    HookPhase saved_phase_;
};

//! The opaque handles plugins see. Only these two functions know what is behind them.
ts_request* to_handle(RequestContext& ctx);
ts_event* to_handle(core::StreamEvent& event);

}  // namespace tianshu::plugin
