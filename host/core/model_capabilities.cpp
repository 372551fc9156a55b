#include "core/model_capabilities.hpp"

#include <array>

namespace tianshu::core {

namespace {
constexpr std::array<std::string_view, 7> kFields = {
    "context_window", "max_output_tokens", "max_tools", "tool_choice",
    "vision",         "tool_calls",        "thinking"};
constexpr std::array<std::string_view, 2> kToolCalls = {"native", "text"};
constexpr std::array<std::string_view, 4> kThinking = {"none", "anthropic", "reasoning_content",
                                                       "think_tags"};

template <size_t N>
std::string one_of(const std::array<std::string_view, N>& values) {
    std::string out;
    for (size_t i = 0; i < N; ++i)
        out += std::string(i == 0       ? ""
                           : i + 1 == N ? " or "
                                        : ", ") +
               "\"" + std::string(values[i]) + "\"";
    return out;
}

template <size_t N>
bool listed(const std::array<std::string_view, N>& values, std::string_view v) {
    for (auto x : values)
        if (x == v) return true;
    return false;
}
}  // namespace

bool ModelCapabilities::empty() const {
    return !context_window && !max_output_tokens && !max_tools && !tool_choice && !vision &&
           !tool_calls && !thinking;
}

void ModelCapabilities::overlay(const ModelCapabilities& over) {
    if (over.context_window) context_window = over.context_window;
    if (over.max_output_tokens) max_output_tokens = over.max_output_tokens;
    if (over.max_tools) max_tools = over.max_tools;
    if (over.tool_choice) tool_choice = over.tool_choice;
    if (over.vision) vision = over.vision;
    if (over.tool_calls) tool_calls = over.tool_calls;
    if (over.thinking) thinking = over.thinking;
}

Json ModelCapabilities::to_json() const {
    Json j = Json::object();
    if (context_window) j["context_window"] = *context_window;
    if (max_output_tokens) j["max_output_tokens"] = *max_output_tokens;
    if (max_tools) j["max_tools"] = *max_tools;
    if (tool_choice) j["tool_choice"] = *tool_choice;
    if (vision) j["vision"] = *vision;
    if (tool_calls) j["tool_calls"] = *tool_calls;
    if (thinking) j["thinking"] = *thinking;
    return j;
}

bool is_capability_field(std::string_view key) {
    return listed(kFields, key);
}

Result<void> read_capability_field(ModelCapabilities& out, std::string_view key, const Json& value,
                                   std::string_view path) {
    const std::string where(path);
    const std::string shown = value.dump(-1, ' ', false, Json::error_handler_t::replace);
    if (key == "context_window" || key == "max_output_tokens" || key == "max_tools") {
        const int64_t least = key == "max_tools" ? 0 : 1;
        if (!value.is_number_integer() || value.get<int64_t>() < least)
            return Error::invalid(where + ": " + shown + " is not a count: write an integer >= " +
                                  std::to_string(least) + " (tokens" +
                                  (key == "max_tools" ? std::string(" or tools") : "") +
                                  "), or leave the field out when it is unknown");
        (key == "context_window"      ? out.context_window
         : key == "max_output_tokens" ? out.max_output_tokens
                                      : out.max_tools) = value.get<int64_t>();
        return {};
    }
    if (key == "tool_choice" || key == "vision") {
        if (!value.is_boolean())
            return Error::invalid(where + ": " + shown +
                                  " is not a boolean: write true or false, or leave the field out "
                                  "when it is unknown");
        (key == "vision" ? out.vision : out.tool_choice) = value.get<bool>();
        return {};
    }
    if (key == "tool_calls" || key == "thinking") {
        const bool tool_calls = key == "tool_calls";
        const std::string v = value.is_string() ? value.get<std::string>() : std::string();
        if (tool_calls ? !listed(kToolCalls, v) : !listed(kThinking, v))
            return Error::invalid(where + ": " + shown + " is not known: write " +
                                  (tool_calls ? one_of(kToolCalls) : one_of(kThinking)));
        (tool_calls ? out.tool_calls : out.thinking) = v;
        return {};
    }
    return Error::invalid(where + ": unknown capability '" + std::string(key) +
                          "': the fields are " + one_of(kFields));
}

}  // namespace tianshu::core
