// The direct decoder (protocol/anthropic_request) against the strict one (core/request_json):
// whatever the direct one accepts must decode to exactly what the strict one makes of the same
// body, the requests clients send must take the direct path, and anything with a problem must
// be left to the strict decoder (which words the error).

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/request_json.hpp"
#include "protocol/anthropic_request.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/json_text.hpp"

using namespace tianshu;
namespace fs = std::filesystem;

namespace {

std::optional<core::Request> direct(std::string_view body) {
    std::optional<core::Request> r;
    protocol::with_parsed_json(body, [&](const simdjson::dom::element& root) {
        r = protocol::decode_request_direct(root, body);
    });
    return r;
}

core::Result<core::Request> strict(std::string_view body) {
    auto parsed = protocol::parse_json_body(body);
    if (!parsed) return parsed.take_error();
    return core::request_from_json(std::move(parsed).value());
}

std::string canonical(const core::Request& r) {
    return protocol::dump_json(core::to_json(r));
}

//! The property every body must have; returns whether the direct decoder took it.
bool agrees(std::string_view body) {
    INFO(body);
    const auto d = direct(body);
    const auto s = strict(body);
    if (d) {
        REQUIRE(s);
        CHECK(canonical(*d) == canonical(s.value()));
    }
    return d.has_value();
}

constexpr const char* kWrite =
    R"({"type":"tool_use","id":"toolu_1","name":"Write","input":{"file_path":"a.txt","content":"hi"}})";

}  // namespace

TEST_CASE("direct decode: the requests clients send take the direct path, decoded as strictly") {
    const std::string bodies[] = {
        R"({"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]})",
        R"({"model":"m","messages":[{"role":"user","content":""}]})",
        R"({"model":"claude-sonnet-4-5","max_tokens":32000,"stream":true,"temperature":1,)"
        R"("top_p":0.5,"top_k":40,"stop_sequences":["\n\nHuman:","END"],)"
        R"("metadata":{"user_id":"user_abc_account__session_1"},)"
        R"("system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}},)"
        R"({"type":"text","text":"Be terse."}],)"
        R"("tools":[{"name":"Write","description":"Writes a file","input_schema":{"type":"object",)"
        R"("properties":{"file_path":{"type":"string"}},"required":["file_path"],)"
        R"("additionalProperties":false,"$schema":"http://json-schema.org/draft-07/schema#"}},)"
        R"({"type":"web_search_20250305","name":"web_search","max_uses":5},)"
        R"({"type":"custom","name":"x","input_schema":{},"cache_control":{"type":"ephemeral"}}],)"
        R"("tool_choice":{"type":"auto"},"thinking":{"type":"enabled","budget_tokens":2048},)"
        R"("context_management":{"edits":[]},"service_tier":"auto",)"
        R"("messages":[{"role":"user","content":[{"type":"text","text":"write a.txt",)"
        R"("citations":null},{"type":"image","source":{"type":"base64","media_type":"image/png",)"
        R"("data":"iVBOR"}}]},)"
        R"({"role":"assistant","content":[{"type":"thinking","thinking":"ok","signature":"s=="},)"
        R"({"type":"redacted_thinking","data":"xyz"},{"type":"text","text":"Writing."},)" +
            std::string(kWrite) +
            R"(]},)"
            R"({"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",)"
            R"("content":[{"type":"text","text":"done"},{"type":"image","source":{"type":"url",)"
            R"("url":"https://example.com/a.png"}}],"is_error":false,"cache_control":null}]},)"
            R"({"role":"system","content":"mid-conversation note"},)"
            R"({"role":"assistant","content":"ok"}]})",
        R"({"model":"m","system":"","tool_choice":null,"thinking":null,"metadata":null,)"
        R"("messages":[{"role":"assistant","content":[)" +
            std::string(kWrite) +
            R"(]},{"role":"system","content":"x"},{"role":"user","content":[)"
            R"({"type":"tool_result","tool_use_id":"toolu_1","content":"","is_error":true},)"
            R"({"type":"tool_result","tool_use_id":"toolu_1"}]}]})",
        R"({"model":"m","tool_choice":{"type":"tool","name":"Write"},"thinking":{"type":"disabled"},)"
        R"("temperature":0.0,"top_p":1,"messages":[{"content":[],"role":"user"}]})",
        R"({"model":"m","messages":[{"role":"user","content":"\u00e9\ud83d\ude00 \"q\""}],)"
        R"("x":[1,-2,18446744073709551615,1.5e300,true,null,{"a":{}}]})",
        // Duplicate keys: the last one wins, as in the tree the strict decoder reads.
        R"({"model":"a","model":"b","messages":[{"role":"user","content":"1"}],)"
        R"("messages":[{"role":"user","role":"assistant","content":"2","content":[{"type":"text",)"
        R"("text":"3","text":"4"}]}],"system":"s","system":[{"type":"text","text":"t"}],)"
        R"("tool_choice":{"type":"any"},"tool_choice":null,"stop_sequences":["a"],)"
        R"("stop_sequences":["b"],"max_tokens":1,"max_tokens":2,"x":1,"x":2,)"
        R"("tools":[{"name":"a","input_schema":{}}],)"
        R"("tools":[{"name":"b","type":"bash_20250124","type":"custom","input_schema":{"a":1},)"
        R"("input_schema":{"b":2}}]})",
        // A schema is kept as text (simdjson's minified form) and read back through nlohmann:
        // duplicate keys, number forms and escapes inside it must read as the strict tree does.
        R"({"model":"m","messages":[{"role":"user","content":"x"}],"tools":[{"name":"s",)"
        R"("input_schema":{"z":1.0,"a":[1e2,-0,-0.0,1E-7,18446744073709551615,-5,2.50],)"
        R"("a":{"k":"\u00e9\u0001\"\\\/\ud83d\ude00","k":true},"n":null,"e":{},"f":[]}}]})",
        R"({"model":"m","messages":[{"role":"assistant","content":[)" + std::string(kWrite) +
            R"(]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",)"
            R"("content":"a","content":[{"type":"text","text":"b"}]}]}]})",
    };
    for (const auto& body : bodies) {
        INFO(body);
        CHECK(agrees(body));
    }
}

TEST_CASE("direct decode: a body with a problem is left to the strict decoder") {
    const std::string bodies[] = {
        "[]",
        R"({"messages":[{"role":"user","content":"hi"}]})",
        R"({"model":"","messages":[{"role":"user","content":"hi"}]})",
        R"({"model":"m"})",
        R"({"model":"m","messages":[]})",
        R"({"model":"m","messages":{}})",
        R"({"model":"m","messages":[{"role":"user"}]})",
        R"({"model":"m","messages":[{"content":"x"}]})",
        R"({"model":"m","messages":[{"role":"robot","content":"x"}]})",
        R"({"model":"m","messages":[{"role":"user","content":"x","name":"n"}]})",
        R"({"model":"m","messages":[{"role":"user","content":7}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"video"}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":1}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","x":1}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","citations":1}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a","cache_control":1}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64"}}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"image"}]}]})",
        R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b"}]}]})",
        R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"tool_use","id":"a","name":"b","input":[]}]}]})",
        R"({"model":"m","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"nope"}]}]})",
        R"({"model":"m","messages":[{"role":"assistant","content":[)" + std::string(kWrite) +
            R"(]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","is_error":"yes"}]}]})",
        R"({"model":"m","messages":[{"role":"assistant","content":[)" + std::string(kWrite) +
            R"(]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1",)"
            R"("content":[{"type":"tool_use","id":"a","name":"b","input":{}}]}]}]})",
        R"({"model":"m","messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"a","cache_control":{}}]}]})",
        R"({"model":"m","system":[{"type":"image","source":{"type":"url","url":"u"}}],"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","system":5,"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","max_tokens":5.0,"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","max_tokens":9223372036854775808,"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","top_k":-1,"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","temperature":2.5,"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","top_p":"1","messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","stop_sequences":[1],"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","stream":"yes","messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","tools":[{"name":"a"}],"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","tools":[{"name":"","input_schema":{}}],"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","tools":[{"input_schema":{}}],"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","tools":[{"name":"a","input_schema":"{}"}],"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","tool_choice":"auto","messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","tool_choice":{"type":"tool"},"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","thinking":{"type":"enabled"},"messages":[{"role":"user","content":"x"}]})",
        R"({"model":"m","metadata":[],"messages":[{"role":"user","content":"x"}]})",
        // A duplicate whose last value is bad fails in the tree too.
        R"({"model":"m","model":1,"messages":[{"role":"user","content":"x"}]})",
    };
    for (const auto& body : bodies) {
        INFO(body);
        CHECK_FALSE(direct(body));
        CHECK_FALSE(strict(body));
    }
    // Not JSON, or beyond simdjson's range: nothing to decode directly.
    CHECK_FALSE(direct(R"({"model":"m",)"));
    CHECK_FALSE(
        direct(R"({"model":"m","max_tokens":123456789012345678901234567890,"messages":[]})"));
}

TEST_CASE("direct decode: the codec's errors are the strict decoder's, word for word") {
    const std::string body =
        R"({"model":"m","max_tokens":0,"messages":[{"role":"user","content":[{"type":"text"}]}]})";
    const auto via_codec =
        protocol::codec_for(protocol::ClientProtocol::anthropic_messages).decode_request(body);
    const auto via_strict = strict(body);
    REQUIRE_FALSE(via_codec);
    REQUIRE_FALSE(via_strict);
    CHECK(via_codec.error().message == via_strict.error().message);
    CHECK(via_codec.error().message.find("max_tokens") != std::string::npos);
    CHECK(via_codec.error().message.find("messages[0].content[0].text") != std::string::npos);
}

TEST_CASE("direct decode: every golden case's input agrees with the strict decoder") {
    const auto read = [](const fs::path& file) {
        std::ifstream f(file);
        std::stringstream text;
        text << f.rdbuf();
        return text.str();
    };
    size_t requests = 0;
    for (const auto& dir :
         fs::directory_iterator(fs::path(TIANSHU_SOURCE_DIR) / "tests/unit/protocol/cases")) {
        const fs::path in = dir.path() / "in.json";
        if (!fs::exists(in)) continue;
        INFO(dir.path().filename().string());
        const bool taken = agrees(read(in));
        // Valid Anthropic requests, which must take the direct path.
        const auto conversion = core::Json::parse(read(dir.path() / "case.json"))["conversion"];
        if (conversion == "anthropic_request_roundtrip" || conversion == "upstream_request") {
            ++requests;
            CHECK(taken);
        }
    }
    CHECK(requests >= 20);
}
