#pragma once
// Scripted plugin::Model doubles and a settable clock, so upstream tests need no network.

#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "plugin/request_access.hpp"
#include "upstream/channel_selection.hpp"

namespace tianshu::testing {

using namespace tianshu;

//! One scripted answer: fail with `kind` (as an adapter would, ctx.upstream_error set),
//! optionally after emitting some text first; or answer when `kind` is empty.
struct Step {
    std::optional<core::ErrorKind> kind;
    int retry_after_seconds = 0;
    bool emit_first = false;
    std::string message = "scripted failure";
};

inline Step fail(core::ErrorKind kind, int retry_after = 0) {
    return Step{kind, retry_after, false, "scripted failure"};
}

//! Who was called, in order, across every model of a test.
struct CallJournal {
    std::mutex mutex;
    std::vector<std::string> calls;  //!< model names
    void add(const std::string& name) {
        std::lock_guard lock(mutex);
        calls.push_back(name);
    }
};

//! A model that plays its script, one step per call, then answers every later call.
struct ScriptedModel : plugin::Model {
    explicit ScriptedModel(std::string name, std::vector<Step> steps = {},
                           CallJournal* journal = nullptr)
        : name_(std::move(name)), script_(steps.begin(), steps.end()), journal_(journal) {}

    const std::string& name() const override { return name_; }
    core::Result<void> generate(plugin::RequestContext& ctx) override {
        Step step;
        {
            std::lock_guard lock(mutex_);
            ++calls_;
            asked_models_.push_back(ctx.request.model);
            if (!script_.empty()) {
                step = script_.front();
                script_.pop_front();
            } else if (always_) {
                step = *always_;
            }
        }
        if (journal_) journal_->add(name_);
        plugin::ModelOutput out(ctx);
        if (step.emit_first || !step.kind) {
            auto sent = out.text("answer from " + name_);
            if (!sent) return sent.take_error();
        }
        if (!step.kind) return {};
        core::Error e{*step.kind, "channel '" + ctx.channel + "': " + step.message, {}};
        e.retry_after_seconds = step.retry_after_seconds;
        ctx.upstream_error = e;
        return e;
    }

    //! Every call after the script plays this step.
    void always(Step step) {
        std::lock_guard lock(mutex_);
        always_ = std::move(step);
    }
    int calls() {
        std::lock_guard lock(mutex_);
        return calls_;
    }
    std::vector<std::string> asked_models() {
        std::lock_guard lock(mutex_);
        return asked_models_;
    }

  private:
    std::string name_;
    std::mutex mutex_;
    std::deque<Step> script_;
    std::optional<Step> always_;
    CallJournal* journal_;
    int calls_ = 0;
    std::vector<std::string> asked_models_;
};

//! A clock tests move by hand.
struct FakeClock {
    std::shared_ptr<std::atomic<int64_t>> ms = std::make_shared<std::atomic<int64_t>>(1'000'000);
    void advance(std::chrono::milliseconds d) { ms->fetch_add(d.count()); }
    upstream::BreakerClock clock() const {
        return [ms = ms] {
            return std::chrono::steady_clock::time_point(std::chrono::milliseconds(ms->load()));
        };
    }
};

//! A route over the given models (one key each, ids k1, k2, ...), breakers from `breakers`.
inline upstream::ChannelRoute route(const std::string& channel, int priority, int weight,
                                    std::vector<std::shared_ptr<plugin::Model>> keys,
                                    upstream::CircuitBreakers& breakers,
                                    std::string upstream_model = "") {
    upstream::ChannelRoute r;
    r.channel = channel;
    r.upstream_model = upstream_model.empty() ? channel + "-model" : upstream_model;
    r.priority = priority;
    r.weight = weight;
    r.next_key = std::make_shared<std::atomic<uint32_t>>(0);
    for (size_t i = 0; i < keys.size(); ++i) {
        const std::string id = "k" + std::to_string(i + 1);
        r.keys.push_back(upstream::KeyRoute{id, keys[i], breakers.for_key(channel, id),
                                            std::make_shared<std::atomic<bool>>(false)});
    }
    return r;
}

//! A request context with one user message, as the runner hands it to a model.
inline plugin::RequestContext context_for(const std::string& model) {
    plugin::RequestContext ctx;
    ctx.request_id = "r1";
    ctx.request.model = model;
    ctx.requested_model = model;
    core::Message m;
    m.content.push_back(core::ContentBlock::make_text("hello"));
    ctx.request.messages.push_back(m);
    ctx.emit = [](const core::StreamEvent&) { return true; };
    return ctx;
}

}  // namespace tianshu::testing
