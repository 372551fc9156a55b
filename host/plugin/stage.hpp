#pragma once
// What a building block is, inside the host. A `.so` plugin (so_plugin.cpp) and a Lua
// script (lua_plugin.cpp) both become one of these; the pipeline only sees these.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/model_capabilities.hpp"
#include "core/request.hpp"
#include "core/session_store.hpp"
#include "core/stream_event.hpp"

namespace tianshu::plugin {

struct RequestContext;

//! Lets a stage ask another model a question under the parent request's budget (call_model).
class ModelCaller {
  public:
    virtual ~ModelCaller() = default;
    virtual core::Result<std::string> call(RequestContext& parent, const std::string& model,
                                           const std::string& prompt) = 0;
};

//! One upstream call as an adapter describes it (ABI ts_upstream_call).
struct UpstreamCallSpec {
    std::string wire_protocol;  //!< "openai_chat"
    std::string url;
    std::string api_key;
    core::Json options = core::Json::object();
    std::chrono::milliseconds connect_timeout{10'000};
    //! Unset: kStreamFirstByteTimeout for a streamed answer, kWholeAnswerTimeout for a whole one
    //! (whose first byte comes only when the model has finished).
    std::optional<std::chrono::milliseconds> first_byte_timeout;
    std::chrono::milliseconds idle_timeout{120'000};
};

inline constexpr std::chrono::milliseconds kStreamFirstByteTimeout{120'000};
inline constexpr std::chrono::milliseconds kWholeAnswerTimeout{600'000};

//! Calls upstream models for adapters: encode, send over the pooled client, decode, emit.
class UpstreamCaller {
  public:
    virtual ~UpstreamCaller() = default;
    //! Emits the answer through ctx.emit. On failure ctx.upstream_error is also set, so the
    //! error keeps the upstream's kind (rate_limited, upstream, timeout) through the plugin.
    virtual core::Result<void> call(RequestContext& ctx, const UpstreamCallSpec& spec) = 0;
};

// ---- route decision, visible decisions, client headers, capabilities (ABI 1.4) ----

//! The one route decision of a request (route_decide). A decision of higher rank is never
//! replaced by one of lower rank; ranks are ts_route_rank (1 default .. 5 pin).
struct RouteDecision {
    int rank = 0;
    std::string scenario;
    std::string model;
    std::string reason;
    std::string by;  //!< the plugin that decided ("chain" for a chain's managed routing)
};

//! A decision a plugin made and recorded (decision_note): logged, counted, sent as a header.
struct DecisionNote {
    std::string plugin;
    std::string kind;
    std::string reason;
};

//! The client's request headers, borrowed from the server for the request's length.
class ClientHeaders {
  public:
    virtual ~ClientHeaders() = default;
    //! The value of header `name` (case-insensitive); nullopt when absent.
    virtual std::optional<std::string_view> find(std::string_view name) const = 0;
};

//! What the host knows of a model's capabilities (the RuntimeConfig's capability table with
//! the channels' overrides).
class CapabilitySource {
  public:
    virtual ~CapabilitySource() = default;
    //! `model` empty: the request's current target. nullopt when nothing is known.
    virtual std::optional<core::ModelCapabilities> capabilities(const RequestContext& ctx,
                                                                std::string_view model) const = 0;
    //! Whether some channel serving `model` (empty: the current target) could be called now;
    //! nullopt when no channel serves it or the source cannot tell.
    virtual std::optional<bool> serving(const RequestContext&, std::string_view) const {
        return std::nullopt;
    }
};

//! Where a model's events go. Returns false when the client has gone: the model stops.
using EventSink = std::function<bool(const core::StreamEvent&)>;

// -- stream rewriting (ABI 1.4) ----------------------------------------------------------------

//! The most events one post stage may hold in one request (event_hold answers TS_ERR_LIMIT).
inline constexpr size_t kMaxHeldEvents = 256;

//! One post stage's part of one request's stream, kept by the runner (pipeline/post_stream).
//! Host functions of the running on_stream_event hook read and change it; the runner acts on
//! it when the hook returns.
struct StageStream {
    //! What becomes of the current event when the hook returns.
    enum class Fate { pass, drop, hold };
    Fate fate = Fate::pass;
    //! Events this stage holds, oldest first.
    std::vector<core::StreamEvent> held;
    //! One event the running hook let go on before the current one: inserted by stream_emit,
    //! or released from `held` (`released`).
    struct Out {
        core::StreamEvent event;
        bool released = false;
    };
    std::vector<Out> out;
    //! What the running hook discarded from `held` (given back if the hook fails softly).
    std::vector<core::StreamEvent> discarded;
    //! Set by the runner for a stage whose failure is soft (on_error "continue"): the current
    //! event is copied into `original` before the hook's first change, so a failure can pass it
    //! on unchanged. Read-only and pass-through hooks copy nothing.
    bool keep_original = false;
    std::optional<core::StreamEvent> original;
    //! The running hook replaced the current event (event_set_json).
    bool replaced = false;
};

//! The ts_event handle: the current event and the stage it is passing through (null outside a
//! chain's post stage: then only the 1.0 event functions work).
struct EventHandle {
    core::StreamEvent* event = nullptr;
    StageStream* stage = nullptr;
};

//! The request as it was before a pre stage's first change, saved only when the stage's
//! failure is soft (on_error "continue") and only by the first mutating host call: a read-only
//! stage copies nothing.
struct RequestUndo {
    bool saved = false;
    core::Request request;
    std::optional<core::Response> answer;
    std::optional<RouteDecision> route;  //!< a route decision is undone with the request
};

//! Everything about one request in flight that stages may read or change. Used by one
//! thread at a time.
struct RequestContext {
    core::Request request;
    std::string request_id;
    std::string requested_model;  //!< what the client asked for, before any strategy changed it
    std::string tier = "default";
    std::string chain_id;
    std::string client_protocol;  //!< "anthropic" | "openai"
    //! The conversation this request belongs to (server/session_identity): Claude Code's
    //! X-Claude-Code-Session-Id, else the session in metadata.user_id, else derived from the
    //! conversation's beginning. For session state and sticky routing.
    std::string session_id;
    std::string session_source;  //!< "header" | "metadata" | "derived"; empty when unset
    std::string user;            //!< the authenticated user: whose session state this is
    //! Session state (session_get/put/delete); null when the host keeps none (tests).
    core::SessionStore* sessions = nullptr;

    //! Set by a pre strategy that answers directly (HookOutcome::answered).
    std::optional<core::Response> answer;
    //! The answer as assembled so far; complete when end-of-response hooks run.
    core::Response response;

    //! Model output goes here while Model::generate runs; null otherwise.
    EventSink emit;
    //! Set by a producer while it emits a run of events it already holds (everything one
    //! upstream receive decoded to): the client's stream may keep this event's frames and write
    //! the run in one send. Clear for the run's last event, so nothing waits for events that
    //! have not arrived; producers that never set it get a write per event.
    bool more_events_follow = false;
    //! Set when the model finished its answer (ModelOutput::finish).
    bool finished = false;
    //! Set once the first event reached the sink: later errors become error events.
    bool started = false;
    //! Set by the pipeline once the first event reached the client.
    bool client_started = false;
    int open_block = -1;       //!< index of the text block ModelOutput has open, -1 when none
    int block_count = 0;       //!< content blocks emitted so far
    int64_t output_bytes = 0;  //!< answer text emitted so far (for token estimates)

    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
    //! Set by the client's sink when the client has gone: the upstream's answer is still read,
    //! for its usage, but not after this time (an upstream that stalls meanwhile is left).
    std::chrono::steady_clock::time_point read_until = std::chrono::steady_clock::time_point::max();
    ModelCaller* models = nullptr;
    UpstreamCaller* upstream = nullptr;  //!< set by the server; null in tests that need none
    std::string channel;                 //!< the channel serving this request (set by the runner)
    std::string upstream_proxy;          //!< the channel's HTTP proxy (set with `channel`)
    std::string upstream_key_id;         //!< id of the channel key called (set with `channel`)
    //! The last upstream failure, kept so an adapter's TS_HOOK_FAIL reports it faithfully.
    std::optional<core::Error> upstream_error;
    //! The post stage whose on_stream_event runs now (stream rewriting); null otherwise.
    StageStream* stream_stage = nullptr;
    //! Set while a pre stage with a soft failure runs: where its first change saves the request.
    RequestUndo* undo = nullptr;
    int call_depth = 0;  //!< call_model nesting, bounded to stop recursion
    //! One call_model call made for this request: billed with it, in its log line and metrics.
    struct SideCall {
        std::string model;    //!< as the strategy named it (priced under that name)
        std::string channel;  //!< the channel that answered (empty: none did)
        core::Usage usage;    //!< the upstream's, or estimated where it reported none
        bool failed = false;
    };
    //! Every call_model call of this request, nested ones included (the runner bounds them).
    std::vector<SideCall> side_calls;
    int upstream_retries = 0;    //!< calls to other channels or keys after the first failed
    int upstream_failovers = 0;  //!< of those, calls to another channel than the one before
    double upstream_ms = 0;      //!< the last upstream call, from the call to its last event

    // ---- route decision, visible decisions, client headers, capabilities (ABI 1.4) ----
    //! The route decision so far; unset until a strategy (or the chain's managed routing)
    //! decides. Written only through route_decide() in request_access.hpp.
    std::optional<RouteDecision> route;
    //! Decisions noted by plugins, in order.
    std::vector<DecisionNote> decisions;
    //! The client's headers (null when the request did not come over HTTP, e.g. call_model).
    const ClientHeaders* client_headers = nullptr;
    //! The snapshot's capability table (null in tests that need none).
    const CapabilitySource* capabilities = nullptr;
};

//! What a pre-request hook decided. Callers go on with the next stage on `proceed`; on
//! `answered` they skip the remaining pre stages and the model (ctx.answer holds the answer).
enum class HookOutcome { proceed, answered };

//! A strategy: runs before a model and around its output.
class Strategy {
  public:
    virtual ~Strategy() = default;
    virtual const std::string& name() const = 0;

    //! Before the model is called: may rewrite ctx.request, choose the model, or answer.
    virtual core::Result<HookOutcome> on_request(RequestContext&) { return HookOutcome::proceed; }
    //! For each event before the client sees it; may change the event. Only called when
    //! wants_stream_events() is true, so strategies without the hook cost nothing per event.
    virtual core::Result<void> on_stream_event(RequestContext&, core::StreamEvent&) { return {}; }
    virtual bool wants_stream_events() const { return false; }
    //! After the last event; ctx.response is complete. Failures are logged only.
    virtual core::Result<void> on_response_end(RequestContext&) { return {}; }
};

//! A model: produces the answer, as events through ctx.emit.
class Model {
  public:
    virtual ~Model() = default;
    virtual const std::string& name() const = 0;
    //! An error returned before any event reached the sink becomes an HTTP error in the
    //! client's protocol; after, an `error` event. Never a silently truncated answer.
    virtual core::Result<void> generate(RequestContext& ctx) = 0;
};

}  // namespace tianshu::plugin
