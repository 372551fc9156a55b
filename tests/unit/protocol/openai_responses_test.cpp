// OpenAI Responses, both directions: golden conversion cases (responses_cases/<name>/, the same
// layout as cases/: case.json {"conversion", "about"}, in.json, expected.json; regenerate with
// TIANSHU_UPDATE_GOLDEN=1 and review the diff), streams replayed at every chunking, and the
// event order the openai SDK and the Codex CLI read.
//
// Conversions:
//   responses_request_to_canonical  Responses request -> canonical JSON (Anthropic shape)
//   responses_decode_error          a bad Responses body; expected {"kind", "contains": [...]}
//   response_to_responses           canonical response (Anthropic message) -> response object
//   responses_stream                canonical events -> Responses SSE [{"event", "data"}]
//   responses_upstream_request      Anthropic request -> the Responses body sent upstream
//                                   (optional options.json: the channel's UpstreamOptions)
//   responses_upstream_stream       upstream SSE events [{"event", "data"}] -> the Anthropic SSE
//                                   frames the client sees (an Error ends with the error frame)
//   responses_upstream_response     a whole response object -> Anthropic message body or
//                                   {"error"}
// "created_at" is set to 0 before comparing.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/request_json.hpp"
#include "protocol/anthropic.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/openai_responses.hpp"
#include "protocol/responses_upstream.hpp"
#include "protocol/sse.hpp"
#include "stream_grammar.hpp"

using namespace tianshu;
using core::Json;
namespace fs = std::filesystem;
namespace up = protocol::responses_upstream;

namespace {

const fs::path kCases = fs::path(TIANSHU_SOURCE_DIR) / "tests/unit/protocol/responses_cases";

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

Json read_json(const fs::path& p) {
    auto j = Json::parse(read_text(p), nullptr, false);
    if (j.is_discarded()) FAIL("not valid JSON: " << p);
    return j;
}

void zero_created(Json& j) {
    if (j.is_object()) {
        for (const char* k : {"created", "created_at"})
            if (j.contains(k)) j[k] = 0;
        for (auto& [k, v] : j.items()) zero_created(v);
    } else if (j.is_array()) {
        for (auto& v : j) zero_created(v);
    }
}

Json frames_of(const std::string& sse) {
    protocol::SseParser parser;
    std::vector<protocol::SseEvent> events;
    REQUIRE(parser.feed(sse, events).ok());
    REQUIRE_FALSE(parser.mid_event());
    Json frames = Json::array();
    for (const auto& e : events) {
        Json f = Json::object();
        if (!e.event.empty()) f["event"] = e.event;
        Json data = Json::parse(e.data, nullptr, false);
        f["data"] = data.is_discarded() ? Json(e.data) : data;
        frames.push_back(std::move(f));
    }
    return frames;
}

std::vector<core::StreamEvent> events_of(const Json& in) {
    std::vector<core::StreamEvent> events;
    for (const auto& e : in) {
        auto ev = protocol::anthropic::stream_event_from_json(e);
        if (!ev) FAIL("bad event in in.json: " << ev.error().message);
        events.push_back(std::move(ev.value()));
    }
    return events;
}

const protocol::ClientCodec& responses_codec() {
    return protocol::codec_for(protocol::ClientProtocol::openai_responses);
}
const protocol::ClientCodec& anthropic_codec() {
    return protocol::codec_for(protocol::ClientProtocol::anthropic_messages);
}

Json error_json(const core::Error& e) {
    return Json{{"error", {{"kind", core::to_string(e.kind)}, {"message", e.message}}}};
}

//! SSE text of recorded upstream events [{"event", "data"}].
std::string sse_text(const Json& frames) {
    std::string out;
    for (const auto& f : frames) {
        if (f.contains("event")) out += "event: " + f["event"].get<std::string>() + "\n";
        out += "data: " + (f["data"].is_string() ? f["data"].get<std::string>() : f["data"].dump());
        out += "\n\n";
    }
    return out;
}

//! Feeds SSE text to a decoder in the given pieces; returns the events and the final status.
core::Result<void> decode_sse(const std::vector<std::string_view>& pieces,
                              std::vector<core::StreamEvent>& events) {
    protocol::SseParser parser;
    up::StreamDecoder decoder("msg_test", "gpt-test", 100);
    for (auto piece : pieces) {
        std::vector<protocol::SseEvent> frames;
        if (auto r = parser.feed(piece, frames); !r) return r;
        for (const auto& f : frames)
            if (auto r = decoder.feed(f, events); !r) return r;
    }
    return decoder.finish(events);
}

Json run_case(const std::string& conversion, const fs::path& dir) {
    const std::string in_text = read_text(dir / "in.json");
    if (conversion == "responses_request_to_canonical") {
        auto r = responses_codec().decode_request(in_text);
        if (!r) FAIL("decode failed: " << r.error().message);
        Json out = core::to_json(r.value());
        INFO("canonical JSON re-decoded");
        auto again = anthropic_codec().decode_request(out.dump());
        REQUIRE(again.ok());
        CHECK(core::to_json(again.value()) == out);
        return out;
    }
    if (conversion == "responses_decode_error") {
        auto r = responses_codec().decode_request(in_text);
        REQUIRE_FALSE(r.ok());
        return Json{{"kind", core::to_string(r.error().kind)}, {"message", r.error().message}};
    }
    if (conversion == "response_to_responses") {
        auto resp = protocol::anthropic::response_from_json(read_json(dir / "in.json"));
        if (!resp) FAIL("bad response in in.json: " << resp.error().message);
        Json out = Json::parse(responses_codec().encode_response(resp.value()));
        zero_created(out);
        return out;
    }
    if (conversion == "responses_stream") {
        auto encoder = responses_codec().stream_encoder();
        std::string sse;
        for (const auto& e : events_of(read_json(dir / "in.json"))) encoder->encode(e, sse);
        Json out = frames_of(sse);
        zero_created(out);
        return out;
    }
    if (conversion == "responses_upstream_request") {
        auto req = anthropic_codec().decode_request(in_text);
        if (!req) FAIL("in.json is not a valid Anthropic request: " << req.error().message);
        up::UpstreamOptions options;
        if (fs::exists(dir / "options.json")) {
            auto o = protocol::openai_upstream::options_from_json(read_json(dir / "options.json"));
            if (!o) FAIL("bad options.json: " << o.error().message);
            options = o.value();
        }
        auto body = up::encode_request(req.value(), options);
        return body ? body.value() : error_json(body.error());
    }
    if (conversion == "responses_upstream_stream") {
        const std::string sse = sse_text(read_json(dir / "in.json"));
        std::vector<core::StreamEvent> events;
        auto status = decode_sse({sse}, events);
        INFO("events violate the stream grammar");
        CHECK(testing::stream_grammar_problem(events, status.ok()) == "");
        auto encoder = anthropic_codec().stream_encoder();
        std::string out;
        for (const auto& e : events) encoder->encode(e, out);
        if (!status) encoder->encode_error(status.error(), out);
        return frames_of(out);
    }
    if (conversion == "responses_upstream_response") {
        up::StreamDecoder decoder("msg_test", "", 100);
        std::vector<core::StreamEvent> events;
        auto status = decoder.feed_response(in_text, events);
        if (!status) return error_json(status.error());
        CHECK(testing::stream_grammar_problem(events, true) == "");
        core::ResponseAssembler assembler;
        for (const auto& e : events) REQUIRE(assembler.add(e).ok());
        return Json::parse(anthropic_codec().encode_response(assembler.response()));
    }
    FAIL("unknown conversion '" << conversion << "' in " << (dir / "case.json"));
    return nullptr;
}

}  // namespace

TEST_CASE("responses golden conversion cases") {
    REQUIRE(fs::is_directory(kCases));
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(kCases))
        if (entry.is_directory()) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    REQUIRE(dirs.size() >= 10);
    const bool update = std::getenv("TIANSHU_UPDATE_GOLDEN") != nullptr;
    for (const auto& dir : dirs) {
        DYNAMIC_SECTION(dir.filename().string()) {
            const Json spec = read_json(dir / "case.json");
            const std::string conversion = spec.value("conversion", "");
            INFO("case " << dir.filename().string() << " (" << conversion
                         << "): " << spec.value("about", ""));
            const Json got = run_case(conversion, dir);
            if (conversion == "responses_decode_error") {
                const Json expected = read_json(dir / "expected.json");
                CHECK(got["kind"] == expected.value("kind", "invalid_request"));
                for (const auto& needle : expected["contains"]) {
                    INFO("error message: " << got["message"].get<std::string>());
                    CHECK(got["message"].get<std::string>().find(needle.get<std::string>()) !=
                          std::string::npos);
                }
                continue;
            }
            if (update) {
                std::ofstream(dir / "expected.json") << got.dump(2) << '\n';
                continue;
            }
            const Json expected = read_json(dir / "expected.json");
            INFO("got:\n" << got.dump(2));
            INFO("diff (RFC 6902, expected -> got):\n" << Json::diff(expected, got).dump(2));
            CHECK(got == expected);
        }
    }
}

namespace {

//! A canonical answer with reasoning, text and two tool calls, cache and reasoning usage.
core::Response sample_answer() {
    core::Response r;
    r.id = "msg_sample";
    r.model = "gpt-test";
    core::ContentBlock thinking;
    thinking.type = core::ContentBlock::Type::thinking;
    thinking.text = "Two cities, two calls. “naïve” ✓";
    thinking.signature = "enc-abc";
    r.content.push_back(thinking);
    r.content.push_back(core::ContentBlock::make_text("Checking 天气 in both."));
    for (auto [id, city] : {std::pair{"call_1", "Oslo"}, std::pair{"call_2", "Paris"}}) {
        core::ContentBlock call;
        call.type = core::ContentBlock::Type::tool_use;
        call.id = id;
        call.name = "get_weather";
        call.input = Json{{"city", city}, {"days", Json::array({1, 2})}};
        r.content.push_back(call);
    }
    r.stop_reason = core::StopReason::tool_use;
    r.usage.input_tokens = 30;
    r.usage.cache_read_tokens = 70;
    r.usage.output_tokens = 40;
    r.usage.reasoning_tokens = 12;
    return r;
}

std::string client_stream_of(const core::Response& r) {
    auto encoder = responses_codec().stream_encoder();
    std::string sse;
    for (const auto& e : core::events_for(r)) encoder->encode(e, sse);
    return sse;
}

}  // namespace

TEST_CASE("responses client stream: the event order the SDKs and Codex read") {
    const Json frames = frames_of(client_stream_of(sample_answer()));
    std::vector<std::string> types;
    int64_t expected_seq = 0;
    for (const auto& f : frames) {
        REQUIRE(f.contains("event"));
        CHECK(f["data"]["type"] == f["event"]);  // the SDK reads data.type, Codex reads both
        CHECK(f["data"]["sequence_number"] == expected_seq++);
        types.push_back(f["event"].get<std::string>());
    }
    const std::vector<std::string> want = {
        "response.created", "response.in_progress",
        // reasoning
        "response.output_item.added", "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done", "response.output_item.done",
        // message
        "response.output_item.added", "response.content_part.added", "response.output_text.delta",
        "response.output_text.done", "response.content_part.done", "response.output_item.done",
        // two function calls
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done",
        "response.output_item.added", "response.function_call_arguments.delta",
        "response.function_call_arguments.done", "response.output_item.done", "response.completed"};
    CHECK(types == want);
    const Json& done = frames.back()["data"]["response"];
    CHECK(done["status"] == "completed");
    CHECK(done["id"] == "resp_sample");
    REQUIRE(done["output"].size() == 4);
    CHECK(done["output"][0]["encrypted_content"] == "enc-abc");
    CHECK(done["output"][3]["call_id"] == "call_2");
    CHECK(Json::parse(done["output"][3]["arguments"].get<std::string>()) ==
          Json{{"city", "Paris"}, {"days", Json::array({1, 2})}});
    CHECK(done["usage"]["input_tokens"] == 100);
    CHECK(done["usage"]["input_tokens_details"]["cached_tokens"] == 70);
    CHECK(done["usage"]["output_tokens_details"]["reasoning_tokens"] == 12);
    // Each output_item.done carries the whole item, as Codex records it from that event alone.
    CHECK(frames[7]["data"]["item"] == done["output"][0]);
    CHECK(frames[13]["data"]["item"] == done["output"][1]);
    CHECK(frames[21]["data"]["item"] == done["output"][3]);
}

TEST_CASE("responses: the client's stream read back as an upstream stream at every chunking") {
    // The gateway's own client stream is a valid upstream stream: what it encodes, the upstream
    // decoder reads back to the same answer, however the bytes are cut.
    const core::Response answer = sample_answer();
    const std::string sse = client_stream_of(answer);
    std::vector<core::StreamEvent> whole_events;
    REQUIRE(decode_sse({sse}, whole_events).ok());
    core::ResponseAssembler whole;
    for (const auto& e : whole_events) REQUIRE(whole.add(e).ok());
    REQUIRE(whole.finished());
    CHECK(whole.response().content.size() == answer.content.size());
    CHECK(whole.response().stop_reason == core::StopReason::tool_use);
    CHECK(whole.response().usage.cache_read_tokens == 70);
    CHECK(whole.response().usage.input_tokens == 30);
    CHECK(whole.response().usage.reasoning_tokens == 12);
    CHECK(core::to_json(whole.response().content[0]) == core::to_json(answer.content[0]));
    CHECK(core::to_json(whole.response().content[3]) == core::to_json(answer.content[3]));
    const Json expected = core::to_json(whole.response());

    for (size_t cut = 1; cut < sse.size(); ++cut) {
        std::vector<core::StreamEvent> events;
        const std::string_view s(sse);
        REQUIRE(decode_sse({s.substr(0, cut), s.substr(cut)}, events).ok());
        core::ResponseAssembler a;
        for (const auto& e : events) REQUIRE(a.add(e).ok());
        INFO("cut at byte " << cut);
        REQUIRE(core::to_json(a.response()) == expected);
    }
    // Byte by byte.
    std::vector<std::string_view> bytes;
    for (size_t i = 0; i < sse.size(); ++i) bytes.push_back(std::string_view(sse).substr(i, 1));
    std::vector<core::StreamEvent> events;
    REQUIRE(decode_sse(bytes, events).ok());
    core::ResponseAssembler a;
    for (const auto& e : events) REQUIRE(a.add(e).ok());
    CHECK(core::to_json(a.response()) == expected);
}

TEST_CASE("responses: whole response object and stream give the same answer") {
    const core::Response answer = sample_answer();
    const std::string body = responses_codec().encode_response(answer);
    up::StreamDecoder decoder("msg_test", "", 100);
    std::vector<core::StreamEvent> events;
    REQUIRE(decoder.feed_response(body, events).ok());
    CHECK(testing::stream_grammar_problem(events, true) == "");
    core::ResponseAssembler from_whole;
    for (const auto& e : events) REQUIRE(from_whole.add(e).ok());

    std::vector<core::StreamEvent> streamed;
    REQUIRE(decode_sse({client_stream_of(answer)}, streamed).ok());
    core::ResponseAssembler from_stream;
    for (const auto& e : streamed) REQUIRE(from_stream.add(e).ok());
    CHECK(core::to_json(from_whole.response()) == core::to_json(from_stream.response()));
    CHECK(from_whole.response().model == "gpt-test");
}

TEST_CASE("responses: a mid-stream error ends the client stream with error and response.failed") {
    auto encoder = responses_codec().stream_encoder();
    std::string sse;
    auto events = core::events_for(sample_answer());
    for (size_t i = 0; i < 6; ++i) encoder->encode(events[i], sse);
    encoder->encode_error(core::Error{core::ErrorKind::upstream, "channel 'up' failed", {}}, sse);
    const Json frames = frames_of(sse);
    REQUIRE(frames.size() >= 3);
    const Json& err = frames[frames.size() - 2];
    const Json& failed = frames.back();
    CHECK(err["event"] == "error");
    CHECK(err["data"]["message"] == "channel 'up' failed");
    CHECK(failed["event"] == "response.failed");
    CHECK(failed["data"]["response"]["status"] == "failed");
    CHECK(failed["data"]["response"]["error"]["message"] == "channel 'up' failed");
    CHECK(failed["data"]["sequence_number"] == err["data"]["sequence_number"].get<int64_t>() + 1);

    // Read as an upstream stream, it is an Error, never a silent truncation.
    std::vector<core::StreamEvent> decoded;
    auto status = decode_sse({sse}, decoded);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message.find("channel 'up' failed") != std::string::npos);
}

TEST_CASE("responses upstream: a stream that stops before response.completed is an error") {
    std::string sse = client_stream_of(sample_answer());
    sse.resize(sse.rfind("event: response.completed"));
    std::vector<core::StreamEvent> events;
    auto status = decode_sse({sse}, events);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().kind == core::ErrorKind::upstream);
    CHECK(status.error().message.find("response.completed") != std::string::npos);
}

TEST_CASE("responses: a request decoded and re-encoded for a Responses upstream keeps its turns") {
    const std::string body = R"({
      "model": "gpt-test", "instructions": "Be brief.", "stream": true,
      "max_output_tokens": 500, "parallel_tool_calls": false,
      "reasoning": {"effort": "medium", "summary": "auto"},
      "tools": [{"type": "function", "name": "sh", "parameters": {"type": "object"}}],
      "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "list files"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [{"type": "summary_text", "text": "ls"}],
         "encrypted_content": "enc-1"},
        {"type": "function_call", "call_id": "c1", "name": "sh", "arguments": "{\"cmd\":\"ls\"}"},
        {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
        {"type": "message", "role": "assistant",
         "content": [{"type": "output_text", "text": "One file."}]},
        {"role": "user", "content": "thanks"}]})";
    auto req = responses_codec().decode_request(body);
    REQUIRE(req.ok());
    auto out = up::encode_request(req.value(), {});
    REQUIRE(out.ok());
    const Json& j = out.value();
    CHECK(j["instructions"] == "Be brief.");
    CHECK(j["reasoning"] == Json{{"effort", "medium"}, {"summary", "auto"}});
    CHECK(j["parallel_tool_calls"] == false);
    CHECK(j["max_output_tokens"] == 500);
    CHECK(j["store"] == false);
    REQUIRE(j["input"].size() == 6);
    CHECK(j["input"][1] ==
          Json{{"type", "reasoning"},
               {"summary", Json::array({{{"type", "summary_text"}, {"text", "ls"}}})},
               {"encrypted_content", "enc-1"}});
    CHECK(j["input"][2]["type"] == "function_call");
    CHECK(j["input"][3] ==
          Json{{"type", "function_call_output"}, {"call_id", "c1"}, {"output", "a.txt"}});
    CHECK(j["input"][4]["content"][0] == Json{{"type", "output_text"}, {"text", "One file."}});
}
