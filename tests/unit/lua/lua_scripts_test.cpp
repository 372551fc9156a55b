// The scripts shipped in scripts/: they load, and they do what their headers say.

#include <catch2/catch.hpp>

#include <chrono>

#include "lua_test_support.hpp"

using namespace tianshu;
using namespace tianshu::test;

TEST_CASE("every shipped script loads") {
    auto catalog = plugin::load_lua_scripts(std::string(TIANSHU_SOURCE_DIR) + "/scripts");
    REQUIRE(catalog.ok());
    for (const auto& e : catalog.value().errors) FAIL_CHECK(e.message);
    std::map<std::string, plugin::PluginKind> kinds;
    for (const auto& f : catalog.value().factories) kinds[f->info().name] = f->info().kind;
    CHECK(kinds["demo"] == plugin::PluginKind::model);
    CHECK(kinds["tag_request"] == plugin::PluginKind::strategy);
    CHECK(kinds["keyword_router"] == plugin::PluginKind::strategy);
}

TEST_CASE("a bad script is reported with its path while the others still load") {
    auto catalog = plugin::load_lua_scripts(std::string(TIANSHU_SOURCE_DIR) + "/tests/unit/lua");
    REQUIRE(catalog.ok());  // tests/unit/lua has no models/ or strategies/: nothing to load
    CHECK(catalog.value().factories.empty());
    CHECK_FALSE(plugin::load_lua_scripts("/no/such/folder").ok());
}

namespace {
std::string run_demo(const core::Json& config, const std::string& question,
                     size_t* events = nullptr) {
    auto f = plugin::load_lua_script(shipped_script("models/demo.lua"));
    REQUIRE(f.ok());
    CHECK(!f.value()->info().config_schema.empty());
    auto m = f.value()->create_model(config);
    REQUIRE(m.ok());
    auto ctx = make_context(question, "demo");
    core::ResponseAssembler assembler;
    size_t n = 0;
    ctx.emit = [&](const core::StreamEvent& e) {
        ++n;
        return assembler.add(e).ok();
    };
    auto r = m.value()->generate(ctx);
    REQUIRE(r.ok());
    CHECK(assembler.finished());
    if (events) *events = n;
    return assembler.response().text();
}
}  // namespace

TEST_CASE("demo.lua answers offline, echoes the question and explains channels, word by word") {
    size_t events = 0;
    auto text = run_demo(core::Json::object(), "How do I use you?", &events);
    CHECK(text.find("demo model of Tianshu") != std::string::npos);
    CHECK(text.find("How do I use you?") != std::string::npos);
    CHECK(text.find("channel") != std::string::npos);
    CHECK(events > 20);  // streamed, not one chunk
}

TEST_CASE("demo.lua paces its stream with delay_ms") {
    auto start = std::chrono::steady_clock::now();
    run_demo({{"delay_ms", 2}}, "hi");
    auto elapsed = std::chrono::steady_clock::now() - start;
    CHECK(elapsed >= std::chrono::milliseconds(40));
}

TEST_CASE("tag_request.lua adds its note to the system prompt") {
    auto f = plugin::load_lua_script(shipped_script("strategies/tag_request.lua"));
    REQUIRE(f.ok());
    auto s = f.value()->create_strategy({{"note", "Answer in English."}});
    REQUIRE(s.ok());
    auto ctx = make_context("hi");
    REQUIRE(s.value()->on_request(ctx).ok());
    CHECK(ctx.request.system_text() == "Answer in English.");
    ctx.request.set_system_text("You are helpful.");
    REQUIRE(s.value()->on_request(ctx).ok());
    CHECK(ctx.request.system_text() == "You are helpful.\n\nAnswer in English.");
}

TEST_CASE("keyword_router.lua picks the model from keywords") {
    auto f = plugin::load_lua_script(shipped_script("strategies/keyword_router.lua"));
    REQUIRE(f.ok());
    core::Json config = {{"routes",
                          {{{"keywords", {"SQL", "python"}}, {"model", "deepseek-coder"}},
                           {{"keywords", {"poem"}}, {"model", "qwen-max"}}}},
                         {"default", "deepseek-chat"}};
    auto s = f.value()->create_strategy(config);
    REQUIRE(s.ok());
    auto coder = make_context("Write a sql query");
    REQUIRE(s.value()->on_request(coder).ok());
    CHECK(coder.request.model == "deepseek-coder");
    auto poet = make_context("a poem please");
    REQUIRE(s.value()->on_request(poet).ok());
    CHECK(poet.request.model == "qwen-max");
    auto other = make_context("hello");
    REQUIRE(s.value()->on_request(other).ok());
    CHECK(other.request.model == "deepseek-chat");
}
