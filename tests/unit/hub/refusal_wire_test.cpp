// A quota refusal reaches each client in the shape its SDK knows: Anthropic's billing_error and
// OpenAI's insufficient_quota, with HTTP 402 for both.

#include <catch2/catch.hpp>

#include "hub/key_policy.hpp"
#include "protocol/client_codec.hpp"

using namespace tianshu;
using core::Json;
using protocol::ClientProtocol;
using protocol::codec_for;

namespace {

core::Error quota_refusal() {
    hub::KeyLimits k;
    k.key_name = "ci-bot";
    k.user_balance = 0;
    hub::CallRequest call;
    call.model = "deepseek-chat";
    call.reservation = 1;
    hub::RateLimiter limiter;
    auto d = hub::check_call(k, call, limiter);
    REQUIRE(d.refusal.has_value());
    return d.refusal->error;
}

}  // namespace

TEST_CASE("a quota refusal is a 402 billing_error for Anthropic clients") {
    const core::Error e = quota_refusal();
    CHECK(core::http_status(e.kind) == 402);
    CHECK(core::to_string(e.kind) == "insufficient_quota");
    const Json body = Json::parse(codec_for(ClientProtocol::anthropic_messages).error_body(e));
    CHECK(body["type"] == "error");
    CHECK(body["error"]["type"] == "billing_error");
    CHECK(body["error"]["message"] == e.message);
}

TEST_CASE("a quota refusal carries OpenAI's insufficient_quota type and code") {
    const core::Error e = quota_refusal();
    const Json body = Json::parse(codec_for(ClientProtocol::openai_chat).error_body(e));
    CHECK(body["error"]["type"] == "insufficient_quota");
    CHECK(body["error"]["code"] == "insufficient_quota");
    CHECK(body["error"]["message"] == e.message);
}
