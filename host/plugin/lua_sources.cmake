# The Lua runtime: one VM per worker thread (lua_vm), the sandbox of allowed globals
# (lua_sandbox), the `tianshu` host-function table (lua_bindings) and the factories that
# turn script files into strategies and models (lua_plugin).
list(APPEND TIANSHU_PLUGIN_SOURCES lua_vm.cpp lua_sandbox.cpp lua_bindings.cpp lua_plugin.cpp)
list(APPEND TIANSHU_PLUGIN_LIBS PkgConfig::LUA)
