// Each protocol's clients get errors in their own shape, with the type their SDK expects.

#include <catch2/catch.hpp>

#include "protocol/client_codec.hpp"
#include "protocol/openai_chat.hpp"

using namespace tianshu;
using core::Error;
using core::ErrorKind;
using core::Json;
using protocol::ClientProtocol;
using protocol::codec_for;

namespace {
const Error kBadField{ErrorKind::invalid_request, "max_tokens: must be a positive integer", {}};
}

TEST_CASE("Anthropic error bodies carry Anthropic's error types") {
    const auto& codec = codec_for(ClientProtocol::anthropic_messages);
    CHECK(
        codec.error_body(kBadField) ==
        R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: must be a positive integer"}})");

    const std::pair<ErrorKind, const char*> kinds[] = {
        {ErrorKind::invalid_request, "invalid_request_error"},
        {ErrorKind::authentication, "authentication_error"},
        {ErrorKind::permission, "permission_error"},
        {ErrorKind::not_found, "not_found_error"},
        {ErrorKind::request_too_large, "request_too_large"},
        {ErrorKind::rate_limited, "rate_limit_error"},
        {ErrorKind::internal, "api_error"},
        {ErrorKind::upstream, "api_error"},
        {ErrorKind::plugin_failure, "api_error"},
        {ErrorKind::timeout, "api_error"},
        {ErrorKind::overloaded, "overloaded_error"},
    };
    for (const auto& [kind, type] : kinds) {
        const Json body = Json::parse(codec.error_body(Error{kind, "m", {}}));
        CHECK(body["type"] == "error");
        CHECK(body["error"]["type"] == type);
        CHECK(body["error"]["message"] == "m");
    }
}

TEST_CASE("OpenAI error bodies are {error: {message, type, param, code}}") {
    const auto& codec = codec_for(ClientProtocol::openai_chat);
    const Json body = Json::parse(codec.error_body(kBadField));
    CHECK(body == Json::parse(R"({"error":{"message":"max_tokens: must be a positive integer",
                                           "type":"invalid_request_error","param":null,"code":null}})"));
    const Json auth =
        Json::parse(codec.error_body(Error{ErrorKind::authentication, "bad key", {}}));
    CHECK(auth["error"]["type"] == "authentication_error");
    CHECK(auth["error"]["code"] == "invalid_api_key");
    const Json limited =
        Json::parse(codec.error_body(Error{ErrorKind::rate_limited, "slow down", {}}));
    CHECK(limited["error"]["code"] == "rate_limit_exceeded");
    const Json upstream =
        Json::parse(codec.error_body(Error{ErrorKind::upstream, "model failed", {}}));
    CHECK(upstream["error"]["type"] == "server_error");
}

TEST_CASE("a mid-stream error is an SSE frame in each protocol's shape") {
    const Error overloaded{ErrorKind::overloaded, "every channel is saturated", {}};
    std::string a;
    codec_for(ClientProtocol::anthropic_messages).stream_encoder()->encode_error(overloaded, a);
    CHECK(a ==
          "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
          "\"message\":\"every channel is saturated\"}}\n\n");

    std::string o;
    codec_for(ClientProtocol::openai_chat).stream_encoder()->encode_error(overloaded, o);
    const std::string done = "\n\ndata: [DONE]\n\n";
    REQUIRE(o.size() > done.size());
    CHECK(o.compare(o.size() - done.size(), done.size(), done) == 0);
    CHECK(o.rfind("data: ", 0) == 0);
    const Json err = Json::parse(o.substr(6, o.size() - 6 - done.size()));
    CHECK(err["error"]["message"] == "every channel is saturated");
    CHECK(err["error"]["param"].is_null());
}

TEST_CASE("error messages with quotes, newlines and broken UTF-8 still give valid JSON") {
    const Error odd{ErrorKind::upstream, "said \"no\"\nthen \xff\xfe stopped", {}};
    for (auto p : {ClientProtocol::anthropic_messages, ClientProtocol::openai_chat}) {
        const Json body = Json::parse(codec_for(p).error_body(odd), nullptr, false);
        REQUIRE_FALSE(body.is_discarded());
    }
}

TEST_CASE("Anthropic stream frames are byte-exact: event line, one compact data line, blank line") {
    auto encoder = codec_for(ClientProtocol::anthropic_messages).stream_encoder();
    std::string out;
    encoder->encode(core::StreamEvent::text_delta(0, "Hi \"you\"\n"), out);
    CHECK(out ==
          "event: content_block_delta\n"
          "data: "
          "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
          "\"text\":\"Hi \\\"you\\\"\\n\"}}\n\n");
}

TEST_CASE("OpenAI chunks open with the assistant role and close with [DONE]") {
    auto encoder = protocol::openai_chat::make_stream_encoder(1700000000);
    core::StreamEvent start;
    start.type = core::StreamEvent::Type::message_start;
    start.message.id = "chatcmpl-1";
    start.message.model = "m";
    std::string out;
    encoder->encode(start, out);
    CHECK(out ==
          "data: "
          "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
          "\"model\":\"m\","
          "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
          "\"logprobs\":null,"
          "\"finish_reason\":null}]}\n\n");
    out.clear();
    core::StreamEvent stop;
    stop.type = core::StreamEvent::Type::message_stop;
    encoder->encode(stop, out);
    CHECK(out == "data: [DONE]\n\n");
}
