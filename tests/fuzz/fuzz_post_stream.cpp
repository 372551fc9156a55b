// libFuzzer: the input's bytes steer three post stages that rewrite the stream (ABI 1.4) —
// hold, release, discard, drop, insert and replace events, inserted events taken from a table or
// from the input itself — over a well-formed model stream. Whatever they do, the client's stream
// is grammatical, or its last event is an error (and the events before it a grammatical
// prefix), or nothing reached the client.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "core/event_grammar.hpp"
#include "core/log.hpp"
#include "pipeline/runner.hpp"
#include "plugin/request_access.hpp"

using namespace tianshu;
using core::StreamEvent;

namespace {

struct Bytes {
    std::string_view data;
    size_t at = 0;
    uint8_t next() { return at < data.size() ? static_cast<uint8_t>(data[at++]) : 0; }
    std::string_view take(size_t n) {
        n = std::min(n, data.size() - std::min(at, data.size()));
        auto s = data.substr(at, n);
        at += n;
        return s;
    }
};

const char* const kEvents[] = {
    R"({"type":"ping"})",
    R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})",
    R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})",
    R"({"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"t","name":"n","input":{}}})",
    R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"x"}})",
    R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"y"}})",
    R"({"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}})",
    R"({"type":"content_block_stop","index":0})",
    R"({"type":"content_block_stop","index":1})",
    R"({"type":"content_block_stop","index":2})",
    R"({"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":1}})",
    R"({"type":"message_stop"})",
    R"({"type":"message_start","message":{"id":"m","model":"x"}})",
    R"({"type":"error","error":{"type":"api_error","message":"inserted"}})",
};

struct Steered : plugin::Strategy {
    std::string name_;
    Bytes* bytes;
    const std::string& name() const override { return name_; }
    bool wants_stream_events() const override { return true; }
    core::Result<void> on_stream_event(plugin::RequestContext& ctx, StreamEvent& e) override {
        plugin::EventHandle h{&e, ctx.stream_stage};
        for (int n = bytes->next() % 4; n > 0; --n) {
            const uint8_t op = bytes->next();
            switch (op % 10) {
                case 0:
                    (void)plugin::event_drop(h);
                    break;
                case 1:
                    (void)plugin::event_hold(h);
                    break;
                case 2:
                    (void)plugin::held_release(ctx);
                    break;
                case 3:
                    (void)plugin::held_discard(ctx);
                    break;
                case 4:
                    (void)plugin::stream_emit(ctx, kEvents[bytes->next() % std::size(kEvents)]);
                    break;
                case 5:
                    (void)plugin::event_set_json(h, kEvents[bytes->next() % std::size(kEvents)]);
                    break;
                case 6:
                    (void)plugin::stream_emit(ctx, bytes->take(bytes->next() % 64));
                    break;
                case 7:
                    (void)plugin::event_set_text(h, bytes->take(bytes->next() % 8));
                    break;
                case 8:
                    if (op & 0x80)
                        return core::Error{core::ErrorKind::plugin_failure, "steered failure",
                                           name_};
                    break;
                default:
                    break;
            }
        }
        return {};
    }
};

struct Factory : plugin::PluginFactory {
    plugin::PluginInfo info_;
    Bytes* bytes;
    const plugin::PluginInfo& info() const override { return info_; }
    core::Result<std::shared_ptr<plugin::Strategy>> create_strategy(const core::Json&) override {
        auto s = std::make_shared<Steered>();
        s->name_ = info_.name;
        s->bytes = bytes;
        return std::shared_ptr<plugin::Strategy>(s);
    }
    core::Result<std::shared_ptr<plugin::Model>> create_model(const core::Json&) override {
        return core::Error::invalid("not a model");
    }
};

struct Scripted : plugin::Model {
    std::string name_ = "scripted";
    const std::string& name() const override { return name_; }
    core::Result<void> generate(plugin::RequestContext& ctx) override {
        for (const char* json : {kEvents[12], kEvents[1], kEvents[4], kEvents[0], kEvents[4],
                                 kEvents[7], kEvents[10], kEvents[11]}) {
            ctx.started = true;
            if (!ctx.emit(plugin::event_from_json(json).value())) break;
        }
        ctx.finished = true;
        return {};
    }
};

struct Resolver : pipeline::ModelResolver {
    std::shared_ptr<Scripted> model = std::make_shared<Scripted>();
    core::Result<pipeline::ResolvedModel> resolve(const std::string& n) const override {
        return pipeline::ResolvedModel{model, n, "fuzz"};
    }
};

}  // namespace

// The warnings every broken stream logs would cost more than the run itself.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
    core::set_log_level(core::LogLevel::error);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    Bytes bytes{std::string_view(reinterpret_cast<const char*>(data), size)};
    auto factory = std::make_shared<Factory>();
    factory->info_.name = "steered";
    factory->info_.kind = plugin::PluginKind::strategy;
    factory->bytes = &bytes;
    const bool soft = bytes.next() & 1;
    auto lookup = [&](const std::string&) -> std::shared_ptr<plugin::PluginFactory> {
        return factory;
    };
    core::Json stage = {{"plugin", "steered"}, {"on_error", soft ? "continue" : "fail"}};
    core::Json body = {{"id", "fuzz"},
                       {"tiers", {"*"}},
                       {"models", {"*"}},
                       {"routing", {{"mode", "passthrough"}}},
                       {"post", {stage, stage, stage}}};
    auto spec = pipeline::parse_chain(body, lookup);
    if (!spec) std::abort();
    auto chain = pipeline::Chain::build(spec.value(), lookup);
    if (!chain) std::abort();

    Resolver resolver;
    plugin::RequestContext ctx;
    ctx.request_id = "fuzz";
    ctx.request.model = "m";
    std::vector<StreamEvent> client;
    auto r = pipeline::PipelineRunner(resolver).run(ctx, *chain.value(), [&](const StreamEvent& e) {
        client.push_back(e);
        return true;
    });
    core::EventGrammar grammar;
    for (size_t i = 0; i < client.size(); ++i)
        if (!grammar.accept(client[i]).empty()) std::abort();
    if (r.ok() && !grammar.finish().empty()) std::abort();
    if (!r.ok() && !client.empty() && client.back().type != StreamEvent::Type::error) std::abort();
    return 0;
}
