// Golden conversion cases for Gemini generateContent, both directions. Each folder under
// tests/unit/protocol/gemini_cases/ is one case, as in golden_cases_test.cpp:
//
//   case.json      {"conversion": "<kind>", "about": "what the case shows"}
//   in.json        the input
//   expected.json  the expected output
//
// Conversions:
//   gemini_request            Gemini request -> canonical JSON (Anthropic shape); the canonical
//                             JSON must decode again to the same request
//   gemini_request_upstream   Gemini request -> canonical -> the body a Gemini upstream gets
//                             (shows thought signatures landing where the client had them)
//   gemini_decode_error       a bad Gemini request; expected {"kind", "contains": [substrings]}
//   response_to_gemini        canonical response (Anthropic message shape) -> Gemini response
//   gemini_stream             canonical events (Anthropic event JSON) -> Gemini SSE; expected
//                             is the list of frames [{"data"}]. The frames, read back by the
//                             Gemini upstream decoder at every chunking, must assemble to the
//                             same content as the events themselves.
//   upstream_request          canonical Anthropic request -> the Gemini body; optional
//                             options.json (UpstreamOptions)
//   upstream_stream           in.json: SSE `data:` payloads of a Gemini stream (objects or
//                             strings) -> the Anthropic SSE frames the decoded events encode to
//                             (an Error ends the list with Anthropic's `error` frame). Also
//                             replayed as SSE text split at every byte (and at every pair of
//                             bytes for short streams): the events must be the same each time.
//   upstream_response         a generateContent body -> the Anthropic message body, or {"error"}
//
// To (re)write expected.json from the current output, run with TIANSHU_UPDATE_GOLDEN=1 and
// review the diff.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/request_json.hpp"
#include "protocol/anthropic.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/gemini.hpp"
#include "protocol/gemini_upstream.hpp"
#include "protocol/sse.hpp"
#include "stream_grammar.hpp"

using namespace tianshu;
using core::Json;
namespace fs = std::filesystem;
namespace up = protocol::gemini_upstream;

namespace {

const fs::path kCases = fs::path(TIANSHU_SOURCE_DIR) / "tests/unit/protocol/gemini_cases";

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

Json error_json(const core::Error& e) {
    return Json{{"error", {{"kind", core::to_string(e.kind)}, {"message", e.message}}}};
}

const protocol::ClientCodec& gemini_codec() {
    return protocol::codec_for(protocol::ClientProtocol::gemini);
}
const protocol::ClientCodec& anthropic_codec() {
    return protocol::codec_for(protocol::ClientProtocol::anthropic_messages);
}

//! What a client sees of events: the Anthropic message they assemble to (ids cleared).
Json assembled(const std::vector<core::StreamEvent>& events) {
    core::ResponseAssembler a;
    for (const auto& e : events) {
        auto added = a.add(e);
        INFO("assembling: " << (added ? std::string() : added.error().message));
        CHECK(added.ok());
    }
    Json j = Json::parse(anthropic_codec().encode_response(a.response()));
    j.erase("id");
    return j;
}

struct Decoded {
    std::vector<core::StreamEvent> events;
    core::Result<void> status;
};

//! Feeds SSE text, cut at `cuts`, through the parser and the Gemini upstream decoder.
Decoded decode_sse(const std::string& sse, const std::vector<size_t>& cuts, bool end_of_body) {
    Decoded d;
    protocol::SseParser parser;
    up::StreamDecoder decoder("msg_test", "gemini-test");
    size_t from = 0;
    std::vector<size_t> all = cuts;
    all.push_back(sse.size());
    for (size_t to : all) {
        std::vector<protocol::SseEvent> frames;
        if (auto r = parser.feed(std::string_view(sse).substr(from, to - from), frames); !r) {
            d.status = r;
            return d;
        }
        from = to;
        for (const auto& f : frames)
            if (d.status = decoder.feed(f.data, d.events); !d.status) return d;
    }
    if (end_of_body && !decoder.done()) d.status = decoder.finish(d.events);
    return d;
}

std::string sse_text(const Json& payloads) {
    std::string sse;
    for (const auto& p : payloads) {
        sse += "data: ";
        sse += p.is_string() ? p.get<std::string>() : p.dump();
        sse += "\r\n\r\n";  // as Google frames them
    }
    return sse;
}

std::string dump_events(const std::vector<core::StreamEvent>& events) {
    auto encoder = anthropic_codec().stream_encoder();
    std::string sse;
    for (const auto& e : events) encoder->encode(e, sse);
    return sse;
}

//! Every split of `sse` into two pieces (and three, when it is short) decodes to `baseline`.
void check_every_chunking(const std::string& sse, bool end_of_body, const std::string& baseline) {
    for (size_t i = 0; i <= sse.size(); ++i) {
        auto d = decode_sse(sse, {i}, end_of_body);
        std::string got = dump_events(d.events);
        if (!d.status) got += "error:" + d.status.error().message;
        INFO("split at " << i);
        REQUIRE(got == baseline);
    }
    if (sse.size() > 600) return;
    for (size_t i = 0; i <= sse.size(); i += 3)
        for (size_t j = i; j <= sse.size(); j += 5) {
            auto d = decode_sse(sse, {i, j}, end_of_body);
            std::string got = dump_events(d.events);
            if (!d.status) got += "error:" + d.status.error().message;
            INFO("split at " << i << " and " << j);
            REQUIRE(got == baseline);
        }
}

Json run_case(const std::string& conversion, const Json& spec, const fs::path& dir) {
    const std::string in_text = read_text(dir / "in.json");
    if (conversion == "gemini_request") {
        auto r = gemini_codec().decode_request(in_text);
        if (!r) FAIL("decode failed: " << r.error().message);
        r.value().model = "gemini-3-pro-preview";  // the route sets it from the URL
        Json out = core::to_json(r.value());
        auto again = anthropic_codec().decode_request(out.dump());
        INFO("canonical JSON re-decoded: " << (again ? "" : again.error().message));
        REQUIRE(again.ok());
        CHECK(core::to_json(again.value()) == out);
        return out;
    }
    if (conversion == "gemini_request_upstream") {
        auto r = gemini_codec().decode_request(in_text);
        if (!r) FAIL("decode failed: " << r.error().message);
        r.value().model = "gemini-3-pro-preview";  // the route sets it from the URL
        auto body = up::encode_request(r.value(), {});
        return body ? body.value() : error_json(body.error());
    }
    if (conversion == "gemini_decode_error") {
        auto r = gemini_codec().decode_request(in_text);
        REQUIRE_FALSE(r.ok());
        return Json{{"kind", core::to_string(r.error().kind)}, {"message", r.error().message}};
    }
    if (conversion == "response_to_gemini") {
        auto r = protocol::anthropic::response_from_json(read_json(dir / "in.json"));
        if (!r) FAIL("bad response in in.json: " << r.error().message);
        return Json::parse(gemini_codec().encode_response(r.value()));
    }
    if (conversion == "gemini_stream") {
        const auto events = events_of(read_json(dir / "in.json"));
        auto encoder = gemini_codec().stream_encoder();
        std::string sse;
        for (const auto& e : events) encoder->encode(e, sse);
        CHECK((sse.size() >= 2 && sse.compare(sse.size() - 2, 2, "\n\n") == 0));
        // Read back as a Gemini upstream would, at every chunking: the same answer.
        const bool errored = std::any_of(events.begin(), events.end(), [](const auto& e) {
            return e.type == core::StreamEvent::Type::error;
        });
        if (!errored) {
            auto back = decode_sse(sse, {}, true);
            INFO("read back: " << (back.status ? "" : back.status.error().message));
            REQUIRE(back.status.ok());
            Json want = assembled(events), got = assembled(back.events);
            // Tool ids survive; the message id and model are the decoder's own.
            want.erase("model");
            got.erase("model");
            INFO("read back diff:\n" << Json::diff(want, got).dump(2));
            CHECK(got == want);
            check_every_chunking(sse, true, dump_events(back.events));
        }
        return frames_of(sse);
    }
    if (conversion == "upstream_request") {
        auto req = anthropic_codec().decode_request(in_text);
        if (!req) FAIL("in.json is not a valid Anthropic request: " << req.error().message);
        up::UpstreamOptions options;
        if (fs::exists(dir / "options.json")) {
            auto parsed =
                protocol::openai_upstream::options_from_json(read_json(dir / "options.json"));
            if (!parsed) FAIL("bad options.json: " << parsed.error().message);
            options = parsed.value();
        }
        auto body = up::encode_request(req.value(), options);
        return body ? body.value() : error_json(body.error());
    }
    if (conversion == "upstream_stream") {
        const bool end_of_body = spec.value("end_of_body", true);
        const std::string sse = sse_text(read_json(dir / "in.json"));
        auto d = decode_sse(sse, {}, end_of_body);
        INFO("events violate the stream grammar");
        CHECK(testing::stream_grammar_problem(d.events, d.status.ok()) == "");
        if (d.status) assembled(d.events);
        std::string baseline = dump_events(d.events);
        check_every_chunking(sse, end_of_body,
                             d.status ? baseline : baseline + "error:" + d.status.error().message);
        auto encoder = anthropic_codec().stream_encoder();
        std::string out = baseline;
        if (!d.status) encoder->encode_error(d.status.error(), out);
        return frames_of(out);
    }
    if (conversion == "upstream_response") {
        std::vector<core::StreamEvent> events;
        up::StreamDecoder decoder("msg_test", "gemini-test");
        auto r = decoder.feed(in_text, events);
        if (r && !decoder.done()) r = decoder.finish(events);
        if (!r) return error_json(r.error());
        return assembled(events);
    }
    FAIL("unknown conversion '" << conversion << "' in " << (dir / "case.json"));
    return nullptr;
}

}  // namespace

TEST_CASE("gemini golden conversion cases") {
    REQUIRE(fs::is_directory(kCases));
    std::vector<fs::path> dirs;
    for (const auto& entry : fs::directory_iterator(kCases))
        if (entry.is_directory()) dirs.push_back(entry.path());
    std::sort(dirs.begin(), dirs.end());
    REQUIRE(dirs.size() >= 8);
    const bool update = std::getenv("TIANSHU_UPDATE_GOLDEN") != nullptr;
    for (const auto& dir : dirs) {
        DYNAMIC_SECTION(dir.filename().string()) {
            const Json spec = read_json(dir / "case.json");
            const std::string conversion = spec.value("conversion", "");
            INFO("case " << dir.filename().string() << " (" << conversion
                         << "): " << spec.value("about", ""));
            const Json got = run_case(conversion, spec, dir);
            if (conversion == "gemini_decode_error") {
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

TEST_CASE("gemini method path percent-encodes the model and asks for SSE when streaming") {
    CHECK(up::method_path("gemini-2.5-flash", true) ==
          "/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
    CHECK(up::method_path("tunedModels/x y", false) ==
          "/models/tunedModels%2Fx%20y:generateContent");
}

TEST_CASE("gemini error bodies are Google's shape with the HTTP status") {
    const Json j =
        Json::parse(gemini_codec().error_body(core::Error::invalid("contents: required")));
    CHECK(
        j ==
        Json{{"error",
              {{"code", 400}, {"message", "contents: required"}, {"status", "INVALID_ARGUMENT"}}}});
    const Json k = Json::parse(
        gemini_codec().error_body(core::Error{core::ErrorKind::authentication, "bad key", {}}));
    CHECK(k["error"]["status"] == "UNAUTHENTICATED");
    CHECK(k["error"]["code"] == 401);
}
