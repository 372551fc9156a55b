#include "upstream/failover_model.hpp"

#include <algorithm>
#include <cctype>
#include <thread>

#include "core/fiber.hpp"
#include "core/log.hpp"

namespace tianshu::upstream {

using core::Error;
using core::ErrorKind;
using std::chrono::milliseconds;

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// protocol/openai_upstream maps 401/403/402 to the generic `upstream` kind, so the status in
// its message ("answered HTTP 401: ...") is the only trace of a refused key; the phrases are
// the usual "no balance" answers that arrive as 429 or 402.
bool says_key_refused(const Error& e) {
    const std::string m = lower(e.message);
    for (const char* marker :
         {"answered http 401", "answered http 402", "answered http 403", "insufficient_quota",
          "insufficient balance", "insufficient_balance"})
        if (m.find(marker) != std::string::npos) return true;
    return false;
}

//! Tells a key's breaker what a failed call says about the upstream's health. `counts`: a
//! load failure before any event, the first of this request for the key (or a probe's).
void settle(CircuitBreaker& breaker, Admission admission, FailureVerdict verdict, bool counts,
            bool upstream_answered) {
    if (counts) {
        breaker.record_failure(admission);
    } else if (verdict == FailureVerdict::final && upstream_answered) {
        breaker.record_success(admission);  // it answered, with a 4xx: it is reachable
    } else {
        // A cut stream, a repeated failure, a refused key, a plugin bug: nothing to learn
        // about the upstream's load; a probe gives its slot back.
        breaker.release(admission);
    }
}

void sleep_for(milliseconds wait) {
    core::sleep(wait);  // on a fiber: parks, the carrier serves others
}

}  // namespace

FailureVerdict classify_failure(const Error& error) {
    switch (error.kind) {
        case ErrorKind::authentication:
        case ErrorKind::permission:
        case ErrorKind::insufficient_quota:
            return FailureVerdict::key_refused;
        case ErrorKind::rate_limited:
        case ErrorKind::upstream:
        case ErrorKind::timeout:
        case ErrorKind::unavailable:
        case ErrorKind::overloaded:
            return says_key_refused(error) ? FailureVerdict::key_refused : FailureVerdict::retry;
        default:
            return FailureVerdict::final;
    }
}

FailoverModel::FailoverModel(std::string name, std::vector<ChannelRoute> routes,
                             FailoverPolicy policy, FailoverHooks hooks)
    : name_(std::move(name)),
      routes_(std::move(routes)),
      policy_(policy),
      hooks_(std::move(hooks)) {
    sort_by_priority(routes_);
    policy_.max_attempts = std::max(policy_.max_attempts, 1);
    if (!hooks_.sleep) hooks_.sleep = sleep_for;
    if (!hooks_.random) hooks_.random = thread_random();
}

core::Result<void> FailoverModel::generate(plugin::RequestContext& ctx) {
    FailoverReport report;
    auto result = run(ctx, report);
    ctx.upstream_retries = report.retries;
    ctx.upstream_failovers = report.failovers;
    return result;
}

core::Result<void> FailoverModel::run(plugin::RequestContext& ctx, FailoverReport& report) const {
    ChannelSelection selection(routes_, hooks_.random);
    std::optional<Error> last;
    bool back_off = false;  // whether the last failure asks for a backoff before the next call
    while (report.attempts < policy_.max_attempts) {
        auto pick = selection.next();
        if (!pick) break;
        const auto& route = selection.route(*pick);
        const auto& key = selection.key(*pick);
        if (report.attempts > 0) {
            const milliseconds wait = std::max(
                back_off ? backoff(report.attempts) : milliseconds(0), selection.min_wait(*pick));
            if (std::chrono::steady_clock::now() + wait >= ctx.deadline) {
                if (key.breaker) key.breaker->release(pick->admission);
                break;  // the client's deadline comes first: it gets the last error
            }
            // A zero backoff is still a backoff: the sleeper sees every wait the policy chose.
            if (back_off || wait.count() > 0) hooks_.sleep(wait);
        }
        ++report.attempts;
        report.retries = report.attempts - 1;
        if (report.attempts > 1 && report.channel != route.channel) ++report.failovers;
        report.channel = route.channel;
        report.key_id = key.key_id;
        ctx.request.model = route.upstream_model;
        ctx.channel = route.channel;
        ctx.upstream_proxy = route.proxy;
        ctx.upstream_key_id = key.key_id;
        ctx.upstream_error.reset();

        const auto called = std::chrono::steady_clock::now();
        auto done = key.model->generate(ctx);
        ctx.upstream_ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - called)
                .count();
        if (done) {
            if (key.breaker) key.breaker->record_success(pick->admission);
            return done;
        }
        Error error = done.take_error();
        const FailureVerdict verdict = classify_failure(error);
        if (key.breaker) {
            // A 429 means the upstream is healthy but busy: it is retried elsewhere, and its
            // Retry-After is honoured, but it does not open the breaker (a provider's rate limit
            // would otherwise shut a single-channel model for the whole cool-down).
            const bool counts =
                verdict == FailureVerdict::retry && !ctx.started &&
                error.kind != ErrorKind::rate_limited &&
                (selection.first_failure(*pick) || pick->admission == Admission::probe);
            settle(*key.breaker, pick->admission, verdict, counts, ctx.upstream_error.has_value());
        }
        // Part of the answer already reached the client: another candidate would answer twice.
        if (ctx.started || verdict == FailureVerdict::final) return error;

        if (verdict == FailureVerdict::key_refused) {
            disable_key(route, key, error);
            selection.exclude(*pick);
            back_off = false;  // another key is not slowed by this one's refusal
            // The client's own key is fine: what it sees is a failing upstream (502).
            error.kind = ErrorKind::upstream;
            error.retry_after_seconds = 0;
        } else if (error.retry_after_seconds > 0 &&
                   std::chrono::seconds(error.retry_after_seconds) > policy_.retry_after_cap) {
            selection.exclude(*pick);  // too long to wait for inside one request
            back_off = false;
        } else {
            if (error.retry_after_seconds > 0)
                selection.set_min_wait(*pick, std::chrono::seconds(error.retry_after_seconds));
            back_off = true;
        }
        last = std::move(error);
    }
    if (!last) return nothing_available();
    return std::move(*last);
}

milliseconds FailoverModel::backoff(int retry) const {
    // Full jitter (uniform between zero and the exponential ceiling) spreads the retries of
    // many clients hit by the same outage instead of synchronising them.
    const int doublings = std::clamp(retry - 1, 0, 20);
    const int64_t ceiling =
        std::min<int64_t>(policy_.backoff_cap.count(), policy_.backoff_base.count() << doublings);
    if (ceiling <= 0) return milliseconds(0);
    return milliseconds(static_cast<int64_t>(hooks_.random() % static_cast<uint64_t>(ceiling + 1)));
}

void FailoverModel::disable_key(const ChannelRoute& route, const KeyRoute& key,
                                const Error& error) const {
    // Many requests may see the same refusal at once; only the first one reports it.
    if (key.disabled && key.disabled->exchange(true)) return;
    if (hooks_.on_key_disabled) {
        hooks_.on_key_disabled(route.channel, key.key_id, error.message);
        return;
    }
    core::log(core::LogLevel::error,
              "upstream key disabled: the upstream refused it; fix or replace the channel's key",
              {{"channel", route.channel}, {"key_id", key.key_id}, {"reason", error.message}});
}

Error FailoverModel::nothing_available() const {
    std::string channels;
    milliseconds soonest = milliseconds::max();
    for (const auto& r : routes_) {
        if (!channels.empty()) channels += ", ";
        channels += "'" + r.channel + "'";
        for (const auto& k : r.keys) {
            if (k.disabled && k.disabled->load()) continue;
            if (k.breaker) soonest = std::min(soonest, k.breaker->remaining_cool_down());
        }
    }
    int retry_after = 1;
    if (soonest != milliseconds::max())
        retry_after = static_cast<int>(std::max<int64_t>(1, (soonest.count() + 999) / 1000));
    Error e{ErrorKind::unavailable,
            "model '" + name_ + "': no channel can take the request now (channels " + channels +
                "): their circuits are open after repeated upstream failures or their keys "
                "were refused; retry in " +
                std::to_string(retry_after) +
                " s, and check the channels' keys and upstreams (`tianshu channel list`)",
            {}};
    e.retry_after_seconds = retry_after;
    return e;
}

}  // namespace tianshu::upstream
