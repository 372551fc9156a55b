# Lua strategy benchmark (included by tests/bench/CMakeLists.txt).
if(NOT TARGET benchmark::benchmark)
  find_package(benchmark REQUIRED)
endif()
add_executable(bench_lua_strategy ${CMAKE_CURRENT_LIST_DIR}/bench_lua_strategy.cpp)
target_link_libraries(bench_lua_strategy PRIVATE tianshu_plugin benchmark::benchmark)
target_compile_definitions(bench_lua_strategy PRIVATE TIANSHU_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
