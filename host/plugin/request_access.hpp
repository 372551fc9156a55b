#pragma once
// The host functions every building block sees — `.so` plugins through ts_host_api, Lua
// scripts through the `tianshu` table. One implementation here, two thin bindings.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "plugin/stage.hpp"

namespace tianshu::plugin {

//! Read any value of the request by RFC 6901 JSON pointer (over its Anthropic shape).
core::Result<core::Json> request_get(const RequestContext& ctx, std::string_view pointer);
//! What route_decide did.
enum class RouteOutcome {
    decided,   //!< the decision is the request's now (and ctx.request.model its model)
    outranked  //!< a decision of higher rank stands; nothing changed
};
//! Set any value; the request must still be valid afterwards, or nothing changes. A change of
//! the model (by "/model" or by the whole request) is `by`'s route decision of rank DEFAULT with
//! reason "set /model", like set_model: the one writer of the model. Outranked (a decision of
//! higher rank stands): nothing changes.
core::Result<RouteOutcome> request_set(RequestContext& ctx, std::string_view pointer,
                                       core::Json value, std::string_view by);
//! A read-only attribute: request_id, tier, chain_id, client_protocol, requested_model,
//! session_id, session_source.
const std::string* request_attribute(const RequestContext& ctx, std::string_view name);
// ---- session state (ABI 1.4 session_get / session_put / session_delete) ----
// Scoped to (ctx.user, ctx.session_id) and namespaced by `plugin`. Errors: invalid_request (a
// bad key, no user or session), request_too_large (a cap; nothing changed), unavailable (no
// store, or it cannot be reached; logged with the plugin's name).
//! The value under `key`; nullopt when absent or expired.
core::Result<std::optional<std::string>> session_get(const RequestContext& ctx,
                                                     std::string_view plugin, std::string_view key);
//! Stores `value` under `key` for `ttl` (0: the store's default, which is also the longest).
core::Result<void> session_put(RequestContext& ctx, std::string_view plugin, std::string_view key,
                               std::string_view value, std::chrono::seconds ttl);
//! Removes `key`; fine when absent.
core::Result<void> session_erase(RequestContext& ctx, std::string_view plugin,
                                 std::string_view key);
// ---- end of session state ----

//! Answer directly from a pre-request hook.
void answer_text(RequestContext& ctx, std::string text);
//! Choose the target model (not empty).
void set_model(RequestContext& ctx, std::string model);
//! Replace the system prompt with one text block (empty removes it).
void set_system_text(RequestContext& ctx, std::string text);
//! Every host path that changes the request or its answer calls this first: under a pre stage
//! whose failure is soft (ctx.undo), the first change saves the request so a failure can undo
//! the stage. Costs nothing otherwise.
void before_request_change(RequestContext& ctx);

// -- stream rewriting (ABI 1.4; on_stream_event of a chain's post stage) -----------------------
// Errors: wrong_phase (ErrorKind::permission) outside a post stage's on_stream_event;
// invalid_request for JSON that is not one Anthropic streaming event; request_too_large when
// the stage already holds kMaxHeldEvents. Nothing changes on an error.

//! The event as the JSON `data:` of its Anthropic SSE frame.
std::string event_json(const core::StreamEvent& event);
//! One Anthropic streaming event from its JSON text.
core::Result<core::StreamEvent> event_from_json(std::string_view json);
//! Replace the text of a content_block_delta (ABI event_set_text).
core::Result<void> event_set_text(EventHandle& handle, std::string_view text);
core::Result<void> event_set_json(EventHandle& handle, std::string_view json);
core::Result<void> event_drop(EventHandle& handle);
core::Result<void> event_hold(EventHandle& handle);
//! 0 outside a post stage.
size_t held_count(const RequestContext& ctx);
core::Result<std::string> held_event_json(const RequestContext& ctx, size_t index);
core::Result<void> held_release(RequestContext& ctx);
core::Result<void> held_discard(RequestContext& ctx);
core::Result<void> stream_emit(RequestContext& ctx, std::string_view json);

//! Helps a model emit a well-formed event sequence: message_start and the text block are
//! opened on first use, closed by finish().
class ModelOutput {
  public:
    explicit ModelOutput(RequestContext& ctx) : ctx_(ctx) {}
    //! Errors: wrong phase (no sink). Returns false (as value) when the client has gone.
    core::Result<bool> text(std::string_view text);
    //! Closes any open block and ends the message. Idempotent.
    core::Result<bool> finish(core::StopReason reason, const core::Usage* usage);

  private:
    bool send(const core::StreamEvent& e);
    void start_message();
    RequestContext& ctx_;
};

//! Rough token estimate (bytes/4 rounded up); the demo model and finish() use it when no
//! real count is known.
int64_t estimate_tokens(std::string_view text);
//! The same estimate for `bytes` of text already counted (the answer's, as it passed by).
int64_t estimate_tokens_for_bytes(int64_t bytes);
int64_t estimate_input_tokens(const core::Request& request);

//! call_model / call_model_within / tianshu.call_model: asks `model` through ctx.models; with a
//! `timeout`, the request's deadline is narrowed for this call only (the child call and its
//! upstream waits are bounded by it) and restored afterwards. Unavailable when the request has
//! no model caller.
core::Result<std::string> call_model(RequestContext& ctx, const std::string& model,
                                     const std::string& prompt,
                                     std::optional<std::chrono::milliseconds> timeout = {});

}  // namespace tianshu::plugin

namespace tianshu::plugin {

// ---- route decision, visible decisions, client headers, capabilities (ABI 1.4) ----

//! The ranks of ts_route_rank, by name: "default", "scene", "agent", "escalation", "pin".
std::string_view route_rank_name(int rank);
//! The rank named `name` (as route_rank_name), or 0.
int route_rank_from_name(std::string_view name);

//! Records `by`'s route decision and sets the target model. Invalid (nothing changed): a rank
//! outside 1..5, an empty model, a scenario that is not [a-z0-9_-]{1,64}. The reason is kept
//! to 200 bytes.
core::Result<RouteOutcome> route_decide(RequestContext& ctx, int rank, std::string_view scenario,
                                        std::string_view model, std::string_view reason,
                                        std::string_view by);
//! request_set_model / tianshu.set_model: a route decision of rank DEFAULT by `by`, keeping
//! the scenario of the decision so far ("default" when none), with reason "set_model".
core::Result<RouteOutcome> set_model_decision(RequestContext& ctx, std::string_view model,
                                              std::string_view by);
//! {"rank","scenario","model","reason","by"} of a decision.
core::Json route_json(const RouteDecision& decision);
//! The route the request took: its decision, or when none was made
//! {scenario "passthrough", the requested model, reason "requested"}.
RouteDecision effective_route(const RequestContext& ctx);
//! The x-tianshu-route header value: "<scenario>; model=<m>; reason=<why>". Bytes outside
//! printable ASCII, '%' and ',' are %-escaped (the log line keeps them as they are), so notes
//! join into one header with ", ".
std::string route_header_value(const RouteDecision& decision);
//! One x-tianshu-decision header value: "<plugin>; kind=<kind>; reason=<why>", escaped so.
std::string decision_header_value(const DecisionNote& note);

//! The most notes one request keeps.
inline constexpr size_t kMaxDecisionNotes = 32;
//! What decision_note did.
enum class NoteOutcome { noted, limit };
//! Records `plugin`'s decision. Invalid: a kind that is not [a-z0-9_]{1,64}. `limit` past
//! kMaxDecisionNotes (nothing recorded). The reason is kept to 300 bytes.
core::Result<NoteOutcome> decision_note(RequestContext& ctx, std::string_view plugin,
                                        std::string_view kind, std::string_view reason);

//! The client's header `name`, case-insensitive; nullopt when absent, when the request has no
//! client headers, and always for credentials (authorization, x-api-key, cookie,
//! proxy-authorization).
std::optional<std::string_view> request_header(const RequestContext& ctx, std::string_view name);

//! What the host knows of `model` (empty: the request's current target), the channel's
//! overrides applied; nullopt when nothing is known.
std::optional<core::ModelCapabilities> model_capabilities(const RequestContext& ctx,
                                                          std::string_view model);
//! Whether `model` (empty: the current target) can be served now: some channel serving it has
//! a key that is enabled, not refused and whose breaker would admit; nullopt when no channel
//! serves it (or nothing is known).
std::optional<bool> model_serving(const RequestContext& ctx, std::string_view model);

}  // namespace tianshu::plugin
