// Which session a request belongs to, from requests shaped as the clients send them (decoded by
// the real codecs).
#include <catch2/catch.hpp>

#include "protocol/client_codec.hpp"
#include "server/session_identity.hpp"

using namespace tianshu;
using server::identify_session;
using server::SessionSource;

namespace {

core::Request decode(protocol::ClientProtocol protocol, const std::string& body) {
    auto r = protocol::codec_for(protocol).decode_request(body);
    if (!r) FAIL(r.error().message);
    return std::move(r).value();
}

core::Request anthropic(const std::string& body) {
    return decode(protocol::ClientProtocol::anthropic_messages, body);
}

// metadata.user_id as Claude Code 2.x sends it: a JSON object written into a string.
const std::string kRecentUserId =
    R"({\"device_id\":\"5d1c0b1e8f0c4a7e9b2f6a3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70\",)"
    R"(\"account_uuid\":\"\",\"session_id\":\"0b9f3c2e-6a41-4d8e-9f7a-2c5b1e8d4a60\"})";
// As Claude Code 1.x sent it.
const std::string kOlderUserId =
    "user_5d1c0b1e8f0c4a7e9b2f6a3d4c5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70_account__session_"
    "7e2a9c41-3b5d-4f6e-8a1c-9d0b2e4f6a83";

std::string claude_code_body(const std::string& user_id, const std::string& text) {
    return R"({"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,)"
           R"("system":[{"type":"text","text":"You are Claude Code, Anthropic's official CLI.",)"
           R"("cache_control":{"type":"ephemeral"}}],)"
           R"("messages":[{"role":"user","content":[{"type":"text","text":")" +
           text + R"("}]}],"metadata":{"user_id":")" + user_id + R"("}})";
}

std::string turns(const std::string& system, const std::vector<std::string>& texts) {
    std::string messages;
    for (size_t i = 0; i < texts.size(); ++i) {
        if (i) messages += ",";
        const bool last = i + 1 == texts.size();
        messages += R"({"role":")" + std::string(i % 2 ? "assistant" : "user") +
                    R"(","content":[{"type":"text","text":")" + texts[i] + "\"" +
                    (last ? R"(,"cache_control":{"type":"ephemeral"})" : "") + "}]}";
    }
    return R"({"model":"m","max_tokens":100,"system":")" + system + R"(","messages":[)" + messages +
           "]}";
}

}  // namespace

TEST_CASE("the X-Claude-Code-Session-Id header names the session first", "[session]") {
    auto request = anthropic(claude_code_body(kRecentUserId, "fix the bug"));
    auto id = identify_session("3f6c1a2b-9d8e-4c7f-a1b2-c3d4e5f60718", request);
    CHECK(id.id == "3f6c1a2b-9d8e-4c7f-a1b2-c3d4e5f60718");
    CHECK(id.source == SessionSource::header);
    CHECK(to_string(id.source) == "header");
}

TEST_CASE("without the header, the session in metadata.user_id", "[session]") {
    SECTION("recent Claude Code: a JSON string with session_id") {
        auto id = identify_session({}, anthropic(claude_code_body(kRecentUserId, "hi")));
        CHECK(id.id == "0b9f3c2e-6a41-4d8e-9f7a-2c5b1e8d4a60");
        CHECK(id.source == SessionSource::metadata);
    }
    SECTION("older Claude Code: ..._session_<uuid>") {
        auto id = identify_session({}, anthropic(claude_code_body(kOlderUserId, "hi")));
        CHECK(id.id == "7e2a9c41-3b5d-4f6e-8a1c-9d0b2e4f6a83");
        CHECK(id.source == SessionSource::metadata);
    }
    SECTION("a user_id without a session is no session: derived instead") {
        auto id = identify_session({}, anthropic(claude_code_body("customer-42", "hi")));
        CHECK(id.source == SessionSource::derived);
        auto json_without =
            identify_session({}, anthropic(claude_code_body(R"({\"device_id\":\"d\"})", "hi")));
        CHECK(json_without.source == SessionSource::derived);
    }
}

TEST_CASE("a derived session stays across turns and differs between conversations", "[session]") {
    auto first = identify_session({}, anthropic(turns("be brief", {"write a parser"})));
    CHECK(first.source == SessionSource::derived);
    CHECK(first.id.rfind("derived-", 0) == 0);
    CHECK(first.id.size() == 8 + 32);
    // The same conversation two turns later (the cache marker has moved to the newest message).
    auto later = identify_session(
        {}, anthropic(turns("be brief", {"write a parser", "here it is", "add tests"})));
    CHECK(later.id == first.id);
    // Another conversation: another first message, or another system prompt.
    CHECK(identify_session({}, anthropic(turns("be brief", {"write a lexer"}))).id != first.id);
    CHECK(identify_session({}, anthropic(turns("be verbose", {"write a parser"}))).id != first.id);
    // An OpenAI client's conversation, the same way.
    const std::string openai1 =
        R"({"model":"m","messages":[{"role":"system","content":"be brief"},)"
        R"({"role":"user","content":"write a parser"}]})";
    const std::string openai3 =
        R"({"model":"m","messages":[{"role":"system","content":"be brief"},)"
        R"({"role":"user","content":"write a parser"},{"role":"assistant","content":"ok"},)"
        R"({"role":"user","content":"add tests"}]})";
    auto o1 = identify_session({}, decode(protocol::ClientProtocol::openai_chat, openai1));
    auto o3 = identify_session({}, decode(protocol::ClientProtocol::openai_chat, openai3));
    CHECK(o1.source == SessionSource::derived);
    CHECK(o1.id == o3.id);
}

TEST_CASE("long prompts are told apart by their beginning, end and length", "[session]") {
    const std::string long_system(50000, 's');
    const std::string prompt(20000, 'p');
    auto base = identify_session({}, anthropic(turns(long_system, {prompt + "A"})));
    CHECK(identify_session({}, anthropic(turns(long_system, {prompt + "A", "ok", "more"}))).id ==
          base.id);
    CHECK(identify_session({}, anthropic(turns(long_system, {prompt + "B"}))).id != base.id);
    CHECK(identify_session({}, anthropic(turns(long_system + "x", {prompt + "A"}))).id != base.id);
    CHECK(identify_session({}, anthropic(turns("S" + long_system, {prompt + "A"}))).id != base.id);
}

TEST_CASE("an over-long client session id is replaced by its hash", "[session]") {
    auto request = anthropic(turns("s", {"u"}));
    const std::string long_id(500, 'x');
    auto id = identify_session(long_id, request);
    CHECK(id.source == SessionSource::header);
    CHECK(id.id.rfind("hashed-", 0) == 0);
    CHECK(id.id.size() <= server::kMaxClientSessionId);
    CHECK(identify_session(long_id, request).id == id.id);
    CHECK(identify_session(std::string(500, 'y'), request).id != id.id);
}
