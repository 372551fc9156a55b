#pragma once
// Writing JSON text without building a tree, for the lines written on every request (the
// request log line, the usage journal). Each function appends exactly the text nlohmann's
// compact dump with error_handler_t::replace writes for the same value, so a line written here
// is byte for byte the line the nlohmann tree gave before, and readers see no difference.

#include <cstdint>
#include <string>
#include <string_view>

namespace tianshu::core {

//! Appends `s` as a quoted JSON string: `"`, `\` and control characters escaped (\b \t \n \f
//! \r, else \u00xx), UTF-8 copied as is, and each invalid UTF-8 sequence replaced by one U+FFFD
//! exactly where nlohmann's dump replaces it.
void append_json_quoted(std::string& out, std::string_view s);

//! Appends a number as nlohmann writes it: integers in decimal; doubles in the shortest form
//! that reads back to the same value ("1.0", "0.25", "1e+21"), NaN and infinities as null.
void append_json_number(std::string& out, int64_t v);
void append_json_number(std::string& out, uint64_t v);
void append_json_number(std::string& out, double v);

}  // namespace tianshu::core
