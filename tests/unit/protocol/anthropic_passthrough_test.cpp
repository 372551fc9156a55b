// Anthropic client → Anthropic-compatible upstream: the client's bytes pass through, with only
// the fields the chain changed (and those a channel quirk rewrites) re-encoded — and the result
// is always the same JSON value as the canonical encoding.
#include <catch2/catch.hpp>

#include "core/request.hpp"
#include "core/request_json.hpp"
#include "protocol/anthropic.hpp"
#include "protocol/anthropic_upstream.hpp"

using namespace tianshu;
using Catch::Contains;
using core::Json;

namespace {

// An Anthropic channel's defaults (cache_control kept: Anthropic upstreams understand it).
protocol::anthropic_upstream::UpstreamOptions defaults() {
    auto o = protocol::anthropic_upstream::options_from_json(Json::object());
    REQUIRE(o.ok());
    return o.value();
}

// Odd spacing, a float written as 0.70, an unknown field, cache_control: all things a
// re-encoding would change in form.
const std::string kBody =
    R"({"model":"claude-sonnet-4-5", "messages" : [ {"role":"user","content":"hi  there"} ],)"
    R"("max_tokens":  300, "temperature":0.70, "vendor_hint":{"b":1,"a":2},)"
    R"("system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}]})";

core::Request decoded(const std::string& body = kBody) {
    protocol::AnthropicCodec codec;
    auto r = codec.decode_request(body);
    REQUIRE(r.ok());
    auto req = std::move(r).value();
    req.client_body = std::make_shared<const std::string>(body);
    req.model = "up-model";  // the channel's model map
    return req;
}

std::string passthrough(const core::Request& r,
                        const protocol::anthropic_upstream::UpstreamOptions& o = defaults(),
                        bool stream = true) {
    auto body = protocol::anthropic_upstream::encode_body(r, o, stream);
    REQUIRE(body.ok());
    return body.value();
}

// What an Anthropic upstream understands from a body: its canonical reading. Passthrough may
// keep a shorthand the client used ("content": "x") where the canonical encoding writes blocks;
// both must mean the same request.
Json meaning(const std::string& body) {
    protocol::AnthropicCodec codec;
    auto r = codec.decode_request(body);
    REQUIRE(r.ok());
    return core::to_json(r.value());
}

// The canonical encoding of the same request, read back.
Json canonical(core::Request r,
               const protocol::anthropic_upstream::UpstreamOptions& o = defaults()) {
    r.client_body.reset();
    auto body = protocol::anthropic_upstream::encode_body(r, o, true);
    REQUIRE(body.ok());
    return meaning(body.value());
}

}  // namespace

TEST_CASE("passthrough: unchanged fields keep the client's bytes, model and stream are set",
          "[protocol][passthrough]") {
    auto r = decoded();
    const std::string out = passthrough(r);
    CHECK_THAT(out, Contains(R"("messages":[ {"role":"user","content":"hi  there"} ])"));
    CHECK_THAT(out, Contains(R"("temperature":0.70)"));
    CHECK_THAT(out, Contains(R"("vendor_hint":{"b":1,"a":2})"));
    CHECK_THAT(out, Contains(R"("model":"up-model")"));
    CHECK_THAT(out, Contains(R"("stream":true)"));
    CHECK_THAT(out, Contains(R"("max_tokens":300)"));
    CHECK(meaning(out) == canonical(r));

    // A whole answer is asked for with stream false, in the passthrough and canonical forms.
    const std::string whole = passthrough(r, defaults(), false);
    CHECK_THAT(whole, Contains(R"("stream":false)"));
    CHECK(whole.find(R"("stream":true)") == std::string::npos);
    CHECK_THAT(whole, Contains(R"("temperature":0.70)"));
    r.mark_changed("*");
    CHECK_THAT(passthrough(r, defaults(), false), Contains(R"("stream":false)"));
}

TEST_CASE("passthrough: fields the chain changed are re-encoded, the rest stay as sent",
          "[protocol][passthrough]") {
    auto r = decoded();
    r.set_system_text("a rewritten system prompt");
    r.temperature = 0.2;
    r.mark_changed("temperature");
    r.metadata = Json{{"user_id", "u-1"}};  // a field the client did not send
    r.mark_changed("metadata");
    const std::string out = passthrough(r);
    CHECK_THAT(out, Contains(R"("system":[{"text":"a rewritten system prompt","type":"text"}])"));
    CHECK_THAT(out, Contains(R"("temperature":0.2)"));
    CHECK_THAT(out, Contains(R"("metadata":{"user_id":"u-1"})"));
    CHECK_THAT(out, Contains(R"("messages":[ {"role":"user","content":"hi  there"} ])"));
    CHECK(meaning(out) == canonical(r));

    // A change of the whole request ("*") re-encodes everything.
    r.mark_changed("*");
    CHECK_FALSE(passthrough(r).find("hi  there\"} ]") != std::string::npos);
    CHECK(meaning(passthrough(r)) == canonical(r));
}

TEST_CASE("passthrough: channel quirks still apply", "[protocol][passthrough]") {
    auto r = decoded();
    auto o = defaults();
    o.max_output_tokens = 100;
    o.strip_fields = {"vendor_hint"};
    o.strip_cache_control = true;
    const std::string out = passthrough(r, o);
    CHECK_THAT(out, Contains(R"("max_tokens":100)"));
    CHECK(out.find("vendor_hint") == std::string::npos);
    CHECK(out.find("cache_control") == std::string::npos);
    CHECK(meaning(out) == canonical(r, o));

    // Schema keywords are stripped from tools, which are then re-encoded.
    auto t = decoded(R"({"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],)"
                     R"("tools":[{"name":"f","input_schema":{"type":"object","$schema":"x",)"
                     R"("properties":{"u":{"type":"string","format":"uri"}}}}]})");
    auto strip = defaults();
    strip.strip_schema_keywords = {"format", "$schema"};
    const std::string tools = passthrough(t, strip);
    CHECK(tools.find("format") == std::string::npos);
    CHECK(tools.find("$schema") == std::string::npos);
    CHECK(meaning(tools) == canonical(t, strip));
}
