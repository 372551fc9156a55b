// raw_member_of_each: the raw text of a member of each array element, cut out of accepted JSON
// text; and the direct decoder keeping tool schemas as those very bytes.

#include <catch2/catch.hpp>

#include "protocol/anthropic_request.hpp"
#include "protocol/json_text.hpp"
#include "protocol/raw_json.hpp"

using namespace tianshu;
using protocol::raw_member_of_each;

namespace {

std::vector<std::string> schemas_of(std::string_view body) {
    auto raw = raw_member_of_each(body, "tools", "input_schema");
    REQUIRE(raw);
    return {raw->begin(), raw->end()};
}

std::optional<core::Request> direct(std::string_view body) {
    std::optional<core::Request> r;
    REQUIRE(protocol::with_parsed_json(body, [&](const simdjson::dom::element& root) {
        r = protocol::decode_request_direct(root, body);
    }));
    return r;
}

}  // namespace

TEST_CASE("raw members: each element's member as written, strings with quotes and brackets") {
    const std::string body =
        R"({"model":"m","messages":[{"role":"user","content":"say \"}]\" and {"}],)"
        R"("tools":[{"name":"a","input_schema":{"type":"object","description":"x \"{\" y\\"}},)"
        R"({"input_schema":{"properties":{"p":{"enum":[1,2.5,null,true]}}},"name":"b"},)"
        R"({"name":"c"},)"
        R"({"name":"d","input_schema":{"a":1},"input_schema":{"b":[]}}],"stream":true})";
    REQUIRE(protocol::with_parsed_json(body, [](const simdjson::dom::element&) {}));
    CHECK(schemas_of(body) ==
          std::vector<std::string>{R"({"type":"object","description":"x \"{\" y\\"})",
                                   R"({"properties":{"p":{"enum":[1,2.5,null,true]}}})", "",
                                   R"({"b":[]})"});
}

TEST_CASE("raw members: not compact, not an object, or no such array: nothing to cut") {
    CHECK(schemas_of(R"({"tools":[{"input_schema":{"type": "object"}},{"input_schema":3}]})") ==
          std::vector<std::string>{"", ""});
    CHECK(schemas_of(R"({ "tools" : [ { "input_schema" : {"a":"b c"} } ] })") ==
          std::vector<std::string>{R"({"a":"b c"})"});
    CHECK(schemas_of(R"({"tools":[]})").empty());
    CHECK_FALSE(raw_member_of_each(R"({"model":"m"})", "tools", "input_schema"));
    // The last of duplicate arrays, as decoders keep it.
    CHECK(
        schemas_of(R"({"tools":[{"input_schema":{"a":1}}],"tools":[{"input_schema":{"b":2}}]})") ==
        std::vector<std::string>{R"({"b":2})"});
}

TEST_CASE("raw members: keys written with escapes are not compared as written") {
    CHECK_FALSE(
        raw_member_of_each(R"({"tool\u0073":[{"input_schema":{}}]})", "tools", "input_schema"));
    CHECK_FALSE(
        raw_member_of_each(R"({"tools":[{"input_sch\u0065ma":{}}]})", "tools", "input_schema"));
    // Escapes inside values that are only skipped are fine.
    CHECK(schemas_of(R"({"x":{"k\u0065y":"\\"},"tools":[{"input_schema":{"a":"\u00e9"}}]})") ==
          std::vector<std::string>{R"({"a":"\u00e9"})"});
}

TEST_CASE("direct decode keeps a tool's schema as the client's bytes, and writes it otherwise") {
    const std::string compact =
        R"({"model":"m","messages":[{"role":"user","content":"hi"}],)"
        R"("tools":[{"name":"t","input_schema":{"type":"object","d":"caf\u00e9","n":1.50}}]})";
    auto r = direct(compact);
    REQUIRE(r);
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].input_schema.text() == R"({"type":"object","d":"caf\u00e9","n":1.50})");

    const std::string spaced =
        R"({"model":"m","messages":[{"role":"user","content":"hi"}],)"
        R"("tools":[{"name":"t","input_schema":{"type": "object", "n": 1.50}}]})";
    r = direct(spaced);
    REQUIRE(r);
    CHECK(r->tools[0].input_schema.text() == R"({"type":"object","n":1.5})");

    const std::string duplicates =
        R"({"model":"m","messages":[{"role":"user","content":"hi"}],)"
        R"("tools":[{"name":"a","input_schema":{"a":1}},{"name":"b","input_schema":{"b":1}}],)"
        R"("tools":[{"name":"c","input_schema":{"c":1}}]})";
    r = direct(duplicates);
    REQUIRE(r);
    REQUIRE(r->tools.size() == 1);
    CHECK(r->tools[0].name == "c");
    CHECK(r->tools[0].input_schema.text() == R"({"c":1})");
}
