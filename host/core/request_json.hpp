#pragma once
// The canonical JSON form of a Request: Anthropic Messages' shape, which the canonical
// model is a superset of. Used by the Anthropic codec and by the JSON-pointer host
// functions that plugins and scripts use to read and change any field.

#include "core/error.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"

namespace tianshu::core {

//! Strict decode: every problem is reported with its JSON path ("messages[2].content[0].type").
Result<Request> request_from_json(const Json& body);
//! Same, but moves strings and JSON subtrees out of `body` instead of copying them (the hot
//! path: a decoded request body is not needed afterwards). `body` is left valid but unspecified.
Result<Request> request_from_json(Json&& body);
Json to_json(const Request& request);

Json to_json(const ContentBlock& block);
Json to_json(const Response& response);  //!< Anthropic's non-streaming message object
Json to_json(const Usage& usage);        //!< Anthropic's usage object

}  // namespace tianshu::core
