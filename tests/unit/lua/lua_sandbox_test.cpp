// The sandbox: what a script can reach, and that calls cannot leak into each other.

#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "lua_test_support.hpp"

using namespace tianshu;
using namespace tianshu::test;

TEST_CASE(
    "the sandbox hides io, os, package, require, debug, dofile, loadfile, collectgarbage, "
    "string.dump") {
    auto script = read_script(fixture("sandbox_probe.lua"));
    auto ctx = make_context("hi");
    auto r = run_hook(script, plugin::LuaHook::on_request, ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == "");  // the probe lists whatever got through
}

TEST_CASE("a precompiled bytecode script file is refused with a clear error") {
    auto dir = std::filesystem::temp_directory_path() / "tianshu_lua_bytecode_test";
    std::filesystem::create_directories(dir);
    auto file = dir / "compiled.lua";
    {
        std::ofstream out(file, std::ios::binary);
        out << "\x1bLua\x54" << std::string(20, '\0');
    }
    auto f = plugin::load_lua_script(file);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().kind == core::ErrorKind::script_failure);
    CHECK(f.error().message.find("bytecode") != std::string::npos);
    CHECK(f.error().source == file.string());

    // And the VM refuses it too, should a bytecode script reach it another way.
    auto script = read_script(file.string());
    auto ctx = make_context("hi");
    CapturedLog log;
    auto r = run_hook(script, plugin::LuaHook::on_request, ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("bytecode") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("globals, file-level locals and config changes do not leak between calls") {
    auto script = read_script(fixture("leak.lua"));
    auto ctx = make_context("hi");
    core::Json config = {{"extra", "original"}};
    for (int i = 0; i < 3; ++i) {
        auto r = run_hook(script, plugin::LuaHook::on_request, ctx, config);
        REQUIRE(r.ok());
        CHECK(r.value() == "nil:1:original");
    }
    CHECK(config["extra"] == "original");
}

TEST_CASE("one VM per worker thread, shared by every call on it") {
    auto script = read_script(fixture("small_strategy.lua"));
    auto other = read_script(fixture("leak.lua"));
    uint64_t before = plugin::lua_vms_created();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                auto ctx = make_context("hi");
                auto r = run_hook(i % 2 ? script : other, plugin::LuaHook::on_request, ctx);
                if (!r.ok()) ++failures;
                if (i % 2 && ctx.request.model != "deepseek-chat") ++failures;
            }
        });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    CHECK(plugin::lua_vms_created() - before == 4);
}

TEST_CASE("a changed script is recompiled on the VM that cached the old text") {
    auto ctx = make_context("hi");
    plugin::LuaScript s;
    s.path = "inline/changing.lua";
    s.chunkname = "@inline/changing.lua";
    s.source = "function on_request(req) return 'one' end";
    s.content_hash = 1;
    auto r1 = run_hook(s, plugin::LuaHook::on_request, ctx);
    REQUIRE(r1.ok());
    CHECK(r1.value() == "one");
    s.source = "function on_request(req) return 'two' end";
    s.content_hash = 2;
    auto r2 = run_hook(s, plugin::LuaHook::on_request, ctx);
    REQUIRE(r2.ok());
    CHECK(r2.value() == "two");
}

TEST_CASE("a syntax error is reported with the file and line") {
    auto path = fixture("syntax_error.lua");
    CapturedLog log;
    auto f = plugin::load_lua_script(path);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().kind == core::ErrorKind::script_failure);
    CHECK(f.error().message.find("syntax_error.lua:2:") != std::string::npos);
    CHECK(f.error().source == path);
}

TEST_CASE("the probe really runs: a sealed sandbox still has the allowed libraries") {
    plugin::LuaScript s;
    s.path = "inline/allowed.lua";
    s.chunkname = "@" + s.path;
    s.source =
        "function on_request(req) return type(string.format) .. type(io) .. type(utf8.char) .. "
        "math.type(1) end";
    s.content_hash = 3;
    auto ctx = make_context("hi");
    auto r = run_hook(s, plugin::LuaHook::on_request, ctx);
    REQUIRE(r.ok());
    CHECK(r.value() == "functionnilfunctioninteger");
}

TEST_CASE("an absurdly nested config fails the call cleanly instead of crashing") {
    auto script = read_script(fixture("leak.lua"));
    core::Json deep = core::Json::object();
    core::Json* at = &deep;
    for (int i = 0; i < 300; ++i) at = &((*at)["x"] = core::Json::object());
    core::Json config = {{"deep", deep}};
    auto ctx = make_context("hi");
    CapturedLog log;
    auto r = run_hook(script, plugin::LuaHook::on_request, ctx, config);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("config") != std::string::npos);
    CHECK(log.lines().size() == 1);
    auto ok = run_hook(script, plugin::LuaHook::on_request, ctx, core::Json{{"extra", 1}});
    REQUIRE(ok.ok());
    CHECK(ok.value() == "nil:1:1");
}
