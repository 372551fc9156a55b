#pragma once
// The host side of ts_host_api.upstream_call: encode the canonical request for the upstream's
// wire protocol (with the channel's quirks), send it over the pooled client, decode the
// stream as it arrives and emit canonical events to the request's sink.

#include "plugin/stage.hpp"
#include "upstream/http_client.hpp"

namespace tianshu::upstream {

//! Calls OpenAI-compatible upstreams for adapter plugins. Stateless; safe from many threads.
class WireUpstream final : public plugin::UpstreamCaller {
  public:
    explicit WireUpstream(HttpClientPool& pool = HttpClientPool::shared()) : pool_(pool) {}
    static WireUpstream& shared();

    core::Result<void> call(plugin::RequestContext& ctx,
                            const plugin::UpstreamCallSpec& spec) override;

  private:
    HttpClientPool& pool_;
};

}  // namespace tianshu::upstream
