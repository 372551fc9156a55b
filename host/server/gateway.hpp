#pragma once
// The model API, independent of the HTTP library: authenticate, decode in the client's
// protocol, run the chain, encode the answer (streamed or whole) or the error, log one line.

#include <memory>
#include <optional>
#include <string>

#include "core/session_store.hpp"
#include "hub/billing.hpp"
#include "hub/usage_journal.hpp"
#include "pipeline/runtime_config.hpp"
#include "protocol/client_codec.hpp"
#include "server/metrics.hpp"

namespace tianshu::server {

class StreamHeartbeat;
class AdminApi;

//! What the gateway uses beyond the configuration snapshot; every member may be null (tests,
//! or a gateway run without metering).
struct GatewayServices {
    StreamHeartbeat* heartbeat = nullptr;  //!< pings silent streams
    hub::Billing* billing = nullptr;       //!< key limits, quota reservation and settlement
    hub::UsageJournal* usage = nullptr;    //!< one request-log row per request, durably
    const AdminApi* admin = nullptr;       //!< /admin/api; null: the route is not served
    //! Session state for strategies (session_get/put/delete); null: none kept.
    core::SessionStore* sessions = nullptr;
};

//! A new request id: 24 hex digits, the wall clock in ms then 48 random bits, so ids sort by
//! time (the request log's and ledger's unique indexes grow at their right edge).
std::string new_request_id();

//! Where the gateway writes its answer. Implemented over the server's socket.
class ResponseWriter {
  public:
    virtual ~ResponseWriter() = default;
    //! A header for the response that follows (before send or begin_stream).
    virtual void set_header(std::string_view name, std::string_view value) = 0;
    //! A whole response.
    virtual void send(int status, std::string_view content_type, std::string_view body) = 0;
    //! 200 with SSE headers; returns false if the client is gone.
    virtual bool begin_stream() = 0;
    //! Write and flush one or more SSE frames; false if the client is gone.
    virtual bool write(std::string_view frames) = 0;
    //! True when the client has closed its side of the connection or a write to it failed:
    //! what is written now would not be read. Asks without waiting. Once true, the response is
    //! abandoned: nothing more is written and the connection closes.
    virtual bool client_closed() { return false; }
};

//! One call to the model API, as received.
struct ApiCall {
    protocol::ClientProtocol protocol = protocol::ClientProtocol::anthropic_messages;
    std::string route;    //!< for metrics, e.g. "/v1/messages"
    std::string api_key;  //!< from x-api-key or Authorization: Bearer
    //! Shared, so an Anthropic request keeps its bytes for passthrough without a copy.
    std::shared_ptr<const std::string> body = std::make_shared<const std::string>();
    std::string client_ip;
    std::string session_id;  //!< X-Claude-Code-Session-Id, when sent (see session_identity)
    //! The client's headers, borrowed for the call (request_header); null: none.
    const plugin::ClientHeaders* headers = nullptr;
    //! Gemini names the model and streaming in the URL, not the body: when `path_model` is set,
    //! it and `path_stream` override what the body decoded to.
    std::string path_model;
    bool path_stream = false;
};

//! An operator's call from the admin API's playground: already authenticated (an admin or root
//! user, acting as themself), run under `tier` whatever the account's own tier is.
struct PlaygroundCall {
    int64_t user_id = 0;
    std::string user_name;
    std::string tier;
    int64_t tier_ratio_ppm = hub::ratio_ppm_one;  //!< `tier`'s price ratio
    //! An Anthropic Messages request.
    std::shared_ptr<const std::string> body = std::make_shared<const std::string>();
    std::string client_ip;
};

//! What a playground call did besides its answer: the route decision and each block's time.
struct PlaygroundTrace {
    std::string request_id;
    int status = 0;                      //!< as in the request log (200, 4xx, 5xx, 499)
    std::optional<core::Error> failure;  //!< the request's error, if any
    std::string chain;                   //!< the chain that served it; empty: none matched
    std::string channel;
    core::Json route;  //!< {"scenario","model","reason","by","rank"}; null: the model never ran
    pipeline::BlockTrace blocks;
};

//! The caller's identity, owned by `config` (which the caller keeps alive meanwhile), or the
//! error to send: a missing or unknown key. The first stage of every model API route.
core::Result<const pipeline::Identity*> authenticate(const pipeline::RuntimeConfig* config,
                                                     const ApiCall& call);

//! Serves model API calls under the current runtime configuration. Thread-safe.
class Gateway {
  public:
    Gateway(const pipeline::RuntimeConfigHolder& config, Metrics& metrics,
            GatewayServices services = {})
        : config_(config), metrics_(metrics), services_(services) {}
    //! POST /v1/messages and /v1/chat/completions: authenticate, decode, match the chain, admit,
    //! run the chain into the client, then the error (if any), the bill and the log line. The
    //! stages, and this function that runs them: server/gateway_stages.{hpp,cpp}.
    void handle(const ApiCall& call, ResponseWriter& out) const;
    //! POST /admin/api/playground: `handle` for an operator (no API key: the identity is given,
    //! the tier chosen), in the Anthropic protocol, with every block timed. Metered, billed to
    //! the operator and logged (route "playground") like any request.
    PlaygroundTrace playground(const PlaygroundCall& call, ResponseWriter& out) const;
    //! POST /v1/messages/count_tokens: a local estimate, no upstream call.
    void count_tokens(const ApiCall& call, ResponseWriter& out) const;
    //! GET /v1/models, in the protocol of `call`.
    void list_models(const ApiCall& call, ResponseWriter& out) const;

  private:
    const pipeline::RuntimeConfigHolder& config_;
    Metrics& metrics_;
    GatewayServices services_;
};

//! The error response for a request that never reached the gateway proper (bad route,
//! body too large), in the protocol the path implies.
void send_error(protocol::ClientProtocol protocol, const core::Error& error, ResponseWriter& out);

}  // namespace tianshu::server
