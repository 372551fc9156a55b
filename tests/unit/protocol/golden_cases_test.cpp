// Golden conversion cases. Each folder under tests/unit/protocol/cases/ is one case:
//
//   case.json      {"conversion": "<kind>", "about": "what the case shows"}
//                  (decode_error cases also say "protocol": "anthropic" | "openai")
//   in.json        the input
//   expected.json  the expected output
//
// Conversions:
//   anthropic_request_roundtrip  Anthropic request -> canonical -> JSON; must equal expected and
//                                decode again to the same canonical request
//   openai_request_to_canonical  OpenAI Chat request -> canonical JSON (Anthropic shape)
//   response_to_openai           canonical response (Anthropic message shape) -> chat.completion
//   response_to_anthropic        canonical response -> Anthropic message body
//   anthropic_stream             canonical events (Anthropic event JSON) -> Anthropic SSE;
//                                expected is the list of frames [{"event", "data"}]
//   openai_stream                canonical events -> OpenAI chunk SSE; expected [{"data"}]
//   decode_error                 a bad request body; expected {"kind", "contains": [substrings]}
//
// Upstream (OpenAI-compatible provider) conversions, protocol/openai_upstream:
//   upstream_request   canonical Anthropic request -> the OpenAI body sent upstream; an optional
//                      options.json holds the channel's UpstreamOptions (options_from_json);
//                      a refused request gives {"error": {"kind", "message"}}
//   upstream_stream    recorded chunk payloads -> what the client sees: in.json is an array of
//                      SSE `data:` payloads, each a string ("[DONE]", raw text) or a JSON object
//                      (written compactly); expected is the Anthropic SSE frames
//                      [{"event", "data"}] the decoder's events encode to; an Error from the
//                      decoder ends the list with the Anthropic `error` frame. case.json may
//                      set "estimated_input_tokens" (default 100), "model" (default
//                      "deepseek-chat"), "end_of_body": false (do not call finish()).
//                      The events must also pass the stream grammar check and assemble.
//   upstream_response  a chat.completion object -> the Anthropic message body, or {"error"}
//   upstream_error     {"status", "body" (string or JSON), "channel"} -> {"kind", "message"}
//
// "created" timestamps are set to 0 before comparing. Adding a case is adding a folder.
// To (re)write expected.json from the current output, run with TIANSHU_UPDATE_GOLDEN=1 and
// review the diff: a golden file is only as good as the eye that checked it.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/request_json.hpp"
#include "protocol/anthropic.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/openai_chat.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/sse.hpp"
#include "stream_grammar.hpp"

using namespace tianshu;
using core::Json;
namespace fs = std::filesystem;

namespace {

const fs::path kCases = fs::path(TIANSHU_SOURCE_DIR) / "tests/unit/protocol/cases";

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
        if (j.contains("created")) j["created"] = 0;
        for (auto& [k, v] : j.items()) zero_created(v);
    } else if (j.is_array()) {
        for (auto& v : j) zero_created(v);
    }
}

//! SSE text -> [{"event"?, "data"}], data parsed as JSON when it is JSON.
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

core::Response response_of(const Json& in) {
    auto r = protocol::anthropic::response_from_json(in);
    if (!r) FAIL("bad response in in.json: " << r.error().message);
    return std::move(r).value();
}

Json decode_to_json(protocol::ClientProtocol p, const std::string& body) {
    auto r = protocol::codec_for(p).decode_request(body);
    if (!r) FAIL("decode failed: " << r.error().message);
    return core::to_json(r.value());
}

Json error_json(const core::Error& e) {
    return Json{{"error", {{"kind", core::to_string(e.kind)}, {"message", e.message}}}};
}

Json run_upstream_case(const std::string& conversion, const Json& spec, const fs::path& dir) {
    namespace up = protocol::openai_upstream;
    if (conversion == "upstream_request") {
        auto req = protocol::codec_for(protocol::ClientProtocol::anthropic_messages)
                       .decode_request(read_text(dir / "in.json"));
        if (!req) FAIL("in.json is not a valid Anthropic request: " << req.error().message);
        up::UpstreamOptions options;
        if (fs::exists(dir / "options.json")) {
            auto o = up::options_from_json(read_json(dir / "options.json"));
            if (!o) FAIL("bad options.json: " << o.error().message);
            options = o.value();
        }
        auto body = up::encode_request(req.value(), options);
        return body ? body.value() : error_json(body.error());
    }
    if (conversion == "upstream_stream") {
        up::StreamDecoder decoder("msg_test", spec.value("model", "deepseek-chat"),
                                  spec.value("estimated_input_tokens", int64_t{100}));
        std::vector<core::StreamEvent> events;
        core::Result<void> status;
        for (const auto& payload : read_json(dir / "in.json")) {
            status = decoder.feed(payload.is_string() ? payload.get<std::string>() : payload.dump(),
                                  events);
            if (!status) break;
        }
        if (status && spec.value("end_of_body", true)) status = decoder.finish(events);
        INFO("events violate the stream grammar");
        CHECK(testing::stream_grammar_problem(events, status.ok()) == "");
        if (status) {
            CHECK(decoder.done());
            core::ResponseAssembler assembler;
            for (const auto& e : events) {
                auto added = assembler.add(e);
                INFO("assembling: " << (added ? std::string() : added.error().message));
                CHECK(added.ok());
            }
        }
        auto encoder =
            protocol::codec_for(protocol::ClientProtocol::anthropic_messages).stream_encoder();
        std::string sse;
        for (const auto& e : events) encoder->encode(e, sse);
        if (!status) encoder->encode_error(status.error(), sse);
        return frames_of(sse);
    }
    if (conversion == "upstream_response") {
        auto r = up::decode_response(read_text(dir / "in.json"), "fallback-model");
        if (!r) return error_json(r.error());
        return Json::parse(protocol::codec_for(protocol::ClientProtocol::anthropic_messages)
                               .encode_response(r.value()));
    }
    if (conversion == "upstream_error") {
        const Json in = read_json(dir / "in.json");
        const Json& body = in["body"];
        auto e = up::upstream_error(in.value("status", 500),
                                    body.is_string() ? body.get<std::string>() : body.dump(),
                                    in.value("channel", "test-channel"));
        return Json{{"kind", core::to_string(e.kind)}, {"message", e.message}};
    }
    return nullptr;
}

//! Runs one case and returns what it produced, in expected.json's shape.
Json run_case(const std::string& conversion, const Json& spec, const fs::path& dir) {
    using protocol::ClientProtocol;
    const std::string in_text = read_text(dir / "in.json");
    if (conversion == "anthropic_request_roundtrip" ||
        conversion == "openai_request_to_canonical") {
        const auto p = conversion == "anthropic_request_roundtrip"
                           ? ClientProtocol::anthropic_messages
                           : ClientProtocol::openai_chat;
        Json out = decode_to_json(p, in_text);
        // The canonical JSON must decode to the same request: nothing is lost on the way.
        INFO("canonical JSON re-decoded");
        CHECK(decode_to_json(ClientProtocol::anthropic_messages, out.dump()) == out);
        return out;
    }
    if (conversion == "response_to_openai" || conversion == "response_to_anthropic") {
        const auto p = conversion == "response_to_openai" ? ClientProtocol::openai_chat
                                                          : ClientProtocol::anthropic_messages;
        Json out = Json::parse(
            protocol::codec_for(p).encode_response(response_of(read_json(dir / "in.json"))));
        zero_created(out);
        return out;
    }
    if (conversion == "anthropic_stream" || conversion == "openai_stream") {
        const auto p = conversion == "anthropic_stream" ? ClientProtocol::anthropic_messages
                                                        : ClientProtocol::openai_chat;
        auto encoder = protocol::codec_for(p).stream_encoder();
        std::string sse;
        for (const auto& e : events_of(read_json(dir / "in.json"))) encoder->encode(e, sse);
        // Every frame is complete and ends with a blank line.
        CHECK((sse.size() >= 2 && sse.compare(sse.size() - 2, 2, "\n\n") == 0));
        Json out = frames_of(sse);
        zero_created(out);
        return out;
    }
    if (conversion == "decode_error") {
        const std::string proto = spec.value("protocol", "anthropic");
        const auto p =
            proto == "openai" ? ClientProtocol::openai_chat : ClientProtocol::anthropic_messages;
        auto r = protocol::codec_for(p).decode_request(in_text);
        REQUIRE_FALSE(r.ok());
        return Json{{"kind", core::to_string(r.error().kind)}, {"message", r.error().message}};
    }
    if (conversion.rfind("upstream_", 0) == 0) return run_upstream_case(conversion, spec, dir);
    FAIL("unknown conversion '" << conversion << "' in " << (dir / "case.json"));
    return nullptr;
}

}  // namespace

TEST_CASE("golden conversion cases") {
    REQUIRE(fs::is_directory(kCases));
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(kCases))
        if (entry.is_directory()) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    REQUIRE(dirs.size() >= 12);
    const bool update = std::getenv("TIANSHU_UPDATE_GOLDEN") != nullptr;

    for (const auto& dir : dirs) {
        DYNAMIC_SECTION(dir.filename().string()) {
            const Json spec = read_json(dir / "case.json");
            const std::string conversion = spec.value("conversion", "");
            INFO("case " << dir.filename().string() << " (" << conversion
                         << "): " << spec.value("about", ""));
            const Json got = run_case(conversion, spec, dir);
            if (conversion == "decode_error") {
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
