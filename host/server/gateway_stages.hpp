#pragma once
// The stages of one model API request, in the order Gateway::handle runs them (the same names
// as docs/ARCHITECTURE.md, "One request"):
//
//   authenticate → decode → match_chain → admit → run_chain (ClientSink: meter, bill at
//   message_stop, write) → send_failure → bill → log_request → count_request
//
// Each stage says what it decides and what it hands on. A stage that fails returns the error;
// GatewayRequest::fail keeps it for the stages after the answer, which always run.
// Gateway::handle and Gateway::playground (an operator's call: the identity given instead of
// authenticate, every block timed) are their only users (gateway_stages.cpp); not an API.

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pipeline/runner.hpp"
#include "server/gateway.hpp"
#include "server/stream_heartbeat.hpp"

namespace tianshu::server {

//! What came through the client's sink, for the bill: the upstream's usage as it reported it,
//! and what the host counted itself for when it reported none.
struct AnswerMeter {
    std::optional<double> ttft_ms;       //!< time to the first content delta
    core::Usage usage;                   //!< as the upstream reported it (message_start/_delta)
    int64_t output_bytes = 0;            //!< the answer's text bytes that passed the sink
    bool final_usage = false;            //!< a message_delta (the upstream's final count) came
    int64_t input_estimate = 0;          //!< the host's estimate of the request's input tokens
    const char* usage_source = nullptr;  //!< "upstream" or "estimate", once a model produced

    //! Counts one event on its way to the client.
    void observe(const core::StreamEvent& e, std::chrono::steady_clock::time_point started);
    //! The usage billed for a model's answer: the upstream's, or where it reported none (or the
    //! answer was cut short) the host's estimate of the input and of the output that came.
    void complete(const plugin::RequestContext& ctx);
};

//! One model API request on its way through the gateway: what each stage found out, for the
//! stages after it, the bill and the log line. Lives on the request's fiber for one call.
class GatewayRequest {
  public:
    //! `given`: an identity already established (the playground's operator), used instead of
    //! authenticate; `trace`: where run_chain times each block (both may be null).
    GatewayRequest(std::chrono::steady_clock::time_point started, const ApiCall& call,
                   ResponseWriter& out, std::shared_ptr<const pipeline::RuntimeConfig> config,
                   const GatewayServices& services, Metrics& metrics,
                   const pipeline::Identity* given = nullptr,
                   pipeline::BlockTrace* trace = nullptr);

    //! Every stage, in order: answer (or fail), send_failure, bill, log_request, count_request.
    void run();

    //! authenticate → decode → match_chain → admit → run_chain. Ok: the client has its answer
    //! (or a streaming client its error event, or it has gone); an error: nothing was sent yet.
    core::Result<void> answer();
    //! Keeps a stage's error for send_failure, the bill and the log; its status is the HTTP one.
    void fail(core::Error e);
    //! The error to a client that has no answer yet, in its protocol (a streaming client that
    //! already has a 200 has its error event; a gone client nothing).
    void send_failure();
    //! Settles the quota and writes the request's usage row, once: at message_stop, before the
    //! client sees it (so an answered request is never lost), or here for everything else.
    void bill(int final_status);
    void bill() { bill(status_); }
    //! One line per request: no prompt or completion text, no key.
    void log_request() const;
    //! Everything /metrics counts of the request, in one call (one lock); the last stage.
    void count_request() const;
    //! What the request did, for the playground (after run; the blocks are already in it).
    void describe(PlaygroundTrace& trace) const;

  private:
    friend class ClientSink;

    //! Decides what the chain sees: decodes the body in the client's protocol into the
    //! request context, with the caller's tier and user, the session and the deadline.
    core::Result<void> decode(const pipeline::Identity& who);
    //! Decides which chain serves the tier and the requested model; hands it on.
    core::Result<const pipeline::Chain*> match_chain();
    //! Decides whether the key may make this call now (expiry, IP, models, RPM/TPM, quota) and
    //! reserves its worst case; hands on the Admission that bill settles. No payer: free.
    core::Result<void> admit();
    //! Runs the chain (pre strategies, the model, post strategies) into a ClientSink, then
    //! sends a whole (non-streaming) answer. Hands on the run's summary (channel, model).
    core::Result<void> run_chain(const pipeline::Chain& chain);

    //! The client went away: the answer is no longer written, but still read to its end (for
    //! the upstream's usage) for a bounded time; logged 499 `client_closed`.
    void client_left();
    //! The route decision and the notes so far, as response headers, once, just before the
    //! response's head leaves (notes made later are in the log line only). A tier may hide
    //! them from its clients; a request that never got as far as its model has none.
    void send_decision_headers();
    //! Prices each call_model call (in ctx.side_calls' order) into side_costs_.
    void price_side_calls(hub::Micros& total, int64_t& tokens);
    //! Appends the request's usage row to the journal.
    void record_usage(int final_status) const;

    // Given.
    const std::chrono::steady_clock::time_point started_;
    const ApiCall& call_;
    ResponseWriter& out_;
    const std::shared_ptr<const pipeline::RuntimeConfig> config_;
    const GatewayServices& services_;
    Metrics& metrics_;
    const protocol::ClientCodec& codec_;
    const std::string request_id_;
    const pipeline::Identity* given_;
    pipeline::BlockTrace* trace_;

    // What the stages found out. Views into config_'s snapshot, held to the end.
    std::string_view user_, key_name_, chain_id_;
    const hub::Payer* payer_ = nullptr;        // authenticate
    plugin::RequestContext ctx_;               // decode, then the chain
    std::optional<hub::Admission> admission_;  // admit
    std::string_view refusal_;                 // admit: why the key's limits refused, if they did
    AnswerMeter meter_;                        // the client sink
    pipeline::RunSummary summary_;             // run_chain
    // The outcome.
    int status_ = 200;
    std::optional<core::Error> failure_;
    // The client closed the connection before the end of its answer (logged 499).
    bool client_gone_ = false;
    bool decision_headers_sent_ = false;
    // The bill.
    bool billed_ = false;
    hub::Micros cost_ = 0;
    // What each call_model call cost (in ctx.side_calls' order), billed with the request.
    std::vector<hub::Micros> side_costs_;
};

//! Where the chain's events go: metered, billed at message_stop, then buffered (a whole
//! answer) or encoded in the client's protocol and written (a stream, kept alive by the
//! heartbeat). Lives for one run_chain.
class ClientSink {
  public:
    explicit ClientSink(GatewayRequest& request);
    //! One event from the chain; false stops the producer (see plugin::EventSink).
    bool deliver(const core::StreamEvent& e);
    //! Writes the frames held so far; false when the client has gone.
    bool write_held();
    //! The answer is complete: no ping after the last frame.
    void stop_heartbeat() { beat_ = {}; }
    //! The whole answer of a non-streaming request.
    core::Response take_response() { return whole_.take(); }

  private:
    bool client_closed();
    //! Sends the response head of a stream on its first event; false when the client is gone.
    bool open_stream();

    GatewayRequest& r_;
    const bool stream_;
    std::unique_ptr<protocol::StreamEncoder> encoder_;
    core::ResponseAssembler whole_;
    bool stream_open_ = false;
    std::string frames_;
    // Every write to a stream goes through `live_`, shared with the heartbeat's pings.
    std::shared_ptr<HeartbeatStream> live_;
    StreamHeartbeat::Registration beat_;
};

}  // namespace tianshu::server
