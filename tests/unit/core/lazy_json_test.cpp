// core/lazy_json: a tool schema held as text must read as the same value as the tree it stands
// for, keep the text it was given byte for byte, and never hand out text that no longer matches
// a changed tree.

#include <catch2/catch.hpp>

#include <string>

#include "core/lazy_json.hpp"

using tianshu::core::LazyJson;
using Json = nlohmann::json;

TEST_CASE("lazy_json: text is kept as given and parsed only on demand") {
    const std::string text = R"({"type":"object","properties":{"b":{"type":"string"},"a":{}}})";
    const LazyJson j = LazyJson::from_text(text);
    CHECK(j.is_object());
    CHECK_FALSE(j.is_null());
    CHECK(j.text() == text);  // the client's key order, not nlohmann's sorted one
    CHECK(j.json() == Json::parse(text));
    CHECK(j.text() == text);  // reading the tree leaves the text alone
    CHECK(j == Json::parse(text));
}

TEST_CASE("lazy_json: a tree gives nlohmann's compact text") {
    LazyJson j = Json{{"b", 1}, {"a", {1.0, "x\xff"}}};
    CHECK(j.is_object());
    CHECK(j.text() == R"({"a":[1.0,"x)"
                      "\xEF\xBF\xBD"
                      R"("],"b":1})");
    j = Json::array();
    CHECK_FALSE(j.is_object());
    CHECK(j.text() == "[]");
}

TEST_CASE("lazy_json: changing the tree drops the text it came from") {
    LazyJson j = LazyJson::from_text(R"({"z":1,"$schema":"x"})");
    j.mutable_json().erase("$schema");
    CHECK(j.text() == R"({"z":1})");
    CHECK(j.json() == Json{{"z", 1}});
}

TEST_CASE("lazy_json: null, non-objects and equality by value") {
    const LazyJson none;
    CHECK(none.is_null());
    CHECK_FALSE(none.is_object());
    CHECK(none.text() == "null");
    CHECK(none.json().is_null());
    CHECK(LazyJson::from_text("null").is_null());
    CHECK_FALSE(LazyJson::from_text("[1]").is_object());
    CHECK_FALSE(LazyJson::from_text("[1]").is_null());
    // Same value, different key order: equal.
    CHECK(LazyJson::from_text(R"({"a":1,"b":2})") == LazyJson::from_text(R"({"b":2,"a":1})"));
    CHECK(LazyJson::from_text(R"({"a":1,"b":2})") == LazyJson(Json{{"a", 1}, {"b", 2}}));
    CHECK_FALSE(LazyJson::from_text(R"({"a":1})") == LazyJson::from_text(R"({"a":2})"));
}
