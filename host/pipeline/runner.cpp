#include "pipeline/runner.hpp"

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/elapsed.hpp"
#include "core/log.hpp"
#include "pipeline/post_stream.hpp"
#include "plugin/request_access.hpp"

namespace tianshu::pipeline {

using core::Error;
using core::ErrorKind;
using core::StreamEvent;
using plugin::HookOutcome;
using plugin::RequestContext;

namespace {
constexpr int kMaxCallDepth = 3;
//! call_model calls one request (or one call_model call) may make: its budget of side calls.
constexpr size_t kMaxSideCalls = 16;

using Clock = std::chrono::steady_clock;
using core::ms_since;

StreamEvent error_event(const Error& e) {
    StreamEvent ev;
    ev.type = StreamEvent::Type::error;
    ev.error = e;
    return ev;
}
}  // namespace

core::Result<HookOutcome> PipelineRunner::run_pre_stage(RequestContext& ctx, const Chain& chain,
                                                        size_t i) {
    const auto& strategy = chain.pre()[i];
    const StagePolicy& policy = chain.pre_policy(i);
    if (!policy.soft() && !policy.deadline) {
        auto outcome = strategy->on_request(ctx);
        if (!outcome) report_stage_failure(ctx, policy, outcome.error(), failures_);
        return outcome;
    }

    // The request is saved only by the stage's first change (request_access), so a read-only
    // stage costs nothing.
    plugin::RequestUndo undo;
    if (policy.soft()) ctx.undo = &undo;
    const auto saved_deadline = ctx.deadline;
    std::optional<std::chrono::steady_clock::time_point> until;
    if (policy.deadline) {
        // The stage's deadline also bounds call_model inside it.
        until = std::chrono::steady_clock::now() + *policy.deadline;
        ctx.deadline = std::min(saved_deadline, *until);
    }
    auto outcome = strategy->on_request(ctx);
    ctx.undo = nullptr;
    ctx.deadline = saved_deadline;
    if (outcome && !(until && std::chrono::steady_clock::now() >= *until)) return outcome;

    core::Error error = outcome ? stage_overran(policy) : outcome.take_error();
    report_stage_failure(ctx, policy, error, failures_);
    if (!policy.soft()) return error;
    if (undo.saved) {
        ctx.request = std::move(undo.request);
        ctx.answer = std::move(undo.answer);
        ctx.route = std::move(undo.route);
    }
    return HookOutcome::proceed;
}

core::Result<RunSummary> PipelineRunner::run(RequestContext& ctx, const Chain& chain,
                                             const plugin::EventSink& client) {
    RunSummary summary;
    ctx.models = this;
    ctx.chain_id = chain.spec().id;
    if (ctx.requested_model.empty()) ctx.requested_model = ctx.request.model;

    for (size_t i = 0; i < chain.pre().size(); ++i) {
        const auto& strategy = chain.pre()[i];
        const auto stage_started = trace_ ? Clock::now() : Clock::time_point{};
        auto outcome = run_pre_stage(ctx, chain, i);
        if (trace_)
            trace_->push_back({strategy->name(), "pre", chain.pre_policy(i).where,
                               ms_since(stage_started),
                               outcome && outcome.value() == HookOutcome::answered, !outcome});
        if (!outcome) return outcome.take_error();
        if (outcome.value() == HookOutcome::answered) {
            if (!ctx.answer)
                return Error{
                    ErrorKind::plugin_failure,
                    "strategy '" + strategy->name() + "' said it answered but gave no answer",
                    strategy->name()};
            summary.answered_by_strategy = true;
            break;
        }
    }

    // Every event passes post strategies (PostStream), then the assembler (ctx.response), then
    // the client. A chain without stream hooks goes straight to the assembler.
    core::ResponseAssembler assembler;
    std::optional<Error> stage_error;
    auto deliver = [&](const StreamEvent& e) -> bool {
        if (auto r = assembler.add(e); !r) {
            stage_error = r.take_error();
            return false;
        }
        ctx.client_started = true;
        return client(e);
    };
    std::optional<PostStream> post;
    std::vector<double> stream_ms;  // per stream hook, when traced
    if (!chain.stream_hooks().empty()) {
        post.emplace(ctx, chain, failures_, deliver);
        if (trace_) post->time_stages(&stream_ms);
    }
    plugin::EventSink sink = [&](const StreamEvent& event) -> bool {
        if (stage_error) return false;
        if (!post) return deliver(event);
        if (post->push(event)) return true;
        if (post->error() && !stage_error) stage_error = std::move(*post->error());
        return false;
    };

    core::Result<void> produced;
    if (summary.answered_by_strategy) {
        for (const auto& e : core::events_for(*ctx.answer))
            if (!sink(e)) break;
    } else {
        std::string model = ctx.request.model;
        // Managed routing decides when no strategy did: a route decision of rank DEFAULT by
        // the chain, so the header, the log and /metrics say where the request went.
        if (chain.spec().mode == RoutingMode::managed && !ctx.route &&
            model == ctx.requested_model && !chain.spec().routing_model.empty()) {
            model = chain.spec().routing_model;
            ctx.route = plugin::RouteDecision{1, "managed", model, "chain routing model", "chain"};
        }
        auto target = resolver_.resolve(model);
        if (!target) return target.take_error();
        summary.channel = target->channel;
        summary.upstream_model = target->upstream_model;
        ctx.emit = sink;
        const auto model_started = trace_ ? Clock::now() : Clock::time_point{};
        produced = generate(ctx, target.value());
        ctx.emit = nullptr;
        if (trace_) {
            double hooks_ms = 0;
            for (double ms : stream_ms) hooks_ms += ms;
            trace_->push_back({target->channel, "model", target->upstream_model,
                               std::max(0.0, ms_since(model_started) - hooks_ms), false,
                               !produced.ok()});
        }
    }
    if (post && produced.ok() && !stage_error) {
        post->finish();
        if (post->error()) stage_error = std::move(*post->error());
    }
    if (stage_error && produced.ok()) produced = std::move(*stage_error);
    if (!produced.ok()) {
        if (ctx.client_started) client(error_event(produced.error()));
        return produced.take_error();
    }

    ctx.response = assembler.response();
    for (size_t i = 0; i < chain.post().size(); ++i) {
        const auto& strategy = chain.post()[i];
        const bool bypassed = post && post->bypassed(strategy.get());
        const auto end_started = trace_ ? Clock::now() : Clock::time_point{};
        bool failed = bypassed;
        if (!bypassed) {
            if (auto r = strategy->on_response_end(ctx); !r) {
                failed = true;
                core::log(core::LogLevel::warn,
                          "end-of-response hook failed; the client already has its answer",
                          {{"plugin", strategy->name()},
                           {"request_id", ctx.request_id},
                           {"error", r.error().message}});
            }
        }
        if (!trace_) continue;
        double ms = bypassed ? 0.0 : ms_since(end_started);
        for (size_t h = 0; h < chain.stream_hooks().size() && h < stream_ms.size(); ++h)
            if (chain.stream_hooks()[h] == strategy) ms += stream_ms[h];
        trace_->push_back(
            {strategy->name(), "post", chain.post_policy(i).where, ms, false, failed});
    }
    return summary;
}

core::Result<void> PipelineRunner::generate(RequestContext& ctx, const ResolvedModel& target) {
    ctx.request.model = target.upstream_model;
    ctx.channel = target.channel;
    auto r = target.model->generate(ctx);
    if (!r) return r;
    if (!ctx.finished) {
        auto finished = plugin::ModelOutput(ctx).finish(core::StopReason::end_turn, nullptr);
        if (!finished) return finished.take_error();
    }
    return {};
}

core::Result<std::string> PipelineRunner::call(RequestContext& parent, const std::string& model,
                                               const std::string& prompt) {
    if (parent.call_depth >= kMaxCallDepth)
        return Error::invalid(
            "call_model nested more than " + std::to_string(kMaxCallDepth) +
            " levels deep: a model called from call_model may not call further models");
    if (parent.side_calls.size() >= kMaxSideCalls)
        return Error::invalid(
            "call_model budget spent: a request may make at most " + std::to_string(kMaxSideCalls) +
            " side calls; cache answers in session state instead of asking again");
    auto target = resolver_.resolve(model);
    if (!target) return target.take_error();

    RequestContext child;
    child.request.model = model;
    core::Message m;
    m.role = core::Role::user;
    m.content.push_back(core::ContentBlock::make_text(prompt));
    child.request.messages.push_back(std::move(m));
    child.request.max_tokens = 1024;
    child.request_id = parent.request_id + ".call" + std::to_string(parent.call_depth + 1);
    child.requested_model = model;
    child.tier = parent.tier;
    child.chain_id = parent.chain_id;
    child.client_protocol = parent.client_protocol;
    child.deadline = parent.deadline;
    child.models = this;
    child.upstream = parent.upstream;
    child.call_depth = parent.call_depth + 1;

    core::ResponseAssembler assembler;
    std::optional<Error> failure;
    child.emit = [&](const StreamEvent& e) {
        if (auto r = assembler.add(e); !r) {
            failure = r.take_error();
            return false;
        }
        return true;
    };
    auto r = generate(child, target.value());

    // Metered like any call: what the upstream reported, else estimated (never free), billed
    // with the parent request (gateway) together with the calls this one made.
    RequestContext::SideCall side{model, child.channel, assembler.response().usage,
                                  !r || failure.has_value()};
    const std::string text = assembler.response().text();
    if (!side.channel.empty()) {  // an upstream was reached
        if (!side.usage.input_tokens && !side.usage.cache_read_tokens)
            side.usage.input_tokens = plugin::estimate_input_tokens(child.request);
        if (!side.usage.output_tokens && !text.empty())
            side.usage.output_tokens =
                plugin::estimate_tokens_for_bytes(static_cast<int64_t>(text.size()));
    }
    for (auto& nested : child.side_calls) parent.side_calls.push_back(std::move(nested));
    parent.side_calls.push_back(std::move(side));

    if (!r) return r.take_error();
    if (failure) return std::move(*failure);
    return text;
}

}  // namespace tianshu::pipeline
