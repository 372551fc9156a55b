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
//! Set any value; the request must still be valid afterwards, or nothing changes.
core::Result<void> request_set(RequestContext& ctx, std::string_view pointer, core::Json value);
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

}  // namespace tianshu::plugin
