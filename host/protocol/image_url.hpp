#pragma once
// OpenAI's image URLs ("data:<media type>;base64,<data>" or a plain URL) and the canonical image
// source, both ways: the Chat and Responses codecs and their upstream encoders share them.

#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/request.hpp"

namespace tianshu::protocol {

//! "data:image/png;base64,AAAA" becomes a base64 source; anything else is a URL source.
core::Json image_source_of_url(std::string url);

//! A canonical image block as an OpenAI image URL. Another source type is an error at `where`
//! naming `upstream` (the kind of upstream that cannot take it) and the fix.
core::Result<std::string> image_url_of(const core::ContentBlock& b, const std::string& where,
                                       std::string_view upstream);

}  // namespace tianshu::protocol
