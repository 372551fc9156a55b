# bench_so_hook: the cost of one pre-request hook through SoStrategy (a .so via the C ABI).
# Included from tests/bench/CMakeLists.txt; needs Google Benchmark and the test plugins.
find_package(benchmark REQUIRED)
add_executable(bench_so_hook ${CMAKE_CURRENT_LIST_DIR}/bench_so_hook.cpp)
target_link_libraries(bench_so_hook PRIVATE tianshu_plugin benchmark::benchmark)
target_compile_definitions(bench_so_hook PRIVATE TIANSHU_TEST_PLUGIN_DIR="${CMAKE_BINARY_DIR}/test-plugins")
add_dependencies(bench_so_hook noop_strategy read_model)
