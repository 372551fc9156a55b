#include <catch2/catch.hpp>

#include "fake_plugins.hpp"
#include "pipeline/chain.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using core::Json;

namespace {
FakeCatalog catalog_with_prefix_plugin() {
    FakeCatalog cat;
    auto& f = cat.add("prefix", plugin::PluginKind::strategy,
                      R"({"type":"object","additionalProperties":false,"required":["text"],
                          "properties":{"text":{"type":"string"}}})");
    f->make_strategy = [](const Json&) { return std::make_shared<FakeStrategy>(); };
    cat.add("demo", plugin::PluginKind::model);
    return cat;
}

std::string problems_text(const std::vector<pipeline::SchemaProblem>& ps) {
    std::string s;
    for (const auto& p : ps) s += p.to_string() + "\n";
    return s;
}

Json valid_chain() {
    return Json::parse(R"({"id":"c1","tiers":["default"],"models":["claude-*"],
        "routing":{"mode":"passthrough"},"pre":[{"plugin":"prefix","config":{"text":"hi"}}]})");
}
}  // namespace

TEST_CASE("a valid chain has no problems and parses") {
    auto cat = catalog_with_prefix_plugin();
    CHECK(pipeline::validate_chain(valid_chain(), cat.lookup()).empty());
    auto spec = pipeline::parse_chain(valid_chain(), cat.lookup());
    REQUIRE(spec.ok());
    CHECK(spec->id == "c1");
    CHECK(spec->pre.size() == 1);
    CHECK(spec->pre[0].config["text"] == "hi");
}

TEST_CASE("validation reports the path and reason of every problem") {
    auto cat = catalog_with_prefix_plugin();
    Json chain = valid_chain();
    chain["tiers"] = "default";                               // wrong type
    chain["pre"][0]["config"] = Json{{"text", 42}};           // config does not match plugin schema
    chain["post"] = Json::array({Json{{"plugin", "nope"}}});  // unknown plugin
    chain["colour"] = "blue";                                 // unknown field
    auto problems = pipeline::validate_chain(chain, cat.lookup());
    auto text = problems_text(problems);
    INFO(text);
    CHECK(text.find("/tiers:") != std::string::npos);
    CHECK(text.find("/pre/0/config/text:") != std::string::npos);
    CHECK(text.find("config of plugin 'prefix'") != std::string::npos);
    CHECK(text.find("/post/0/plugin: unknown plugin 'nope'") != std::string::npos);
    CHECK(text.find("colour") != std::string::npos);
    auto parsed = pipeline::parse_chain(chain, cat.lookup());
    REQUIRE_FALSE(parsed.ok());
    CHECK(parsed.error().kind == core::ErrorKind::invalid_request);
    CHECK(parsed.error().message.find("4 problems") != std::string::npos);
}

TEST_CASE("a model plugin listed as a strategy is refused with the reason") {
    auto cat = catalog_with_prefix_plugin();
    Json chain = valid_chain();
    chain["pre"] = Json::array({Json{{"plugin", "demo"}}});
    auto text = problems_text(pipeline::validate_chain(chain, cat.lookup()));
    CHECK(text.find("/pre/0/plugin: plugin 'demo' is a model, not a strategy") !=
          std::string::npos);
}

TEST_CASE("missing required fields and bad routing are named") {
    auto cat = catalog_with_prefix_plugin();
    auto text = problems_text(pipeline::validate_chain(
        Json::parse(R"({"id":"Bad Id","routing":{"mode":"fast"}})"), cat.lookup()));
    INFO(text);
    CHECK(text.find("tiers") != std::string::npos);
    CHECK(text.find("models") != std::string::npos);
    CHECK(text.find("/id:") != std::string::npos);
    CHECK(text.find("/routing/mode:") != std::string::npos);
}

TEST_CASE("chain text that is not JSON says where it breaks") {
    auto cat = catalog_with_prefix_plugin();
    auto r = pipeline::parse_chain_text("{\"id\": \"x\",, }", cat.lookup());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("not valid JSON") != std::string::npos);
    CHECK(r.error().message.find("column") != std::string::npos);
}

TEST_CASE("the most specific chain serves a request, by tier and model pattern") {
    auto cat = catalog_with_prefix_plugin();
    auto build = [&](const char* text) {
        auto spec = pipeline::parse_chain(Json::parse(text), cat.lookup());
        REQUIRE(spec.ok());
        auto chain = pipeline::Chain::build(spec.value(), cat.lookup());
        REQUIRE(chain.ok());
        return chain.value();
    };
    pipeline::ChainSet set({
        build(R"({"id":"any","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"}})"),
        build(
            R"({"id":"opus","tiers":["*"],"models":["claude-opus-*"],"routing":{"mode":"passthrough"}})"),
        build(R"({"id":"vip","tiers":["vip"],"models":["*"],"routing":{"mode":"passthrough"}})"),
        build(
            R"({"id":"urgent","priority":5,"tiers":["svip"],"models":["*"],"routing":{"mode":"passthrough"}})"),
    });
    CHECK(set.match("default", "gpt-4o")->spec().id == "any");
    CHECK(set.match("default", "claude-opus-4-1")->spec().id == "opus");
    CHECK(set.match("vip", "gpt-4o")->spec().id == "vip");
    CHECK(set.match("svip", "claude-opus-4-1")->spec().id == "urgent");
    pipeline::ChainSet none({build(
        R"({"id":"only","tiers":["vip"],"models":["x"],"routing":{"mode":"passthrough"}})")});
    CHECK(none.match("default", "x") == nullptr);
}

TEST_CASE("a stage's on_error and deadline_ms are read, checked and defaulted from the plugin") {
    auto cat = catalog_with_prefix_plugin();
    Json body = valid_chain();
    body["pre"][0]["on_error"] = "sometimes";
    body["pre"][0]["deadline_ms"] = 0;
    const std::string problems = problems_text(pipeline::validate_chain(body, cat.lookup()));
    CHECK_THAT(problems, Catch::Contains("/pre/0/on_error"));
    CHECK_THAT(problems, Catch::Contains("/pre/0/deadline_ms"));

    body["pre"][0]["on_error"] = "continue";
    body["pre"][0]["deadline_ms"] = 250;
    auto spec = pipeline::parse_chain(body, cat.lookup());
    REQUIRE(spec.ok());
    auto chain = pipeline::Chain::build(spec.value(), cat.lookup());
    REQUIRE(chain.ok());
    CHECK(chain.value()->pre_policy(0).soft());
    CHECK(chain.value()->pre_policy(0).deadline == std::chrono::milliseconds(250));
    CHECK(chain.value()->pre_policy(0).where == "/pre/0");

    // Unset: "fail", unless the plugin is advisory.
    auto plain = pipeline::Chain::build(pipeline::parse_chain(valid_chain(), cat.lookup()).value(),
                                        cat.lookup());
    REQUIRE(plain.ok());
    CHECK_FALSE(plain.value()->pre_policy(0).soft());
    CHECK_FALSE(plain.value()->pre_policy(0).deadline);
    cat.factories["prefix"]->info_.advisory = true;
    auto advisory = pipeline::Chain::build(
        pipeline::parse_chain(valid_chain(), cat.lookup()).value(), cat.lookup());
    REQUIRE(advisory.ok());
    CHECK(advisory.value()->pre_policy(0).soft());
}
