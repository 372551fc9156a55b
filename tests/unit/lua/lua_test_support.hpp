#pragma once
// Helpers shared by the Lua tests: fixture paths, a request to run hooks on, captured logs.

#include <mutex>
#include <string>
#include <vector>

#include "core/log.hpp"
#include "plugin/lua_plugin.hpp"

namespace tianshu::test {

//! tests/unit/lua/scripts/<name>
std::string fixture(const std::string& name);
//! scripts/<sub>
std::string shipped_script(const std::string& sub);

//! A request context whose last user message is `user_text`.
plugin::RequestContext make_context(const std::string& user_text,
                                    const std::string& model = "claude-sonnet");

//! A LuaScript read from a file, with the given limits (for driving LuaVm directly).
plugin::LuaScript read_script(const std::string& path, plugin::LuaLimits limits = {});

//! Runs one hook of a script on this thread's VM; returns the hook's string result or error.
core::Result<std::string> run_hook(const plugin::LuaScript& script, plugin::LuaHook hook,
                                   plugin::RequestContext& ctx,
                                   const core::Json& config = core::Json::object());

//! Captures log lines while alive.
class CapturedLog {
  public:
    CapturedLog();
    ~CapturedLog();
    std::vector<std::string> lines() const;
    std::vector<std::string> lines_with(const std::string& needle) const;
};

}  // namespace tianshu::test
