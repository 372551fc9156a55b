# `.so` plugins: loading through the C ABI (Boost.DLL), the host function table, the catalog.
list(APPEND TIANSHU_PLUGIN_SOURCES so_plugin.cpp host_api.cpp catalog.cpp)
list(APPEND TIANSHU_PLUGIN_LIBS Boost::filesystem ${CMAKE_DL_LIBS})
