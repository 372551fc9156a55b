#pragma once
// Shared helpers for the plugin tests: loading built .so files and preparing requests.

#include <memory>
#include <string>
#include <vector>

#include "core/stream_event.hpp"
#include "plugin/so_plugin.hpp"
#include "plugin/stage.hpp"

namespace tianshu::plugin::testing {

//! Path of a test-only plugin (tests/plugins/<name>.so).
std::string test_plugin(const std::string& name);
//! Path of a built-in plugin (plugins/<category>/<name>/ -> <plugin dir>/<name>.so).
std::string builtin_plugin(const std::string& name);

//! Loads a .so, failing the test with the loader's message when it does not load.
std::shared_ptr<SoPluginFactory> load(const std::string& path);
std::shared_ptr<Strategy> strategy(const std::string& path,
                                   const core::Json& config = core::Json::object());
std::shared_ptr<Model> model(const std::string& path,
                             const core::Json& config = core::Json::object());

//! A request for model "claude-sonnet" with system "be nice" and one user message.
RequestContext make_context(const std::string& user_text);

//! A span over `v`, as a C plugin passes strings to the host table.
ts_str s(std::string_view v);
//! The text of a ts_buf the host filled, which it then frees (as plugins must).
std::string take(ts_buf b);

//! Log lines captured while one of these is alive.
class LogCapture {
  public:
    LogCapture();
    ~LogCapture();
    std::vector<std::string> lines() const;
};

}  // namespace tianshu::plugin::testing
