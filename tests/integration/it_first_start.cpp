// First start and the two client protocols, through the real binary on loopback:
// the banner shows the secrets once, the demo key gets real answers in both protocols'
// shapes (plain and streamed), the operational endpoints answer, a restart keeps the store
// and prints no secrets; and every request error reaches the client in its own shape.
#include <catch2/catch.hpp>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

size_t occurrences(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

ServeOptions demo_options(const TempDir& tmp) {
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    return o;
}

void check_anthropic_stream(const std::vector<SseEvent>& events) {
    REQUIRE(events.size() >= 5);
    CHECK(events.front().event == "message_start");
    CHECK(events.back().event == "message_stop");
    std::vector<std::string> names;
    for (const auto& e : events) {
        names.push_back(e.event);
        INFO("event " << e.event << ": " << e.data);
        Json j = e.json();
        REQUIRE(j.is_object());
        CHECK(j.value("type", "") == e.event);  // Anthropic repeats the event name in "type"
    }
    auto index_of = [&](const std::string& n) {
        return std::find(names.begin(), names.end(), n) - names.begin();
    };
    CHECK(index_of("content_block_start") < index_of("content_block_delta"));
    CHECK(index_of("content_block_delta") < index_of("content_block_stop"));
    CHECK(index_of("content_block_stop") < index_of("message_delta"));
    CHECK(index_of("message_delta") < index_of("message_stop"));
    Json delta;
    for (const auto& e : events)
        if (e.event == "message_delta") delta = e.json();
    CHECK(delta["delta"].value("stop_reason", "") == "end_turn");
}

void check_openai_stream(const std::vector<SseEvent>& events) {
    REQUIRE(events.size() >= 3);
    CHECK(events.back().data == "[DONE]");
    for (size_t i = 0; i + 1 < events.size(); ++i) {
        INFO("chunk " << i << ": " << events[i].data);
        Json j = events[i].json();
        REQUIRE(j.is_object());
        CHECK(j.value("object", "") == "chat.completion.chunk");
        CHECK(j["choices"].is_array());
        CHECK(events[i].event.empty());
    }
    // The last chunk before [DONE] that carries a finish_reason says "stop".
    std::string finish;
    for (const auto& e : events) {
        Json j = e.json();
        if (j.is_object() && j.contains("choices") && !j["choices"].empty() &&
            j["choices"][0].contains("finish_reason") &&
            j["choices"][0]["finish_reason"].is_string())
            finish = j["choices"][0]["finish_reason"];
    }
    CHECK(finish == "stop");
}

}  // namespace

TEST_CASE("first start: secrets once, demo key answers in both protocols, restart keeps the store",
          "[integration][first_start]") {
    TempDir tmp("first-start");
    auto options = demo_options(tmp);
    std::string key;
    const std::string secret_question = "zebra-ostrich-marker-7731";

    {
        GatewayProcess gw(options);
        INFO("banner:\n" << gw.banner());
        REQUIRE(gw.demo_key());
        REQUIRE(gw.admin_password());
        key = *gw.demo_key();
        CHECK(key.rfind("sk-ts-", 0) == 0);
        CHECK(occurrences(gw.banner(), key) >= 1);
        CHECK(occurrences(gw.banner(), "demo API key:") == 1);
        CHECK(occurrences(gw.banner(), "admin login:") == 1);
        // Secrets never reach the log.
        CHECK_THAT(gw.log_text(), !Contains(key));
        CHECK_THAT(gw.log_text(), !Contains(*gw.admin_password()));

        // Anthropic Messages, not streamed
        auto r = post_json(gw.port(), "/v1/messages", anthropic_auth(key),
                           anthropic_body("claude-sonnet-4-5", "What is " + secret_question + "?"));
        INFO(r.body);
        REQUIRE(r.status == 200);
        Json j = r.json();
        CHECK(j.value("type", "") == "message");
        CHECK(j.value("role", "") == "assistant");
        CHECK(j.value("stop_reason", "") == "end_turn");
        CHECK_THAT(anthropic_text(j), Contains("demo model") && Contains(secret_question));
        CHECK(j["usage"].is_object());

        // OpenAI Chat Completions, not streamed
        r = post_json(gw.port(), "/v1/chat/completions", openai_auth(key),
                      openai_body("gpt-4o", "Hi " + secret_question));
        INFO(r.body);
        REQUIRE(r.status == 200);
        j = r.json();
        CHECK(j.value("object", "") == "chat.completion");
        CHECK(j["choices"][0]["message"].value("role", "") == "assistant");
        CHECK(j["choices"][0].value("finish_reason", "") == "stop");
        CHECK_THAT(openai_text(j), Contains("demo model") && Contains(secret_question));

        // Anthropic streamed: message_start ... message_stop
        int status = 0;
        auto events = stream_all(
            gw.port(), "/v1/messages", anthropic_auth(key),
            anthropic_body("claude-sonnet-4-5", "Stream " + secret_question, true), &status);
        CHECK(status == 200);
        check_anthropic_stream(events);
        CHECK_THAT(anthropic_stream_text(events), Contains(secret_question));

        // OpenAI streamed: chunks, then data: [DONE]
        SseStream s(gw.port(), "/v1/chat/completions", openai_auth(key),
                    openai_body("gpt-4o", "Stream " + secret_question, true));
        CHECK(s.status() == 200);
        CHECK_THAT(s.headers().at("content-type"), Contains("text/event-stream"));
        auto chunks = s.rest();
        check_openai_stream(chunks);
        CHECK_THAT(openai_stream_text(chunks), Contains(secret_question));

        // Operational endpoints.
        auto health = http_request(gw.port(), "GET", "/healthz");
        CHECK(health.status == 200);
        CHECK(health.json().value("status", "") == "ok");
        auto metrics = http_request(gw.port(), "GET", "/metrics");
        CHECK(metrics.status == 200);
        CHECK_THAT(metrics.body, Contains("tianshu_requests_total"));
        CHECK(http_request(gw.port(), "HEAD", "/").status == 200);
        CHECK(http_request(gw.port(), "GET", "/").status == 200);

        // One request line per request, and never the prompt text.
        REQUIRE(eventually([&] { return request_logs(gw).size() >= 4; }, 3s));
        for (const auto& l : request_logs(gw)) {
            CHECK(l.value("status", 0) == 200);
            CHECK(l.value("key", "") == "demo-key");
        }
        CHECK_THAT(gw.log_text(), !Contains(secret_question));
        CHECK(gw.terminate() == 0);
    }

    // Restart on the same store: no secrets printed, the old key still works.
    GatewayProcess again(options);
    INFO("banner:\n" << again.banner());
    CHECK_FALSE(again.demo_key());
    CHECK_FALSE(again.admin_password());
    CHECK_THAT(again.banner(), !Contains("sk-ts-"));
    CHECK_THAT(again.banner(), !Contains("admin login"));
    auto r = post_json(again.port(), "/v1/messages", anthropic_auth(key),
                       anthropic_body("claude-sonnet-4-5", "again"));
    CHECK(r.status == 200);
    r = post_json(again.port(), "/v1/chat/completions", openai_auth(key),
                  openai_body("gpt-4o", "again"));
    CHECK(r.status == 200);
    CHECK(again.terminate() == 0);
}

TEST_CASE("request errors reach the client in its own protocol's shape", "[integration][errors]") {
    TempDir tmp("errors");
    GatewayProcess gw(demo_options(tmp));
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    const int port = gw.port();

    {
        INFO("case: no key: 401");
        auto a = post_json(port, "/v1/messages", {}, anthropic_body("m", "hi"));
        CHECK(a.status == 401);
        CHECK(is_anthropic_error(a.json()));
        CHECK(a.json()["error"].value("type", "") == "authentication_error");
        auto o = post_json(port, "/v1/chat/completions", {}, openai_body("m", "hi"));
        CHECK(o.status == 401);
        CHECK(is_openai_error(o.json()));
    }
    {
        INFO("case: wrong key: 401");
        auto a = post_json(port, "/v1/messages", anthropic_auth("sk-ts-not-a-real-key"),
                           anthropic_body("m", "hi"));
        CHECK(a.status == 401);
        CHECK(is_anthropic_error(a.json()));
        auto o = post_json(port, "/v1/chat/completions", openai_auth("sk-ts-not-a-real-key"),
                           openai_body("m", "hi"));
        CHECK(o.status == 401);
        CHECK(is_openai_error(o.json()));
        // A key sent the other protocol's way works too: the key, not the header, is checked.
        CHECK(post_json(port, "/v1/messages", openai_auth(key), anthropic_body("m", "hi")).status ==
              200);
    }
    {
        INFO("case: malformed JSON: 400");
        auto a = post_json(port, "/v1/messages", anthropic_auth(key), "{\"model\": \"m\", ");
        INFO(a.body);
        CHECK(a.status == 400);
        CHECK(is_anthropic_error(a.json()));
        CHECK(a.json()["error"].value("type", "") == "invalid_request_error");
        auto o = post_json(port, "/v1/chat/completions", openai_auth(key), "not json at all");
        INFO(o.body);
        CHECK(o.status == 400);
        CHECK(is_openai_error(o.json()));
    }
    {
        INFO("case: missing field: 400 naming the field");
        auto a = post_json(port, "/v1/messages", anthropic_auth(key),
                           R"({"model":"m","max_tokens":10})");
        INFO(a.body);
        CHECK(a.status == 400);
        REQUIRE(is_anthropic_error(a.json()));
        CHECK_THAT(a.json()["error"]["message"].get<std::string>(), Contains("messages"));
        auto o = post_json(port, "/v1/chat/completions", openai_auth(key),
                           R"({"messages":[{"role":"user","content":"x"}]})");
        INFO(o.body);
        CHECK(o.status == 400);
        REQUIRE(is_openai_error(o.json()));
        CHECK_THAT(o.json()["error"]["message"].get<std::string>(), Contains("model"));
    }
    {
        INFO("case: unknown route: 404");
        auto a = http_request(port, "GET", "/v1/nothing-here", anthropic_auth(key));
        INFO(a.body);
        CHECK(a.status == 404);
        CHECK(is_anthropic_error(a.json()));
        auto o = post_json(port, "/v1/chat/nothing", openai_auth(key), openai_body("m", "x"));
        INFO(o.body);
        CHECK(o.status == 404);
        CHECK(is_openai_error(o.json()));
    }
    {
        INFO("case: GET on a POST route: 405");
        auto a = http_request(port, "GET", "/v1/messages", anthropic_auth(key));
        INFO(a.body);
        CHECK(a.status == 405);
        CHECK(is_anthropic_error(a.json()));
        auto o = http_request(port, "GET", "/v1/chat/completions", openai_auth(key));
        INFO(o.body);
        CHECK(o.status == 405);
        CHECK(is_openai_error(o.json()));
    }
    // After all that, the server still answers.
    CHECK(post_json(port, "/v1/messages", anthropic_auth(key), anthropic_body("m", "still there?"))
              .status == 200);
    CHECK(gw.terminate() == 0);
}
