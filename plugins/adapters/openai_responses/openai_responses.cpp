// openai_responses: upstreams that speak the OpenAI Responses API (OpenAI itself, and
// compatible servers). The channel's base URL includes the version segment
// ("https://api.openai.com/v1"); this adapter appends /responses. Every request says
// store: false: the conversation travels whole, nothing is kept upstream.
#include "../common/upstream_adapter.hpp"

namespace {
struct OpenAiResponses {
    static constexpr const char* protocol = "openai_responses";
    static constexpr const char* endpoint = "/responses";
};
using OpenAiResponsesAdapter = tianshu_adapters::UpstreamAdapter<OpenAiResponses>;
}  // namespace

TIANSHU_PLUGIN(OpenAiResponsesAdapter, "openai_responses", "1.0.0", TS_KIND_MODEL,
               tianshu_adapters::kUpstreamAdapterSchema,
               "OpenAI Responses API upstreams; base_url includes /v1")
