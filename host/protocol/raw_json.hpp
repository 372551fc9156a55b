#pragma once
// Reading raw slices out of JSON text that a parser has already accepted, without building
// anything: a tool's JSON Schema can then be kept as the very bytes the client sent, instead of
// being written out again from the parsed document (most requests send it on unread).

#include <optional>
#include <string_view>
#include <vector>

namespace tianshu::protocol {

//! `json` is one JSON object that a parser accepted. For each element of its array member
//! `array_key` (the last such member: decoders keep the last of duplicate keys), the raw text of
//! that element's member `member_key` (again the last), when it is an object written compactly
//! (no whitespace outside strings); an empty view otherwise. nullopt when the array is absent,
//! or when a key that has to be compared is written with escapes (the caller then writes the
//! values from its parsed document).
std::optional<std::vector<std::string_view>> raw_member_of_each(std::string_view json,
                                                                std::string_view array_key,
                                                                std::string_view member_key);

}  // namespace tianshu::protocol
