#include "hub/key_policy.hpp"

#include <algorithm>
#include <ctime>

#include "core/glob.hpp"

namespace tianshu::hub {

namespace {

//! Refusals list at most this many allowed patterns, so a long allow-list stays readable.
constexpr size_t max_patterns_shown = 10;

CallDecision refuse(Refusal::Reason reason, core::ErrorKind kind, std::string message,
                    int retry_after_seconds = 0) {
    core::Error error{kind, std::move(message), {}};
    error.retry_after_seconds = retry_after_seconds;
    return CallDecision{Refusal{reason, std::move(error)}, {}};
}

std::string key_label(const KeyLimits& limits) {
    return "API key '" + limits.key_name + "'";
}

bool model_allowed(const KeyLimits& limits, std::string_view model) {
    if (limits.allowed_models.empty()) return true;
    for (const auto& pattern : limits.allowed_models)
        if (core::glob_match(pattern, model)) return true;
    return false;
}

std::string pattern_list(const std::vector<std::string>& patterns) {
    std::string out;
    for (size_t i = 0; i < patterns.size() && i < max_patterns_shown; ++i) {
        if (i) out += ", ";
        out += patterns[i];
    }
    if (patterns.size() > max_patterns_shown)
        out += " (and " + std::to_string(patterns.size() - max_patterns_shown) + " more)";
    return out;
}

CallDecision check_money(const KeyLimits& limits, const CallRequest& call) {
    const Micros need = std::max<Micros>(call.reservation, 0);
    if (limits.key_quota_remaining && *limits.key_quota_remaining < need)
        return refuse(Refusal::Reason::insufficient_quota, core::ErrorKind::insufficient_quota,
                      key_label(limits) + " has " + format_money(*limits.key_quota_remaining) +
                          " of quota left, and this call to model '" + std::string(call.model) +
                          "' may cost up to " + format_money(need) +
                          "; ask an administrator to raise the key's quota, or lower max_tokens");
    if (limits.user_balance && *limits.user_balance < need)
        return refuse(Refusal::Reason::insufficient_quota, core::ErrorKind::insufficient_quota,
                      "the account owning " + key_label(limits) + " has a balance of " +
                          format_money(*limits.user_balance) + ", and this call to model '" +
                          std::string(call.model) + "' may cost up to " + format_money(need) +
                          "; top up the balance, or lower max_tokens");
    return {};
}

}  // namespace

std::string_view refusal_reason_name(Refusal::Reason reason) {
    switch (reason) {
        case Refusal::Reason::user_disabled:
            return "user_disabled";
        case Refusal::Reason::key_expired:
            return "key_expired";
        case Refusal::Reason::ip_not_allowed:
            return "ip_not_allowed";
        case Refusal::Reason::model_not_allowed:
            return "model_not_allowed";
        case Refusal::Reason::insufficient_quota:
            return "quota";
        case Refusal::Reason::rate_limited:
            return "rate_limit";
    }
    return "other";
}

std::string iso_utc(RateClock::time_point t) {
    const std::time_t seconds = RateClock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[32];
    const size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
    return std::string(text, n);
}

CallDecision check_call(const KeyLimits& limits, const CallRequest& call, RateLimiter& limiter) {
    using R = Refusal::Reason;
    using K = core::ErrorKind;
    if (!limits.user_enabled)
        return refuse(R::user_disabled, K::permission,
                      "the account owning " + key_label(limits) +
                          " is disabled; ask an administrator to enable it");
    if (limits.expires_at && call.now >= *limits.expires_at)
        return refuse(R::key_expired, K::authentication,
                      key_label(limits) + " expired at " + iso_utc(*limits.expires_at) +
                          "; create a new key");
    if (!limits.ip_filter.allows(call.client_ip))
        return refuse(R::ip_not_allowed, K::permission,
                      key_label(limits) + " may not be used from IP address " +
                          std::string(call.client_ip) +
                          "; ask the key's owner to allow this address");
    if (!model_allowed(limits, call.model))
        return refuse(R::model_not_allowed, K::permission,
                      "model '" + std::string(call.model) + "' is not allowed for " +
                          key_label(limits) +
                          "; allowed models: " + pattern_list(limits.allowed_models));
    if (auto money = check_money(limits, call); !money.admitted()) return money;

    const RateDecision rate =
        limiter.admit(limits.key_id, limits.rpm, limits.tpm, call.estimated_tokens, call.now);
    if (rate.admitted()) return CallDecision{std::nullopt, rate.counted_at};
    const bool by_requests = rate.refused_by == RateDecision::Limit::requests;
    return refuse(R::rate_limited, K::rate_limited,
                  key_label(limits) + " reached its limit of " +
                      std::to_string(by_requests ? limits.rpm : limits.tpm) +
                      (by_requests ? " requests" : " tokens") + " per minute; retry after " +
                      std::to_string(rate.retry_after_seconds) + " s",
                  rate.retry_after_seconds);
}

}  // namespace tianshu::hub
