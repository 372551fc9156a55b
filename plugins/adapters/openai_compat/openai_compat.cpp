// openai_compat: any OpenAI-compatible Chat Completions upstream (DeepSeek, Qwen, GLM, Kimi,
// Doubao, ...). The channel's base URL includes the version segment
// ("https://api.deepseek.com/v1"); this adapter appends /chat/completions.
#include "../common/upstream_adapter.hpp"

namespace {
struct OpenAiChat {
    static constexpr const char* protocol = "openai_chat";
    static constexpr const char* endpoint = "/chat/completions";
};
using OpenAiCompat = tianshu_adapters::UpstreamAdapter<OpenAiChat>;
}  // namespace

TIANSHU_PLUGIN(OpenAiCompat, "openai_compat", "1.0.0", TS_KIND_MODEL,
               tianshu_adapters::kUpstreamAdapterSchema,
               "Any OpenAI-compatible Chat Completions upstream; base_url includes /v1")
