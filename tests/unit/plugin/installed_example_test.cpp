// Loads the SDK example built out of tree against the *installed* SDK (tests/sdk runs the
// build, then this case with TIANSHU_EXAMPLE_PLUGIN=<path to the .so>). Hidden from the
// default run; run explicitly without the variable, it fails rather than passing silently.
#include <cstdlib>

#include <catch2/catch.hpp>

#include "plugin_test_support.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using namespace tianshu::plugin::testing;

TEST_CASE("the example built against the installed SDK runs in the host", "[.installed-example]") {
    const char* path = std::getenv("TIANSHU_EXAMPLE_PLUGIN");
    if (!path || !*path)
        FAIL(
            "TIANSHU_EXAMPLE_PLUGIN is not set: run through ctest "
            "sdk_example_builds_against_installed_sdk");

    auto factory = load(path);
    CHECK(factory->info().name == "example_greeting");
    CHECK(factory->info().abi_version ==
          std::to_string(TS_ABI_MAJOR) + "." + std::to_string(TS_ABI_MINOR));
    auto made = factory->create_strategy(
        core::Json{{"sentence", "Always greet the user."}, {"uppercase", true}});
    INFO((made ? std::string() : made.error().message));
    REQUIRE(made.ok());
    auto greeting = made.value();

    auto ctx = make_context("hello");
    REQUIRE(greeting->on_request(ctx).ok());
    CHECK(ctx.request.system_text() == "be nice\nAlways greet the user.");

    REQUIRE(greeting->wants_stream_events());
    auto delta = core::StreamEvent::text_delta(0, "hi there");
    REQUIRE(greeting->on_stream_event(ctx, delta).ok());
    CHECK(delta.text == "HI THERE");
}
