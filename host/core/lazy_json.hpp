#pragma once
// A JSON value kept as the text it arrived in until someone looks inside. A tool's JSON Schema
// usually goes from the client to the upstream untouched: decoding it into a nlohmann tree,
// destroying the tree and writing it back out cost ~40 % of the gateway's CPU on a Claude Code
// request (24 tools, see tests/bench/README.md). The tree is built only when asked for.

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tianshu::core {

//! A JSON value held as compact text, as a nlohmann tree, or both; each form is made from the
//! other on first use and kept. Equality compares parsed values, so two holders of the same
//! value are equal whatever their key order. Like the Request it sits in, one holder belongs to
//! one fiber at a time: the const getters fill a cache and must not race each other.
class LazyJson {
  public:
    using Json = nlohmann::json;

    //! null.
    LazyJson() = default;
    //! A tree (implicit, so `tool.input_schema = Json{...}` keeps reading naturally).
    LazyJson(Json value) : tree_(std::move(value)) {}
    LazyJson& operator=(Json value);

    //! Holds `text`, which must be one complete JSON value in valid UTF-8, as a parser that
    //! accepted it (simdjson's minify) writes it. Not checked: a caller with untrusted text
    //! parses it first.
    static LazyJson from_text(std::string text);

    bool is_null() const;
    //! Answered from the text's first byte when there is no tree yet.
    bool is_object() const;

    //! The compact text: the text held, or the tree written as nlohmann's compact dump (invalid
    //! UTF-8 replaced), kept for the next call.
    std::string_view text() const;
    //! The tree: the tree held, or the text parsed, kept for the next call.
    const Json& json() const;
    //! The tree, to change: the text is dropped (it would no longer match).
    Json& mutable_json();

    friend bool operator==(const LazyJson& a, const LazyJson& b) { return a.json() == b.json(); }
    friend bool operator==(const LazyJson& a, const Json& b) { return a.json() == b; }

  private:
    mutable std::optional<std::string> text_;
    mutable std::optional<Json> tree_;
};

}  // namespace tianshu::core
