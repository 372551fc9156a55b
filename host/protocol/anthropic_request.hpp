#pragma once
// The Anthropic request decoded from simdjson's document without building a JSON tree: the
// fast path for the requests clients send. It accepts a subset of what the strict decoder
// (core::request_from_json) accepts and decodes it identically; for anything else it returns
// nullopt and the caller runs the strict decoder, which reports the problems.

#include <optional>
#include <string_view>

#include "core/request.hpp"

namespace simdjson::dom {
class element;
}

namespace tianshu::protocol {

//! `root` is the parsed `body` (whose raw text tool schemas are kept as; see raw_json.hpp).
std::optional<core::Request> decode_request_direct(const simdjson::dom::element& root,
                                                   std::string_view body);

}  // namespace tianshu::protocol
