#include "hub/key_policy.hpp"

#include <catch2/catch.hpp>

#include "core/error.hpp"

using namespace tianshu::hub;
using std::chrono::seconds;
using tianshu::core::ErrorKind;
using tianshu::core::http_status;

namespace {

// 2023-11-14T22:13:20Z
const RateClock::time_point t0 = RateClock::time_point(seconds(1'700'000'000));

KeyLimits open_key() {
    KeyLimits k;
    k.key_id = 11;
    k.key_name = "ci-bot";
    return k;
}

CallRequest call(std::string_view model = "deepseek-chat", std::string_view ip = "203.0.113.9") {
    CallRequest c;
    c.now = t0;
    c.client_ip = ip;
    c.model = model;
    c.estimated_tokens = 100;
    c.reservation = 5000;
    return c;
}

Refusal refused(const KeyLimits& k, const CallRequest& c) {
    RateLimiter limiter;
    auto r = check_call(k, c, limiter).refusal;
    REQUIRE(r.has_value());
    return *r;
}

}  // namespace

TEST_CASE("a key with no limits admits the call") {
    RateLimiter limiter;
    CHECK_FALSE(check_call(open_key(), call(), limiter).refusal.has_value());
    auto k = open_key();
    k.tpm = 1000;
    CallRequest c = call();
    c.now = t0 + std::chrono::milliseconds(2500);
    auto d = check_call(k, c, limiter);
    REQUIRE(d.admitted());
    CHECK(d.rate_counted_at == t0 + seconds(2));
    limiter.settle_tokens(k.key_id, c.estimated_tokens, 40, d.rate_counted_at, c.now);
    CHECK(limiter.usage(k.key_id, c.now).tokens == 40);
}

TEST_CASE("times in refusals are ISO 8601 UTC") {
    CHECK(iso_utc(t0) == "2023-11-14T22:13:20Z");
    CHECK(iso_utc(RateClock::time_point(seconds(0))) == "1970-01-01T00:00:00Z");
}

TEST_CASE("a disabled owner is refused with 403 permission") {
    auto k = open_key();
    k.user_enabled = false;
    auto r = refused(k, call());
    CHECK(r.reason == Refusal::Reason::user_disabled);
    CHECK(r.error.kind == ErrorKind::permission);
    CHECK(http_status(r.error.kind) == 403);
    CHECK(r.error.message ==
          "the account owning API key 'ci-bot' is disabled; ask an administrator to enable it");
}

TEST_CASE("an expired key is refused with 401, naming the key and the expiry time") {
    auto k = open_key();
    k.expires_at = t0 - seconds(3600);
    auto r = refused(k, call());
    CHECK(r.reason == Refusal::Reason::key_expired);
    CHECK(r.error.kind == ErrorKind::authentication);
    CHECK(http_status(r.error.kind) == 401);
    CHECK(r.error.message == "API key 'ci-bot' expired at 2023-11-14T21:13:20Z; create a new key");
    // Expiry is exclusive of the instant itself: at expires_at the key is already expired.
    k.expires_at = t0;
    CHECK(refused(k, call()).reason == Refusal::Reason::key_expired);
    k.expires_at = t0 + seconds(1);
    RateLimiter limiter;
    CHECK_FALSE(check_call(k, call(), limiter).refusal.has_value());
}

TEST_CASE("a client address outside the filter is refused with 403, naming only that address") {
    auto k = open_key();
    k.ip_filter = IpFilter::build({"10.0.0.0/8", "192.168.0.0/16"}, {}).value();
    auto r = refused(k, call("deepseek-chat", "203.0.113.9"));
    CHECK(r.reason == Refusal::Reason::ip_not_allowed);
    CHECK(r.error.kind == ErrorKind::permission);
    CHECK(r.error.message ==
          "API key 'ci-bot' may not be used from IP address 203.0.113.9; ask the key's owner to "
          "allow this address");
    CHECK(r.error.message.find("10.0.0.0") == std::string::npos);  // no list dump
    RateLimiter limiter;
    CHECK_FALSE(check_call(k, call("deepseek-chat", "10.1.2.3"), limiter).refusal.has_value());
}

TEST_CASE("a model outside the allow-list is refused with 403, naming the model and patterns") {
    auto k = open_key();
    k.allowed_models = {"deepseek-*", "qwen-max"};
    auto r = refused(k, call("gpt-4o"));
    CHECK(r.reason == Refusal::Reason::model_not_allowed);
    CHECK(r.error.kind == ErrorKind::permission);
    CHECK(r.error.message ==
          "model 'gpt-4o' is not allowed for API key 'ci-bot'; allowed models: deepseek-*, "
          "qwen-max");
    RateLimiter limiter;
    CHECK_FALSE(check_call(k, call("deepseek-reasoner"), limiter).refusal.has_value());
    CHECK_FALSE(check_call(k, call("qwen-max"), limiter).refusal.has_value());
    CHECK(check_call(k, call("qwen-max-latest"), limiter).refusal.has_value());

    k.allowed_models.clear();
    for (int i = 0; i < 12; ++i) k.allowed_models.push_back("m" + std::to_string(i));
    CHECK_THAT(refused(k, call("x")).error.message, Catch::EndsWith("m8, m9 (and 2 more)"));
}

TEST_CASE("a call the key's quota cannot cover is refused with 402 insufficient_quota") {
    auto k = open_key();
    k.key_quota_remaining = 4999;
    auto r = refused(k, call());  // reservation 5000
    CHECK(r.reason == Refusal::Reason::insufficient_quota);
    CHECK(r.error.kind == ErrorKind::insufficient_quota);
    CHECK(http_status(r.error.kind) == 402);
    CHECK(r.error.message ==
          "API key 'ci-bot' has 0.004999 of quota left, and this call to model 'deepseek-chat' "
          "may cost up to 0.005000; ask an administrator to raise the key's quota, or lower "
          "max_tokens");
    k.key_quota_remaining = 5000;
    RateLimiter limiter;
    CHECK_FALSE(check_call(k, call(), limiter).refusal.has_value());
}

TEST_CASE("a call the user's balance cannot cover is refused with 402, naming the balance") {
    auto k = open_key();
    k.user_balance = -2'000'000;
    auto r = refused(k, call());
    CHECK(r.reason == Refusal::Reason::insufficient_quota);
    CHECK(r.error.kind == ErrorKind::insufficient_quota);
    CHECK(r.error.message ==
          "the account owning API key 'ci-bot' has a balance of -2.000000, and this call to "
          "model 'deepseek-chat' may cost up to 0.005000; top up the balance, or lower "
          "max_tokens");
}

TEST_CASE("a full rate window is refused with 429 and a retry-after") {
    auto k = open_key();
    k.rpm = 2;
    RateLimiter limiter;
    CallRequest c = call();
    REQUIRE_FALSE(check_call(k, c, limiter).refusal.has_value());
    c.now = t0 + seconds(20);
    REQUIRE_FALSE(check_call(k, c, limiter).refusal.has_value());
    c.now = t0 + seconds(30);
    auto r = check_call(k, c, limiter).refusal;
    REQUIRE(r.has_value());
    CHECK(r->reason == Refusal::Reason::rate_limited);
    CHECK(r->error.kind == ErrorKind::rate_limited);
    CHECK(http_status(r->error.kind) == 429);
    CHECK(r->error.retry_after_seconds == 30);
    CHECK(r->error.message ==
          "API key 'ci-bot' reached its limit of 2 requests per minute; retry after 30 s");

    auto t = open_key();
    t.tpm = 150;
    RateLimiter tokens;
    REQUIRE_FALSE(check_call(t, call(), tokens).refusal.has_value());
    auto tr = check_call(t, call(), tokens).refusal;
    REQUIRE(tr.has_value());
    CHECK(tr->error.retry_after_seconds == 60);
    CHECK(tr->error.message ==
          "API key 'ci-bot' reached its limit of 150 tokens per minute; retry after 60 s");
}

TEST_CASE("a call refused for another reason takes no slot of the key's rate") {
    auto k = open_key();
    k.rpm = 1;
    k.allowed_models = {"deepseek-*"};
    k.key_quota_remaining = 10'000;
    RateLimiter limiter;
    for (int i = 0; i < 5; ++i) CHECK(check_call(k, call("gpt-4o"), limiter).refusal.has_value());
    CallRequest dear = call();
    dear.reservation = 20'000;
    CHECK(check_call(k, dear, limiter).refusal->reason == Refusal::Reason::insufficient_quota);
    CHECK(limiter.usage(k.key_id, t0).requests == 0);
    CHECK_FALSE(check_call(k, call(), limiter).refusal.has_value());
    CHECK(check_call(k, call(), limiter).refusal->reason == Refusal::Reason::rate_limited);
}

TEST_CASE("checks run in a fixed order: owner, expiry, IP, model, quota, rate") {
    auto k = open_key();
    k.user_enabled = false;
    k.expires_at = t0 - seconds(1);
    k.ip_filter = IpFilter::build({"10.0.0.0/8"}, {}).value();
    k.allowed_models = {"none"};
    k.key_quota_remaining = 0;
    using R = Refusal::Reason;
    CHECK(refused(k, call()).reason == R::user_disabled);
    k.user_enabled = true;
    CHECK(refused(k, call()).reason == R::key_expired);
    k.expires_at.reset();
    CHECK(refused(k, call()).reason == R::ip_not_allowed);
    k.ip_filter = IpFilter{};
    CHECK(refused(k, call()).reason == R::model_not_allowed);
    k.allowed_models.clear();
    CHECK(refused(k, call()).reason == R::insufficient_quota);
}
