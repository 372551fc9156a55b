// Reads the captured Claude Code requests in tests/strategies/scenario_router/captured/: one JSON
// file per request ({about, headers, body}), with big shared parts stored once under shared/ and
// referenced as "$shared:<file>" (see tests/e2e/scenario_capture.test.mjs, which writes them).
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

#include "classifier.hpp"

namespace tianshu::scenario_router::testing {

struct Fixture {
    std::string name;  //!< the file name without .json, e.g. "subagent-agent"
    Headers headers;
    nlohmann::json body;
};

inline std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    if (!in) throw std::runtime_error("cannot read " + p.string());
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

//! Replaces every "$shared:<file>" string below `v` by the shared file's content.
inline void expand(nlohmann::json& v, const std::filesystem::path& shared) {
    constexpr std::string_view kRef = "$shared:";
    if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s.rfind(kRef, 0) != 0) return;
        std::string file = s.substr(kRef.size());
        std::string text = read_text(shared / file);
        v = file.size() > 5 && file.substr(file.size() - 5) == ".json" ? nlohmann::json::parse(text)
                                                                       : nlohmann::json(text);
    } else if (v.is_array() || v.is_object()) {
        for (auto& x : v) expand(x, shared);
    }
}

inline Fixture load_fixture(const std::filesystem::path& file) {
    nlohmann::json j = nlohmann::json::parse(read_text(file));
    Fixture f;
    f.name = file.stem().string();
    const nlohmann::json headers = j.value("headers", nlohmann::json::object());
    for (const auto& [k, v] : headers.items())
        if (v.is_string()) f.headers[k] = v.get<std::string>();
    f.body = std::move(j["body"]);
    expand(f.body, file.parent_path() / "shared");
    return f;
}

//! Every fixture of `dir`, by name.
inline std::map<std::string, Fixture> load_fixtures(const std::filesystem::path& dir) {
    std::map<std::string, Fixture> out;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
        if (!e.is_regular_file() || e.path().extension() != ".json") continue;
        Fixture f = load_fixture(e.path());
        out.emplace(f.name, std::move(f));
    }
    return out;
}

}  // namespace tianshu::scenario_router::testing
