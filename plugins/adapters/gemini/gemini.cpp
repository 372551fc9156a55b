// gemini: Google Gemini generateContent upstreams. The channel's base URL is the API root with
// its version ("https://generativelanguage.googleapis.com/v1beta"). The model and the method
// are part of the path and depend on the request (the model the chain chose, streamed or not),
// so the host appends "/models/{model}:streamGenerateContent?alt=sse" (or ":generateContent")
// itself; the key goes in the x-goog-api-key header, never in the URL.
#include "../common/upstream_adapter.hpp"

namespace {
struct GeminiGenerateContent {
    static constexpr const char* protocol = "gemini";
    static constexpr const char* endpoint = "";
};
using GeminiAdapter = tianshu_adapters::UpstreamAdapter<GeminiGenerateContent>;
}  // namespace

TIANSHU_PLUGIN(GeminiAdapter, "gemini", "1.0.0", TS_KIND_MODEL,
               tianshu_adapters::kUpstreamAdapterSchema,
               "Google Gemini generateContent upstreams; base_url includes /v1beta")
