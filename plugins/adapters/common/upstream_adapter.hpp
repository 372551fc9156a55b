#pragma once
// What every built-in upstream adapter shares: the channel config (base URL, sealed-at-rest
// key, provider quirks, timeouts) and the one call into the host. Each adapter folder only
// names its wire protocol and endpoint. Built through the public SDK alone.
#include <string>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

namespace tianshu_adapters {

//! The config every upstream adapter takes.
constexpr const char* kUpstreamAdapterSchema = R"({
  "type": "object",
  "additionalProperties": false,
  "required": ["base_url"],
  "properties": {
    "base_url": {"type": "string", "pattern": "^https?://", "description": "the provider's base URL; the adapter appends its endpoint path"},
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
        "always_stream": {"type": "boolean", "description": "ask the upstream to stream even when the client did not"},
        "tool_result_images": {"enum": ["inline_parts", "separate_user_message", "drop"]},
        "thinking_switch": {"enum": ["none", "enable_thinking", "thinking_type"], "description": "how the provider turns thinking on and off: Qwen's enable_thinking, or thinking.type for GLM and Doubao"},
        "context_window": {"type": "integer", "minimum": 1, "description": "capability override: input plus output tokens"},
        "max_tools": {"type": "integer", "minimum": 0, "description": "capability override: the most tool definitions a request may carry"},
        "tool_choice": {"type": "boolean", "description": "capability override: the model honours tool_choice"},
        "vision": {"type": "boolean", "description": "capability override: the model accepts images"},
        "tool_calls": {"enum": ["native", "text"], "description": "capability override: native tool calls, or tools described in text"},
        "thinking": {"enum": ["none", "anthropic", "reasoning_content", "think_tags"], "description": "capability override: how reasoning is sent and sent back"},
        "ca_file": {"type": "string", "pattern": "^/", "description": "for private deployments: PEM file of the CA certificates an https upstream must chain to, instead of the system CA store"}
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

//! One channel's connection to an upstream that speaks `Wire::protocol`; the host does the
//! HTTP and the conversion (ABI 1.2 upstream_call), the adapter only describes the call.
template <class Wire>
class UpstreamAdapter {
  public:
    //! generate() keeps nothing thread-local across upstream_call: the host may park it while
    //! the upstream answers and go on on another thread (ABI 1.3).
    static constexpr uint32_t flags = TS_FLAG_MAY_SUSPEND;

    UpstreamAdapter(const tianshu::sdk::Host&, std::string_view config_text) {
        auto config = nlohmann::json::parse(config_text);
        std::string base = config.at("base_url").get<std::string>();
        while (!base.empty() && base.back() == '/') base.pop_back();
        url_ = base + Wire::endpoint;
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
        static const std::string protocol = Wire::protocol;
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

}  // namespace tianshu_adapters
