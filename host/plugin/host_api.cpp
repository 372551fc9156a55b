// The ts_host_api table: each function converts the C arguments, calls the one
// implementation in request_access.hpp, and maps the result onto a ts_status.
#include "plugin/host_api.hpp"
#include <cstddef>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "core/log.hpp"
#include "plugin/request_access.hpp"

namespace tianshu::plugin {

const std::string*& HookScope::plugin_slot() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    thread_local const std::string* plugin = nullptr;
    return plugin;
}

HookPhase& HookScope::phase_slot() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    thread_local HookPhase phase = HookPhase::none;
    return phase;
}

namespace {

// ts_request is a RequestContext, ts_event an EventHandle; nothing else casts them.
RequestContext& ctx_of(ts_request* r) {
    return *reinterpret_cast<RequestContext*>(r);
}
const RequestContext& ctx_of(const ts_request* r) {
    return *reinterpret_cast<const RequestContext*>(r);
}
EventHandle& handle_of(ts_event* e) {
    return *reinterpret_cast<EventHandle*>(e);
}
const core::StreamEvent& event_of(const ts_event* e) {
    return *reinterpret_cast<const EventHandle*>(e)->event;
}

std::string_view view(ts_str s) {
    return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}
ts_str str(std::string_view s) {
    return ts_str{s.data(), s.size()};
}

//! Host functions never let an exception reach plugin code (a C plugin cannot unwind):
//! anything thrown becomes TS_ERR_FAILED.
template <auto Fn>
struct Guarded;
template <class... Args, ts_status (*Fn)(Args...)>
struct Guarded<Fn> {
    static ts_status call(Args... args) noexcept {
        try {
            return Fn(args...);
        } catch (...) {
            return TS_ERR_FAILED;
        }
    }
};

void* host_alloc(size_t size) {
    return std::malloc(size == 0 ? 1 : size);
}
void host_free(void* ptr) {
    std::free(ptr);
}

//! Copies `text` into a host-allocated buffer the plugin frees with host->free.
ts_status fill(ts_buf* out, std::string_view text) {
    if (!out) return TS_ERR_INVALID;
    out->ptr = nullptr;
    out->len = 0;
    char* p = static_cast<char*>(host_alloc(text.size() + 1));
    if (!p) return TS_ERR_FAILED;
    std::memcpy(p, text.data(), text.size());
    p[text.size()] = '\0';  // a courtesy for C plugins; len does not count it
    out->ptr = p;
    out->len = text.size();
    return TS_OK;
}

void host_log(const ts_request* request, int32_t level, ts_str message) noexcept try {
    auto lvl = static_cast<core::LogLevel>(std::clamp<int32_t>(level, TS_LOG_DEBUG, TS_LOG_ERROR));
    if (static_cast<int>(lvl) < static_cast<int>(core::log_level())) return;
    const std::string* plugin = HookScope::plugin();
    core::LogFields fields;
    fields.emplace_back("plugin", plugin ? *plugin : std::string("unknown"));
    if (request) fields.emplace_back("request_id", ctx_of(request).request_id);
    core::log(lvl, view(message), fields);
} catch (...) {
    // a log line is never worth failing the request
}

ts_str request_model(const ts_request* r) {
    return str(ctx_of(r).request.model);
}

// A route decision of rank DEFAULT by the calling plugin (request_access.hpp).
ts_status request_set_model(ts_request* r, ts_str model) {
    if (model.len == 0 || !model.ptr) return TS_ERR_INVALID;
    const std::string* plugin = HookScope::plugin();
    auto done = set_model_decision(ctx_of(r), view(model), plugin ? *plugin : std::string_view());
    if (!done) return TS_ERR_INVALID;
    return done.value() == RouteOutcome::decided ? TS_OK : TS_ERR_OUTRANKED;
}

ts_status request_system_text(const ts_request* r, ts_buf* out) {
    return fill(out, ctx_of(r).request.system_text());
}

ts_status request_set_system_text(ts_request* r, ts_str text) {
    set_system_text(ctx_of(r), std::string(view(text)));
    return TS_OK;
}

ts_status request_last_user_text(const ts_request* r, ts_buf* out) {
    return fill(out, ctx_of(r).request.last_user_text());
}

ts_status request_get_json(const ts_request* r, ts_str pointer, ts_buf* out) {
    if (!out) return TS_ERR_INVALID;
    auto value = request_get(ctx_of(r), view(pointer));
    if (!value) {
        out->ptr = nullptr;
        out->len = 0;
        return value.error().kind == core::ErrorKind::not_found ? TS_ERR_NOT_FOUND : TS_ERR_INVALID;
    }
    return fill(out, value->dump(-1, ' ', false, core::Json::error_handler_t::replace));
}

ts_status request_set_json(ts_request* r, ts_str pointer, ts_str value) {
    auto parsed = core::Json::parse(view(value), nullptr, false);
    if (parsed.is_discarded()) return TS_ERR_INVALID;
    const std::string* plugin = HookScope::plugin();
    auto done = request_set(ctx_of(r), view(pointer), std::move(parsed),
                            plugin ? *plugin : std::string_view());
    if (!done) return TS_ERR_INVALID;
    return done.value() == RouteOutcome::decided ? TS_OK : TS_ERR_OUTRANKED;
}

ts_status request_answer_text(ts_request* r, ts_str text) {
    if (HookScope::phase() != HookPhase::on_request) return TS_ERR_WRONG_PHASE;
    answer_text(ctx_of(r), std::string(view(text)));
    return TS_OK;
}

ts_status emit_text(ts_request* r, ts_str text) {
    auto alive = ModelOutput(ctx_of(r)).text(view(text));
    if (!alive) return TS_ERR_WRONG_PHASE;
    return alive.value() ? TS_OK : TS_ERR_CLIENT_GONE;
}

core::Usage usage_from(const ts_usage& in) {
    // Fields beyond the plugin's struct_size read as zero (rule 3).
    ts_usage u{};
    std::memcpy(&u, &in, std::min<size_t>(in.struct_size, sizeof u));
    core::Usage out;
    out.input_tokens = u.input_tokens;
    out.output_tokens = u.output_tokens;
    out.cache_read_tokens = u.cache_read_tokens;
    out.cache_write_tokens = u.cache_write_tokens;
    out.reasoning_tokens = u.reasoning_tokens;
    return out;
}

ts_status finish(ts_request* r, ts_str stop_reason, const ts_usage* usage) {
    auto reason = core::stop_reason_from_string(view(stop_reason));
    if (reason == core::StopReason::none && stop_reason.len != 0) return TS_ERR_INVALID;
    core::Usage u;
    if (usage) u = usage_from(*usage);
    auto alive = ModelOutput(ctx_of(r)).finish(reason, usage ? &u : nullptr);
    if (!alive) return TS_ERR_WRONG_PHASE;
    return alive.value() ? TS_OK : TS_ERR_CLIENT_GONE;
}

int32_t event_type(const ts_event* e) {
    using T = core::StreamEvent::Type;
    switch (event_of(e).type) {
        case T::message_start:
            return TS_EVENT_MESSAGE_START;
        case T::content_block_start:
            return TS_EVENT_CONTENT_BLOCK_START;
        case T::content_block_delta:
            return TS_EVENT_CONTENT_BLOCK_DELTA;
        case T::content_block_stop:
            return TS_EVENT_CONTENT_BLOCK_STOP;
        case T::message_delta:
            return TS_EVENT_MESSAGE_DELTA;
        case T::message_stop:
            return TS_EVENT_MESSAGE_STOP;
        case T::ping:
            return TS_EVENT_PING;
        case T::error:
            return TS_EVENT_ERROR;
    }
    return TS_EVENT_PING;
}

ts_str event_text(const ts_event* e) {
    const auto& ev = event_of(e);
    if (ev.type != core::StreamEvent::Type::content_block_delta) return ts_str{"", 0};
    return str(ev.text);
}

ts_status event_set_text_fn(ts_event* e, ts_str text) {
    return plugin::event_set_text(handle_of(e), view(text)) ? TS_OK : TS_ERR_WRONG_PHASE;
}

ts_status response_text(const ts_request* r, ts_buf* out) {
    return fill(out, ctx_of(r).response.text());
}

ts_status response_usage(const ts_request* r, ts_usage* out) {
    if (!out || out->struct_size < sizeof(uint32_t)) return TS_ERR_INVALID;
    const core::Usage& u = ctx_of(r).response.usage;
    ts_usage full{};
    full.struct_size = out->struct_size;
    full.input_tokens = u.input_tokens;
    full.output_tokens = u.output_tokens;
    full.cache_read_tokens = u.cache_read_tokens;
    full.cache_write_tokens = u.cache_write_tokens;
    full.reasoning_tokens = u.reasoning_tokens;
    // Write only as much as the plugin's struct has room for (rule 3).
    std::memcpy(out, &full, std::min<size_t>(out->struct_size, sizeof full));
    return TS_OK;
}

ts_status call_model_until(ts_request* r, ts_str model, ts_str prompt,
                           std::optional<std::chrono::milliseconds> timeout, ts_buf* out) {
    if (!out) return TS_ERR_INVALID;
    out->ptr = nullptr;
    out->len = 0;
    RequestContext& ctx = ctx_of(r);
    // Nesting is bounded by the ModelCaller (pipeline/runner), the one place every caller,
    // .so or Lua, goes through.
    if (!ctx.models) return TS_ERR_FAILED;
    const std::string* caller = HookScope::plugin();
    core::Result<std::string> answer = std::string();
    {
        HookScope::Away away;  // the model's upstream call may park the fiber
        answer =
            plugin::call_model(ctx, std::string(view(model)), std::string(view(prompt)), timeout);
    }
    if (!answer) {
        core::log(core::LogLevel::warn, "call_model failed",
                  {{"plugin", caller ? *caller : std::string("unknown")},
                   {"request_id", ctx.request_id},
                   {"model", std::string(view(model))},
                   {"error", answer.error().message}});
        return TS_ERR_FAILED;
    }
    return fill(out, answer.value());
}

ts_status call_model(ts_request* r, ts_str model, ts_str prompt, ts_buf* out) {
    return call_model_until(r, model, prompt, std::nullopt, out);
}

ts_status call_model_within_fn(ts_request* r, ts_str model, ts_str prompt, uint32_t timeout_ms,
                               ts_buf* out) {
    return call_model_until(r, model, prompt, std::chrono::milliseconds(timeout_ms), out);
}

void set_error(ts_error* err, const std::string& message) {
    if (!err) return;
    const size_t n = std::min(message.size(), sizeof err->message - 1);
    std::memcpy(err->message, message.data(), n);
    err->message[n] = '\0';
}

ts_status upstream_call_fn(ts_request* r, const ts_upstream_call* call, ts_error* err) {
    if (!call || call->struct_size < offsetof(ts_upstream_call, options_json) + sizeof(ts_str))
        return TS_ERR_INVALID;
    if (HookScope::phase() != HookPhase::generate) return TS_ERR_WRONG_PHASE;
    RequestContext& ctx = ctx_of(r);
    if (!ctx.upstream) {
        set_error(err, "this host has no upstream caller configured");
        return TS_ERR_FAILED;
    }
    // Fields beyond the plugin's struct_size read as zero (rule 3).
    ts_upstream_call full{};
    std::memcpy(&full, call, std::min<size_t>(call->struct_size, sizeof full));
    UpstreamCallSpec spec;
    spec.wire_protocol = std::string(view(full.wire_protocol));
    spec.url = std::string(view(full.url));
    spec.api_key = std::string(view(full.api_key));
    if (full.options_json.len > 0) {
        spec.options = core::Json::parse(view(full.options_json), nullptr, false);
        if (spec.options.is_discarded() || !spec.options.is_object()) {
            set_error(err, "upstream_call: options_json must be a JSON object");
            return TS_ERR_INVALID;
        }
    }
    if (full.connect_timeout_ms)
        spec.connect_timeout = std::chrono::milliseconds(full.connect_timeout_ms);
    if (full.first_byte_timeout_ms)
        spec.first_byte_timeout = std::chrono::milliseconds(full.first_byte_timeout_ms);
    if (full.idle_timeout_ms) spec.idle_timeout = std::chrono::milliseconds(full.idle_timeout_ms);
    core::Result<void> done;
    {
        HookScope::Away away;  // the fiber may park here, and come back on another thread
        done = ctx.upstream->call(ctx, spec);
    }
    if (!done) {
        set_error(err, done.error().message);
        return done.error().kind == core::ErrorKind::invalid_request && !ctx.upstream_error
                   ? TS_ERR_INVALID
                   : TS_ERR_FAILED;
    }
    return TS_OK;
}

ts_status request_attribute_fn(const ts_request* r, ts_str name, ts_str* out) {
    if (!out) return TS_ERR_INVALID;
    const std::string* value = request_attribute(ctx_of(r), view(name));
    if (!value) return TS_ERR_NOT_FOUND;
    *out = str(*value);
    return TS_OK;
}

// ---- 1.4: stream rewriting (request_access.hpp has the one implementation) ----

ts_status status_of(const core::Result<void>& r) {
    if (r) return TS_OK;
    switch (r.error().kind) {
        case core::ErrorKind::permission:
            return TS_ERR_WRONG_PHASE;
        case core::ErrorKind::request_too_large:
            return TS_ERR_LIMIT;
        case core::ErrorKind::not_found:
            return TS_ERR_NOT_FOUND;
        default:
            return TS_ERR_INVALID;
    }
}

ts_status event_json_fn(const ts_event* e, ts_buf* out) {
    return fill(out, event_json(event_of(e)));
}
ts_status event_set_json_fn(ts_event* e, ts_str json) {
    return status_of(event_set_json(handle_of(e), view(json)));
}
ts_status event_drop_fn(ts_event* e) {
    return status_of(event_drop(handle_of(e)));
}
ts_status event_hold_fn(ts_event* e) {
    return status_of(event_hold(handle_of(e)));
}
uint32_t held_count_fn(const ts_request* r) {
    return static_cast<uint32_t>(held_count(ctx_of(r)));
}
ts_status held_event_json_fn(const ts_request* r, uint32_t index, ts_buf* out) {
    if (!out) return TS_ERR_INVALID;
    out->ptr = nullptr;
    out->len = 0;
    auto json = held_event_json(ctx_of(r), index);
    if (!json) return status_of(json.take_error());
    return fill(out, json.value());
}
ts_status held_release_fn(ts_request* r) {
    return status_of(held_release(ctx_of(r)));
}
ts_status held_discard_fn(ts_request* r) {
    return status_of(held_discard(ctx_of(r)));
}
ts_status stream_emit_fn(ts_request* r, ts_str json) {
    return status_of(stream_emit(ctx_of(r), view(json)));
}

// ---- 1.4: capabilities, route decision, decision notes, request headers ----

std::string_view calling_plugin() {
    const std::string* plugin = HookScope::plugin();
    return plugin ? std::string_view(*plugin) : std::string_view("unknown");
}

ts_status model_capabilities_fn(const ts_request* r, ts_str model, ts_buf* out) {
    if (!out) return TS_ERR_INVALID;
    out->ptr = nullptr;
    out->len = 0;
    auto caps = model_capabilities(ctx_of(r), view(model));
    if (!caps) return TS_ERR_NOT_FOUND;
    return fill(out, caps->to_json().dump());
}

ts_status model_serving_fn(const ts_request* r, ts_str model, int32_t* out) {
    if (!out) return TS_ERR_INVALID;
    *out = 0;
    auto serving = model_serving(ctx_of(r), view(model));
    if (!serving) return TS_ERR_NOT_FOUND;
    *out = *serving ? 1 : 0;
    return TS_OK;
}

ts_status route_decide_fn(ts_request* r, int32_t rank, ts_str scenario, ts_str model,
                          ts_str reason) {
    if (HookScope::phase() != HookPhase::on_request) return TS_ERR_WRONG_PHASE;
    auto done =
        route_decide(ctx_of(r), rank, view(scenario), view(model), view(reason), calling_plugin());
    if (!done) return TS_ERR_INVALID;
    return done.value() == RouteOutcome::decided ? TS_OK : TS_ERR_OUTRANKED;
}

ts_status route_current_fn(const ts_request* r, ts_buf* out) {
    if (!out) return TS_ERR_INVALID;
    out->ptr = nullptr;
    out->len = 0;
    const auto& route = ctx_of(r).route;
    if (!route) return TS_ERR_NOT_FOUND;
    return fill(out, route_json(*route).dump());
}

ts_status decision_note_fn(ts_request* r, ts_str kind, ts_str reason) {
    auto done = decision_note(ctx_of(r), calling_plugin(), view(kind), view(reason));
    if (!done) return TS_ERR_INVALID;
    return done.value() == NoteOutcome::noted ? TS_OK : TS_ERR_LIMIT;
}

ts_status request_header_fn(const ts_request* r, ts_str name, ts_str* out) {
    if (!out) return TS_ERR_INVALID;
    *out = ts_str{nullptr, 0};
    if (HookScope::phase() != HookPhase::on_request) return TS_ERR_WRONG_PHASE;
    auto value = request_header(ctx_of(r), view(name));
    if (!value) return TS_ERR_NOT_FOUND;
    *out = str(*value);
    return TS_OK;
}

// ---- 1.4: session state ----------------------------------------------------------------------

ts_status session_status(const core::Error& e) {
    switch (e.kind) {
        case core::ErrorKind::invalid_request:
            return TS_ERR_INVALID;
        case core::ErrorKind::request_too_large:
            return TS_ERR_LIMIT;
        default:
            return TS_ERR_FAILED;
    }
}

ts_status session_get_fn(const ts_request* r, ts_str key, ts_buf* out) {
    if (!out) return TS_ERR_INVALID;
    out->ptr = nullptr;
    out->len = 0;
    const std::string* plugin = HookScope::plugin();
    if (!plugin) return TS_ERR_WRONG_PHASE;
    auto value = session_get(ctx_of(r), *plugin, view(key));
    if (!value) return session_status(value.error());
    if (!value.value()) return TS_ERR_NOT_FOUND;
    return fill(out, *value.value());
}

ts_status session_put_fn(ts_request* r, ts_str key, ts_str value, uint32_t ttl_seconds) {
    const std::string* plugin = HookScope::plugin();
    if (!plugin) return TS_ERR_WRONG_PHASE;
    auto done =
        session_put(ctx_of(r), *plugin, view(key), view(value), std::chrono::seconds(ttl_seconds));
    return done ? TS_OK : session_status(done.error());
}

ts_status session_delete_fn(ts_request* r, ts_str key) {
    const std::string* plugin = HookScope::plugin();
    if (!plugin) return TS_ERR_WRONG_PHASE;
    auto done = session_erase(ctx_of(r), *plugin, view(key));
    return done ? TS_OK : session_status(done.error());
}

// ---- end of session state -----------------------------------------------------------------------

constexpr ts_host_api make_table() {
    ts_host_api t{};
    t.struct_size = sizeof(ts_host_api);
    t.abi_major = TS_ABI_MAJOR;
    t.abi_minor = TS_ABI_MINOR;
    t.alloc = &host_alloc;
    t.free = &host_free;
    t.log = &host_log;
    t.request_model = &request_model;
    t.request_set_model = &Guarded<&request_set_model>::call;
    t.request_system_text = &Guarded<&request_system_text>::call;
    t.request_set_system_text = &Guarded<&request_set_system_text>::call;
    t.request_last_user_text = &Guarded<&request_last_user_text>::call;
    t.request_get_json = &Guarded<&request_get_json>::call;
    t.request_set_json = &Guarded<&request_set_json>::call;
    t.request_answer_text = &Guarded<&request_answer_text>::call;
    t.emit_text = &Guarded<&emit_text>::call;
    t.finish = &Guarded<&finish>::call;
    t.event_type = &event_type;
    t.event_text = &event_text;
    t.event_set_text = &Guarded<&event_set_text_fn>::call;
    t.response_text = &Guarded<&response_text>::call;
    t.response_usage = &Guarded<&response_usage>::call;
    t.call_model = &Guarded<&call_model>::call;
    t.request_attribute = &Guarded<&request_attribute_fn>::call;
    t.upstream_call = &Guarded<&upstream_call_fn>::call;
    // 1.4: stream rewriting
    t.event_json = &Guarded<&event_json_fn>::call;
    t.event_set_json = &Guarded<&event_set_json_fn>::call;
    t.event_drop = &Guarded<&event_drop_fn>::call;
    t.event_hold = &Guarded<&event_hold_fn>::call;
    t.held_count = &held_count_fn;
    t.held_event_json = &Guarded<&held_event_json_fn>::call;
    t.held_release = &Guarded<&held_release_fn>::call;
    t.held_discard = &Guarded<&held_discard_fn>::call;
    t.stream_emit = &Guarded<&stream_emit_fn>::call;
    // 1.4: capabilities, route decision, decision notes, request headers
    t.model_capabilities = &Guarded<&model_capabilities_fn>::call;
    t.route_decide = &Guarded<&route_decide_fn>::call;
    t.route_current = &Guarded<&route_current_fn>::call;
    t.decision_note = &Guarded<&decision_note_fn>::call;
    t.request_header = &Guarded<&request_header_fn>::call;
    t.model_serving = &Guarded<&model_serving_fn>::call;
    t.call_model_within = &Guarded<&call_model_within_fn>::call;

    // 1.4: session state
    t.session_get = &Guarded<&session_get_fn>::call;
    t.session_put = &Guarded<&session_put_fn>::call;
    t.session_delete = &Guarded<&session_delete_fn>::call;
    return t;
}

constinit const ts_host_api g_table = make_table();

}  // namespace

const ts_host_api* host_api() {
    return &g_table;
}

ts_request* to_handle(RequestContext& ctx) {
    return reinterpret_cast<ts_request*>(&ctx);
}
ts_event* to_handle(EventHandle& event) {
    return reinterpret_cast<ts_event*>(&event);
}

}  // namespace tianshu::plugin
