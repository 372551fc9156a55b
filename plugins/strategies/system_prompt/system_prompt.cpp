// system_prompt: puts operator text before and/or after the client's system prompt, e.g. a
// house style or a safety preamble that every request of a tier carries.
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

namespace {

constexpr const char* kSchema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "prepend": {"type": "string", "description": "text placed before the client's system prompt"},
    "append": {"type": "string", "description": "text placed after the client's system prompt"}
  },
  "additionalProperties": false
})";

//! Joins the configured text and the client's system prompt with blank lines.
class SystemPrompt {
  public:
    SystemPrompt(const tianshu::sdk::Host&, std::string_view config_json) {
        auto config = nlohmann::json::parse(config_json);
        prepend_ = config.value("prepend", std::string());
        append_ = config.value("append", std::string());
    }

    void on_request(tianshu::sdk::Request& request) {
        if (prepend_.empty() && append_.empty()) return;
        std::string text = prepend_;
        for (const std::string& part : {request.system_text(), append_}) {
            if (part.empty()) continue;
            if (!text.empty()) text += "\n\n";
            text += part;
        }
        request.set_system_text(text);
    }

  private:
    std::string prepend_;
    std::string append_;
};

}  // namespace

TIANSHU_PLUGIN(SystemPrompt, "system_prompt", "1.0.0", TS_KIND_STRATEGY, kSchema,
               "Adds operator text before and after the client's system prompt.")
