/*
 * tianshu/abi.h -- the Tianshu plugin ABI, version 1.4.
 *
 * This header is the whole contract between the Tianshu host and a plugin shipped as a
 * shared object. It is plain C99 so that any compiler and any language with a C FFI can
 * implement a plugin, and so that a plugin built today keeps loading into later hosts.
 *
 * The six rules (see docs/ARCHITECTURE.md for the reasoning):
 *
 *  1. Plain C at the boundary. Fixed-width integers, {ptr,len} byte spans, opaque handles,
 *     enums with explicit values. No C++ type and no exception ever crosses: a C++ plugin
 *     catches everything (tianshu/plugin.hpp does it for you) and returns TS_HOOK_FAIL.
 *  2. One exported entry point, `tianshu_plugin_entry`, negotiates {major, minor}. The host
 *     refuses a plugin whose major differs from its own, naming both versions. A plugin
 *     built for a lower minor loads; a plugin probes newer host functions before use
 *     (TS_HOST_HAS), never assumes them.
 *  3. Everything grows by appending. Both tables (ts_host_api, given to the plugin, and
 *     ts_plugin_descriptor, given to the host) start with their own size. Fields are never
 *     reordered or repurposed; a field beyond the size the other side reports reads as
 *     zero, and zero always means "the old behaviour".
 *  4. Required hooks missing -> the plugin is refused at load, naming the hook. Optional
 *     hooks may be NULL and get the default behaviour documented on each.
 *  5. Whoever allocates frees. A ts_str given to a plugin is borrowed and valid until the
 *     hook returns (or, for getters, until the next call that changes the same request).
 *     A ts_buf filled by the host was allocated with host->alloc; the plugin releases it
 *     with host->free. Anything a plugin keeps longer than the hook, it copies.
 *  6. Every function states its thread rule. Unless the descriptor sets
 *     TS_FLAG_SINGLE_THREADED, one plugin instance is called from many worker threads at
 *     once; a request handle (ts_request) and an event handle (ts_event) are only ever
 *     used by one thread at a time, the one running the hook. A hook stays on its thread
 *     from start to end, unless the descriptor sets TS_FLAG_MAY_SUSPEND (1.3).
 *
 * Version history (append-only):
 *   1.0  entry point, descriptor, host table, strategy hooks, model `generate`.
 *   1.1  ts_plugin_descriptor.description; ts_host_api.request_attribute.
 *   1.2  ts_host_api.upstream_call and ts_upstream_call (adapters).
 *   1.3  TS_FLAG_MAY_SUSPEND.
 *   1.4  stream rewriting (event_json .. stream_emit), session state (session_get/put/delete),
 *        model_capabilities, route_decide/route_current, decision_note, request_header;
 *        TS_FLAG_ADVISORY; TS_ERR_OUTRANKED, TS_ERR_LIMIT; model_serving and
 *        call_model_within (appended last, probe them).
 */
#ifndef TIANSHU_ABI_H
#define TIANSHU_ABI_H

#include <stddef.h>
#include <stdint.h>

#define TS_ABI_MAJOR 1
#define TS_ABI_MINOR 4

#if defined(_WIN32)
#define TS_EXPORT __declspec(dllexport)
#else
#define TS_EXPORT __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------------------------------
 * Basic types
 * ------------------------------------------------------------------------------------- */

/** Borrowed bytes: not NUL-terminated, not owned by the receiver (rule 5). */
typedef struct ts_str {
    const char* ptr;
    size_t len;
} ts_str;

/** Bytes the host allocated for the plugin with host->alloc; free with host->free. */
typedef struct ts_buf {
    char* ptr;
    size_t len;
} ts_buf;

/** Result of a host function. */
typedef enum ts_status {
    TS_OK = 0,              /**< done */
    TS_ERR_NOT_FOUND = 1,   /**< the field, pointer or attribute does not exist; nothing changed */
    TS_ERR_INVALID = 2,     /**< an argument is malformed (bad JSON, wrong type); nothing changed */
    TS_ERR_WRONG_PHASE = 3, /**< not allowed in this hook (e.g. emit outside generate) */
    TS_ERR_FAILED = 4,      /**< the operation failed (e.g. call_model's model errored) */
    TS_ERR_CLIENT_GONE = 5, /**< generate: the client disconnected; stop producing and return */
    TS_ERR_OUTRANKED =
        6,           /**< (1.4) route_decide: a decision of higher rank stands; nothing changed */
    TS_ERR_LIMIT = 7 /**< (1.4) a size cap would be exceeded (held events, session state);
                          nothing changed */
} ts_status;

/** What a hook tells the host to do next. */
typedef enum ts_hook_result {
    /** Carry on with the next stage. */
    TS_HOOK_CONTINUE = 0,
    /** on_request only: the plugin answered with host->request_answer_text; the remaining
     *  pre strategies and the model are skipped, post strategies still run. */
    TS_HOOK_ANSWERED = 1,
    /** The hook failed: the plugin wrote a message into *err. The client receives a 500 in
     *  its own protocol's shape (or an error event mid-stream); the host logs one line
     *  naming the plugin and keeps serving. */
    TS_HOOK_FAIL = 2
} ts_hook_result;

/** What a plugin is. */
typedef enum ts_plugin_kind {
    TS_KIND_STRATEGY =
        1, /**< runs before/around a model: on_request, on_stream_event, on_response_end */
    TS_KIND_MODEL = 2 /**< answers like a model: generate is required */
} ts_plugin_kind;

/** Descriptor flags. */
typedef enum ts_plugin_flags {
    /** The host never calls one instance from two threads at once. */
    TS_FLAG_SINGLE_THREADED = 1,
    /** (1.3) Inside upstream_call and call_model the host may park the calling hook while
     *  the upstream answers, serve other requests on the thread meanwhile, and go on with
     *  the hook on another thread: the plugin keeps no thread-local state across those two
     *  calls. Without it (the old behaviour) the calling thread waits. Ignored together with
     *  TS_FLAG_SINGLE_THREADED. */
    TS_FLAG_MAY_SUSPEND = 2,
    /** (1.4) The strategy is advisory: unless a chain stage says otherwise ("on_error"), its
     *  failure or overrun lets the request go on as if the stage were not there (logged with
     *  the stage's name, counted in /metrics). Without it (the old behaviour, and the right one
     *  for a policy block) a failure is a clean error to the client. */
    TS_FLAG_ADVISORY = 4
} ts_plugin_flags;

/** (1.4) The rank of a route decision (route_decide). One decision per request; a higher rank
 *  is never overruled by a lower one. */
typedef enum ts_route_rank {
    TS_ROUTE_DEFAULT = 1, /**< the scenario's default model */
    TS_ROUTE_SCENE = 2,   /**< a scene classification or a model election */
    TS_ROUTE_AGENT = 3,   /**< an agent's own model (subagent, <tianshu-model> tag) */
    TS_ROUTE_ESCALATION =
        4,           /**< a hard escalation: window overflow, image, stall, failing channels */
    TS_ROUTE_PIN = 5 /**< an operator's pin */
} ts_route_rank;

typedef enum ts_log_level {
    TS_LOG_DEBUG = 0,
    TS_LOG_INFO = 1,
    TS_LOG_WARN = 2,
    TS_LOG_ERROR = 3
} ts_log_level;

/** Stream event types; the grammar is Anthropic's Messages streaming grammar. */
typedef enum ts_event_type {
    TS_EVENT_MESSAGE_START = 1,
    TS_EVENT_CONTENT_BLOCK_START = 2,
    TS_EVENT_CONTENT_BLOCK_DELTA = 3,
    TS_EVENT_CONTENT_BLOCK_STOP = 4,
    TS_EVENT_MESSAGE_DELTA = 5,
    TS_EVENT_MESSAGE_STOP = 6,
    TS_EVENT_PING = 7,
    TS_EVENT_ERROR = 8
} ts_event_type;

/** Token counts; size-prefixed so it can grow. */
typedef struct ts_usage {
    uint32_t struct_size;
    int64_t input_tokens;
    int64_t output_tokens;
    int64_t cache_read_tokens;
    int64_t cache_write_tokens;
    int64_t reasoning_tokens;
} ts_usage;

/** Where a failing hook or create() writes its message: NUL-terminated, truncated to fit.
 *  Owned by the host; valid for the duration of the call. */
typedef struct ts_error {
    char message[512];
} ts_error;

typedef struct ts_request ts_request;   /**< opaque: one request in flight (host-owned) */
typedef struct ts_event ts_event;       /**< opaque: one stream event (host-owned) */
typedef struct ts_instance ts_instance; /**< opaque to the host: what create() returned */

/** What an adapter asks the host to call (1.2). Size-prefixed: set struct_size =
 *  sizeof(ts_upstream_call). Spans are borrowed for the duration of the call. */
typedef struct ts_upstream_call {
    uint32_t struct_size;
    /** The upstream's wire protocol: "openai_chat" (OpenAI-compatible Chat Completions),
     *  "anthropic_messages" (Anthropic Messages), "openai_responses" (OpenAI Responses) or
     *  "gemini" (Google generateContent). */
    ts_str wire_protocol;
    /** The full endpoint URL, e.g. "https://api.deepseek.com/v1/chat/completions"; for "gemini"
     *  the API root ("https://…/v1beta"): the host appends "/models/{model}:…" itself. */
    ts_str url;
    /** The upstream key, sent as the protocol requires (Authorization: Bearer, x-api-key,
     *  x-goog-api-key; never in the URL). Never logged. */
    ts_str api_key;
    /** Provider quirks as a JSON object (empty = defaults): max_output_tokens,
     *  strip_fields, strip_schema_keywords, strip_cache_control, reasoning_on_tool_turns,
     *  include_usage, tool_result_images ("inline_parts" | "separate_user_message" | "drop"). */
    ts_str options_json;
    uint32_t connect_timeout_ms;    /**< 0 = 10 s */
    uint32_t first_byte_timeout_ms; /**< 0 = 120 s for a streamed answer, 10 min for a whole one */
    uint32_t idle_timeout_ms;       /**< between stream chunks; 0 = 120 s */
} ts_upstream_call;

/* ---------------------------------------------------------------------------------------
 * Host function table: what the host offers the plugin. Given to create(); the pointer stays
 * valid until destroy() returns. All functions may be called from any worker thread, with
 * the request/event handle of the hook currently running on that thread.
 * ------------------------------------------------------------------------------------- */
typedef struct ts_host_api {
    uint32_t struct_size; /**< sizeof(ts_host_api) as the host was compiled */
    uint16_t abi_major;   /**< the host's TS_ABI_MAJOR */
    uint16_t abi_minor;   /**< the host's TS_ABI_MINOR */

    /* -- memory (any thread) -- */
    /** Allocate `size` bytes that the host (or the plugin, with free) may later release. */
    void* (*alloc)(size_t size);
    /** Release memory from alloc or from a ts_buf the host filled. NULL is ignored. */
    void (*free)(void* ptr);

    /* -- logging (any thread) -- */
    /** One structured log line, attributed to the plugin and, when `request` is not NULL,
     *  to that request. Never log secrets or prompt text at INFO or above. */
    void (*log)(const ts_request* request, int32_t level, ts_str message);

    /* -- request: hot fields (the thread running the hook) -- */
    /** The model the request will be sent to. Borrowed until the next set_model. */
    ts_str (*request_model)(const ts_request* request);
    /** Choose the target model. TS_ERR_INVALID when empty. Since 1.4 this is a route decision
     *  (route_decide) of rank TS_ROUTE_DEFAULT by the calling plugin, keeping the scenario of
     *  the decision so far ("default" when none) with reason "set_model": TS_ERR_OUTRANKED
     *  (nothing changed) when a decision of higher rank stands. */
    ts_status (*request_set_model)(ts_request* request, ts_str model);
    /** The system prompt's text blocks joined with newlines, into *out (free with host->free). */
    ts_status (*request_system_text)(const ts_request* request, ts_buf* out);
    /** Replace the system prompt with one text block (empty removes it). */
    ts_status (*request_set_system_text)(ts_request* request, ts_str text);
    /** The last user message's text, into *out (free with host->free). */
    ts_status (*request_last_user_text)(const ts_request* request, ts_buf* out);

    /* -- request: everything else, by RFC 6901 JSON pointer over the request in Anthropic
     *    Messages shape (e.g. "/messages/0/content/0/text", "/max_tokens") -- */
    /** The JSON text of the value at `pointer` into *out. TS_ERR_NOT_FOUND if absent. */
    ts_status (*request_get_json)(const ts_request* request, ts_str pointer, ts_buf* out);
    /** Set the value at `pointer` to the JSON text `value`. TS_ERR_INVALID if `value` is not
     *  JSON or the result is not a valid request; the request is then unchanged. Since 1.4 a
     *  change of the model (by "/model" or the whole request) is a route decision of rank
     *  DEFAULT, like request_set_model: TS_ERR_OUTRANKED (nothing changed) when a decision of
     *  higher rank stands. */
    ts_status (*request_set_json)(ts_request* request, ts_str pointer, ts_str value);

    /* -- answering directly (on_request only) -- */
    /** Answer the request with this text; return TS_HOOK_ANSWERED from on_request. */
    ts_status (*request_answer_text)(ts_request* request, ts_str text);

    /* -- producing output (generate only) -- */
    /** Stream a piece of answer text to the client. TS_ERR_CLIENT_GONE: stop and return. */
    ts_status (*emit_text)(ts_request* request, ts_str text);
    /** End the answer: stop_reason is an Anthropic stop reason ("end_turn", "max_tokens",
     *  "tool_use", ...); usage may be NULL (the host estimates). If generate returns without
     *  calling it, the host finishes with "end_turn". */
    ts_status (*finish)(ts_request* request, ts_str stop_reason, const ts_usage* usage);

    /* -- stream events (on_stream_event only) -- */
    /** The event's type (ts_event_type). */
    int32_t (*event_type)(const ts_event* event);
    /** The text of a content_block_delta (text, thinking or partial JSON); empty otherwise.
     *  Borrowed until the hook returns or event_set_text. */
    ts_str (*event_text)(const ts_event* event);
    /** Replace the text of a content_block_delta. TS_ERR_WRONG_PHASE for other events. */
    ts_status (*event_set_text)(ts_event* event, ts_str text);

    /* -- the whole answer (on_response_end only) -- */
    /** The answer's text blocks joined, into *out (free with host->free). */
    ts_status (*response_text)(const ts_request* request, ts_buf* out);
    /** The answer's token counts. Set out->struct_size = sizeof(ts_usage) before calling. */
    ts_status (*response_usage)(const ts_request* request, ts_usage* out);

    /* -- calling another model under the request's own budget and deadline -- */
    /** Ask `model` (any model the host can route) a single user `prompt`; the whole answer
     *  text into *out (free with host->free). Blocks the calling thread. TS_ERR_FAILED when
     *  the model fails (or the host's budget of calls per request is spent); the parent
     *  request is unaffected. Tianshu bills each call with the parent request, at `model`'s
     *  price. (on_request, generate; since 1.4
     *  also on_stream_event, e.g. to re-ask a malformed tool call: the client's stream waits
     *  for it, under the request's deadline and the stage's deadline_ms) */
    ts_status (*call_model)(ts_request* request, ts_str model, ts_str prompt, ts_buf* out);

    /* ---- 1.1 ---- */
    /** A read-only attribute of the request: "request_id", "tier", "chain_id",
     *  "client_protocol" ("anthropic" | "openai"), "requested_model", "session_id" (the
     *  conversation: Claude Code's X-Claude-Code-Session-Id, else the session in
     *  metadata.user_id, else, since 1.4, derived from a hash of the system prompt and the first
     *  user message, so it stays the same across a conversation's turns), "session_source"
     *  (1.4: "header" | "metadata" | "derived"). Borrowed until the hook returns.
     *  TS_ERR_NOT_FOUND for unknown names. */
    ts_status (*request_attribute)(const ts_request* request, ts_str name, ts_str* out);

    /* ---- 1.2 ---- */
    /** generate only (adapters): call an upstream model and stream its answer as this
     *  request's output. The host encodes the request for call->wire_protocol with the quirks
     *  in call->options_json, sends it over its pooled HTTP client, decodes the answer (as it
     *  streams when the client asked for a stream or the options say "always_stream", else
     *  whole once it has come) and emits it. TS_OK: the whole answer was emitted (do not call
     * finish). TS_ERR_FAILED: it failed and *err says why; return TS_HOOK_FAIL and the host reports
     *  the upstream's own error to the client (429, 5xx, timeout), not a plugin failure.
     *  TS_ERR_INVALID: a malformed call (unknown wire protocol, bad options_json). Blocks the
     *  calling thread for the length of the answer. */
    ts_status (*upstream_call)(ts_request* request, const ts_upstream_call* call, ts_error* err);

    /* ---- 1.4: stream rewriting (on_stream_event only) ----
     * Events are Anthropic Messages streaming events, as JSON objects (the `data:` of their SSE
     * frame, e.g. {"type":"content_block_delta","index":0,"delta":{"type":"text_delta",...}}).
     * By default the current event goes on unchanged when the hook returns. A strategy may
     * instead change it, drop it, or hold it; insert events before it; and later release or
     * discard what it holds. Events it inserts or releases pass through the later stages of
     * the chain, in order, before the current event. Block indices are the strategy's to keep
     * consistent: the host checks everything that leaves the chain against the event grammar
     * (message_start first; content blocks started, delta'd and stopped in increasing index
     * order; one message_delta; message_stop last) and turns a violation into a clean `error`
     * event naming the strategy. Events still held when the stream ends (after the stage's
     * hook for message_stop or error returns) are released: the host never loses one. */
    /** The current event as JSON, into *out (free with host->free). */
    ts_status (*event_json)(const ts_event* event, ts_buf* out);
    /** Replace the current event by the event `json`. TS_ERR_INVALID when it is not one
     *  Anthropic streaming event; the event is then unchanged. */
    ts_status (*event_set_json)(ts_event* event, ts_str json);
    /** The current event does not go on. */
    ts_status (*event_drop)(ts_event* event);
    /** The host keeps the current event for this stage instead of letting it go on. Later
     *  events are not held with it: they overtake it unless the stage holds them too.
     *  TS_ERR_LIMIT when the stage already holds the host's cap (256 events; the event then
     *  goes on). All the stream functions answer TS_ERR_WRONG_PHASE outside on_stream_event of
     *  a chain's post stage. */
    ts_status (*event_hold)(ts_event* event);
    /** How many events this stage holds. */
    uint32_t (*held_count)(const ts_request* request);
    /** The JSON of this stage's held event `index` (0 = oldest), into *out. */
    ts_status (*held_event_json)(const ts_request* request, uint32_t index, ts_buf* out);
    /** Let every held event go on, oldest first (before the current event). */
    ts_status (*held_release)(ts_request* request);
    /** Forget every held event (the strategy replaces them, e.g. with stream_emit). */
    ts_status (*held_discard)(ts_request* request);
    /** Insert the event `json` into the stream, after what this hook released or emitted
     *  before and before the current event. TS_ERR_INVALID when it is not one event. */
    ts_status (*stream_emit)(ts_request* request, ts_str json);

    /* ---- 1.4: session state (any hook) ----
     * A small key-value store per (user, session), where the session is the client's
     * (request_attribute "session_id") and the user the authenticated caller. Keys are
     * namespaced by the plugin's name, so two plugins never see each other's keys, and one user
     * never sees another user's session, even presenting its id. Keys are 1..256 bytes. Values
     * live for their TTL, at most the host's (serve --session-ttl-seconds, 24 h by default);
     * each entry counts its key, the plugin's name and its value against the caps (serve
     * --session-max-bytes, --user-session-max-bytes). Shared by the gateways of one Redis (serve
     * --redis), else per gateway. A call may block the hook for a Redis round trip (bounded by
     * the host's timeout). Every function: TS_ERR_INVALID for an empty or longer key,
     * TS_ERR_FAILED when the store cannot be reached (an advisory strategy goes on without its
     * state), TS_ERR_WRONG_PHASE outside a hook. */
    /** The value under `key`, into *out. TS_ERR_NOT_FOUND when absent or expired. */
    ts_status (*session_get)(const ts_request* request, ts_str key, ts_buf* out);
    /** Store `value` under `key` for `ttl_seconds` (0 = the host's default; never longer than
     *  it). TS_ERR_LIMIT when the session's or the user's size cap would be exceeded;
     *  TS_ERR_FAILED when the store cannot be reached. Nothing changed on an error. */
    ts_status (*session_put)(ts_request* request, ts_str key, ts_str value, uint32_t ttl_seconds);
    /** Remove `key`. TS_OK whether or not it existed. */
    ts_status (*session_delete)(ts_request* request, ts_str key);

    /* ---- 1.4: model capabilities (any hook) ---- */
    /** What the host knows of `model` (empty = the request's current target) as a JSON object,
     *  with the channel's overrides applied: "context_window", "max_output_tokens",
     *  "max_tools" (numbers), "tool_choice", "vision" (booleans), "tool_calls" ("native", or
     *  "text" for a model without native tool calling), "thinking" (how reasoning is sent and
     *  must be sent back: "none", "anthropic", "reasoning_content", ...). A field the
     *  host does not know is absent. TS_ERR_NOT_FOUND when nothing is known. */
    ts_status (*model_capabilities)(const ts_request* request, ts_str model, ts_buf* out);

    /* ---- 1.4: the route decision (on_request) ---- */
    /** Route the request: set the target model (as request_set_model) and record `scenario`
     *  and `reason` for the x-tianshu-route header, the log line and /metrics. `rank` is a
     *  ts_route_rank; a decision of higher rank already made stands (TS_ERR_OUTRANKED, nothing
     *  changed); an equal or lower one is replaced. TS_ERR_INVALID for an empty model, an
     *  unknown rank or a scenario that is not 1-64 of [a-z0-9_-]; TS_ERR_WRONG_PHASE outside
     *  on_request. The reason is kept to 200 bytes. */
    ts_status (*route_decide)(ts_request* request, int32_t rank, ts_str scenario, ts_str model,
                              ts_str reason);
    /** The decision so far as JSON {"rank":N,"scenario":"…","model":"…","reason":"…",
     *  "by":"<plugin>"}, into *out. TS_ERR_NOT_FOUND when none was made. */
    ts_status (*route_current)(const ts_request* request, ts_buf* out);

    /* ---- 1.4: visible decisions (any hook) ---- */
    /** Record a decision this plugin made (a repair, an elision, a rejection): `kind` is a
     *  short [a-z0-9_]+ word, `reason` a sentence without prompt text. It is counted in
     *  /metrics per plugin, kind and model, listed in the request's log line, and sent in an
     *  x-tianshu-decision response header while headers have not left yet. TS_ERR_INVALID for
     *  a kind that is not 1-64 of [a-z0-9_]; TS_ERR_LIMIT past 32 notes in one request. The
     *  reason is kept to 300 bytes. */
    ts_status (*decision_note)(ts_request* request, ts_str kind, ts_str reason);

    /* ---- 1.4: request headers (on_request) ---- */
    /** The value of the client's request header `name` (case-insensitive), borrowed until the
     *  hook returns. TS_ERR_NOT_FOUND when absent and for credentials (authorization,
     *  x-api-key, cookie, proxy-authorization), which plugins never see. TS_ERR_WRONG_PHASE
     *  outside on_request. */
    ts_status (*request_header)(const ts_request* request, ts_str name, ts_str* out);

    /* ---- 1.4: channel health (any hook; appended last, so probe it with TS_HOST_HAS) ---- */
    /** Whether `model` (empty = the request's current target) can be served now: *out = 1 when
     *  some channel serving it has a key the host would call (enabled, not refused by the
     *  upstream, its circuit breaker closed or due a probe), 0 when every one is failing.
     *  TS_ERR_NOT_FOUND when no channel serves the model. */
    ts_status (*model_serving)(const ts_request* request, ts_str model, int32_t* out);
    /** As call_model, time-boxed: the call waits at most `timeout_ms` (and never past the
     *  request's or the stage's deadline); TS_ERR_FAILED when it runs out. (1.4, appended) */
    ts_status (*call_model_within)(ts_request* request, ts_str model, ts_str prompt,
                                   uint32_t timeout_ms, ts_buf* out);
} ts_host_api;

/** True when the host's table reaches `field`: probe before calling anything newer than
 *  the minor you require (rule 2). */
#define TS_HOST_HAS(host, field)                                                    \
    ((host)->struct_size >= offsetof(ts_host_api, field) + sizeof((host)->field) && \
     (host)->field != NULL)

/* ---------------------------------------------------------------------------------------
 * Plugin descriptor: what the plugin offers the host. Static storage in the plugin; read by
 * the host once at load. Strings are NUL-terminated and live as long as the library.
 * ------------------------------------------------------------------------------------- */
typedef struct ts_plugin_descriptor {
    uint32_t struct_size; /**< sizeof(ts_plugin_descriptor) as the plugin was compiled */
    uint16_t abi_major;   /**< TS_ABI_MAJOR the plugin was compiled against */
    uint16_t abi_minor;   /**< TS_ABI_MINOR the plugin was compiled against */
    const char* name;     /**< required: unique, [a-z0-9_]+, used in chains */
    const char* version;  /**< required: the plugin's own version, e.g. "1.2.0" */
    int32_t kind;         /**< required: ts_plugin_kind */
    uint32_t flags;       /**< ts_plugin_flags; 0 = may be called concurrently */
    /** JSON Schema (draft 7) for create()'s config; the host validates every config against
     *  it before create() sees it. NULL means "any JSON object". */
    const char* config_schema;

    /** Required. Make an instance from a config that already passed config_schema. Return
     *  NULL and fill *err to refuse (the chain then fails to load, with that message).
     *  Called at chain load, from one thread. `host` stays valid until destroy. */
    ts_instance* (*create)(const ts_host_api* host, ts_str config_json, ts_error* err);
    /** Required. Release an instance. Called once, after every hook on it has returned. */
    void (*destroy)(ts_instance* instance);

    /** Optional (strategy). Before the model is called: may read and change the request,
     *  choose the target model, or answer directly (TS_HOOK_ANSWERED). NULL = continue. */
    ts_hook_result (*on_request)(ts_instance* instance, ts_request* request, ts_error* err);
    /** Optional (strategy). For each event the model produces, before the client sees it;
     *  may change the event's text, and (1.4) rewrite the stream: event_json .. stream_emit.
     *  NULL = pass events unchanged (and costs nothing). */
    ts_hook_result (*on_stream_event)(ts_instance* instance, ts_request* request, ts_event* event,
                                      ts_error* err);
    /** Optional (strategy). After the last event, with the whole answer readable through
     *  response_text / response_usage. Failing here is logged; the client already has the
     *  answer. NULL = nothing. */
    ts_hook_result (*on_response_end)(ts_instance* instance, ts_request* request, ts_error* err);
    /** Required for TS_KIND_MODEL: produce the answer with emit_text and finish. An error
     *  before any output reaches the client as an HTTP error, after it as an error event. */
    ts_hook_result (*generate)(ts_instance* instance, ts_request* request, ts_error* err);

    /* ---- 1.1 ---- */
    /** Optional: one sentence for `tianshu plugins list` and the admin panel. */
    const char* description;
} ts_plugin_descriptor;

/** The size of a descriptor built against ABI 1.0 (before `description`). */
#define TS_DESCRIPTOR_SIZE_1_0 offsetof(ts_plugin_descriptor, description)

/** The one exported symbol. The host calls it once after loading the library, from one
 *  thread, passing its own version. Return the descriptor (static storage), or NULL to
 *  decline this host (the host then reports that the plugin declined ABI host_major.minor). */
typedef const ts_plugin_descriptor* (*ts_plugin_entry_fn)(uint16_t host_major, uint16_t host_minor);
#define TS_PLUGIN_ENTRY_SYMBOL "tianshu_plugin_entry"

#ifdef __cplusplus
}
#endif

#endif /* TIANSHU_ABI_H */
