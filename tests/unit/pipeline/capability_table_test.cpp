// The model capability table: its file format (errors name the field and the fix), pattern
// precedence, merging a file over the built-in table, and the snapshot's lookup
// (channel override > table > unknown).
#include <catch2/catch.hpp>

#include "pipeline/capability_table.hpp"
#include "plugin/request_access.hpp"

using namespace tianshu;
using namespace tianshu::pipeline;
using Catch::Contains;

namespace {
CapabilityTable parsed(const std::string& text) {
    auto t = CapabilityTable::parse(text, "caps.json");
    INFO((t ? std::string() : t.error().message));
    REQUIRE(t.ok());
    return std::move(t).value();
}

std::string problem(const std::string& text) {
    auto t = CapabilityTable::parse(text, "caps.json");
    REQUIRE_FALSE(t.ok());
    return t.error().message;
}

//! Resolves "gw-*" names to channel "up" serving "up-<rest>"; others are unknown.
class FakeResolver final : public ModelResolver {
  public:
    core::Result<ResolvedModel> resolve(const std::string& model) const override {
        if (model.rfind("gw-", 0) != 0)
            return core::Error{core::ErrorKind::not_found, "no channel serves " + model, {}};
        return ResolvedModel{nullptr, "up-" + model.substr(3), "up"};
    }
};
}  // namespace

TEST_CASE("capability files: every wrong field is named with its path and the fix",
          "[capabilities]") {
    CHECK_THAT(problem("{nope"), Contains("caps.json: not JSON"));
    CHECK_THAT(problem(R"({"model":{}})"), Contains("docs/capabilities.md"));
    const std::string many = problem(
        R"({"models":{"glm-*":{"vision":"yes","context_window":0,"thinking":"sometimes","colour":1}}})");
    CHECK_THAT(many, Contains("caps.json"));
    CHECK_THAT(many, Contains("/models/glm-*/vision"));
    CHECK_THAT(many, Contains("/models/glm-*/context_window"));
    CHECK_THAT(many, Contains("/models/glm-*/thinking"));
    CHECK_THAT(many, Contains("colour"));
    CHECK_THAT(problem(R"({"models":{"x":{"tool_calls":"json"}}})"),
               Contains("/models/x/tool_calls"));
    CHECK_THAT(problem(R"({"models":{"x":{"max_tools":-1}}})"), Contains("/models/x/max_tools"));
}

TEST_CASE("the most specific pattern wins; only its entry applies", "[capabilities]") {
    auto t = parsed(R"({"models":{
        "*": {"vision": false},
        "qwen*": {"context_window": 32768},
        "qwen3-coder-*": {"context_window": 262144, "tool_calls": "native"},
        "qwen3-coder-plus": {"max_tools": 100}}})");
    REQUIRE(t.find("qwen3-coder-plus"));
    CHECK(t.find("qwen3-coder-plus")->to_json() == core::Json{{"max_tools", 100}});
    CHECK(t.find("qwen3-coder-flash")->context_window == 262144);
    CHECK(t.find("qwen-max")->context_window == 32768);
    CHECK_FALSE(t.find("qwen-max")->vision);  // not combined with "*"
    CHECK(t.find("llama")->vision == false);

    auto none = parsed(R"({"models":{"a?c":{"vision":true}}})");
    CHECK(none.find("abc"));
    CHECK_FALSE(none.find("abbc"));
}

TEST_CASE("a file is laid over the built-in table field by field", "[capabilities]") {
    CapabilityTable t = CapabilityTable::builtin();
    REQUIRE(t.find("claude-sonnet-4-5"));
    CHECK(t.find("claude-sonnet-4-5")->thinking == "anthropic");
    t.merge(parsed(R"({"models":{"claude-*":{"max_tools":50},"mine":{"tool_calls":"text"}}})"));
    CHECK(t.find("claude-sonnet-4-5")->max_tools == 50);
    CHECK(t.find("claude-sonnet-4-5")->thinking == "anthropic");  // kept
    CHECK(t.find("mine")->tool_calls == "text");
}

TEST_CASE("lookup: channel override > table > unknown", "[capabilities]") {
    auto table = std::make_shared<CapabilityTable>(
        parsed(R"({"models":{"up-*":{"vision":true,"max_tools":64,"context_window":1000},
                              "gw-b":{"thinking":"none"}}})"));
    auto channel = channel_capabilities(
        core::Json{{"vision", false}, {"context_window", 777}, {"strip_fields", {"user"}}}, "up");
    REQUIRE(channel.ok());
    std::map<std::string, core::ModelCapabilities, std::less<>> by_channel{{"up", channel.value()}};
    ModelCapabilityBook book(table, by_channel, std::make_shared<FakeResolver>());

    plugin::RequestContext ctx;
    ctx.request.model = "gw-a";
    ctx.capabilities = &book;
    auto a = plugin::model_capabilities(ctx, "");
    REQUIRE(a);
    CHECK(a->to_json() ==
          core::Json{{"context_window", 777}, {"max_tools", 64}, {"vision", false}});
    // The upstream name is looked up first, then the gateway's name.
    auto b = plugin::model_capabilities(ctx, "gw-b");
    REQUIRE(b);
    CHECK(b->max_tools == 64);
    CHECK_FALSE(b->thinking);
    // Unknown everywhere: nothing.
    CHECK_FALSE(plugin::model_capabilities(ctx, "other"));
    // While generating, the current target is the channel's own model on ctx.channel.
    ctx.channel = "up";
    ctx.request.model = "up-z";
    CHECK(plugin::model_capabilities(ctx, "")->context_window == 777);

    auto wrong = channel_capabilities(core::Json{{"vision", "no"}}, "up");
    REQUIRE_FALSE(wrong.ok());
    CHECK_THAT(wrong.error().message, Contains("channel 'up' option vision"));
}

TEST_CASE("reasoning_on_tool_turns is the older spelling of a channel's thinking: reasoning_content",
          "[capabilities]") {
    auto on = channel_capabilities(core::Json{{"reasoning_on_tool_turns", true}}, "ds");
    REQUIRE(on.ok());
    CHECK(on.value().thinking == std::optional<std::string>("reasoning_content"));
    auto both = channel_capabilities(
        core::Json{{"reasoning_on_tool_turns", true}, {"thinking", "reasoning_content"}}, "ds");
    REQUIRE(both.ok());
    CHECK(both.value().thinking == std::optional<std::string>("reasoning_content"));
    // false says nothing: the table's own thinking stays.
    auto off = channel_capabilities(core::Json{{"reasoning_on_tool_turns", false}}, "ds");
    REQUIRE(off.ok());
    CHECK_FALSE(off.value().thinking);

    auto clash = channel_capabilities(
        core::Json{{"reasoning_on_tool_turns", true}, {"thinking", "none"}}, "ds");
    REQUIRE_FALSE(clash.ok());
    CHECK_THAT(clash.error().message, Contains("channel 'ds' option reasoning_on_tool_turns"));
    CHECK_THAT(clash.error().message, Contains("keep one of them"));
    auto wrong = channel_capabilities(core::Json{{"reasoning_on_tool_turns", "yes"}}, "ds");
    REQUIRE_FALSE(wrong.ok());
    CHECK_THAT(wrong.error().message, Contains("write true or false"));
}
