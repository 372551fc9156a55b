/*
 * tianshu/plugin.hpp -- a header-only C++17 layer over tianshu/abi.h.
 *
 * Write a class, declare it with TIANSHU_PLUGIN, and this header produces the C entry point,
 * the descriptor and the thunks. Nothing here crosses the ABI: every hook runs inside a
 * try/catch, and an exception becomes TS_HOOK_FAIL with its message (rule 1).
 *
 *     class Greeting {
 *     public:
 *         Greeting(const tianshu::sdk::Host& host, std::string_view config_json);
 *         void on_request(tianshu::sdk::Request& request);              // optional
 *         void on_stream_event(tianshu::sdk::Request&, tianshu::sdk::Event&);  // optional
 *         void on_response_end(tianshu::sdk::Request&, const tianshu::sdk::Response&);  // optional
 *         void generate(tianshu::sdk::Request& request);                // kind model only
 *     };
 *     TIANSHU_PLUGIN(Greeting, "greeting", "1.0.0", TS_KIND_STRATEGY, nullptr, "Greets.")
 *
 * Only the hooks the class defines are put in the descriptor, so a strategy without
 * on_stream_event costs the host nothing per event. `on_request` may return void (the
 * request is "answered" exactly when Request::answer succeeded) or tianshu::sdk::Outcome.
 * A class may declare `static constexpr uint32_t flags = TS_FLAG_SINGLE_THREADED;` (or
 * TS_FLAG_MAY_SUSPEND, TS_FLAG_ADVISORY, or several or'ed).
 *
 * Thread rule: unless the class declares TS_FLAG_SINGLE_THREADED, its hooks run on many
 * threads at once; Request/Event/Response objects belong to the calling thread only. With
 * TS_FLAG_MAY_SUSPEND, a hook that calls upstream_call or call_model may go on on another
 * thread when that call returns: keep nothing thread_local across them.
 */
#ifndef TIANSHU_PLUGIN_HPP
#define TIANSHU_PLUGIN_HPP

#include <cstdint>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "tianshu/abi.h"

namespace tianshu::sdk {

//! What on_request decided (alternative to returning void).
enum class Outcome {
    proceed,  //!< carry on with the next stage
    answered  //!< the plugin called Request::answer: skip the remaining pre stages and the model
};

namespace detail {
inline ts_str str(std::string_view s) {
    return ts_str{s.data(), s.size()};
}
inline std::string_view view(ts_str s) {
    return s.ptr ? std::string_view(s.ptr, s.len) : std::string_view();
}

//! Copies `message` into err, NUL-terminated, truncated to fit.
inline void write_error(ts_error* err, const char* message) noexcept {
    if (!err) return;
    if (!message) message = "";
    size_t n = std::strlen(message);
    if (n >= sizeof err->message) n = sizeof err->message - 1;
    std::memcpy(err->message, message, n);
    err->message[n] = '\0';
}

//! Takes ownership of a ts_buf the host filled: copies it out and frees it.
inline std::string take(const ts_host_api* api, ts_buf buf) {
    std::string out;
    if (buf.ptr) {
        try {
            out.assign(buf.ptr, buf.len);
        } catch (...) {
            api->free(buf.ptr);
            throw;
        }
        api->free(buf.ptr);
    }
    return out;
}
}  // namespace detail

//! The host as the plugin sees it: the function table given to create(). Cheap to copy.
class Host {
  public:
    explicit Host(const ts_host_api* api) : api_(api) {}
    //! The raw table, for anything this layer does not wrap.
    const ts_host_api* api() const { return api_; }
    uint16_t abi_major() const { return api_->abi_major; }
    uint16_t abi_minor() const { return api_->abi_minor; }
    //! True when the host offers request_attribute (ABI 1.1+).
    bool has_request_attribute() const { return TS_HOST_HAS(api_, request_attribute); }
    //! A log line attributed to the plugin (not to a request). Never log secrets or prompts.
    void log(ts_log_level level, std::string_view message) const {
        api_->log(nullptr, static_cast<int32_t>(level), detail::str(message));
    }

  private:
    const ts_host_api* api_;
};

//! One request in flight, valid for the duration of the hook it was given to.
class Request {
  public:
    Request(const ts_host_api* api, ts_request* request) : api_(api), request_(request) {}

    //! The target model. Borrowed until set_model or the hook returns.
    std::string_view model() const { return detail::view(api_->request_model(request_)); }
    //! Choose the target model: a route decision of rank TS_ROUTE_DEFAULT by this plugin.
    //! False when `model` is empty or (1.4) a decision of higher rank stands.
    bool set_model(std::string_view model) {
        return api_->request_set_model(request_, detail::str(model)) == TS_OK;
    }
    //! The system prompt's text blocks joined with newlines.
    std::string system_text() const { return take_buf(api_->request_system_text); }
    //! Replace the system prompt with one text block; empty removes it.
    bool set_system_text(std::string_view text) {
        return api_->request_set_system_text(request_, detail::str(text)) == TS_OK;
    }
    //! The last user message's text.
    std::string last_user_text() const { return take_buf(api_->request_last_user_text); }

    //! The JSON text at an RFC 6901 pointer over the request in Anthropic shape
    //! ("/max_tokens", "/messages/0/content/0/text"); nullopt when absent or malformed.
    std::optional<std::string> get_json(std::string_view pointer) const {
        ts_buf out{nullptr, 0};
        if (api_->request_get_json(request_, detail::str(pointer), &out) != TS_OK)
            return std::nullopt;
        return detail::take(api_, out);
    }
    //! Set the value at `pointer` to the JSON text `json`. False when the JSON is malformed,
    //! the request would become invalid, or (1.4) it changes the model while a route decision
    //! of higher rank stands; the request is then unchanged.
    bool set_json(std::string_view pointer, std::string_view json) {
        return api_->request_set_json(request_, detail::str(pointer), detail::str(json)) == TS_OK;
    }

    //! on_request only: answer directly with `text`. A void on_request then reports
    //! TS_HOOK_ANSWERED by itself.
    bool answer(std::string_view text) {
        bool ok = api_->request_answer_text(request_, detail::str(text)) == TS_OK;
        answered_ = answered_ || ok;
        return ok;
    }
    bool answered() const { return answered_; }

    //! generate only: stream a piece of the answer. False = the client has gone: stop and return.
    bool emit(std::string_view text) {
        return api_->emit_text(request_, detail::str(text)) == TS_OK;
    }
    //! generate only: end the answer. `usage` may be null (the host estimates).
    bool finish(std::string_view stop_reason = "end_turn", const ts_usage* usage = nullptr) {
        return api_->finish(request_, detail::str(stop_reason), usage) == TS_OK;
    }

    //! Ask another model a single-prompt question under this request's budget; blocks.
    //! nullopt when that model failed (this request is unaffected).
    std::optional<std::string> call_model(std::string_view model, std::string_view prompt) {
        ts_buf out{nullptr, 0};
        if (api_->call_model(request_, detail::str(model), detail::str(prompt), &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return std::nullopt;
        }
        return detail::take(api_, out);
    }
    //! The same, waiting at most `timeout_ms` (1.4's call_model_within, probed; on an older
    //! host, bounded by the request's and the stage's deadline only).
    std::optional<std::string> call_model(std::string_view model, std::string_view prompt,
                                          uint32_t timeout_ms) {
        if (!TS_HOST_HAS(api_, call_model_within)) return call_model(model, prompt);
        ts_buf out{nullptr, 0};
        if (api_->call_model_within(request_, detail::str(model), detail::str(prompt), timeout_ms,
                                    &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return std::nullopt;
        }
        return detail::take(api_, out);
    }

    //! "request_id", "tier", "chain_id", "client_protocol", "requested_model", "session_id",
    //! "session_source" ("header" | "metadata" | "derived", 1.4). nullopt for
    //! unknown names and on a 1.0 host (probed, never assumed). Borrowed until the hook returns.
    std::optional<std::string_view> attribute(std::string_view name) const {
        if (!TS_HOST_HAS(api_, request_attribute)) return std::nullopt;
        ts_str out{nullptr, 0};
        if (api_->request_attribute(request_, detail::str(name), &out) != TS_OK)
            return std::nullopt;
        return detail::view(out);
    }

    //! A log line attributed to the plugin and this request. Never log prompts at INFO+.
    void log(ts_log_level level, std::string_view message) const {
        api_->log(request_, static_cast<int32_t>(level), detail::str(message));
    }

    //! Adapters (ABI 1.2): call the upstream described by `call` and stream its answer as this
    //! request's output. Throws std::runtime_error with the host's reason on failure (the
    //! host then reports the upstream's own error to the client), so a generate() can simply
    //! `req.upstream_call(call);`. Throws when the host is older than 1.2.
    void upstream_call(const ts_upstream_call& call) const {
        if (!TS_HOST_HAS(api_, upstream_call))
            throw std::runtime_error(
                "this Tianshu host is older than plugin ABI 1.2: upgrade it to use adapters");
        ts_error err{};
        if (api_->upstream_call(request_, &call, &err) != TS_OK)
            throw std::runtime_error(err.message[0] ? err.message : "upstream call failed");
    }

    // ---- stream rewriting (ABI 1.4; on_stream_event of a chain's post stage) ----
    // Each throws std::runtime_error on a host older than 1.4 (probe with
    // has_stream_rewriting()) or when the host refuses (outside on_stream_event, bad JSON).

    //! True when the host offers stream rewriting (ABI 1.4+).
    bool has_stream_rewriting() const { return TS_HOST_HAS(api_, stream_emit); }
    //! How many events this stage holds (0 on an older host).
    uint32_t held_count() const {
        return TS_HOST_HAS(api_, held_count) ? api_->held_count(request_) : 0;
    }
    //! The JSON of held event `index` (0 = oldest); nullopt when there is no such event.
    std::optional<std::string> held_event_json(uint32_t index) const {
        if (!TS_HOST_HAS(api_, held_event_json)) return std::nullopt;
        ts_buf out{nullptr, 0};
        if (api_->held_event_json(request_, index, &out) != TS_OK) return std::nullopt;
        return detail::take(api_, out);
    }
    //! Every held event goes on, oldest first, before the current event.
    void release_held() { check(stream_fn(&ts_host_api::held_release)(request_), "held_release"); }
    //! Forget every held event (replace them with emit_event).
    void discard_held() { check(stream_fn(&ts_host_api::held_discard)(request_), "held_discard"); }
    //! Insert one Anthropic streaming event (JSON) before the current event, after what this
    //! hook emitted or released before.
    void emit_event(std::string_view json) {
        check(stream_fn(&ts_host_api::stream_emit)(request_, detail::str(json)), "stream_emit");
    }

    // ---- 1.4: session state (any hook) ----
    // A small key-value store per (user, session), this plugin's keys only. Probed: on a host
    // older than 1.4 nothing is stored (get finds nothing, put and erase say TS_ERR_FAILED).

    //! True when the host keeps session state (ABI 1.4+).
    bool has_session_state() const { return TS_HOST_HAS(api_, session_delete); }
    //! The value under `key`; nullopt when absent or expired, or when the store failed.
    std::optional<std::string> session_get(std::string_view key) const {
        if (!has_session_state()) return std::nullopt;
        ts_buf out{nullptr, 0};
        if (api_->session_get(request_, detail::str(key), &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return std::nullopt;
        }
        return detail::take(api_, out);
    }
    //! Store `value` under `key` for `ttl_seconds` (0 = the host's default). TS_OK;
    //! TS_ERR_LIMIT when a size cap would be exceeded; TS_ERR_FAILED when the store cannot be
    //! reached; TS_ERR_INVALID for an empty or over-long key. Nothing changed on an error: an
    //! advisory strategy carries on without its state.
    ts_status session_put(std::string_view key, std::string_view value, uint32_t ttl_seconds = 0) {
        if (!has_session_state()) return TS_ERR_FAILED;
        return api_->session_put(request_, detail::str(key), detail::str(value), ttl_seconds);
    }
    //! Remove `key` (TS_OK whether or not it existed).
    ts_status session_erase(std::string_view key) {
        if (!has_session_state()) return TS_ERR_FAILED;
        return api_->session_delete(request_, detail::str(key));
    }
    // ---- end of session state ----

    // ---- 1.4: capabilities, route decision, decision notes, request headers ----
    // Each probes the host (TS_HOST_HAS) and answers "unknown"/false on an older one.

    //! What the host knows of `model` (empty: the current target) as a JSON object
    //! ("context_window", "max_output_tokens", "max_tools", "tool_choice", "vision",
    //! "tool_calls", "thinking"; unknown fields absent); nullopt when nothing is known.
    std::optional<std::string> capabilities(std::string_view model = {}) const {
        if (!TS_HOST_HAS(api_, model_capabilities)) return std::nullopt;
        ts_buf out{nullptr, 0};
        if (api_->model_capabilities(request_, detail::str(model), &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return std::nullopt;
        }
        return detail::take(api_, out);
    }
    //! Whether `model` (empty: the current target) can be served now: false when every
    //! channel serving it is failing (keys refused, breakers open); nullopt when no channel
    //! serves it or the host cannot tell (older than this part of 1.4).
    std::optional<bool> serving(std::string_view model = {}) const {
        if (!TS_HOST_HAS(api_, model_serving)) return std::nullopt;
        int32_t out = 0;
        if (api_->model_serving(request_, detail::str(model), &out) != TS_OK) return std::nullopt;
        return out != 0;
    }
    //! on_request: route to `model` with rank `rank` (ts_route_rank). TS_OK, TS_ERR_OUTRANKED
    //! (a higher decision stands), TS_ERR_INVALID; TS_ERR_FAILED on a host older than 1.4.
    ts_status route_decide(ts_route_rank rank, std::string_view scenario, std::string_view model,
                           std::string_view reason) {
        if (!TS_HOST_HAS(api_, route_decide)) return TS_ERR_FAILED;
        return api_->route_decide(request_, static_cast<int32_t>(rank), detail::str(scenario),
                                  detail::str(model), detail::str(reason));
    }
    //! The decision so far as JSON {"rank","scenario","model","reason","by"}; nullopt when none.
    std::optional<std::string> route_current() const {
        if (!TS_HOST_HAS(api_, route_current)) return std::nullopt;
        ts_buf out{nullptr, 0};
        if (api_->route_current(request_, &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return std::nullopt;
        }
        return detail::take(api_, out);
    }
    //! Record a decision ([a-z0-9_]+ kind, a reason without prompt text): logged, counted in
    //! /metrics, sent as x-tianshu-decision while headers have not left. False when refused.
    bool note(std::string_view kind, std::string_view reason) {
        if (!TS_HOST_HAS(api_, decision_note)) return false;
        return api_->decision_note(request_, detail::str(kind), detail::str(reason)) == TS_OK;
    }
    //! on_request: the client's header `name` (case-insensitive), borrowed until the hook
    //! returns; nullopt when absent and for credentials.
    std::optional<std::string_view> header(std::string_view name) const {
        if (!TS_HOST_HAS(api_, request_header)) return std::nullopt;
        ts_str out{nullptr, 0};
        if (api_->request_header(request_, detail::str(name), &out) != TS_OK) return std::nullopt;
        return detail::view(out);
    }

    const ts_host_api* api() const { return api_; }
    ts_request* handle() const { return request_; }

  private:
    template <class Fn>
    Fn stream_fn(Fn ts_host_api::*field) const {
        if (!has_stream_rewriting() || !(api_->*field))
            throw std::runtime_error(
                "this Tianshu host is older than plugin ABI 1.4: upgrade it to rewrite streams");
        return api_->*field;
    }
    static void check(ts_status status, const char* function) {
        if (status != TS_OK)
            throw std::runtime_error(std::string(function) + " refused (status " +
                                     std::to_string(static_cast<int>(status)) + ")");
    }
    std::string take_buf(ts_status (*fn)(const ts_request*, ts_buf*)) const {
        ts_buf out{nullptr, 0};
        if (fn(request_, &out) != TS_OK) return {};
        return detail::take(api_, out);
    }

    const ts_host_api* api_;
    ts_request* request_;
    bool answered_ = false;
};

//! One stream event (on_stream_event), valid for the duration of the hook.
class Event {
  public:
    Event(const ts_host_api* api, ts_event* event) : api_(api), event_(event) {}
    ts_event_type type() const { return static_cast<ts_event_type>(api_->event_type(event_)); }
    //! The delta's text (text, thinking or partial JSON); empty for other events.
    std::string_view text() const { return detail::view(api_->event_text(event_)); }
    //! Replace the delta's text; false for events that are not content_block_delta.
    bool set_text(std::string_view text) {
        return api_->event_set_text(event_, detail::str(text)) == TS_OK;
    }

    // ---- stream rewriting (ABI 1.4; see Request for the held events and emit_event) ----
    //! The event as JSON (the `data:` of its Anthropic SSE frame); empty on an older host.
    std::string json() const {
        if (!TS_HOST_HAS(api_, event_json)) return {};
        ts_buf out{nullptr, 0};
        if (api_->event_json(event_, &out) != TS_OK) return {};
        return detail::take(api_, out);
    }
    //! Replace the event by another (JSON). False when it is not one streaming event or the
    //! host is older than 1.4; the event is then unchanged.
    bool set_json(std::string_view json) {
        return TS_HOST_HAS(api_, event_set_json) &&
               api_->event_set_json(event_, detail::str(json)) == TS_OK;
    }
    //! The event does not go on. Throws on a host older than 1.4.
    void drop() {
        if (!TS_HOST_HAS(api_, event_drop) || api_->event_drop(event_) != TS_OK)
            throw std::runtime_error("event_drop refused (outside a post stage, or host < 1.4)");
    }
    //! The host keeps the event for this stage. False when the stage holds the host's cap (or
    //! the host is older than 1.4): the event then goes on.
    bool hold() { return TS_HOST_HAS(api_, event_hold) && api_->event_hold(event_) == TS_OK; }

    ts_event* handle() const { return event_; }

  private:
    const ts_host_api* api_;
    ts_event* event_;
};

//! The complete answer (on_response_end).
class Response {
  public:
    Response(const ts_host_api* api, const ts_request* request) : api_(api), request_(request) {}
    //! The answer's text blocks joined.
    std::string text() const {
        ts_buf out{nullptr, 0};
        if (api_->response_text(request_, &out) != TS_OK) return {};
        return detail::take(api_, out);
    }
    //! The answer's token counts (zeros when unknown).
    ts_usage usage() const {
        ts_usage u{};
        u.struct_size = sizeof(ts_usage);
        if (api_->response_usage(request_, &u) != TS_OK) {
            u = ts_usage{};
            u.struct_size = sizeof(ts_usage);
        }
        return u;
    }

  private:
    const ts_host_api* api_;
    const ts_request* request_;
};

namespace detail {

// -- which hooks does T define? (C++17 detection idiom) --
template <class T, class = void>
struct has_on_request : std::false_type {};
template <class T>
struct has_on_request<
    T, std::void_t<decltype(std::declval<T&>().on_request(std::declval<Request&>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_on_stream_event : std::false_type {};
template <class T>
struct has_on_stream_event<T, std::void_t<decltype(std::declval<T&>().on_stream_event(
                                  std::declval<Request&>(), std::declval<Event&>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_on_response_end : std::false_type {};
template <class T>
struct has_on_response_end<T, std::void_t<decltype(std::declval<T&>().on_response_end(
                                  std::declval<Request&>(), std::declval<const Response&>()))>>
    : std::true_type {};

template <class T, class = void>
struct has_generate : std::false_type {};
template <class T>
struct has_generate<T, std::void_t<decltype(std::declval<T&>().generate(std::declval<Request&>()))>>
    : std::true_type {};

template <class T, class = void>
struct flags_of : std::integral_constant<uint32_t, 0> {};
template <class T>
struct flags_of<T, std::void_t<decltype(T::flags)>>
    : std::integral_constant<uint32_t, static_cast<uint32_t>(T::flags)> {};

//! The instance the host holds: the plugin's object plus the host table its hooks need.
template <class T>
struct Instance {
    Instance(const ts_host_api* a, std::string_view config) : api(a), plugin(Host(a), config) {}
    const ts_host_api* api;
    T plugin;
};

inline ts_hook_result fail(ts_error* err, const char* message) noexcept {
    write_error(err, message);
    return TS_HOOK_FAIL;
}

//! The C thunks for T: each catches every exception (rule 1).
template <class T>
struct Thunks {
    static Instance<T>* self(ts_instance* i) { return reinterpret_cast<Instance<T>*>(i); }

    static ts_instance* create(const ts_host_api* host, ts_str config, ts_error* err) noexcept {
        try {
            return reinterpret_cast<ts_instance*>(new Instance<T>(host, view(config)));
        } catch (const std::exception& e) {
            write_error(err, e.what());
        } catch (...) {
            write_error(err, "unknown exception");
        }
        return nullptr;
    }

    static void destroy(ts_instance* instance) noexcept {
        try {
            delete self(instance);
        } catch (...) {
        }
    }

    static ts_hook_result on_request(ts_instance* instance, ts_request* request,
                                     ts_error* err) noexcept {
        try {
            Instance<T>* i = self(instance);
            Request r(i->api, request);
            if constexpr (std::is_void_v<decltype(i->plugin.on_request(r))>) {
                i->plugin.on_request(r);
                return r.answered() ? TS_HOOK_ANSWERED : TS_HOOK_CONTINUE;
            } else {
                return i->plugin.on_request(r) == Outcome::answered ? TS_HOOK_ANSWERED
                                                                    : TS_HOOK_CONTINUE;
            }
        } catch (const std::exception& e) {
            return fail(err, e.what());
        } catch (...) {
            return fail(err, "unknown exception");
        }
    }

    static ts_hook_result on_stream_event(ts_instance* instance, ts_request* request,
                                          ts_event* event, ts_error* err) noexcept {
        try {
            Instance<T>* i = self(instance);
            Request r(i->api, request);
            Event e(i->api, event);
            i->plugin.on_stream_event(r, e);
            return TS_HOOK_CONTINUE;
        } catch (const std::exception& e) {
            return fail(err, e.what());
        } catch (...) {
            return fail(err, "unknown exception");
        }
    }

    static ts_hook_result on_response_end(ts_instance* instance, ts_request* request,
                                          ts_error* err) noexcept {
        try {
            Instance<T>* i = self(instance);
            Request r(i->api, request);
            const Response resp(i->api, request);
            i->plugin.on_response_end(r, resp);
            return TS_HOOK_CONTINUE;
        } catch (const std::exception& e) {
            return fail(err, e.what());
        } catch (...) {
            return fail(err, "unknown exception");
        }
    }

    static ts_hook_result generate(ts_instance* instance, ts_request* request,
                                   ts_error* err) noexcept {
        try {
            Instance<T>* i = self(instance);
            Request r(i->api, request);
            i->plugin.generate(r);
            return TS_HOOK_CONTINUE;
        } catch (const std::exception& e) {
            return fail(err, e.what());
        } catch (...) {
            return fail(err, "unknown exception");
        }
    }
};

//! The descriptor for T: hooks set only for the methods T defines.
template <class T>
constexpr ts_plugin_descriptor make_descriptor(const char* name, const char* version, int32_t kind,
                                               const char* config_schema, const char* description) {
    ts_plugin_descriptor d{};
    d.struct_size = sizeof(ts_plugin_descriptor);
    d.abi_major = TS_ABI_MAJOR;
    d.abi_minor = TS_ABI_MINOR;
    d.name = name;
    d.version = version;
    d.kind = kind;
    d.flags = flags_of<T>::value;
    d.config_schema = config_schema;
    d.create = &Thunks<T>::create;
    d.destroy = &Thunks<T>::destroy;
    if constexpr (has_on_request<T>::value) d.on_request = &Thunks<T>::on_request;
    if constexpr (has_on_stream_event<T>::value) d.on_stream_event = &Thunks<T>::on_stream_event;
    if constexpr (has_on_response_end<T>::value) d.on_response_end = &Thunks<T>::on_response_end;
    if constexpr (has_generate<T>::value) d.generate = &Thunks<T>::generate;
    d.description = description;
    return d;
}

}  // namespace detail
}  // namespace tianshu::sdk

/**
 * TIANSHU_PLUGIN(Class, "name", "version", kind, schema_json_or_nullptr, "description")
 *
 * Defines the exported `tianshu_plugin_entry` returning a static descriptor for Class. Use it
 * once per library, at namespace scope. `kind` is TS_KIND_STRATEGY or TS_KIND_MODEL (a model
 * class must define generate(Request&)). Class is constructed as
 * Class(const tianshu::sdk::Host&, std::string_view config_json); throwing from the
 * constructor refuses the config with the exception's message.
 */
#define TIANSHU_PLUGIN(Class, name, version, kind, schema, description)                          \
    static_assert((kind) != TS_KIND_MODEL || ::tianshu::sdk::detail::has_generate<Class>::value, \
                  "a TS_KIND_MODEL plugin must define void generate(tianshu::sdk::Request&)");   \
    static_assert(std::is_constructible_v<Class, const ::tianshu::sdk::Host&, std::string_view>, \
                  "a plugin class must be constructible from (const tianshu::sdk::Host&, "       \
                  "std::string_view)");                                                          \
    extern "C" TS_EXPORT const ts_plugin_descriptor* tianshu_plugin_entry(uint16_t host_major,   \
                                                                          uint16_t host_minor) { \
        (void)host_major;                                                                        \
        (void)host_minor;                                                                        \
        static const ts_plugin_descriptor descriptor =                                           \
            ::tianshu::sdk::detail::make_descriptor<Class>(name, version, kind, schema,          \
                                                           description);                         \
        return &descriptor;                                                                      \
    }

#endif /* TIANSHU_PLUGIN_HPP */
