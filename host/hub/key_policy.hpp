#pragma once
// The checks an API key passes before a call goes upstream, and the exact words a client reads
// when one fails.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "hub/ip_filter.hpp"
#include "hub/money.hpp"
#include "hub/rate_limiter.hpp"

namespace tianshu::hub {

//! Everything that limits one API key, as the configuration snapshot holds it.
struct KeyLimits {
    std::int64_t key_id = 0;
    std::string key_name;  //!< shown to the client in refusals; never the key itself
    bool user_enabled = true;
    std::optional<RateClock::time_point> expires_at;  //!< none: never expires
    IpFilter ip_filter;                               //!< default: every address
    std::vector<std::string> allowed_models;          //!< glob patterns; empty: every model
    std::int64_t rpm = 0;                             //!< requests per minute; <= 0: unlimited
    std::int64_t tpm = 0;                             //!< tokens per minute; <= 0: unlimited
    std::optional<Micros> key_quota_remaining;  //!< what the key may still spend; none: no cap
    std::optional<Micros> user_balance;         //!< what the user has left; none: not metered
};

//! The call being asked for, as far as it is known before it runs.
struct CallRequest {
    RateClock::time_point now;
    std::string_view client_ip;
    std::string_view model;             //!< the model the client asked for
    std::int64_t estimated_tokens = 0;  //!< prompt estimate + max output, for the TPM limit
    Micros reservation = 0;  //!< estimate_reservation() for this call, checked against quota
};

//! Why a key may not make a call. Each reason has one error kind, status and message shape.
struct Refusal {
    enum class Reason {
        user_disabled,       //!< 403 permission: an administrator disabled the key's owner
        key_expired,         //!< 401 authentication: the key is past expires_at
        ip_not_allowed,      //!< 403 permission: the client address is not allowed
        model_not_allowed,   //!< 403 permission: the model matches none of the key's patterns
        insufficient_quota,  //!< 402 insufficient_quota: the quota or balance cannot cover it
        rate_limited,        //!< 429 rate_limited: RPM or TPM full; retry_after_seconds > 0
    };

    Reason reason;
    core::Error error;  //!< what the client receives, in its protocol's shape
};

//! The bounded name /metrics counts a refusal under (tianshu_refusals_total{reason}):
//! user_disabled, key_expired, ip_not_allowed, model_not_allowed, quota (the key's quota or
//! the owner's balance), rate_limit (RPM or TPM).
std::string_view refusal_reason_name(Refusal::Reason reason);

//! The outcome of check_call: a refusal, or admission with what settling it needs.
struct CallDecision {
    std::optional<Refusal> refusal;
    //! When admitted: pass to RateLimiter::settle_tokens with the call's actual token count.
    RateClock::time_point rate_counted_at{};

    bool admitted() const { return !refusal; }
};

//! Decides whether `limits` let `call` through. Checks run cheapest and most permanent first:
//! owner, expiry, IP, model, quota, and only then the rate limiter, so that a call refused for
//! another reason never takes a slot of the key's rate. On admission the call is counted in
//! `limiter`. Thread-safe.
CallDecision check_call(const KeyLimits& limits, const CallRequest& call, RateLimiter& limiter);

//! "2025-03-01T12:00:00Z": how refusals write times (UTC, whole seconds).
std::string iso_utc(RateClock::time_point t);

}  // namespace tianshu::hub
