#pragma once
// The canonical JSON form of a Request: Anthropic Messages' shape, which the canonical
// model is a superset of. Used by the Anthropic codec and by the JSON-pointer host
// functions that plugins and scripts use to read and change any field.

#include "core/error.hpp"
#include "core/json_path.hpp"
#include "core/request.hpp"
#include "core/stream_event.hpp"

namespace tianshu::core {

//! Strict decode: every problem is reported with its JSON path ("messages[2].content[0].type").
Result<Request> request_from_json(const Json& body);
//! Same, but moves strings and JSON subtrees out of `body` instead of copying them (the hot
//! path: a decoded request body is not needed afterwards). `body` is left valid but unspecified.
Result<Request> request_from_json(Json&& body);
Json to_json(const Request& request);

// Pieces of the strict decoder shared with protocol's direct decoder (decode_request_direct),
// which reads simdjson's document without this tree and must accept exactly what this accepts.
bool block_type_from_string(std::string_view s, ContentBlock::Type& out);
//! Where a block appears decides which block types are allowed there.
enum class BlockPlace { message, tool_result, system };
bool allowed_in(BlockPlace place, ContentBlock::Type t);
//! An image block's `source` (an object with type base64, url or file and that type's fields).
void check_image_source(const Json& source, const JsonPath& path, ProblemList& p);
//! `tool_choice` (not null): {"type": auto | any | none | tool, "name" for tool}.
void check_tool_choice(const Json& choice, const JsonPath& path, ProblemList& p);
//! `thinking`, an object: a type, and budget_tokens > 0 when enabled.
void check_thinking(const Json& thinking, const JsonPath& path, ProblemList& p);
//! Every tool_result answers a tool_use of the assistant message right before it.
void check_tool_pairing(const std::vector<Message>& messages, const JsonPath& path, ProblemList& p);

Json to_json(const ContentBlock& block);
Json to_json(const Response& response);  //!< Anthropic's non-streaming message object
Json to_json(const Usage& usage);        //!< Anthropic's usage object

}  // namespace tianshu::core
