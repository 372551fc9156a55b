#include "scenes.hpp"

namespace tianshu::scenario_router {

namespace {
std::string_view trim(std::string_view s, std::string_view chars = " \t\r\n") {
    size_t b = s.find_first_not_of(chars);
    if (b == std::string_view::npos) return {};
    size_t e = s.find_last_not_of(chars);
    return s.substr(b, e - b + 1);
}

//! At most `n` bytes of `s`, never splitting a UTF-8 sequence.
std::string_view cut_utf8(std::string_view s, size_t n) {
    if (s.size() <= n) return s;
    while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
    return s.substr(0, n);
}
}  // namespace

std::string scene_prompt(const SceneConfig& config, std::string_view newest_request) {
    std::string p =
        "Classify the user's request below into exactly one scene. Answer with the scene's name "
        "only, nothing else.\n\nScenes:\n";
    for (const auto& s : config.scenes) {
        p += "- ";
        p += s.name;
        if (!s.description.empty()) {
            p += ": ";
            p += s.description;
        }
        p += '\n';
    }
    p += "\nUser request:\n<request>\n";
    p += cut_utf8(trim(newest_request), config.max_request_chars);
    p += "\n</request>\n\nScene name:";
    return p;
}

std::optional<size_t> parse_scene_answer(const SceneConfig& config, std::string_view answer) {
    std::string_view a = trim(trim(answer), "\"'`*. \t\r\n");
    for (size_t i = 0; i < config.scenes.size(); ++i)
        if (config.scenes[i].name == a) return i;
    std::optional<size_t> best;
    for (size_t i = 0; i < config.scenes.size(); ++i) {
        const std::string& name = config.scenes[i].name;
        if (answer.find(name) == std::string_view::npos) continue;
        if (!best || name.size() > config.scenes[*best].name.size()) best = i;
    }
    return best;
}

}  // namespace tianshu::scenario_router
