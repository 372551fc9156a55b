// Tool-call arguments as models really write them, made into what the tool's input_schema says:
// lenient JSON (trailing commas, single quotes, raw newlines, Python literals), values coerced
// to the schema's types (numbers and booleans sent as strings), then validated.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::tool_repair {

//! What repair_arguments made of a call's arguments.
struct RepairedArguments {
    //! True when `arguments` is a JSON object that satisfies the schema.
    bool ok = false;
    nlohmann::json arguments;
    //! The repairs applied, as short words: trailing_comma, single_quotes, raw_newline,
    //! python_literal, code_fence, coerced_type, stringified_json, dropped_null (a null for an
    //! optional property that does not allow null is left out). Empty when the arguments
    //! were valid as sent.
    std::vector<std::string> repairs;
    //! When !ok: what is wrong, naming the field (e.g. "`/limit`: expected integer, got
    //! string \"ten\"").
    std::string error;
};

//! Parses JSON text leniently. Returns nullopt (and `error`) when even the repaired text is not
//! JSON. `repairs` receives the kinds of repair that were needed.
std::optional<nlohmann::json> parse_lenient_json(std::string_view text,
                                                 std::vector<std::string>& repairs,
                                                 std::string& error);

//! Converts values to the types `schema` declares where the conversion is lossless ("42" to 42
//! for an integer, "true" to true, a JSON string holding an object to that object, 42 to "42"
//! for a string). Records "coerced_type" / "stringified_json" in `repairs`.
void coerce_to_schema(nlohmann::json& value, const nlohmann::json& schema,
                      std::vector<std::string>& repairs);

//! Checks `value` against the subset of JSON Schema tool definitions use: type, enum, const,
//! properties, required, additionalProperties, items, min/maxItems, min/maxLength, minimum,
//! maximum, exclusiveMinimum/Maximum, anyOf, oneOf, allOf. $ref and unknown keywords are
//! accepted (not checked). Returns the first violation, naming its JSON pointer, or nullopt.
std::optional<std::string> validate_against_schema(const nlohmann::json& value,
                                                   const nlohmann::json& schema,
                                                   const std::string& pointer = "");

//! Arguments written as JSON text: parse leniently, coerce, validate.
RepairedArguments repair_argument_text(std::string_view text, const nlohmann::json& schema);
//! Arguments already assembled as a value (XML-style envelopes): coerce, validate.
RepairedArguments repair_arguments(nlohmann::json value, const nlohmann::json& schema);

//! A parameter value written as bare text (Qwen3-Coder, GLM, MiniMax): a string where the
//! schema says string (or says nothing and the text is not JSON), else the JSON it spells.
nlohmann::json value_from_text(std::string_view text, const nlohmann::json& property_schema);

}  // namespace tianshu::tool_repair
