#pragma once
// Writing and reading JSON text on the hot path: hand-built stream frames need string
// escaping, and every wire body is parsed here so that no codec lets an exception escape.

#include <string>
#include <string_view>
#include <type_traits>

#include "core/error.hpp"
#include "core/request.hpp"

namespace simdjson::dom {
class element;
}

namespace tianshu::protocol {

//! Appends `s` as a quoted JSON string. Invalid UTF-8 becomes U+FFFD rather than an error,
//! so a model's broken bytes never break the client's stream.
void append_json_string(std::string& out, std::string_view s);

//! Compact serialisation that never throws (invalid UTF-8 is replaced).
std::string dump_json(const core::Json& j);
void append_json(std::string& out, const core::Json& j);

//! The deepest nesting a wire body may have; deeper documents are refused before parsing
//! (recursive copy and dump would otherwise overflow the stack on hostile input).
inline constexpr size_t kMaxJsonDepth = 256;

//! Parses a request body. Errors are invalid_request and say where the JSON is broken.
core::Result<core::Json> parse_json_body(std::string_view body);

//! Parses `body` with simdjson (without building a tree) and calls `use(root)` while the parsed
//! document is alive; false, without the call, when simdjson cannot parse it (parse_json_body
//! then says why). The document lives in a parser the thread reuses: `use` must not parse.
bool with_parsed_json(std::string_view body, void (*use)(const simdjson::dom::element&, void*),
                      void* context);
template <class Use>
bool with_parsed_json(std::string_view body, Use&& use) {
    using F = std::remove_reference_t<Use>;
    return with_parsed_json(
        body, [](const simdjson::dom::element& root, void* f) { (*static_cast<F*>(f))(root); },
        const_cast<void*>(static_cast<const void*>(&use)));
}

//! The nlohmann tree of a value parsed by simdjson: the tree nlohmann's own parser builds from
//! the same text (of duplicate keys the last one wins). Recursive: the caller bounds the depth.
core::Json json_from_simdjson(const simdjson::dom::element& e);

//! Appends a value parsed by simdjson as compact JSON text: what simdjson::minify writes, with
//! strings escaped by append_json_string (a run of plain bytes copied at once, where minify
//! goes byte by byte). Recursive: the caller bounds the depth.
void append_compact_json(std::string& out, const simdjson::dom::element& e);

}  // namespace tianshu::protocol
