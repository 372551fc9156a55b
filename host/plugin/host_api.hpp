#pragma once
// The host side of the C ABI: the one ts_host_api table given to every `.so` plugin, and
// the thread-local "which plugin, which hook" scope the table's functions read. The table is
// a thin binding over request_access.hpp — the same functions Lua scripts see.

#include <string>

#include "core/fiber.hpp"
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
//! The thread-locals are reached through out-of-line functions: a hook may park in
//! upstream_call and go on on another thread (core/fiber.hpp), where an address computed
//! before would be the first thread's.
class HookScope {
  public:
    HookScope(const std::string& plugin, HookPhase phase)
        : saved_plugin_(plugin_slot()), saved_phase_(phase_slot()) {
        plugin_slot() = &plugin;
        phase_slot() = phase;
    }
    ~HookScope() {
        plugin_slot() = saved_plugin_;
        phase_slot() = saved_phase_;
    }
    HookScope(const HookScope&) = delete;
    HookScope& operator=(const HookScope&) = delete;

    //! Null outside any hook.
    static const std::string* plugin() { return plugin_slot(); }
    static HookPhase phase() { return phase_slot(); }

    //! Around a host call that may park the hook's fiber (upstream_call, call_model): this
    //! thread shows no hook while the fiber is away, and whichever thread it comes back on shows
    //! the hook again.
    class Away {
      public:
        Away() : plugin_(plugin_slot()), phase_(phase_slot()) {
            plugin_slot() = nullptr;
            phase_slot() = HookPhase::none;
        }
        ~Away() {
            plugin_slot() = plugin_;
            phase_slot() = phase_;
        }
        Away(const Away&) = delete;
        Away& operator=(const Away&) = delete;

      private:
        const std::string* plugin_;
        HookPhase phase_;
    };

  private:
    TIANSHU_THREAD_ACCESSOR static const std::string*& plugin_slot();
    TIANSHU_THREAD_ACCESSOR static HookPhase& phase_slot();
    const std::string* saved_plugin_;
    HookPhase saved_phase_;
};

//! The opaque handles plugins see. Only these two functions know what is behind them.
ts_request* to_handle(RequestContext& ctx);
//! An event handle points at an EventHandle (the event and its stage), which must outlive the
//! hook call.
ts_event* to_handle(EventHandle& event);

}  // namespace tianshu::plugin
