#include "plugin/request_access.hpp"

#include "core/log.hpp"
#include "core/request_json.hpp"
#include "protocol/anthropic.hpp"

namespace tianshu::plugin {

using core::Error;
using core::ErrorKind;
using core::Json;

namespace {
core::Result<Json::json_pointer> parse_pointer(std::string_view pointer) {
    try {
        return Json::json_pointer(std::string(pointer));
    } catch (const std::exception& e) {
        return Error::invalid("JSON pointer '" + std::string(pointer) +
                              "' is malformed: it must be empty or start with '/' (RFC 6901)");
    }
}
// The top-level field a JSON pointer starts in ("/messages/0/content" -> "messages").
std::string top_level_field(std::string_view pointer) {
    const size_t end = pointer.find('/', 1);
    std::string token(pointer.substr(1, end == std::string_view::npos ? end : end - 1));
    std::string out;
    for (size_t i = 0; i < token.size(); ++i) {
        if (token[i] == '~' && i + 1 < token.size()) {
            out += token[i + 1] == '1' ? '/' : '~';
            ++i;
        } else {
            out += token[i];
        }
    }
    return out;
}
}  // namespace

core::Result<Json> request_get(const RequestContext& ctx, std::string_view pointer) {
    auto ptr = parse_pointer(pointer);
    if (!ptr) return ptr.take_error();
    Json body = core::to_json(ctx.request);
    if (!body.contains(ptr.value()))
        return Error{
            ErrorKind::not_found, "no value at '" + std::string(pointer) + "' in the request", {}};
    return body.at(ptr.value());
}

core::Result<RouteOutcome> request_set(RequestContext& ctx, std::string_view pointer, Json value,
                                       std::string_view by) {
    auto ptr = parse_pointer(pointer);
    if (!ptr) return ptr.take_error();
    Json body = core::to_json(ctx.request);
    try {
        body[ptr.value()] = std::move(value);
    } catch (const std::exception& e) {
        return Error::invalid("cannot set '" + std::string(pointer) + "': " + e.what());
    }
    auto decoded = core::request_from_json(body);
    if (!decoded) {
        return Error::invalid("setting '" + std::string(pointer) +
                              "' would make the request invalid: " + decoded.error().message);
    }
    auto next = std::move(decoded).value();
    // The model has one writer, the route decision: a new model here is one, of rank DEFAULT.
    const bool model_changes = next.model != ctx.request.model;
    if (model_changes && ctx.route && ctx.route->rank > 1) return RouteOutcome::outranked;
    before_request_change(ctx);
    // The passthrough body stays; the field the pointer starts in is marked changed.
    next.client_body = std::move(ctx.request.client_body);
    next.changed_fields = std::move(ctx.request.changed_fields);
    next.mark_changed(pointer.empty() ? std::string("*") : top_level_field(pointer));
    ctx.request = std::move(next);
    if (model_changes) {
        const std::string model = ctx.request.model;
        const std::string scenario = ctx.route ? ctx.route->scenario : std::string("default");
        return route_decide(ctx, 1, scenario, model, "set /model", by);
    }
    return RouteOutcome::decided;
}

const std::string* request_attribute(const RequestContext& ctx, std::string_view name) {
    if (name == "request_id") return &ctx.request_id;
    if (name == "tier") return &ctx.tier;
    if (name == "chain_id") return &ctx.chain_id;
    if (name == "client_protocol") return &ctx.client_protocol;
    if (name == "requested_model") return &ctx.requested_model;
    if (name == "session_id") return &ctx.session_id;
    if (name == "session_source") return &ctx.session_source;
    return nullptr;
}

void before_request_change(RequestContext& ctx) {
    if (!ctx.undo || ctx.undo->saved) return;
    ctx.undo->request = ctx.request;
    ctx.undo->answer = ctx.answer;
    ctx.undo->route = ctx.route;
    ctx.undo->saved = true;
}

void set_model(RequestContext& ctx, std::string model) {
    before_request_change(ctx);
    ctx.request.model = std::move(model);
}

void set_system_text(RequestContext& ctx, std::string text) {
    before_request_change(ctx);
    ctx.request.set_system_text(std::move(text));
}

// ---- session state ----------------------------------------------------------------------------

namespace {

core::Result<core::SessionStore*> session_store(const RequestContext& ctx) {
    if (!ctx.sessions) return Error{ErrorKind::unavailable, "this host keeps no session state", {}};
    return ctx.sessions;
}

//! A store that cannot be reached is worth a log line naming the plugin; a cap or a bad key is
//! the plugin's own business (it gets the status).
template <class T>
core::Result<T> logged(const RequestContext& ctx, std::string_view plugin, const char* what,
                       core::Result<T> result) {
    if (!result && result.error().kind == ErrorKind::unavailable)
        core::log(core::LogLevel::warn, "session state unavailable",
                  {{"plugin", std::string(plugin)},
                   {"request_id", ctx.request_id},
                   {"operation", what},
                   {"error", result.error().message}});
    return result;
}

}  // namespace

core::Result<std::optional<std::string>> session_get(const RequestContext& ctx,
                                                     std::string_view plugin,
                                                     std::string_view key) {
    auto store = session_store(ctx);
    if (!store) return store.take_error();
    return logged(ctx, plugin, "get", store.value()->get({ctx.user, ctx.session_id, plugin}, key));
}

core::Result<void> session_put(RequestContext& ctx, std::string_view plugin, std::string_view key,
                               std::string_view value, std::chrono::seconds ttl) {
    auto store = session_store(ctx);
    if (!store) return store.take_error();
    return logged(ctx, plugin, "put",
                  store.value()->put({ctx.user, ctx.session_id, plugin}, key, value, ttl));
}

core::Result<void> session_erase(RequestContext& ctx, std::string_view plugin,
                                 std::string_view key) {
    auto store = session_store(ctx);
    if (!store) return store.take_error();
    return logged(ctx, plugin, "delete",
                  store.value()->erase({ctx.user, ctx.session_id, plugin}, key));
}

// ---- end of session state -----------------------------------------------------------------------

void answer_text(RequestContext& ctx, std::string text) {
    before_request_change(ctx);
    core::Response r;
    r.id = "msg_" + ctx.request_id;
    r.model = ctx.request.model;
    r.content.push_back(core::ContentBlock::make_text(std::move(text)));
    r.stop_reason = core::StopReason::end_turn;
    r.usage.input_tokens = estimate_input_tokens(ctx.request);
    r.usage.output_tokens = estimate_tokens(r.content[0].text);
    ctx.answer = std::move(r);
}

// -- stream rewriting ---------------------------------------------------------------------------

namespace {
Error not_in_stream(std::string_view function) {
    return Error{
        ErrorKind::permission,
        std::string(function) + " is only allowed in on_stream_event of a chain's post stage",
        {}};
}

// Under a soft-failing stage, the event as it came is kept before the hook's first change.
void before_event_change(EventHandle& h) {
    if (h.stage && h.stage->keep_original && !h.stage->original) h.stage->original = *h.event;
}
}  // namespace

std::string event_json(const core::StreamEvent& event) {
    std::string out;
    protocol::anthropic::append_event_data(event, out);
    return out;
}

core::Result<core::StreamEvent> event_from_json(std::string_view json) {
    Json data = Json::parse(json, nullptr, false);
    if (data.is_discarded())
        return Error::invalid("an event must be JSON: one Anthropic streaming event object");
    auto e = protocol::anthropic::stream_event_from_json(data);
    if (!e) return Error::invalid("not an Anthropic streaming event: " + e.error().message);
    return e;
}

core::Result<void> event_set_text(EventHandle& h, std::string_view text) {
    if (h.event->type != core::StreamEvent::Type::content_block_delta)
        return Error::invalid("event_set_text: the event is not a content_block_delta");
    before_event_change(h);
    h.event->text.assign(text);
    return {};
}

core::Result<void> event_set_json(EventHandle& h, std::string_view json) {
    if (!h.stage) return not_in_stream("event_set_json");
    auto e = event_from_json(json);
    if (!e) return e.take_error();
    before_event_change(h);
    *h.event = std::move(e).value();
    h.stage->replaced = true;
    return {};
}

core::Result<void> event_drop(EventHandle& h) {
    if (!h.stage) return not_in_stream("event_drop");
    h.stage->fate = StageStream::Fate::drop;
    return {};
}

core::Result<void> event_hold(EventHandle& h) {
    if (!h.stage) return not_in_stream("event_hold");
    if (h.stage->held.size() >= kMaxHeldEvents)
        return Error{ErrorKind::request_too_large,
                     "event_hold: this stage already holds " + std::to_string(kMaxHeldEvents) +
                         " events; release or discard some first",
                     {}};
    h.stage->fate = StageStream::Fate::hold;
    return {};
}

size_t held_count(const RequestContext& ctx) {
    return ctx.stream_stage ? ctx.stream_stage->held.size() : 0;
}

core::Result<std::string> held_event_json(const RequestContext& ctx, size_t index) {
    if (!ctx.stream_stage) return not_in_stream("held_event_json");
    if (index >= ctx.stream_stage->held.size())
        return Error{ErrorKind::not_found,
                     "held event " + std::to_string(index) + " does not exist (this stage holds " +
                         std::to_string(ctx.stream_stage->held.size()) + ")",
                     {}};
    return event_json(ctx.stream_stage->held[index]);
}

core::Result<void> held_release(RequestContext& ctx) {
    StageStream* s = ctx.stream_stage;
    if (!s) return not_in_stream("held_release");
    for (auto& e : s->held) s->out.push_back({std::move(e), true});
    s->held.clear();
    return {};
}

core::Result<void> held_discard(RequestContext& ctx) {
    StageStream* s = ctx.stream_stage;
    if (!s) return not_in_stream("held_discard");
    for (auto& e : s->held) s->discarded.push_back(std::move(e));
    s->held.clear();
    return {};
}

core::Result<void> stream_emit(RequestContext& ctx, std::string_view json) {
    if (!ctx.stream_stage) return not_in_stream("stream_emit");
    auto e = event_from_json(json);
    if (!e) return e.take_error();
    ctx.stream_stage->out.push_back({std::move(e).value(), false});
    return {};
}

bool ModelOutput::send(const core::StreamEvent& e) {
    ctx_.started = true;
    return ctx_.emit(e);
}

void ModelOutput::start_message() {
    if (ctx_.started) return;
    core::StreamEvent start;
    start.type = core::StreamEvent::Type::message_start;
    start.message.id = "msg_" + ctx_.request_id;
    start.message.model = ctx_.request.model;
    start.message.usage.input_tokens = estimate_input_tokens(ctx_.request);
    send(start);
}

core::Result<bool> ModelOutput::text(std::string_view text) {
    if (!ctx_.emit || ctx_.finished)
        return Error{
            ErrorKind::internal, "emit is only allowed while a model generates its answer", {}};
    start_message();
    if (ctx_.open_block < 0) {
        core::StreamEvent s;
        s.type = core::StreamEvent::Type::content_block_start;
        s.index = ctx_.block_count++;
        s.block.type = core::ContentBlock::Type::text;
        ctx_.open_block = s.index;
        if (!send(s)) return false;
    }
    if (text.empty()) return true;
    ctx_.output_bytes += static_cast<int64_t>(text.size());
    return send(core::StreamEvent::text_delta(ctx_.open_block, std::string(text)));
}

core::Result<bool> ModelOutput::finish(core::StopReason reason, const core::Usage* usage) {
    if (!ctx_.emit)
        return Error{
            ErrorKind::internal, "finish is only allowed while a model generates its answer", {}};
    if (ctx_.finished) return true;
    start_message();
    bool alive = true;
    if (ctx_.open_block >= 0) {
        core::StreamEvent stop;
        stop.type = core::StreamEvent::Type::content_block_stop;
        stop.index = ctx_.open_block;
        ctx_.open_block = -1;
        alive = send(stop);
    }
    core::StreamEvent delta;
    delta.type = core::StreamEvent::Type::message_delta;
    delta.stop_reason = reason == core::StopReason::none ? core::StopReason::end_turn : reason;
    if (usage) {
        delta.usage = *usage;
    } else {
        delta.usage.input_tokens = estimate_input_tokens(ctx_.request);
        delta.usage.output_tokens = estimate_tokens_for_bytes(ctx_.output_bytes);
        delta.usage.output_estimated = true;
    }
    alive = send(delta) && alive;
    core::StreamEvent end;
    end.type = core::StreamEvent::Type::message_stop;
    alive = send(end) && alive;
    ctx_.finished = true;
    return alive;
}

int64_t estimate_tokens(std::string_view text) {
    return estimate_tokens_for_bytes(static_cast<int64_t>(text.size()));
}

int64_t estimate_tokens_for_bytes(int64_t bytes) {
    return (bytes + 3) / 4;
}

namespace {

// About the length of `j` as JSON text, without writing it (the estimate runs per request and
// tool schemas are large): string and key lengths plus a little punctuation per value.
size_t json_text_size(const core::Json& j) {
    switch (j.type()) {
        case core::Json::value_t::object: {
            size_t n = 2;
            for (const auto& [key, value] : j.items()) n += key.size() + 4 + json_text_size(value);
            return n;
        }
        case core::Json::value_t::array: {
            size_t n = 2;
            for (const auto& value : j) n += 1 + json_text_size(value);
            return n;
        }
        case core::Json::value_t::string:
            return j.get_ref<const std::string&>().size() + 2;
        case core::Json::value_t::null:
            return 0;
        default:
            return 4;
    }
}

}  // namespace

int64_t estimate_input_tokens(const core::Request& request) {
    size_t bytes = 0;
    for (const auto& b : request.system) bytes += b.text.size();
    for (const auto& m : request.messages)
        for (const auto& b : m.content) {
            bytes += b.text.size() + json_text_size(b.input);
            for (const auto& part : b.content) bytes += part.text.size();
        }
    for (const auto& t : request.tools)
        bytes += t.name.size() + t.description.size() +
                 (t.input_schema.is_null() ? 0 : t.input_schema.text().size());
    return static_cast<int64_t>((bytes + 3) / 4);
}

}  // namespace tianshu::plugin

namespace tianshu::plugin {

// ---- route decision, visible decisions, client headers, capabilities (ABI 1.4) ----

namespace {
constexpr std::string_view kRankNames[] = {"default", "scene", "agent", "escalation", "pin"};
constexpr size_t kMaxRouteReason = 200;
constexpr size_t kMaxNoteReason = 300;

bool is_word(std::string_view s, size_t max, bool dash) {
    if (s.empty() || s.size() > max) return false;
    for (char c : s)
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || (dash && c == '-')))
            return false;
    return true;
}

//! At most `max` bytes, cut on a UTF-8 character boundary, control characters as spaces.
std::string bounded_text(std::string_view s, size_t max) {
    if (s.size() > max) {
        size_t cut = max;
        while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
        s = s.substr(0, cut);
    }
    std::string out(s);
    for (char& c : out)
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
    return out;
}

void append_header_text(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7f && c != '%' && c != ',') {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
}

bool iequal(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}
}  // namespace

std::string_view route_rank_name(int rank) {
    return rank >= 1 && rank <= 5 ? kRankNames[rank - 1] : std::string_view("none");
}

int route_rank_from_name(std::string_view name) {
    for (int i = 0; i < 5; ++i)
        if (kRankNames[i] == name) return i + 1;
    return 0;
}

core::Result<RouteOutcome> route_decide(RequestContext& ctx, int rank, std::string_view scenario,
                                        std::string_view model, std::string_view reason,
                                        std::string_view by) {
    if (rank < 1 || rank > 5)
        return Error::invalid("route_decide: rank " + std::to_string(rank) +
                              " is not a ts_route_rank: use 1 (default) to 5 (pin)");
    if (model.empty()) return Error::invalid("route_decide: the model must not be empty");
    if (!is_word(scenario, 64, true))
        return Error::invalid("route_decide: scenario '" + bounded_text(scenario, 80) +
                              "' must be 1 to 64 of a-z, 0-9, '_' and '-'");
    if (ctx.route && ctx.route->rank > rank) return RouteOutcome::outranked;
    before_request_change(ctx);  // a failing "continue" stage's decision is undone with it
    ctx.route = RouteDecision{rank, std::string(scenario), std::string(model),
                              bounded_text(reason, kMaxRouteReason), std::string(by)};
    ctx.request.model.assign(model);
    return RouteOutcome::decided;
}

core::Result<RouteOutcome> set_model_decision(RequestContext& ctx, std::string_view model,
                                              std::string_view by) {
    const std::string scenario = ctx.route ? ctx.route->scenario : std::string("default");
    return route_decide(ctx, 1, scenario, model, "set_model", by);
}

Json route_json(const RouteDecision& d) {
    return Json{{"rank", d.rank},
                {"scenario", d.scenario},
                {"model", d.model},
                {"reason", d.reason},
                {"by", d.by}};
}

RouteDecision effective_route(const RequestContext& ctx) {
    if (ctx.route) return *ctx.route;
    RouteDecision d;
    d.scenario = "passthrough";
    d.model = ctx.requested_model.empty() ? ctx.request.model : ctx.requested_model;
    d.reason = "requested";
    return d;
}

namespace {
//! "<head>; <key>=<value>; reason=<reason>", each part escaped for a header.
std::string header_fields(std::string_view head, std::string_view key, std::string_view value,
                          std::string_view reason) {
    std::string out;
    append_header_text(out, head);
    out += "; ";
    out += key;
    out += '=';
    append_header_text(out, value);
    out += "; reason=";
    append_header_text(out, reason);
    return out;
}
}  // namespace

std::string route_header_value(const RouteDecision& d) {
    return header_fields(d.scenario, "model", d.model, d.reason);
}

std::string decision_header_value(const DecisionNote& n) {
    return header_fields(n.plugin, "kind", n.kind, n.reason);
}

core::Result<NoteOutcome> decision_note(RequestContext& ctx, std::string_view plugin,
                                        std::string_view kind, std::string_view reason) {
    if (!is_word(kind, 64, false))
        return Error::invalid("decision_note: kind '" + bounded_text(kind, 80) +
                              "' must be 1 to 64 of a-z, 0-9 and '_'");
    if (ctx.decisions.size() >= kMaxDecisionNotes) return NoteOutcome::limit;
    ctx.decisions.push_back(
        DecisionNote{std::string(plugin), std::string(kind), bounded_text(reason, kMaxNoteReason)});
    return NoteOutcome::noted;
}

std::optional<std::string_view> request_header(const RequestContext& ctx, std::string_view name) {
    if (!ctx.client_headers) return std::nullopt;
    for (std::string_view secret : {"authorization", "x-api-key", "cookie", "proxy-authorization"})
        if (iequal(name, secret)) return std::nullopt;
    return ctx.client_headers->find(name);
}

std::optional<bool> model_serving(const RequestContext& ctx, std::string_view model) {
    if (!ctx.capabilities) return std::nullopt;
    return ctx.capabilities->serving(ctx, model);
}

std::optional<core::ModelCapabilities> model_capabilities(const RequestContext& ctx,
                                                          std::string_view model) {
    if (!ctx.capabilities) return std::nullopt;
    return ctx.capabilities->capabilities(ctx, model);
}

core::Result<std::string> call_model(RequestContext& ctx, const std::string& model,
                                     const std::string& prompt,
                                     std::optional<std::chrono::milliseconds> timeout) {
    if (!ctx.models)
        return Error{
            ErrorKind::unavailable, "call_model is not available here (no model caller)", {}};
    struct DeadlineRestore {
        RequestContext& ctx;
        std::chrono::steady_clock::time_point saved;
        ~DeadlineRestore() { ctx.deadline = saved; }
    } restore{ctx, ctx.deadline};
    if (timeout) ctx.deadline = std::min(ctx.deadline, std::chrono::steady_clock::now() + *timeout);
    return ctx.models->call(ctx, model, prompt);
}

}  // namespace tianshu::plugin
