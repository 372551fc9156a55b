#include <catch2/catch.hpp>

#include "../pipeline/fake_plugins.hpp"
#include "fake_models.hpp"
#include "upstream/channel_router.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using core::Json;
using upstream::ChannelKey;
using upstream::ChannelRouter;
using upstream::ChannelSpec;
using upstream::FailoverModel;

namespace {

//! A catalog with one model plugin, "fake", whose instances remember the api_key they got.
struct KeyRecordingCatalog {
    FakeCatalog catalog;
    std::shared_ptr<std::vector<std::string>> keys_seen =
        std::make_shared<std::vector<std::string>>();
    KeyRecordingCatalog() {
        auto& f = catalog.add("fake", plugin::PluginKind::model);
        f->make_model = [seen = keys_seen](const Json& config) {
            seen->push_back(config.value("api_key", std::string("<none>")));
            return std::make_shared<ScriptedModel>(config.value("api_key", std::string("none")));
        };
    }
};

ChannelSpec channel(const std::string& name, std::vector<std::string> models, int priority = 0,
                    int weight = 1) {
    ChannelSpec s;
    s.name = name;
    s.type = "fake";
    s.models = std::move(models);
    s.priority = priority;
    s.weight = weight;
    return s;
}

std::shared_ptr<FailoverModel> failover_of(const pipeline::ResolvedModel& resolved) {
    auto f = std::dynamic_pointer_cast<FailoverModel>(resolved.model);
    REQUIRE(f);
    return f;
}

std::vector<std::string> channels_of(const std::vector<upstream::ChannelRoute>& routes) {
    std::vector<std::string> out;
    for (const auto& r : routes) out.push_back(r.channel);
    return out;
}

}  // namespace

TEST_CASE("a model resolves to every channel serving it, highest priority first",
          "[upstream][router]") {
    KeyRecordingCatalog cat;
    auto catchall = channel("catchall", {});
    catchall.model_map = {{"m*", "other"}};
    std::vector<core::Error> problems;
    auto router = ChannelRouter::build(
        {channel("a-low", {"m"}, 0), channel("b-high", {"m"}, 5), channel("c-high", {"m"}, 5),
         channel("d-elsewhere", {"n"}, 9), catchall},
        cat.catalog.lookup(), &problems);
    REQUIRE(problems.empty());

    auto resolved = router->resolve("m");
    REQUIRE(resolved.ok());
    auto routes = failover_of(resolved.value())->routes();
    // Exact names beat the pattern; the catch-all and other models' channels are not asked.
    CHECK(channels_of(routes) == std::vector<std::string>{"b-high", "c-high", "a-low"});
    CHECK(resolved->channel == "b-high");
    CHECK(resolved->upstream_model == "m");

    auto mapped = router->candidates("mx");
    REQUIRE(mapped.ok());
    CHECK(channels_of(mapped.value()) == std::vector<std::string>{"catchall"});
    CHECK(mapped->front().upstream_model == "other");

    auto missing = router->resolve("zzz");
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().kind == core::ErrorKind::not_found);
    CHECK(missing.error().message.find("'zzz'") != std::string::npos);
}

TEST_CASE("among patterns the most specific match wins, and equally specific ones share",
          "[upstream][router]") {
    KeyRecordingCatalog cat;
    auto broad = channel("broad", {});
    broad.model_map = {{"claude-*", "deepseek-chat"}};
    auto narrow = channel("narrow", {}, 0);
    narrow.model_map = {{"claude-*", "x"}, {"claude-haiku-*", "qwen-turbo"}};
    auto twin = channel("twin", {}, 3);
    twin.model_map = {{"claude-haiku-*", "glm-flash"}};
    auto router = ChannelRouter::build({broad, narrow, twin}, cat.catalog.lookup(), nullptr);

    auto haiku = router->candidates("claude-haiku-4");
    REQUIRE(haiku.ok());
    CHECK(channels_of(haiku.value()) == std::vector<std::string>{"twin", "narrow"});
    CHECK(haiku->at(1).upstream_model == "qwen-turbo");

    auto sonnet = router->candidates("claude-sonnet-4");
    REQUIRE(sonnet.ok());
    CHECK(channels_of(sonnet.value()) == std::vector<std::string>{"broad", "narrow"});
}

TEST_CASE("each enabled key gets its own model instance configured with that key",
          "[upstream][router]") {
    KeyRecordingCatalog cat;
    auto multi = channel("multi", {"m"});
    multi.config = Json{{"api_key", "ignored"}, {"base_url", "http://up"}};
    multi.keys = {ChannelKey{"first", "sk-1", true}, ChannelKey{"off", "sk-off", false},
                  ChannelKey{"second", "sk-2", true}};
    auto plain = channel("plain", {"n"});
    plain.config = Json{{"api_key", "sk-plain"}};
    std::vector<core::Error> problems;
    auto router = ChannelRouter::build({multi, plain}, cat.catalog.lookup(), &problems);
    REQUIRE(problems.empty());
    CHECK(*cat.keys_seen == std::vector<std::string>{"sk-1", "sk-2", "sk-plain"});

    auto routes = router->candidates("m");
    REQUIRE(routes.ok());
    REQUIRE(routes->front().keys.size() == 2);
    CHECK(routes->front().keys[0].key_id == "first");
    CHECK(routes->front().keys[0].model->name() == "sk-1");
    CHECK(routes->front().keys[1].key_id == "second");
    auto single = router->candidates("n");
    REQUIRE(single.ok());
    CHECK(single->front().keys.at(0).key_id == upstream::kDefaultKeyId);
}

TEST_CASE("channels with a bad weight or bad keys are left out with a precise problem",
          "[upstream][router]") {
    KeyRecordingCatalog cat;
    auto zero = channel("zero", {"m"}, 0, 0);
    auto dup = channel("dup", {"m"});
    dup.keys = {ChannelKey{"k", "a", true}, ChannelKey{"k", "b", true}};
    auto noid = channel("noid", {"m"});
    noid.keys = {ChannelKey{"", "a", true}};
    auto off = channel("off", {"m"});
    off.keys = {ChannelKey{"k", "a", false}};
    std::vector<core::Error> problems;
    auto router = ChannelRouter::build({zero, dup, noid, off, channel("fine", {"m"})},
                                       cat.catalog.lookup(), &problems);
    REQUIRE(problems.size() == 4);
    auto mentions = [&](const std::string& what) {
        for (const auto& p : problems)
            if (p.message.find(what) != std::string::npos) return true;
        return false;
    };
    CHECK(mentions("channel 'zero': weight 0 must be at least 1"));
    CHECK(mentions("channel 'dup': key id 'k' appears twice"));
    CHECK(mentions("channel 'noid': key #1 has no id"));
    CHECK(mentions("channel 'off': every key is disabled"));
    auto routes = router->candidates("m");
    REQUIRE(routes.ok());
    CHECK(channels_of(routes.value()) == std::vector<std::string>{"fine"});
}

TEST_CASE("breakers survive a router rebuild when the app shares them", "[upstream][router]") {
    KeyRecordingCatalog cat;
    upstream::RouterServices services;
    services.breakers = std::make_shared<upstream::CircuitBreakers>();
    auto first =
        ChannelRouter::build({channel("a", {"m"})}, cat.catalog.lookup(), nullptr, services);
    auto breaker = first->candidates("m")->front().keys[0].breaker;
    for (int i = 0; i < 5; ++i) breaker->record_failure(breaker->admit());
    REQUIRE(breaker->state() == upstream::BreakerState::open);

    auto second = ChannelRouter::build({channel("a", {"m"}), channel("b", {"m"})},
                                       cat.catalog.lookup(), nullptr, services);
    auto routes = second->candidates("m");
    REQUIRE(routes.ok());
    CHECK(routes->front().keys[0].breaker == breaker);
    CHECK(routes->front().keys[0].breaker->state() == upstream::BreakerState::open);
    CHECK(routes->back().keys[0].breaker->state() == upstream::BreakerState::closed);

    // Without a shared set each router starts with closed breakers.
    auto isolated = ChannelRouter::build({channel("a", {"m"})}, cat.catalog.lookup(), nullptr);
    CHECK(isolated->candidates("m")->front().keys[0].breaker->state() ==
          upstream::BreakerState::closed);
}

TEST_CASE("a model is serving while some channel has a key that is not refused and not resting",
          "[upstream][router]") {
    KeyRecordingCatalog cat;
    upstream::RouterServices services;
    services.breakers = std::make_shared<upstream::CircuitBreakers>();
    auto router =
        ChannelRouter::build({channel("a", {"m"}), channel("b", {"m"}), channel("c", {"solo"})},
                             cat.catalog.lookup(), nullptr, services);
    CHECK(router->serving("m") == std::optional<bool>(true));
    CHECK_FALSE(router->serving("nobody-serves-this"));

    auto routes = router->candidates("m");
    REQUIRE(routes.ok());
    REQUIRE(routes->size() == 2);
    // One channel's breaker opens: the other still serves.
    auto a = routes->front().keys[0].breaker;
    for (int i = 0; i < 5; ++i) a->record_failure(a->admit());
    REQUIRE(a->state() == upstream::BreakerState::open);
    CHECK(router->serving("m") == std::optional<bool>(true));
    // The other's key is refused by its upstream: nothing serves m.
    routes->back().keys[0].disabled->store(true);
    CHECK(router->serving("m") == std::optional<bool>(false));
    // Other models are not affected.
    CHECK(router->serving("solo") == std::optional<bool>(true));
}

TEST_CASE("resolve answers through the failover model end to end", "[upstream][router]") {
    FakeCatalog catalog;
    auto& f = catalog.add("flaky", plugin::PluginKind::model);
    f->make_model = [](const Json& config) {
        auto m = std::make_shared<ScriptedModel>(config.value("label", std::string("?")));
        if (config.value("down", false)) m->always(fail(core::ErrorKind::unavailable));
        return m;
    };
    auto down = channel("down", {"m"}, 5);
    down.type = "flaky";
    down.config = Json{{"label", "down"}, {"down", true}};
    auto up = channel("up", {"m"}, 1);
    up.type = "flaky";
    up.config = Json{{"label", "up"}};
    upstream::RouterServices services;
    services.hooks.sleep = [](std::chrono::milliseconds) {};
    auto router = ChannelRouter::build({down, up}, catalog.lookup(), nullptr, services);
    auto resolved = router->resolve("m");
    REQUIRE(resolved.ok());
    auto ctx = context_for("m");
    REQUIRE(resolved->model->generate(ctx).ok());
    CHECK(ctx.channel == "up");
    CHECK(ctx.started);
}

TEST_CASE("a name reached through a model map is resolved once, and the cache is bounded",
          "[upstream][router]") {
    KeyRecordingCatalog cat;
    auto mapped = channel("mapped", {});
    mapped.model_map = {{"claude-*", "deepseek-chat"}};
    auto router = ChannelRouter::build({mapped}, cat.catalog.lookup(), nullptr);

    auto first = router->resolve("claude-sonnet-4");
    auto again = router->resolve("claude-sonnet-4");
    REQUIRE(first.ok());
    REQUIRE(again.ok());
    // The same failover model both times: matching and building routes happened once.
    CHECK(first->model == again->model);
    CHECK(again->upstream_model == "deepseek-chat");
    CHECK(again->channel == "mapped");
    CHECK(router->resolve("claude-haiku-4")->model != first->model);

    // Clients choose the names: past the bound, names still resolve, each time afresh.
    for (int i = 0; i < 1100; ++i) REQUIRE(router->resolve("claude-x" + std::to_string(i)).ok());
    auto late = router->resolve("claude-late");
    auto late_again = router->resolve("claude-late");
    REQUIRE(late.ok());
    REQUIRE(late_again.ok());
    CHECK(late->model != late_again->model);
    CHECK(late_again->upstream_model == "deepseek-chat");
    // Names cached before the bound was reached stay cached.
    CHECK(router->resolve("claude-sonnet-4")->model == first->model);
    // A name no channel maps is still an error, and is not cached as one.
    CHECK_FALSE(router->resolve("gpt-4o").ok());
}
