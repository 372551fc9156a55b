#include <catch2/catch.hpp>

#include <atomic>
#include <thread>

#include "fake_plugins.hpp"
#include "pipeline/runner.hpp"
#include "pipeline/runtime_config.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using core::Json;
using plugin::HookOutcome;
using plugin::RequestContext;

namespace {
//! Serves every model with one EchoModel; remembers which upstream name it was asked for.
struct OneModelResolver : pipeline::ModelResolver {
    std::shared_ptr<EchoModel> model = std::make_shared<EchoModel>();
    core::Result<pipeline::ResolvedModel> resolve(const std::string& name) const override {
        if (name == "missing")
            return core::Error{core::ErrorKind::not_found, "no channel serves 'missing'", {}};
        return pipeline::ResolvedModel{model, name, "test"};
    }
};

RequestContext request_for(const std::string& model, const std::string& user_text) {
    RequestContext ctx;
    ctx.request_id = "r1";
    ctx.request.model = model;
    core::Message m;
    m.content.push_back(core::ContentBlock::make_text(user_text));
    ctx.request.messages.push_back(m);
    return ctx;
}

std::shared_ptr<const pipeline::Chain> chain_of(FakeCatalog& cat, const std::string& json) {
    auto spec = pipeline::parse_chain(Json::parse(json), cat.lookup());
    REQUIRE(spec.ok());
    auto chain = pipeline::Chain::build(spec.value(), cat.lookup());
    if (!chain) FAIL(chain.error().message);
    return chain.value();
}

struct Collected {
    std::vector<core::StreamEvent> events;
    core::ResponseAssembler assembler;
    plugin::EventSink sink() {
        return [this](const core::StreamEvent& e) {
            events.push_back(e);
            (void)assembler.add(e);
            return true;
        };
    }
};
}  // namespace

TEST_CASE(
    "pre strategies rewrite the request and choose the model, post strategies see every event") {
    FakeCatalog cat;
    cat.add("pick", plugin::PluginKind::strategy)->make_strategy = [](const Json& cfg) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "pick";
        std::string target = cfg.value("model", "");
        s->pre = [target](RequestContext& c) -> core::Result<HookOutcome> {
            c.request.set_system_text("rewritten");
            c.request.model = target;
            return HookOutcome::proceed;
        };
        return s;
    };
    std::string seen_at_end;
    cat.add("shout", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "shout";
        s->event = [](RequestContext&, core::StreamEvent& e) -> core::Result<void> {
            for (auto& ch : e.text)
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            return {};
        };
        s->end = [&seen_at_end](RequestContext& c) -> core::Result<void> {
            seen_at_end = c.response.text();
            return {};
        };
        return s;
    };
    auto chain =
        chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},
        "pre":[{"plugin":"pick","config":{"model":"cheap-model"}}],"post":[{"plugin":"shout"}]})");
    OneModelResolver resolver;
    resolver.model->prefix = "you said: ";
    auto ctx = request_for("claude-sonnet-4", "hello");
    Collected out;
    pipeline::PipelineRunner runner(resolver);
    auto summary = runner.run(ctx, *chain, out.sink());
    REQUIRE(summary.ok());
    CHECK(summary->upstream_model == "cheap-model");
    CHECK(ctx.request.system_text() == "rewritten");
    CHECK(ctx.requested_model == "claude-sonnet-4");
    REQUIRE(out.assembler.finished());
    CHECK(out.assembler.response().text() == "YOU SAID: HELLO");
    CHECK(seen_at_end == "YOU SAID: HELLO");
    CHECK(out.events.front().type == core::StreamEvent::Type::message_start);
    CHECK(out.events.back().type == core::StreamEvent::Type::message_stop);
}

TEST_CASE("a strategy that answers directly skips the model") {
    FakeCatalog cat;
    cat.add("cache", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->pre = [](RequestContext& c) -> core::Result<HookOutcome> {
            plugin::answer_text(c, "from cache");
            return HookOutcome::answered;
        };
        return s;
    };
    auto chain =
        chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},
        "pre":[{"plugin":"cache"}]})");
    OneModelResolver resolver;
    resolver.model->prefix = "MODEL WAS CALLED";
    auto ctx = request_for("m", "q");
    Collected out;
    auto summary = pipeline::PipelineRunner(resolver).run(ctx, *chain, out.sink());
    REQUIRE(summary.ok());
    CHECK(summary->answered_by_strategy);
    CHECK(out.assembler.response().text() == "from cache");
}

TEST_CASE("a traced run times each block: pre, the model without the stream hooks, post") {
    using namespace std::chrono_literals;
    FakeCatalog cat;
    cat.add("slow_pre", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "slow_pre";
        s->pre = [](RequestContext&) -> core::Result<HookOutcome> {
            std::this_thread::sleep_for(5ms);
            return HookOutcome::proceed;
        };
        return s;
    };
    int events = 0;
    cat.add("slow_post", plugin::PluginKind::strategy)->make_strategy = [&events](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->name_ = "slow_post";
        s->event = [&events](RequestContext&, core::StreamEvent&) -> core::Result<void> {
            ++events;
            std::this_thread::sleep_for(2ms);
            return {};
        };
        return s;
    };
    auto chain =
        chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},
        "pre":[{"plugin":"slow_pre"}],"post":[{"plugin":"slow_post"}]})");
    OneModelResolver resolver;
    auto ctx = request_for("m", "hello there");
    Collected out;
    pipeline::BlockTrace trace;
    pipeline::PipelineRunner runner(resolver);
    runner.trace_blocks(&trace);
    REQUIRE(runner.run(ctx, *chain, out.sink()).ok());
    REQUIRE(trace.size() == 3);
    CHECK(trace[0].name == "slow_pre");
    CHECK(trace[0].kind == "pre");
    CHECK(trace[0].where == "/pre/0");
    CHECK(trace[0].ms >= 5.0);
    CHECK(trace[1].name == "test");  // the channel
    CHECK(trace[1].kind == "model");
    CHECK(trace[1].where == "m");
    CHECK(trace[2].name == "slow_post");
    CHECK(trace[2].kind == "post");
    REQUIRE(events >= 3);
    CHECK(trace[2].ms >= 2.0 * events);
    // The model's time leaves out what the stream hook took on its events.
    CHECK(trace[1].ms < 2.0 * events);
    for (const auto& b : trace) CHECK_FALSE(b.failed);

    SECTION("a pre block that answers is marked, and no model block follows") {
        FakeCatalog answering;
        answering.add("cache", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
            auto s = std::make_shared<FakeStrategy>();
            s->name_ = "cache";
            s->pre = [](RequestContext& c) -> core::Result<HookOutcome> {
                plugin::answer_text(c, "from cache");
                return HookOutcome::answered;
            };
            return s;
        };
        auto cached = chain_of(answering, R"({"id":"c","tiers":["*"],"models":["*"],
            "routing":{"mode":"passthrough"},"pre":[{"plugin":"cache"}]})");
        pipeline::BlockTrace answered;
        pipeline::PipelineRunner traced(resolver);
        traced.trace_blocks(&answered);
        auto ctx2 = request_for("m", "q");
        Collected out2;
        REQUIRE(traced.run(ctx2, *cached, out2.sink()).ok());
        REQUIRE(answered.size() == 1);  // no model ran
        CHECK(answered[0].answered);
    }
}

TEST_CASE("managed routing uses the chain's model unless a strategy picked one") {
    FakeCatalog cat;
    auto chain = chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],
        "routing":{"mode":"managed","model":"house-model"}})");
    OneModelResolver resolver;
    auto ctx = request_for("claude-opus-4", "q");
    Collected out;
    auto summary = pipeline::PipelineRunner(resolver).run(ctx, *chain, out.sink());
    REQUIRE(summary.ok());
    CHECK(summary->upstream_model == "house-model");
}

TEST_CASE("errors before any output reach the caller, not the client") {
    FakeCatalog cat;
    cat.add("fail", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->pre = [](RequestContext&) -> core::Result<HookOutcome> {
            return core::Error{core::ErrorKind::plugin_failure, "plugin 'fail' failed", "fail"};
        };
        return s;
    };
    auto chain =
        chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},
        "pre":[{"plugin":"fail"}]})");
    OneModelResolver resolver;
    auto ctx = request_for("m", "q");
    Collected out;
    auto r = pipeline::PipelineRunner(resolver).run(ctx, *chain, out.sink());
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == core::ErrorKind::plugin_failure);
    CHECK(out.events.empty());
    CHECK_FALSE(ctx.client_started);

    auto chain2 = chain_of(
        cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"}})");
    auto ctx2 = request_for("missing", "q");
    auto r2 = pipeline::PipelineRunner(resolver).run(ctx2, *chain2, out.sink());
    REQUIRE_FALSE(r2.ok());
    CHECK(r2.error().kind == core::ErrorKind::not_found);
}

TEST_CASE("a failure after output began reaches the client as an error event, never a silent cut") {
    FakeCatalog cat;
    cat.add("break", plugin::PluginKind::strategy)->make_strategy = [](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->event = [](RequestContext&, core::StreamEvent& e) -> core::Result<void> {
            if (e.type == core::StreamEvent::Type::content_block_delta)
                return core::Error{core::ErrorKind::plugin_failure, "broke mid-stream", "break"};
            return {};
        };
        return s;
    };
    auto chain =
        chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},
        "post":[{"plugin":"break"}]})");
    OneModelResolver resolver;
    auto ctx = request_for("m", "q");
    Collected out;
    auto r = pipeline::PipelineRunner(resolver).run(ctx, *chain, out.sink());
    REQUIRE_FALSE(r.ok());
    REQUIRE_FALSE(out.events.empty());
    CHECK(out.events.back().type == core::StreamEvent::Type::error);
    CHECK(out.events.back().error.message == "broke mid-stream");
}

TEST_CASE("call_model asks another model under the parent's request and bounds nesting") {
    FakeCatalog cat;
    std::string classification;
    cat.add("classify", plugin::PluginKind::strategy)->make_strategy = [&](const Json&) {
        auto s = std::make_shared<FakeStrategy>();
        s->pre = [&](RequestContext& c) -> core::Result<HookOutcome> {
            auto r = c.models->call(c, "small-model", "classify: " + c.request.last_user_text());
            if (!r) return r.take_error();
            classification = r.value();
            return HookOutcome::proceed;
        };
        return s;
    };
    auto chain =
        chain_of(cat, R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},
        "pre":[{"plugin":"classify"}]})");
    OneModelResolver resolver;
    auto ctx = request_for("m", "fix my code");
    Collected out;
    pipeline::PipelineRunner runner(resolver);
    REQUIRE(runner.run(ctx, *chain, out.sink()).ok());
    CHECK(classification == "classify: fix my code");
    RequestContext deep = request_for("m", "q");
    deep.call_depth = 3;
    CHECK_FALSE(runner.call(deep, "m", "x").ok());
}

TEST_CASE("replacing the configuration is atomic: each request runs wholly under one version") {
    // Version A and version B each tag the request in the pre hook and check, in the stream
    // hook, that the tag they see is their own. A request that mixed versions would show a
    // mismatch.
    FakeCatalog cat;
    cat.add("tag", plugin::PluginKind::strategy)->make_strategy = [](const Json& cfg) {
        auto s = std::make_shared<FakeStrategy>();
        std::string tag = cfg.at("tag");
        s->pre = [tag](RequestContext& c) -> core::Result<HookOutcome> {
            c.request.set_system_text(tag);
            return HookOutcome::proceed;
        };
        s->event = [tag](RequestContext& c, core::StreamEvent& e) -> core::Result<void> {
            if (e.type == core::StreamEvent::Type::content_block_delta)
                e.text = (c.request.system_text() == tag ? "same:" : "MIXED:") + tag;
            return {};
        };
        return s;
    };
    auto make_config = [&](const char* tag, int64_t revision) {
        std::string json =
            std::string(
                R"({"id":"c","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"},)") +
            R"("pre":[{"plugin":"tag","config":{"tag":")" + tag + R"("}}],)" +
            R"("post":[{"plugin":"tag","config":{"tag":")" + tag + R"("}}]})";
        auto cfg = std::make_shared<pipeline::RuntimeConfig>();
        cfg->chains = std::make_shared<pipeline::ChainSet>(std::vector{chain_of(cat, json)});
        cfg->models = std::make_shared<OneModelResolver>();
        cfg->revision = revision;
        return cfg;
    };
    auto a = make_config("A", 1), b = make_config("B", 2);
    pipeline::RuntimeConfigHolder holder;
    holder.replace(a);

    std::atomic<bool> stop{false};
    std::atomic<int> mixed{0}, saw_a{0}, saw_b{0}, completed{0}, runs{0};
    std::thread swapper([&] {
        for (int i = 0; !stop; ++i) {
            holder.replace(i % 2 ? a : b);
            std::this_thread::yield();
        }
    });
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t)
        clients.emplace_back([&] {
            // 3000 requests each, and on until both versions were seen: on a busy machine the
            // swapper may not run at all while the first 3000 go.
            for (int i = 0; i < 3000 || ((saw_a == 0 || saw_b == 0) && i < 3'000'000); ++i) {
                ++runs;
                auto snapshot = holder.snapshot();
                auto ctx = request_for("m", "q");
                const auto* chain = snapshot->chains->match("default", "m");
                std::string text;
                auto sink = [&](const core::StreamEvent& e) {
                    if (e.type == core::StreamEvent::Type::content_block_delta) text += e.text;
                    return true;
                };
                if (!pipeline::PipelineRunner(*snapshot->models).run(ctx, *chain, sink).ok())
                    continue;
                ++completed;
                if (text.rfind("MIXED", 0) == 0) ++mixed;
                if (text == "same:A") ++saw_a;
                if (text == "same:B") ++saw_b;
            }
        });
    for (auto& c : clients) c.join();
    stop = true;
    swapper.join();
    CHECK(completed == runs);
    CHECK(runs >= 12000);
    CHECK(mixed == 0);
    CHECK(saw_a + saw_b == completed);
    CHECK(saw_a > 0);
    CHECK(saw_b > 0);
}
