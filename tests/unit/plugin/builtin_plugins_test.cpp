// The built-in plugins (plugins/strategies/*), loaded from the build's plugin directory
// through the catalog and run on real request contexts.
#include <catch2/catch.hpp>

#include "plugin/catalog.hpp"
#include "plugin_test_support.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using namespace tianshu::plugin::testing;

namespace {
std::shared_ptr<Strategy> builtin(const std::string& name, const core::Json& config) {
    static PluginCatalog catalog;
    static const bool loaded = catalog.load_directory(TIANSHU_PLUGIN_DIR).empty();
    CHECK(loaded);
    auto factory = catalog.find(name);
    REQUIRE(factory != nullptr);
    auto made = factory->create_strategy(config);
    INFO((made ? std::string() : made.error().message));
    REQUIRE(made.ok());
    return made.value();
}
}  // namespace

TEST_CASE("system_prompt prepends and appends around the client's system prompt",
          "[builtin][system_prompt]") {
    auto both = builtin("system_prompt",
                        {{"prepend", "You are Tianshu."}, {"append", "Answer in English."}});
    CHECK_FALSE(both->wants_stream_events());
    auto ctx = make_context("hi");
    REQUIRE(both->on_request(ctx).ok());
    CHECK(ctx.request.system_text() == "You are Tianshu.\n\nbe nice\n\nAnswer in English.");

    auto prepend_only = builtin("system_prompt", {{"prepend", "House rules."}});
    auto empty = make_context("hi");
    empty.request.set_system_text("");
    REQUIRE(prepend_only->on_request(empty).ok());
    CHECK(empty.request.system_text() == "House rules.");

    auto nothing = builtin("system_prompt", core::Json::object());
    auto untouched = make_context("hi");
    REQUIRE(nothing->on_request(untouched).ok());
    CHECK(untouched.request.system_text() == "be nice");
}

TEST_CASE("system_prompt declares a closed config schema", "[builtin][system_prompt]") {
    auto factory = SoPluginFactory::load(builtin_plugin("system_prompt"));
    REQUIRE(factory.ok());
    auto schema = core::Json::parse(factory.value()->info().config_schema);
    CHECK(schema["additionalProperties"] == false);
    CHECK(schema["properties"].contains("prepend"));
    CHECK(schema["properties"].contains("append"));
    CHECK_FALSE(factory.value()->info().description.empty());
}

TEST_CASE("canned_answer answers directly when the phrase matches", "[builtin][canned_answer]") {
    auto canned =
        builtin("canned_answer", {{"match", "opening hours"}, {"answer", "We are open 9 to 5."}});
    auto hit = make_context("what are your opening hours?");
    auto r = canned->on_request(hit);
    REQUIRE(r.ok());
    CHECK(r.value() == HookOutcome::answered);
    REQUIRE(hit.answer.has_value());
    CHECK(hit.answer->text() == "We are open 9 to 5.");
    CHECK(hit.answer->stop_reason == core::StopReason::end_turn);

    auto miss = make_context("tell me a joke");
    auto r2 = canned->on_request(miss);
    REQUIRE(r2.ok());
    CHECK(r2.value() == HookOutcome::proceed);
    CHECK_FALSE(miss.answer.has_value());
}

TEST_CASE("canned_answer refuses a config without its fields", "[builtin][canned_answer]") {
    auto factory = SoPluginFactory::load(builtin_plugin("canned_answer"));
    REQUIRE(factory.ok());
    auto made = factory.value()->create_strategy(core::Json{{"match", "x"}});
    REQUIRE_FALSE(made.ok());
    CHECK_THAT(made.error().message,
               Catch::Matchers::Contains("plugin 'canned_answer' refused its config"));
}
