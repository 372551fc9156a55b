# bench_scenario_router: scenario_router's decision on the ~75 KB Claude Code request, as the
# host-free library and as the real plugin's on_request through SoStrategy. Included from
# tests/bench/CMakeLists.txt.
add_executable(bench_scenario_router ${CMAKE_CURRENT_LIST_DIR}/bench_scenario_router.cpp)
target_link_libraries(bench_scenario_router PRIVATE scenario_router_core tianshu_plugin
  tianshu_protocol benchmark::benchmark)
target_compile_definitions(bench_scenario_router PRIVATE
  TIANSHU_GEN_PAYLOADS="${CMAKE_CURRENT_LIST_DIR}/overhead/gen_payloads.js"
  TIANSHU_PLUGIN_DIR="${TIANSHU_PLUGIN_OUTPUT_DIR}")
add_dependencies(bench_scenario_router scenario_router)
