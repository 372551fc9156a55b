#pragma once
// JSON-array-of-strings columns (api_keys.ip_allow/ip_deny/models, channels.tags): how the
// repositories write and read them. Internal to the store.

#include "store/database.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace tianshu::store {

//! `["a","b"]` for {"a","b"}.
inline std::string string_list_text(const std::vector<std::string>& values) {
    return nlohmann::json(values).dump();
}

//! Reads a column written by string_list_text; anything else is an internal error that
//! names the row and the column, so the operator knows what to save again.
inline std::vector<std::string> parse_string_list(const std::string& text, const std::string& row,
                                                  const char* column) {
    auto parsed = nlohmann::json::parse(text, nullptr, false);
    std::vector<std::string> out;
    bool ok = parsed.is_array();
    if (ok)
        for (const auto& v : parsed) {
            if (!v.is_string()) {
                ok = false;
                break;
            }
            out.push_back(v.get<std::string>());
        }
    if (!ok)
        throw StoreFailure(core::Error::internal_error(
            row + " has a " + column + " column that is not a JSON array of strings ('" +
            text.substr(0, 80) + "'): save it again"));
    return out;
}

}  // namespace tianshu::store
