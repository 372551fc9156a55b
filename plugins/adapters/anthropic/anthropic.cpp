// anthropic: Anthropic-compatible Messages upstreams (DeepSeek, Kimi, GLM, Qwen and MiniMax
// offer /anthropic endpoints). The channel's base URL is the API root without /v1
// ("https://api.deepseek.com/anthropic"); this adapter appends /v1/messages. The request goes
// as the chain left it, so an Anthropic client's fields pass through.
#include "../common/upstream_adapter.hpp"

namespace {
struct AnthropicMessages {
    static constexpr const char* protocol = "anthropic_messages";
    static constexpr const char* endpoint = "/v1/messages";
};
using AnthropicAdapter = tianshu_adapters::UpstreamAdapter<AnthropicMessages>;
}  // namespace

TIANSHU_PLUGIN(AnthropicAdapter, "anthropic", "1.0.0", TS_KIND_MODEL,
               tianshu_adapters::kUpstreamAdapterSchema,
               "Anthropic-compatible Messages upstreams; base_url without /v1")
