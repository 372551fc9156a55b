// The canonical codec (core/request_json) seen directly: round trip, strictness, speed.

#include <catch2/catch.hpp>

#include <chrono>
#include <iostream>

#include "core/request_json.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/json_text.hpp"

using namespace tianshu;
using core::ContentBlock;
using core::Json;
using core::Request;

namespace {

Request rich_request() {
    Request r;
    r.model = "claude-sonnet-4-5";
    r.set_system_text("You are terse.");
    r.system[0].cache_control = Json{{"type", "ephemeral"}};
    core::Message user;
    user.content.push_back(ContentBlock::make_text("read a.txt"));
    ContentBlock image;
    image.type = ContentBlock::Type::image;
    image.source = Json{{"type", "url"}, {"url", "https://example.com/a.png"}};
    user.content.push_back(image);
    core::Message assistant;
    assistant.role = core::Role::assistant;
    ContentBlock thinking;
    thinking.type = ContentBlock::Type::thinking;
    thinking.text = "I should read it.";
    thinking.signature = "sig==";
    assistant.content.push_back(thinking);
    ContentBlock call;
    call.type = ContentBlock::Type::tool_use;
    call.id = "toolu_1";
    call.name = "read";
    call.input = Json{{"path", "a.txt"}};
    assistant.content.push_back(call);
    core::Message result;
    ContentBlock tr;
    tr.type = ContentBlock::Type::tool_result;
    tr.id = "toolu_1";
    tr.is_error = true;
    tr.content.push_back(ContentBlock::make_text("no such file"));
    result.content.push_back(tr);
    r.messages = {user, assistant, result};
    core::Tool tool;
    tool.name = "read";
    tool.description = "Read a file";
    tool.input_schema = Json{{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}};
    tool.extra = Json{{"cache_control", {{"type", "ephemeral"}}}};
    r.tools.push_back(tool);
    r.tool_choice = Json{{"type", "auto"}};
    r.max_tokens = 1024;
    r.temperature = 0.5;
    r.top_p = 0.9;
    r.top_k = 40;
    r.stop_sequences = {"END"};
    r.stream = true;
    r.thinking = Json{{"type", "enabled"}, {"budget_tokens", 2048}};
    r.metadata = Json{{"user_id", "u1"}};
    r.extra = Json{{"service_tier", "auto"}, {"context_management", {{"edits", Json::array()}}}};
    return r;
}

}  // namespace

TEST_CASE("decode(encode(request)) gives the same request") {
    const Request r = rich_request();
    const Json encoded = core::to_json(r);
    auto back = core::request_from_json(encoded);
    REQUIRE(back.ok());
    CHECK(core::to_json(back.value()) == encoded);
    CHECK(back->system_text() == "You are terse.");
    CHECK(back->messages[2].content[0].is_error);
    CHECK(back->extra == r.extra);
    CHECK(*back->top_k == 40);
}

TEST_CASE("decoding by move and by copy agree") {
    const Json encoded = core::to_json(rich_request());
    auto by_copy = core::request_from_json(encoded);
    auto by_move = core::request_from_json(Json(encoded));
    REQUIRE(by_copy.ok());
    REQUIRE(by_move.ok());
    CHECK(core::to_json(by_copy.value()) == core::to_json(by_move.value()));
}

TEST_CASE("every problem of a body is reported, each with its path") {
    const Json body = Json::parse(R"({
        "max_tokens": 0,
        "messages": [{"role": "user", "content": [{"type": "foo"}, {"type": "text"}]}],
        "temperature": "hot"
    })");
    auto r = core::request_from_json(body);
    REQUIRE_FALSE(r.ok());
    const std::string& m = r.error().message;
    CHECK(r.error().kind == core::ErrorKind::invalid_request);
    CHECK_THAT(m, Catch::Contains("model: required"));
    CHECK_THAT(m, Catch::Contains("max_tokens: must be a positive integer"));
    CHECK_THAT(m,
               Catch::Contains(
                   "messages[0].content[0].type: unknown content block type 'foo' (expected text, "
                   "image, tool_use, tool_result, thinking, redacted_thinking)"));
    CHECK_THAT(m, Catch::Contains("messages[0].content[1].text: required for a text block"));
    CHECK_THAT(m, Catch::Contains("temperature: must be a number (got a string)"));
}

TEST_CASE("string content and a string system prompt are one text block each") {
    auto r = core::request_from_json(Json::parse(
        R"({"model":"m","max_tokens":5,"system":"be brief","messages":[{"role":"user","content":"hi"}]})"));
    REQUIRE(r.ok());
    REQUIRE(r->system.size() == 1);
    CHECK(r->system_text() == "be brief");
    REQUIRE(r->messages[0].content.size() == 1);
    CHECK(r->last_user_text() == "hi");
}

TEST_CASE("a body that is not JSON, or nested absurdly deep, is refused with a reason") {
    const auto& codec = protocol::codec_for(protocol::ClientProtocol::anthropic_messages);
    auto bad = codec.decode_request(R"({"model": "m",)");
    REQUIRE_FALSE(bad.ok());
    CHECK_THAT(bad.error().message,
               Catch::StartsWith("request body: not valid JSON: parse error at line 1"));
    auto deep = codec.decode_request(std::string(100000, '[') + std::string(100000, ']'));
    REQUIRE_FALSE(deep.ok());
    CHECK_THAT(deep.error().message, Catch::Contains("nested deeper than"));
}

TEST_CASE("a 75 KB request decodes quickly") {
    // A Claude Code-like request: long system prompt, tools with schemas, a long history.
    Json body = core::to_json(rich_request());
    body["system"][0]["text"] = std::string(20000, 's');
    for (int i = 0; i < 40; ++i) {
        body["tools"].push_back(Json{
            {"name", "tool" + std::to_string(i)},
            {"description", std::string(300, 'd')},
            {"input_schema", {{"type", "object"}, {"properties", {{"a", {{"type", "string"}}}}}}}});
    }
    for (int i = 0; i < 30; ++i) {
        body["messages"].push_back(Json{{"role", "assistant"}, {"content", std::string(400, 'a')}});
        body["messages"].push_back(Json{{"role", "user"}, {"content", std::string(400, 'u')}});
    }
    const std::string text = body.dump();
    REQUIRE(text.size() > 50000);
    const auto& codec = protocol::codec_for(protocol::ClientProtocol::anthropic_messages);
    constexpr int kRuns = 50;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kRuns; ++i) REQUIRE(codec.decode_request(text).ok());
    const auto per_run =
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
            .count() /
        kRuns;
    std::cout << "decode of a " << text.size() / 1024 << " KB Anthropic request: " << per_run
              << " us per request (" << kRuns << " runs)\n";
    // Generous: Debug and sanitizer builds are slow; release figures come from tests/bench.
    CHECK(per_run < 50000.0);
}

TEST_CASE("the depth limit is the same for every body: 256 levels decode, 257 are refused") {
    const auto& codec = protocol::codec_for(protocol::ClientProtocol::anthropic_messages);
    // The limit holds inside any value; metadata takes arbitrary JSON.
    auto nested = [](size_t levels) {  // levels counts the outer object too
        std::string inner = std::string(levels - 2, '[') + std::string(levels - 2, ']');
        return R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],)"
               R"("metadata":{"deep":)" +
               inner + "}}";
    };
    auto ok = codec.decode_request(nested(protocol::kMaxJsonDepth));
    INFO((ok ? "" : ok.error().message));
    CHECK(ok.ok());
    auto refused = codec.decode_request(nested(protocol::kMaxJsonDepth + 1));
    REQUIRE_FALSE(refused.ok());
    CHECK_THAT(refused.error().message, Catch::Contains("nested deeper than 256 levels"));
    // Also when the deep body is broken after the point simdjson gives up.
    auto deep_and_broken = codec.decode_request(std::string(300, '[') + "}");
    REQUIRE_FALSE(deep_and_broken.ok());
    CHECK_THAT(deep_and_broken.error().message, Catch::Contains("nested deeper than"));
}
