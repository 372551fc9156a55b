// Budgets: a runaway script is stopped, reported once, and the VM keeps serving.

#include <catch2/catch.hpp>

#include "lua_test_support.hpp"

using namespace tianshu;
using namespace tianshu::test;

namespace {
core::Result<std::string> run_mode(const plugin::LuaScript& script, const char* mode) {
    auto ctx = make_context("hi");
    ctx.request_id = "req_budget";
    return run_hook(script, plugin::LuaHook::on_request, ctx, core::Json{{"mode", mode}});
}

void check_next_call_works(const plugin::LuaScript& script) {
    auto again = run_mode(script, "normal");
    REQUIRE(again.ok());
    CHECK(again.value() == "ok");
}
}  // namespace

TEST_CASE("an infinite loop is stopped by the instruction budget") {
    auto path = fixture("runaway.lua");
    auto script = read_script(path, plugin::LuaLimits{1'000'000, size_t{64} << 20});
    CapturedLog log;
    auto r = run_mode(script, "loop");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == core::ErrorKind::script_failure);
    CHECK(r.error().source == path);
    CHECK(r.error().message ==
          "script '" + path +
              "' exceeded its instruction budget (1000000 instructions) in on_request");
    auto lines = log.lines();
    REQUIRE(lines.size() == 1);
    auto line = core::Json::parse(lines[0]);
    CHECK(line["level"] == "error");
    CHECK(line["script"] == path);
    CHECK(line["hook"] == "on_request");
    CHECK(line["request_id"] == "req_budget");
    check_next_call_works(script);
}

TEST_CASE("a script cannot pcall its way past the instruction budget") {
    auto script =
        read_script(fixture("runaway.lua"), plugin::LuaLimits{1'000'000, size_t{64} << 20});
    CapturedLog log;
    auto r = run_mode(script, "pcall_loop");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("instruction budget") != std::string::npos);
    CHECK(log.lines().size() == 1);
    check_next_call_works(script);
}

TEST_CASE("the default instruction budget is 20M instructions") {
    auto path = fixture("runaway.lua");
    auto script = read_script(path);
    CapturedLog log;
    auto r = run_mode(script, "loop");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message ==
          "script '" + path +
              "' exceeded its instruction budget (20000000 instructions) in on_request");
    check_next_call_works(script);
}

TEST_CASE("a 1 GiB string is stopped by the memory budget") {
    auto path = fixture("runaway.lua");
    auto script = read_script(path);  // 64 MiB default
    CapturedLog log;
    auto r = run_mode(script, "rep");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == core::ErrorKind::script_failure);
    CHECK(r.error().message ==
          "script '" + path + "' exceeded its memory budget (64 MiB) in on_request");
    CHECK(log.lines().size() == 1);
    check_next_call_works(script);
}

TEST_CASE("a table grown without end is stopped by the memory budget") {
    auto path = fixture("runaway.lua");
    auto script = read_script(path, plugin::LuaLimits{200'000'000, size_t{16} << 20});
    CapturedLog log;
    auto r = run_mode(script, "table");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message ==
          "script '" + path + "' exceeded its memory budget (16 MiB) in on_request");
    CHECK(log.lines().size() == 1);
    check_next_call_works(script);
    // Repeatedly: memory is given back after each failure.
    for (int i = 0; i < 3; ++i) {
        auto again = run_mode(script, "table");
        REQUIRE_FALSE(again.ok());
        CHECK(again.error().message.find("memory budget") != std::string::npos);
    }
    check_next_call_works(script);
}

TEST_CASE("a runtime error names the script, hook and line, and is logged once") {
    auto path = fixture("runaway.lua");
    auto script = read_script(path);
    CapturedLog log;
    auto r = run_mode(script, "error");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == core::ErrorKind::script_failure);
    CHECK(r.error().message.find("script '" + path + "' failed in on_request: " + path + ":21:") ==
          0);
    CHECK(r.error().message.find("attempt to index a nil value") != std::string::npos);
    auto lines = log.lines();
    REQUIRE(lines.size() == 1);
    CHECK(core::Json::parse(lines[0]).contains("traceback"));
    check_next_call_works(script);
}
