// openai_compat: any OpenAI-compatible Chat Completions upstream (DeepSeek, Qwen, GLM, Kimi,
// Doubao, ...). The channel's base URL includes the version segment
// ("https://api.deepseek.com/v1"); this adapter appends /chat/completions. Provider quirks are
// channel settings passed to the host's OpenAI wire codec; the host does the HTTP and the
// stream conversion, so every adapter shares one pooled client and one state machine.
#include <string>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

namespace {

constexpr const char* kSchema = R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://", "description": "e.g. https://api.deepseek.com/v1"},
    "api_key": {"type": "string", "description": "filled in by the host from the channel's sealed key"},
    "options": {
      "type": "object",
      "additionalProperties": false,
      "properties": {
        "max_output_tokens": {"type": "integer", "minimum": 1},
        "strip_fields": {"type": "array", "items": {"type": "string"}},
        "strip_schema_keywords": {"type": "array", "items": {"type": "string"}},
        "strip_cache_control": {"type": "boolean"},
        "reasoning_on_tool_turns": {"type": "boolean"},
        "include_usage": {"type": "boolean"},
        "tool_result_images": {"enum": ["inline_parts", "separate_user_message", "drop"]}
      }
    },
    "connect_timeout_ms": {"type": "integer", "minimum": 1},
    "first_byte_timeout_ms": {"type": "integer", "minimum": 1},
    "idle_timeout_ms": {"type": "integer", "minimum": 1}
  }
})";

ts_str span(const std::string& s) {
    return ts_str{s.data(), s.size()};
}

//! One channel's connection to an OpenAI-compatible upstream.
class OpenAiCompat {
  public:
    OpenAiCompat(const tianshu::sdk::Host&, std::string_view config_text) {
        auto config = nlohmann::json::parse(config_text);
        std::string base = config.at("base_url").get<std::string>();
        while (!base.empty() && base.back() == '/') base.pop_back();
        url_ = base + "/chat/completions";
        key_ = config.value("api_key", "");
        options_ = config.value("options", nlohmann::json::object()).dump();
        connect_ms_ = config.value("connect_timeout_ms", 0u);
        first_byte_ms_ = config.value("first_byte_timeout_ms", 0u);
        idle_ms_ = config.value("idle_timeout_ms", 0u);
    }

    // TS_KIND_MODEL
    void generate(tianshu::sdk::Request& request) {
        ts_upstream_call call{};
        call.struct_size = sizeof call;
        static const std::string protocol = "openai_chat";
        call.wire_protocol = span(protocol);
        call.url = span(url_);
        call.api_key = span(key_);
        call.options_json = span(options_);
        call.connect_timeout_ms = connect_ms_;
        call.first_byte_timeout_ms = first_byte_ms_;
        call.idle_timeout_ms = idle_ms_;
        request.upstream_call(call);
    }

  private:
    std::string url_, key_, options_;
    uint32_t connect_ms_ = 0, first_byte_ms_ = 0, idle_ms_ = 0;
};

}  // namespace

TIANSHU_PLUGIN(OpenAiCompat, "openai_compat", "1.0.0", TS_KIND_MODEL, kSchema,
               "Any OpenAI-compatible Chat Completions upstream; base_url includes /v1")
