// The model API's side endpoints Claude Code and SDKs call: count_tokens (a local estimate,
// no model call), /v1/models in the caller's protocol, and ?beta=true on /v1/messages.
#include <catch2/catch.hpp>

#include "support/harness.hpp"

using namespace tianshu::it;

namespace {
struct Server {
    TempDir dir{"models"};
    GatewayProcess gw{ServeOptions{dir / "data", builtin_plugins(), source_dir() / "scripts", {}}};
    std::string key() const { return *gw.demo_key(); }
};
}  // namespace

TEST_CASE("count_tokens estimates locally and grows with the conversation") {
    Server s;
    auto small =
        post_json(s.gw.port(), "/v1/messages/count_tokens", anthropic_auth(s.key()),
                  R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]})");
    REQUIRE(small.status == 200);
    auto big_text = std::string(4000, 'x');
    auto big = post_json(
        s.gw.port(), "/v1/messages/count_tokens", anthropic_auth(s.key()),
        R"({"model":"claude-sonnet-4-5","system":"be brief","messages":[{"role":"user","content":")" +
            big_text + R"("}]})");
    REQUIRE(big.status == 200);
    CHECK(small.json()["input_tokens"].get<int>() >= 1);
    CHECK(big.json()["input_tokens"].get<int>() > small.json()["input_tokens"].get<int>() + 500);
    // No model was called: the log has no request line routed to a channel for these.
    for (const auto& line : s.gw.log_lines()) CHECK(line.value("channel", "") == "");

    auto unauthenticated =
        post_json(s.gw.port(), "/v1/messages/count_tokens", {}, R"({"messages":[]})");
    CHECK(unauthenticated.status == 401);
    CHECK(is_anthropic_error(unauthenticated.json()));
    auto bad = post_json(s.gw.port(), "/v1/messages/count_tokens", anthropic_auth(s.key()),
                         R"({"messages":5})");
    CHECK(bad.status == 400);
    CHECK(bad.json()["error"]["message"].get<std::string>().find("messages") != std::string::npos);
}

TEST_CASE("/v1/models lists the channels' models in the caller's protocol") {
    Server s;
    auto headers = anthropic_auth(s.key());
    headers["anthropic-version"] = "2023-06-01";
    auto anthropic = http_request(s.gw.port(), "GET", "/v1/models", headers);
    REQUIRE(anthropic.status == 200);
    auto a = anthropic.json();
    REQUIRE(a["data"].is_array());
    REQUIRE_FALSE(a["data"].empty());
    CHECK(a["data"][0]["type"] == "model");
    CHECK(a["data"][0]["id"] == "demo-model");
    CHECK(a["has_more"] == false);

    auto openai = http_request(s.gw.port(), "GET", "/v1/models", openai_auth(s.key()));
    REQUIRE(openai.status == 200);
    CHECK(openai.json()["object"] == "list");
    CHECK(openai.json()["data"][0]["object"] == "model");
    CHECK(openai.json()["data"][0]["id"] == "demo-model");

    auto no_key = http_request(s.gw.port(), "GET", "/v1/models", {});
    CHECK(no_key.status == 401);
    CHECK(is_openai_error(no_key.json()));
    auto post = post_json(s.gw.port(), "/v1/models", openai_auth(s.key()), "{}");
    CHECK(post.status == 405);
}

TEST_CASE("/v1/messages?beta=true is the same endpoint, and the session id reaches the log") {
    Server s;
    auto headers = anthropic_auth(s.key());
    headers["anthropic-beta"] = "claude-code-20250219";
    headers["X-Claude-Code-Session-Id"] = "session-123";
    auto r = post_json(s.gw.port(), "/v1/messages?beta=true", headers,
                       anthropic_body("claude-sonnet-4-5", "hello"));
    REQUIRE(r.status == 200);
    CHECK(r.json()["type"] == "message");
    auto line = s.gw.wait_for_log([](const Json& l) { return l.value("msg", "") == "request"; });
    REQUIRE(line);
    CHECK((*line)["session"] == "session-123");
}
