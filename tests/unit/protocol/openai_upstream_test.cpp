// protocol/openai_upstream beyond the golden cases: the stream decoder must give the same
// Response for any chunking of the same logical answer (fragment sizes, interleaving of
// parallel tool calls, where ids and names arrive, where usage arrives), and non-streaming
// decode_response must agree with the stream.

#include <catch2/catch.hpp>

#include <random>

#include "core/request_json.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/openai_upstream.hpp"
#include "stream_grammar.hpp"

using namespace tianshu;
using core::Json;
namespace up = protocol::openai_upstream;

namespace {

struct Call {
    std::string id, name, arguments;
};

//! One logical answer: reasoning, text, then tool calls.
struct Answer {
    std::string reasoning, text;
    std::vector<Call> calls;
    std::string finish = "tool_calls";
    Json usage = {{"prompt_tokens", 120},
                  {"completion_tokens", 45},
                  {"total_tokens", 165},
                  {"prompt_tokens_details", {{"cached_tokens", 100}}},
                  {"completion_tokens_details", {{"reasoning_tokens", 7}}}};
};

std::vector<std::string> split(const std::string& s, std::mt19937& rng) {
    std::vector<std::string> parts;
    size_t i = 0;
    while (i < s.size()) {
        size_t n = std::uniform_int_distribution<size_t>(1, 6)(rng);
        // Fragments are whole UTF-8 characters: JSON strings cannot hold half of one.
        size_t end = std::min(s.size(), i + n);
        while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
        parts.push_back(s.substr(i, end - i));
        i = end;
    }
    return parts;
}

Json chunk_with(Json delta) {
    return Json{{"id", "c"},
                {"object", "chat.completion.chunk"},
                {"choices", Json::array({Json{{"index", 0}, {"delta", std::move(delta)}}})}};
}

//! A random but valid chunking of `a` as an OpenAI-compatible provider might stream it.
std::vector<std::string> random_stream(const Answer& a, std::mt19937& rng) {
    auto coin = [&](int percent) {
        return std::uniform_int_distribution<int>(0, 99)(rng) < percent;
    };
    std::vector<Json> chunks;
    chunks.push_back(
        chunk_with({{"role", "assistant"}, {"content", coin(50) ? Json("") : Json()}}));
    for (auto& p : split(a.reasoning, rng))
        chunks.push_back(chunk_with({{"reasoning_content", p}, {"content", nullptr}}));
    for (auto& p : split(a.text, rng)) {
        // Sometimes the first text rides in the same delta as the last reasoning fragment.
        if (coin(20) && !chunks.back()["choices"][0]["delta"].contains("tool_calls") &&
            chunks.back()["choices"][0]["delta"]["content"].is_null())
            chunks.back()["choices"][0]["delta"]["content"] = p;
        else
            chunks.push_back(chunk_with({{"content", p}}));
        if (coin(10)) chunks.push_back(chunk_with({{"content", ""}}));
    }
    // Tool call fragments: each call's own order kept, calls interleaved at random, the first
    // fragment of call k before the first of call k+1 (that order defines block order).
    struct Frag {
        size_t call;
        Json body;
    };
    std::vector<std::vector<Frag>> per_call;
    for (size_t k = 0; k < a.calls.size(); ++k) {
        auto pieces = split(a.calls[k].arguments, rng);
        std::vector<Frag> frags;
        for (auto& p : pieces)
            frags.push_back({k, Json{{"index", k}, {"function", {{"arguments", p}}}}});
        if (frags.empty()) frags.push_back({k, Json{{"index", k}, {"function", Json::object()}}});
        // id and name: in the first fragment, or later (late id/name), never after the last.
        size_t id_at =
            coin(70) ? 0 : std::uniform_int_distribution<size_t>(0, frags.size() - 1)(rng);
        size_t name_at =
            coin(70) ? 0 : std::uniform_int_distribution<size_t>(0, frags.size() - 1)(rng);
        frags[id_at].body["id"] = a.calls[k].id;
        frags[id_at].body["type"] = "function";
        frags[name_at].body["function"]["name"] = a.calls[k].name;
        per_call.push_back(std::move(frags));
    }
    std::vector<size_t> next(per_call.size(), 0);
    size_t started = 0;
    for (;;) {
        std::vector<size_t> ready;
        for (size_t k = 0; k < per_call.size(); ++k)
            if (next[k] < per_call[k].size() && (k < started || k == started)) ready.push_back(k);
        if (ready.empty()) break;
        size_t k = ready[std::uniform_int_distribution<size_t>(0, ready.size() - 1)(rng)];
        if (k == started) ++started;
        Json body = per_call[k][next[k]++].body;
        // Sometimes two calls' fragments share one chunk.
        auto& last = chunks.back()["choices"][0]["delta"];
        if (coin(25) && last.contains("tool_calls") && last["tool_calls"].back()["index"] != k)
            last["tool_calls"].push_back(std::move(body));
        else
            chunks.push_back(chunk_with({{"tool_calls", Json::array({std::move(body)})}}));
    }
    const int usage_place =
        std::uniform_int_distribution<int>(0, 1)(rng);  // with the finish chunk, or after it
    Json fin = chunk_with(Json::object());
    fin["choices"][0]["finish_reason"] = a.finish;
    if (usage_place == 0) fin["usage"] = a.usage;
    chunks.push_back(fin);
    if (usage_place == 1)
        chunks.push_back(Json{{"id", "c"}, {"choices", Json::array()}, {"usage", a.usage}});
    std::vector<std::string> out;
    for (auto& c : chunks) out.push_back(c.dump());
    if (coin(80)) out.push_back("[DONE]");
    return out;
}

core::Response decode_stream(const std::vector<std::string>& payloads) {
    up::StreamDecoder decoder("msg_prop", "deepseek-chat", 99);
    std::vector<core::StreamEvent> events;
    for (const auto& p : payloads) {
        auto r = decoder.feed(p, events);
        INFO((r.ok() ? std::string() : r.error().message));
        REQUIRE(r.ok());
    }
    auto r = decoder.finish(events);
    INFO((r.ok() ? std::string() : r.error().message));
    REQUIRE(r.ok());
    INFO("grammar");
    REQUIRE(testing::stream_grammar_problem(events, true) == "");
    core::ResponseAssembler assembler;
    for (const auto& e : events) REQUIRE(assembler.add(e).ok());
    REQUIRE(assembler.finished());
    return assembler.response();
}

}  // namespace

TEST_CASE("openai_upstream stream: every chunking of one answer assembles to the same Response") {
    Answer a;
    a.reasoning = "The user wants weather and time; call both tools.";
    a.text = "Let me look both up — 稍等.";
    a.calls = {{"call_w", "get_weather", R"({"city": "São Paulo", "units": ["c", "f"]})"},
               {"call_t", "get_time", R"({"tz":"America/Sao_Paulo"})"},
               {"call_n", "noop", ""}};
    std::mt19937 rng(20240601);
    std::vector<std::string> first_stream = random_stream(a, rng);
    const Json reference = core::to_json(decode_stream(first_stream));
    CHECK(reference["content"].size() == 5);
    CHECK(reference["stop_reason"] == "tool_use");
    CHECK(reference["content"][2]["input"]["city"] == "São Paulo");
    CHECK(reference["content"][4]["input"] == Json::object());
    for (int round = 0; round < 300; ++round) {
        const auto payloads = random_stream(a, rng);
        INFO("round " << round << ", payloads:\n" << Json(payloads).dump(1));
        CHECK(core::to_json(decode_stream(payloads)) == reference);
    }
}

TEST_CASE("openai_upstream: decode_response agrees with the stream for the same answer") {
    const char* body = R"({"id":"msg_prop","model":"deepseek-chat","choices":[{"index":0,
        "finish_reason":"tool_calls","message":{"role":"assistant","content":"Hi.",
        "reasoning_content":"Think.","tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"f","arguments":"{\"a\":1}"}}]}}],
        "usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})";
    auto whole = up::decode_response(body, "fallback");
    REQUIRE(whole.ok());
    std::vector<std::string> stream = {
        R"({"choices":[{"index":0,"delta":{"reasoning_content":"Think."}}]})",
        R"({"choices":[{"index":0,"delta":{"content":"Hi."}}]})",
        R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"f","arguments":"{\"a\""}}]}}]})",
        R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]})",
        R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}})",
        "[DONE]"};
    Json streamed = core::to_json(decode_stream(stream));
    Json direct = core::to_json(whole.value());
    CHECK(direct["content"] == streamed["content"]);
    CHECK(direct["stop_reason"] == streamed["stop_reason"]);
    CHECK(direct["usage"] == streamed["usage"]);
}

TEST_CASE("openai_upstream stream: after an error every call returns it and nothing more") {
    up::StreamDecoder d("m", "x", 1);
    std::vector<core::StreamEvent> events;
    REQUIRE(d.feed(R"({"choices":[{"index":0,"delta":{"content":"a"}}]})", events).ok());
    auto e = d.feed(R"({"error":{"message":"boom","type":"server_error"}})", events);
    REQUIRE_FALSE(e.ok());
    CHECK(e.error().message.find("boom") != std::string::npos);
    const size_t n = events.size();
    CHECK_FALSE(d.feed(R"({"choices":[{"index":0,"delta":{"content":"b"}}]})", events).ok());
    CHECK_FALSE(d.finish(events).ok());
    CHECK(events.size() == n);
    CHECK_FALSE(d.done());
}

TEST_CASE("openai_upstream options_from_json names an unknown option") {
    auto o = up::options_from_json(Json{{"strip_field", Json::array()}});
    REQUIRE_FALSE(o.ok());
    CHECK(o.error().message.find("strip_field") != std::string::npos);
    auto ok = up::options_from_json(Json{
        {"max_output_tokens", 8192}, {"tool_result_images", "drop"}, {"include_usage", false}});
    REQUIRE(ok.ok());
    CHECK(*ok->max_output_tokens == 8192);
    CHECK(ok->tool_result_images == up::UpstreamOptions::ToolResultImages::drop);
    CHECK_FALSE(ok->include_usage);
    CHECK_FALSE(ok->always_stream);  // by default the upstream is asked as the client asked

    auto streamed = up::options_from_json(Json{{"always_stream", true}});
    REQUIRE(streamed.ok());
    CHECK(streamed->always_stream);
    auto wrong = up::options_from_json(Json{{"always_stream", "yes"}});
    REQUIRE_FALSE(wrong.ok());
    CHECK(wrong.error().message.find("always_stream: must be a boolean") != std::string::npos);
}

TEST_CASE("openai_upstream options_from_json: ca_file is an absolute path, for the HTTP client") {
    auto ok = up::options_from_json(Json{{"ca_file", "/etc/tianshu/private-ca.pem"}});
    REQUIRE(ok.ok());
    CHECK(ok->ca_file == "/etc/tianshu/private-ca.pem");
    CHECK(up::options_from_json(Json::object())->ca_file.empty());  // the system CA store
    for (const Json& bad : {Json("ca.pem"), Json(""), Json(42)}) {
        auto refused = up::options_from_json(Json{{"ca_file", bad}});
        REQUIRE_FALSE(refused.ok());
        CHECK(refused.error().message.find("ca_file: must be the absolute path") !=
              std::string::npos);
    }
}

TEST_CASE("openai_upstream: a whole completion decodes into the same events as its stream") {
    // The same answer, once streamed in chunks and once as one chat.completion body.
    const std::vector<std::string> chunks{
        R"({"choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Think."}}]})",
        R"({"choices":[{"index":0,"delta":{"content":"Calling."}}]})",
        R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]}}]})",
        R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
        R"({"choices":[],"usage":{"prompt_tokens":10,"completion_tokens":5}})",
        "[DONE]"};
    const std::string whole =
        R"({"id":"chatcmpl-1","object":"chat.completion","model":"m","choices":[{"index":0,)"
        R"("finish_reason":"tool_calls","message":{"role":"assistant","reasoning_content":)"
        R"("Think.","content":"Calling.","tool_calls":[{"id":"call_1","type":"function",)"
        R"("function":{"name":"f","arguments":"{\"a\":1}"}}]}}],)"
        R"("usage":{"prompt_tokens":10,"completion_tokens":5}})";
    up::StreamDecoder streamed("msg_x", "m", 7), at_once("msg_x", "m", 7);
    std::vector<core::StreamEvent> a, b;
    for (const auto& c : chunks) REQUIRE(streamed.feed(c, a).ok());
    REQUIRE(at_once.feed_completion(whole, b).ok());
    CHECK(at_once.done());
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        INFO("event " << i << ": " << core::to_string(a[i].type));
        CHECK(a[i].type == b[i].type);
        CHECK(a[i].index == b[i].index);
        CHECK(a[i].text == b[i].text);
        CHECK(a[i].block.id == b[i].block.id);
        CHECK(a[i].block.name == b[i].block.name);
        CHECK(a[i].stop_reason == b[i].stop_reason);
        CHECK(a[i].usage.output_tokens == b[i].usage.output_tokens);
        CHECK(a[i].usage.input_tokens == b[i].usage.input_tokens);
    }
    // The id and model given at construction win over the body's.
    CHECK(b.front().message.id == "msg_x");
    // After the end, nothing more is emitted; an error stays an error.
    const size_t n = b.size();
    CHECK(at_once.feed_completion(whole, b).ok());
    CHECK(b.size() == n);
    up::StreamDecoder broken("msg_y", "m", 0);
    std::vector<core::StreamEvent> c;
    CHECK_FALSE(broken
                    .feed_completion(R"({"choices":[{"index":0,"message":{"tool_calls":[)"
                                     R"({"id":"c","function":{"name":"f","arguments":"{"}}]}}]})",
                                     c)
                    .ok());
    CHECK_FALSE(broken.feed_completion(whole, c).ok());
}

// The stream decoder reads chunks with simdjson and falls back to nlohmann for what simdjson
// refuses; the chunk must mean what nlohmann's tree made of it before, edge cases included.
TEST_CASE("openai_upstream stream: chunks read as nlohmann read them, edge cases included") {
    auto text_of = [](const std::vector<std::string>& payloads) {
        return core::to_json(decode_stream(payloads));
    };
    const std::string fin = R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})";

    SECTION("of duplicate keys the last one counts") {
        const Json r = text_of({R"({"choices":[{"index":1,"index":0,"delta":{"content":"first",)"
                                R"("content":"second"}}]})",
                                fin, "[DONE]"});
        CHECK(r["content"][0]["text"] == "second");
    }
    SECTION("escapes and non-ASCII text arrive byte for byte") {
        const Json r = text_of(
            {R"({"choices":[{"index":0,"delta":{"content":"\"q\" \\ \/ \n\t \u00e9 \ud83d\ude00 \u0000 é 世界"}}]})",
             fin, "[DONE]"});
        CHECK(r["content"][0]["text"] == std::string("\"q\" \\ / \n\t é 😀 ") + '\0' + " é 世界");
    }
    SECTION("usage numbers: integers count, other numbers (and integers beyond 64 bits) are 0") {
        const Json r =
            text_of({R"({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],)"
                     R"("usage":{"prompt_tokens":18446744073709551616,"completion_tokens":7,)"
                     R"("completion_tokens_details":{"reasoning_tokens":2.0}}})"});
        // Not an integer: no count (0), so the Response keeps the estimate of message_start.
        CHECK(r["usage"]["input_tokens"] == 99);
        CHECK(r["usage"]["output_tokens"] == 7);
        const Json big =
            text_of({R"({"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],)"
                     R"("usage":{"prompt_tokens":9223372036854775807,"completion_tokens":-0,)"
                     R"("prompt_tokens_details":{"cached_tokens":7}}})"});
        CHECK(big["usage"]["input_tokens"] == 9223372036854775800LL);
        CHECK(big["usage"]["cache_read_input_tokens"] == 7);
        CHECK(big["usage"]["output_tokens"] == 0);
    }
    SECTION("tool arguments sent as an object are passed on as its compact JSON") {
        const Json r = text_of(
            {R"({"choices":[{"index":0,"delta":{"tool_calls":[{"index":-0,"id":"c1",)"
             R"("function":{"name":"f","arguments":{"b":[1.5,true,null],"a":"\u00e9"}}}]}}]})",
             R"({"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})", "[DONE]"});
        REQUIRE(r["content"].size() == 1);
        CHECK(r["content"][0]["input"] == Json{{"a", "é"}, {"b", {1.5, true, nullptr}}});
    }
    SECTION("what simdjson refuses but nlohmann reads: deep nesting, a NUL after the object") {
        const std::string deep = std::string(100, '[') + std::string(100, ']');
        const Json r = text_of(
            {R"({"x":)" + deep + R"(,"choices":[{"index":0,"delta":{"content":"a"}}]})",
             std::string(R"({"choices":[{"index":0,"delta":{"content":"b"}}]})") + '\0' + "ignored",
             fin, "[DONE]"});
        CHECK(r["content"][0]["text"] == "ab");
    }
}

TEST_CASE("openai_upstream stream: broken chunks and error chunks are refused as before") {
    auto first_error = [](const std::string& payload) {
        up::StreamDecoder d("m", "x", 1);
        std::vector<core::StreamEvent> events;
        auto r = d.feed(payload, events);
        REQUIRE_FALSE(r.ok());
        return r.error();
    };
    for (const std::string bad :
         {R"({"choices":[)", R"({"a":"\udc00"})", R"({"a":"\ud800"})", R"([1,2])", R"("text")",
          R"({"a":1e400})", "{\"a\":\"\xff\"}", R"({"a":1}{"b":2})"}) {
        INFO(bad);
        const core::Error e = first_error(bad);
        CHECK(e.kind == core::ErrorKind::upstream);
        CHECK(e.message.rfind("the upstream sent a stream chunk that is not a JSON object: ", 0) ==
              0);
    }
    const core::Error limited =
        first_error(R"({"error":{"message":"slow down","type":"rate_limit_error","code":429}})");
    CHECK(limited.kind == core::ErrorKind::rate_limited);
    CHECK(limited.message ==
          "the upstream reported an error mid-stream: slow down (type rate_limit_error, code 429)");
    const core::Error busy =
        first_error(R"({"object":"error","message":"busy now","code":"busy"})");
    CHECK(busy.kind == core::ErrorKind::overloaded);
    const core::Error not_object =
        first_error(R"({"choices":[{"index":0,"delta":{"tool_calls":[5]}}]})");
    CHECK(not_object.message == "the upstream sent a tool call that is not an object");
}

TEST_CASE("openai_upstream: an empty or blank whole answer is an upstream error, not a crash") {
    // Found by fuzz_openai_stream: an empty body reached the chunk parser before any buffer.
    for (const std::string body : {"", " ", "\n", "null", "[]"}) {
        INFO("body '" << body << "'");
        up::StreamDecoder d("msg_e", "m", 0);
        std::vector<core::StreamEvent> events;
        auto r = d.feed_completion(body, events);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == core::ErrorKind::upstream);
        CHECK(r.error().message.find("not a JSON object") != std::string::npos);
    }
}

// A tool schema goes upstream as the text the client sent (its key order, no tree built), and
// through the tree only when a strip_schema_keywords quirk has to look inside it.
TEST_CASE("openai_upstream: tool schemas are sent as the client wrote them unless stripped") {
    const std::string schema =
        R"({"type":"object","$schema":"x","properties":{"path":{"type":"string"},)"
        R"("content":{"type":"string","default":{"$schema":"kept"}}},"required":["path"]})";
    const std::string body = R"({"model":"m","max_tokens":10,"messages":[{"role":"user",)"
                             R"("content":"hi"}],"tools":[{"name":"Write","input_schema":)" +
                             schema + "}]}";
    auto r = protocol::codec_for(protocol::ClientProtocol::anthropic_messages).decode_request(body);
    REQUIRE(r);
    REQUIRE(r.value().tools.size() == 1);
    CHECK(r.value().tools[0].input_schema.text() == schema);

    auto plain = up::encode_request_body(r.value(), up::UpstreamOptions{});
    REQUIRE(plain);
    CHECK(plain.value().find(R"("parameters":)" + schema + "}") != std::string::npos);

    up::UpstreamOptions strip;
    strip.strip_schema_keywords = {"$schema"};
    auto stripped = up::encode_request_body(r.value(), strip);
    REQUIRE(stripped);
    const Json sent = Json::parse(stripped.value());
    Json expected = Json::parse(schema);
    expected.erase("$schema");  // the keyword goes; the same word inside data stays
    CHECK(sent["tools"][0]["function"]["parameters"] == expected);
}
