#include <catch2/catch.hpp>

#include <algorithm>

#include "argument_repair.hpp"

using namespace tianshu::tool_repair;
using nlohmann::json;

namespace {

const json kRead = json::parse(R"({"type":"object","properties":{"file_path":{"type":"string"},
  "offset":{"type":"integer"},"limit":{"type":"integer","minimum":1},
  "flags":{"type":"array","items":{"type":"string"}},"force":{"type":"boolean"},
  "mode":{"enum":["r","rw"]}},"required":["file_path"],"additionalProperties":false})");

bool has(const std::vector<std::string>& v, const std::string& s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("valid arguments need no repair", "[tool_repair][arguments]") {
    auto r = repair_argument_text(R"({"file_path": "/a", "limit": 3})", kRead);
    REQUIRE(r.ok);
    CHECK(r.repairs.empty());
    CHECK(r.arguments == json::parse(R"({"file_path": "/a", "limit": 3})"));
}

TEST_CASE("each kind of malformed JSON is repaired and named", "[tool_repair][arguments]") {
    struct Case {
        const char* text;
        const char* repair;
        const char* expected;
    };
    const Case cases[] = {
        {R"({"file_path": "/a", "limit": 3,})", "trailing_comma",
         R"({"file_path":"/a","limit":3})"},
        {R"({'file_path': '/it\'s'})", "single_quotes", R"({"file_path":"/it's"})"},
        {"{\"file_path\": \"/a\nb\"}", "raw_newline", R"({"file_path":"/a\nb"})"},
        {R"({"file_path": "/a", "force": True, "mode": None})", "python_literal", nullptr},
        {R"({"file_path": "/a", "limit": "7"})", "coerced_type", R"({"file_path":"/a","limit":7})"},
        {R"({"file_path": "/a", "force": "false"})", "coerced_type",
         R"({"file_path":"/a","force":false})"},
        {R"({"file_path": "/a", "flags": "[\"x\"]"})", "stringified_json",
         R"({"file_path":"/a","flags":["x"]})"},
        {"```json\n{\"file_path\": \"/a\"}\n```", "code_fence", R"({"file_path":"/a"})"},
        {R"({"file_path": 42})", "coerced_type", R"({"file_path":"42"})"},
    };
    for (const auto& c : cases) {
        INFO(c.text);
        auto r = repair_argument_text(c.text, kRead);
        CHECK(has(r.repairs, c.repair));
        if (c.expected) {
            CHECK(r.ok);
            CHECK(r.arguments == json::parse(c.expected));
        }
    }
    // None for an enum without null: repaired to JSON, then refused by the schema, by name.
    auto r = repair_argument_text(R"({"file_path": "/a", "force": True, "mode": None})", kRead);
    CHECK_FALSE(r.ok);
    CHECK(r.error.find("`/mode`") != std::string::npos);
}

TEST_CASE("what cannot be repaired fails with the field named, never as {}",
          "[tool_repair][arguments]") {
    auto missing = repair_argument_text(R"({"limit": 2})", kRead);
    CHECK_FALSE(missing.ok);
    CHECK(missing.error.find("file_path") != std::string::npos);

    auto wrong = repair_argument_text(R"({"file_path": "/a", "limit": "ten"})", kRead);
    CHECK_FALSE(wrong.ok);
    CHECK(wrong.error.find("`/limit`") != std::string::npos);
    CHECK(wrong.error.find("integer") != std::string::npos);

    auto below = repair_argument_text(R"({"file_path": "/a", "limit": 0})", kRead);
    CHECK_FALSE(below.ok);
    CHECK(below.error.find("minimum") != std::string::npos);

    auto extra = repair_argument_text(R"({"file_path": "/a", "color": "red"})", kRead);
    CHECK_FALSE(extra.ok);
    CHECK(extra.error.find("color") != std::string::npos);

    auto garbage = repair_argument_text("{file_path: /tmp/x, content: [}", kRead);
    CHECK_FALSE(garbage.ok);
    CHECK(garbage.error.find("not JSON") != std::string::npos);

    auto not_object = repair_argument_text(R"(["/a"])", kRead);
    CHECK_FALSE(not_object.ok);
    CHECK(not_object.error.find("object") != std::string::npos);
}

TEST_CASE("the validator covers the schema subset tools use", "[tool_repair][arguments]") {
    const json schema = json::parse(R"({"type":"object","properties":{
      "a":{"anyOf":[{"type":"string"},{"type":"integer"}]},
      "b":{"oneOf":[{"type":"integer"},{"type":"number","minimum":10}]},
      "c":{"type":"string","minLength":2,"maxLength":3},
      "d":{"type":"array","minItems":1,"items":{"type":"object","required":["x"]}},
      "e":{"const":"k"},"f":{"type":["string","null"]}}})");
    CHECK_FALSE(validate_against_schema(
        json::parse(R"({"a":"s","b":5,"c":"ab","d":[{"x":1}],"e":"k","f":null})"), schema));
    CHECK(validate_against_schema(json::parse(R"({"a":true})"), schema));
    CHECK(validate_against_schema(json::parse(R"({"b":12})"), schema));  // both alternatives
    CHECK(validate_against_schema(json::parse(R"({"c":"abcd"})"), schema));
    CHECK(validate_against_schema(json::parse(R"({"c":"é"})"), schema));  // one character
    CHECK_FALSE(validate_against_schema(json::parse(R"({"c":"éé"})"), schema));
    CHECK(validate_against_schema(json::parse(R"({"d":[]})"), schema));
    auto nested = validate_against_schema(json::parse(R"({"d":[{"y":1}]})"), schema);
    REQUIRE(nested);
    CHECK(nested->find("`/d/0`") != std::string::npos);
    CHECK(validate_against_schema(json::parse(R"({"e":"z"})"), schema));
}

TEST_CASE("bare parameter text is typed by the property's schema", "[tool_repair][arguments]") {
    CHECK(value_from_text("42", json{{"type", "string"}}) == json("42"));
    CHECK(value_from_text("42", json{{"type", "integer"}}) == json(42));
    CHECK(value_from_text("true", json{{"type", "boolean"}}) == json(true));
    CHECK(value_from_text("[1, 2]", json{{"type", "array"}}) == json::parse("[1,2]"));
    CHECK(value_from_text("hello world", json::object()) == json("hello world"));
    CHECK(value_from_text("not json", json{{"type", "integer"}}) == json("not json"));
}
