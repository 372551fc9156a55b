#include "pipeline/post_stream.hpp"

#include <chrono>

#include "core/log.hpp"

namespace tianshu::pipeline {

using core::StreamEvent;
using plugin::StageStream;
using Clock = std::chrono::steady_clock;

PostStream::PostStream(plugin::RequestContext& ctx, const Chain& chain,
                       StageFailureCounter* failures, Deliver deliver)
    : ctx_(ctx),
      chain_(chain),
      failures_(failures),
      deliver_(std::move(deliver)),
      stages_(chain.stream_hooks().size()),
      bypassed_(chain.stream_hooks().size(), 0) {}

bool PostStream::push(const StreamEvent& event) {
    if (error_ || stopped_) return false;
    StreamEvent e = event;
    return run_from(0, e, -1);
}

bool PostStream::run_from(size_t i, StreamEvent& e, int author) {
    const auto& hooks = chain_.stream_hooks();
    for (; i < hooks.size(); ++i) {
        if (bypassed_[i]) continue;
        StageStream& s = stages_[i];
        const StagePolicy& policy = chain_.stream_policy(i);
        s.fate = StageStream::Fate::pass;
        s.replaced = false;
        s.keep_original = policy.soft();
        ctx_.stream_stage = &s;
        core::Result<void> r;
        bool overran = false;
        const auto hook_started = stage_ms_ ? Clock::now() : Clock::time_point{};
        if (policy.deadline) {
            // The stage's deadline also bounds call_model inside it.
            const auto saved = ctx_.deadline;
            const auto until = Clock::now() + *policy.deadline;
            ctx_.deadline = std::min(saved, until);
            r = hooks[i]->on_stream_event(ctx_, e);
            ctx_.deadline = saved;
            overran = Clock::now() >= until;
        } else {
            r = hooks[i]->on_stream_event(ctx_, e);
        }
        if (stage_ms_)
            (*stage_ms_)[i] +=
                std::chrono::duration<double, std::milli>(Clock::now() - hook_started).count();
        ctx_.stream_stage = nullptr;
        if (!r || overran) {
            if (!stage_failed(i, e, overran ? stage_overran(policy) : r.take_error())) return false;
            continue;
        }
        const bool terminal =
            e.type == StreamEvent::Type::message_stop || e.type == StreamEvent::Type::error;
        if (s.original) s.original.reset();
        if (!s.discarded.empty()) s.discarded.clear();
        // The pass-through path: nothing inserted, released, held or replaced.
        if (s.fate == StageStream::Fate::pass && s.out.empty() && !s.replaced &&
            !(terminal && !s.held.empty()))
            continue;

        last_rewriter_ = static_cast<int>(i);
        if (s.replaced) author = static_cast<int>(i);
        if (terminal) {
            // The stream ends here: what the stage still holds goes on (the host never loses
            // an event), before the end.
            if (s.fate == StageStream::Fate::hold) {
                s.held.push_back(std::move(e));
                s.fate = StageStream::Fate::drop;
            }
            for (auto& h : s.held) s.out.push_back({std::move(h), true});
            s.held.clear();
        }
        if (!s.out.empty()) {
            std::vector<StageStream::Out> out;
            out.swap(s.out);
            for (auto& o : out)
                if (!run_from(i + 1, o.event, static_cast<int>(i))) return false;
        }
        switch (s.fate) {
            case StageStream::Fate::pass:
                break;
            case StageStream::Fate::drop:
                return true;
            case StageStream::Fate::hold:
                s.held.push_back(std::move(e));
                return true;
        }
    }
    return leave(e, author);
}

bool PostStream::stage_failed(size_t i, StreamEvent& e, core::Error error) {
    const StagePolicy& policy = chain_.stream_policy(i);
    StageStream& s = stages_[i];
    report_stage_failure(ctx_, policy, error, failures_);
    if (!policy.soft()) {
        error_ = std::move(error);
        return false;
    }
    // As if the stage were not there: the event as it came, what it took from the stream given
    // back in order (released, discarded, still held: one of them holds it all), nothing it
    // inserted in this call; then it is left out.
    bypassed_[i] = 1;
    if (s.original) e = std::move(*s.original);
    std::vector<StreamEvent> back;
    for (auto& o : s.out)
        if (o.released) back.push_back(std::move(o.event));
    for (auto& d : s.discarded) back.push_back(std::move(d));
    for (auto& h : s.held) back.push_back(std::move(h));
    s = StageStream{};
    for (auto& b : back)
        if (!run_from(i + 1, b, -1)) return false;
    return true;
}

bool PostStream::leave(const StreamEvent& e, int author) {
    if (std::string problem = grammar_.accept(e); !problem.empty()) {
        const int blamed = author >= 0 ? author : last_rewriter_;
        if (blamed >= 0) {
            const StagePolicy& p = chain_.stream_policy(static_cast<size_t>(blamed));
            error_ = core::Error{core::ErrorKind::plugin_failure,
                                 "strategy '" + p.plugin + "' (stage " + p.where +
                                     ") broke the stream's event grammar: " + problem +
                                     "; the answer ends here",
                                 p.plugin};
        } else {
            error_ = core::Error{core::ErrorKind::upstream,
                                 "the model's stream broke the event grammar: " + problem,
                                 {}};
        }
        core::log(core::LogLevel::warn, "stream event grammar violated",
                  {{"chain", ctx_.chain_id},
                   {"request_id", ctx_.request_id},
                   {"error", error_->message}});
        return false;
    }
    if (deliver_(e)) return true;
    stopped_ = true;
    return false;
}

void PostStream::finish() {
    if (error_ || stopped_) return;
    if (std::string problem = grammar_.finish(); !problem.empty()) {
        if (last_rewriter_ >= 0) {
            const StagePolicy& p = chain_.stream_policy(static_cast<size_t>(last_rewriter_));
            error_ = core::Error{core::ErrorKind::plugin_failure,
                                 "strategy '" + p.plugin + "' (stage " + p.where +
                                     ") broke the stream's event grammar: " + problem,
                                 p.plugin};
        } else {
            error_ = core::Error{core::ErrorKind::upstream,
                                 "the model's stream broke the event grammar: " + problem,
                                 {}};
        }
    }
}

void PostStream::time_stages(std::vector<double>* ms) {
    stage_ms_ = ms;
    if (ms) ms->assign(chain_.stream_hooks().size(), 0.0);
}

bool PostStream::bypassed(const plugin::Strategy* strategy) const {
    const auto& hooks = chain_.stream_hooks();
    for (size_t i = 0; i < hooks.size(); ++i)
        if (hooks[i].get() == strategy && bypassed_[i]) return true;
    return false;
}

}  // namespace tianshu::pipeline
