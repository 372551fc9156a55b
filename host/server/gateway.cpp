#include "server/gateway.hpp"

#include <algorithm>
#include <chrono>
#include <random>

#include "core/log.hpp"
#include "pipeline/runner.hpp"
#include "plugin/request_access.hpp"
#include "server/session_identity.hpp"
#include "server/stream_heartbeat.hpp"
#include "upstream/wire_upstream.hpp"

namespace tianshu::server {

using core::Error;
using core::ErrorKind;
using Clock = std::chrono::steady_clock;

namespace {
constexpr auto kRequestDeadline = std::chrono::minutes(10);
//! The most a stream holds back while a run of events is written together (see the sink).
constexpr size_t kHeldFramesBytes = 64 * 1024;
//! How long a streamed answer is still read after its client went away, for the usage the
//! upstream reports at the end. A client that hangs up near the end (the free-stream trick)
//! leaves an answer in its last seconds; a longer one is cut, which also stops the upstream
//! generating (and charging for) an answer nobody reads, and is billed by the estimate of what
//! had arrived.
constexpr auto kReadAfterClientLeft = std::chrono::seconds(10);

double ms_since(Clock::time_point t) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

//! At most `max` bytes of `s`, cut on a UTF-8 character boundary (a log row's column width).
std::string utf8_prefix(const std::string& s, size_t max) {
    if (s.size() <= max) return s;
    size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    return s.substr(0, cut);
}

//! The notes of a request for its log line and row: [{"plugin","kind","reason"}...].
core::Json decisions_json(const std::vector<plugin::DecisionNote>& notes) {
    core::Json out = core::Json::array();
    for (const auto& n : notes)
        out.push_back({{"plugin", n.plugin}, {"kind", n.kind}, {"reason", n.reason}});
    return out;
}

//! The request's call_model calls for its log line: [{"model","channel","input_tokens",
//! "output_tokens","cost","failed"}...]; no prompt or answer text.
core::Json side_calls_json(const plugin::RequestContext& ctx,
                           const std::vector<hub::Micros>& costs) {
    core::Json out = core::Json::array();
    for (size_t i = 0; i < ctx.side_calls.size(); ++i) {
        const auto& s = ctx.side_calls[i];
        out.push_back({{"model", s.model},
                       {"channel", s.channel},
                       {"input_tokens", s.usage.input_tokens},
                       {"output_tokens", s.usage.output_tokens},
                       {"cost", i < costs.size() ? costs[i] : 0},
                       {"failed", s.failed}});
    }
    return out;
}
}  // namespace

// Random ids put every request_logs and ledger row on a random page of their unique indexes:
// once the log outgrew the page cache each row cost a read and a rewrite of a cold page.
std::string new_request_id() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char hex[] = "0123456789abcdef";
    const uint64_t ms =
        static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
    const uint64_t random = rng();
    std::string id(24, '0');
    for (int i = 0; i < 12; ++i) id[static_cast<size_t>(11 - i)] = hex[(ms >> (i * 4)) & 15];
    for (int i = 0; i < 12; ++i) id[static_cast<size_t>(12 + i)] = hex[(random >> (i * 4)) & 15];
    return id;
}

void send_error(protocol::ClientProtocol protocol, const Error& error, ResponseWriter& out) {
    const auto& codec = protocol::codec_for(protocol);
    if (error.retry_after_seconds > 0)
        out.set_header("retry-after", std::to_string(error.retry_after_seconds));
    out.send(core::http_status(error.kind), "application/json", codec.error_body(error));
}

core::Result<const pipeline::Identity*> Gateway::authenticate(const pipeline::RuntimeConfig* config,
                                                              const ApiCall& call) const {
    if (call.api_key.empty())
        return Error{
            ErrorKind::authentication,
            "missing API key: send it in the x-api-key header or as 'Authorization: Bearer <key>'",
            {}};
    const pipeline::Identity* identity =
        config && config->keys ? config->keys->find(call.api_key) : nullptr;
    if (!identity)
        return Error{ErrorKind::authentication,
                     "invalid API key: check the key, or create one with `tianshu key create`",
                     {}};
    return identity;
}

void Gateway::count_tokens(const ApiCall& call, ResponseWriter& out) const {
    const auto started = Clock::now();
    metrics_.request_started();
    auto config = config_.snapshot();
    int status = 200;
    auto result = [&]() -> core::Result<int64_t> {
        auto identity = authenticate(config.get(), call);
        if (!identity) return identity.take_error();
        auto decoded = protocol::codec_for(call.protocol).decode_request(*call.body);
        if (!decoded) return decoded.take_error();
        return plugin::estimate_input_tokens(decoded.value());
    }();
    if (result) {
        out.send(200, "application/json", core::Json{{"input_tokens", result.value()}}.dump());
    } else {
        status = core::http_status(result.error().kind);
        send_error(call.protocol, result.error(), out);
    }
    metrics_.request_finished(call.route, status, ms_since(started) / 1000.0);
}

void Gateway::list_models(const ApiCall& call, ResponseWriter& out) const {
    const auto started = Clock::now();
    metrics_.request_started();
    auto config = config_.snapshot();
    auto identity = authenticate(config.get(), call);
    if (!identity) {
        send_error(call.protocol, identity.error(), out);
        metrics_.request_finished(call.route, core::http_status(identity.error().kind),
                                  ms_since(started) / 1000.0);
        return;
    }
    std::vector<std::string> names =
        config->models ? config->models->model_names() : std::vector<std::string>{};
    core::Json data = core::Json::array();
    const bool anthropic = call.protocol == protocol::ClientProtocol::anthropic_messages;
    for (const auto& name : names) {
        if (anthropic)
            data.push_back({{"type", "model"},
                            {"id", name},
                            {"display_name", name},
                            {"created_at", "1970-01-01T00:00:00Z"}});
        else
            data.push_back(
                {{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", "tianshu"}});
    }
    core::Json body;
    if (anthropic) {
        body = {{"data", data},
                {"has_more", false},
                {"first_id", names.empty() ? core::Json() : core::Json(names.front())},
                {"last_id", names.empty() ? core::Json() : core::Json(names.back())}};
    } else {
        body = {{"object", "list"}, {"data", data}};
    }
    out.send(200, "application/json", body.dump());
    metrics_.request_finished(call.route, 200, ms_since(started) / 1000.0);
}

void Gateway::handle(const ApiCall& call, ResponseWriter& out) const {
    const auto started = Clock::now();
    metrics_.request_started();
    const auto& codec = protocol::codec_for(call.protocol);
    const std::string request_id = new_request_id();
    auto config = config_.snapshot();

    int status = 200;
    std::optional<double> ttft_ms;
    core::Usage usage;
    pipeline::RunSummary summary;
    plugin::RequestContext ctx;
    // Views into `config`'s snapshot, which this function holds to the end.
    std::string_view user, key_name, chain_id;
    std::optional<Error> failure;
    const hub::Payer* payer = nullptr;
    std::optional<hub::Admission> admission;
    bool billed = false;
    hub::Micros cost = 0;
    // What each call_model call cost (in ctx.side_calls' order), billed with the request.
    std::vector<hub::Micros> side_costs;
    // The client closed the connection before the end of its answer (logged 499).
    bool client_gone = false;
    // What passed the client's sink, for when the upstream reports no usage: the answer's text
    // bytes, and whether a message_delta (the upstream's final count) came.
    int64_t output_bytes = 0;
    bool final_usage = false;
    int64_t input_estimate = 0;
    const char* usage_source = nullptr;  // "upstream" or "estimate", once a model produced

    // The usage billed for a model's answer: the upstream's, or where it reported none (or the
    // answer was cut short) the host's estimate of the input and of the output that came.
    auto complete_usage = [&] {
        if (ctx.answer) return;  // a strategy answered: its usage is its own
        if (!usage.input_tokens && !usage.cache_read_tokens && !usage.cache_write_tokens)
            usage.input_tokens = input_estimate;
        const bool reported = final_usage && !usage.output_estimated &&
                              (usage.output_tokens > 0 || output_bytes == 0);
        if (!reported)
            usage.output_tokens =
                std::max(usage.output_tokens, plugin::estimate_tokens_for_bytes(output_bytes));
        usage_source = reported ? "upstream" : "estimate";
    };

    // Settles the quota and writes the request's usage row, once: at message_stop, before the
    // client sees it (so an answered request is never lost), or at the end for everything else.
    auto bill = [&](int final_status) {
        if (billed) return;
        billed = true;
        // A request that failed before the model produced anything costs nothing.
        const bool produced = ctx.client_started || final_status == 200;
        if (produced) complete_usage();
        // Side calls (call_model) cost what they used, at their own model's price and the
        // tier's ratio, whether or not the request itself produced anything.
        hub::Micros side_total = 0;
        int64_t side_tokens = 0;
        for (const auto& side : ctx.side_calls) {
            const hub::ModelPrice* p =
                admission && config->prices ? config->prices->find(side.model) : nullptr;
            side_costs.push_back(p ? hub::cost(*p, side.usage, admission->ratio_ppm) : 0);
            side_total += side_costs.back();
            side_tokens += side.usage.input_tokens + side.usage.output_tokens;
        }
        if (admission) {
            const hub::Micros price =
                (produced ? hub::Billing::price_of(*admission, usage) : 0) + side_total;
            cost = services_.billing
                       ->settle(*admission, price,
                                usage.input_tokens + usage.output_tokens + side_tokens)
                       .cost;
        }
        if (!services_.usage || !payer) return;
        store::UsageRecord r;
        r.request_id = request_id;
        r.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
        r.user_id = payer->user_id;
        r.key_id = payer->key_id;
        r.channel = summary.channel.empty() ? ctx.channel : summary.channel;
        r.requested_model = ctx.requested_model;
        r.upstream_model = ctx.request.model;
        r.input_tokens = usage.input_tokens;
        r.output_tokens = usage.output_tokens;
        r.cache_read_tokens = usage.cache_read_tokens;
        r.cache_write_tokens = usage.cache_write_tokens;
        r.reasoning_tokens = usage.reasoning_tokens;
        r.cost = cost;
        r.latency_ms = static_cast<long long>(ms_since(started));
        r.ttft_ms = ttft_ms ? static_cast<long long>(*ttft_ms) : 0;
        r.status = final_status;
        if (failure) r.error_kind = core::to_string(failure->kind);
        r.client_ip = call.client_ip;
        r.retries = ctx.upstream_retries;
        r.stream = ctx.request.stream;
        if (!ctx.requested_model.empty()) {
            const auto route = plugin::effective_route(ctx);
            r.route_scenario = utf8_prefix(route.scenario, 64);
            r.route_model = utf8_prefix(route.model, 255);
            r.route_reason = utf8_prefix(route.reason, 255);
            r.route_by = utf8_prefix(route.by, 128);
            r.route_rank = route.rank;
        }
        if (!ctx.decisions.empty()) r.decisions = decisions_json(ctx.decisions).dump();
        services_.usage->record(r);
    };

    auto fail = [&](Error e) {
        status = core::http_status(e.kind);
        failure = std::move(e);
    };

    // The route decision and the notes so far, as response headers, once, just before the
    // response's head leaves (notes made later are in the log line only). A tier may hide them
    // from its clients; a request that never got as far as its model has none.
    bool decision_headers_sent = false;
    auto send_decision_headers = [&] {
        if (decision_headers_sent || ctx.requested_model.empty()) return;
        decision_headers_sent = true;
        if (config && config->tiers_without_route_header.count(ctx.tier)) return;
        out.set_header("x-tianshu-route", plugin::route_header_value(plugin::effective_route(ctx)));
        std::string notes;
        for (const auto& note : ctx.decisions)
            notes += (notes.empty() ? "" : ", ") + plugin::decision_header_value(note);
        if (!notes.empty()) out.set_header("x-tianshu-decision", notes);
    };

    [&] {
        if (!config)
            return fail(Error{
                ErrorKind::unavailable, "the gateway is still starting: retry in a moment", {}});
        auto identity = authenticate(config.get(), call);
        if (!identity) return fail(identity.take_error());
        const pipeline::Identity& who = *identity.value();
        user = who.user;
        key_name = who.key_name;
        payer = who.payer.get();

        auto decoded = codec.decode_request(*call.body);
        if (!decoded) return fail(decoded.take_error());
        ctx.request = std::move(decoded).value();
        if (call.protocol == protocol::ClientProtocol::anthropic_messages)
            ctx.request.client_body = call.body;  // shared, not copied
        ctx.request_id = request_id;
        ctx.requested_model = ctx.request.model;
        ctx.tier = who.tier;
        ctx.client_protocol =
            call.protocol == protocol::ClientProtocol::openai_chat ? "openai" : "anthropic";
        ctx.deadline = started + kRequestDeadline;
        // Session state: whose (the authenticated user, never the client's word) and which
        // conversation (server/session_identity).
        auto session = identify_session(call.session_id, ctx.request);
        ctx.session_id = std::move(session.id);
        ctx.session_source = std::string(to_string(session.source));
        ctx.user = who.user;
        ctx.sessions = services_.sessions;
        ctx.upstream = &upstream::WireUpstream::shared();
        ctx.client_headers = call.headers;
        ctx.capabilities = config->capabilities.get();

        const auto* chain =
            config->chains ? config->chains->match(ctx.tier, ctx.request.model) : nullptr;
        if (!chain)
            return fail(Error{ErrorKind::not_found,
                              "no chain serves model '" + ctx.request.model + "' for tier '" +
                                  ctx.tier + "': import one with `tianshu chain import FILE`",
                              {}});
        chain_id = chain->spec().id;

        input_estimate = plugin::estimate_input_tokens(ctx.request);
        if (services_.billing && payer) {
            auto admitted = services_.billing->admit(*payer, config->prices.get(), ctx.request,
                                                     input_estimate, call.client_ip, request_id);
            if (!admitted) return fail(admitted.take_error());
            admission = std::move(admitted).value();
        }

        const bool stream = ctx.request.stream;
        auto encoder = stream ? codec.stream_encoder() : nullptr;
        core::ResponseAssembler whole;
        bool stream_open = false;
        std::string frames;
        // Every write to a stream goes through `live`, shared with the heartbeat's pings.
        std::shared_ptr<HeartbeatStream> live;
        StreamHeartbeat::Registration beat;
        // The client went away: the answer is no longer written, but still read to its end
        // (for the upstream's usage) within kReadAfterClientLeft.
        auto client_left = [&] {
            if (client_gone) return;
            client_gone = true;
            ctx.read_until = Clock::now() + kReadAfterClientLeft;
            status = 499;
            failure = Error{ErrorKind::client_closed,
                            "the client closed the connection before the end of its answer; "
                            "billed for the output the upstream produced",
                            {}};
        };
        auto client_closed = [&] { return live ? live->client_closed() : out.client_closed(); };
        // Writes the frames held so far; false when the client has gone.
        auto write_held = [&]() -> bool {
            if (frames.empty() || !live || client_gone) return !client_gone;
            if (!live->write(frames)) client_left();
            frames.clear();
            return !client_gone;
        };
        auto sink = [&](const core::StreamEvent& e) -> bool {
            if (e.type == core::StreamEvent::Type::content_block_delta) {
                if (!ttft_ms) ttft_ms = ms_since(started);
                if (e.delta_kind != core::StreamEvent::DeltaKind::signature)
                    output_bytes += static_cast<int64_t>(e.text.size());
            }
            if (e.type == core::StreamEvent::Type::message_delta) {
                final_usage = true;
                usage.output_tokens = e.usage.output_tokens;
                usage.output_estimated = e.usage.output_estimated;
                if (e.usage.reasoning_tokens) usage.reasoning_tokens = e.usage.reasoning_tokens;
                // Upstreams report the real prompt counts at the end; they replace the estimate
                // together, so cached tokens are never counted as input as well. An estimate
                // (an answer cut short) does not replace counts the upstream gave at the start.
                const bool prompt_known =
                    usage.input_tokens || usage.cache_read_tokens || usage.cache_write_tokens;
                if ((e.usage.input_tokens || e.usage.cache_read_tokens ||
                     e.usage.cache_write_tokens) &&
                    !(e.usage.output_estimated && prompt_known)) {
                    usage.input_tokens = e.usage.input_tokens;
                    usage.cache_read_tokens = e.usage.cache_read_tokens;
                    usage.cache_write_tokens = e.usage.cache_write_tokens;
                }
            }
            if (e.type == core::StreamEvent::Type::message_start) usage = e.message.usage;
            if (e.type == core::StreamEvent::Type::message_stop) {
                // The last chance to tell a client that hung up near the end (its last writes
                // may have succeeded into the socket) from one that reads the end: one poll.
                if (!client_gone && client_closed()) client_left();
                bill(client_gone ? 499 : 200);
            }
            if (client_gone) return Clock::now() < ctx.read_until;
            if (!stream) return whole.add(e).ok();
            if (!stream_open) {
                stream_open = true;
                send_decision_headers();
                if (!out.begin_stream()) {
                    client_left();
                    return true;
                }
                live = std::make_shared<HeartbeatStream>(
                    out, std::string(protocol::keepalive_frame(call.protocol)));
                if (services_.heartbeat) beat = services_.heartbeat->watch(live);
            }
            if (e.type == core::StreamEvent::Type::error)
                encoder->encode_error(e.error, frames);
            else
                encoder->encode(e, frames);
            const bool last = e.type == core::StreamEvent::Type::message_stop ||
                              e.type == core::StreamEvent::Type::error;
            // A run of events the producer already holds goes out in one write: a send per
            // frame cost more than the rest of the frame's work.
            if (ctx.more_events_follow && !last && frames.size() < kHeldFramesBytes) return true;
            if (!write_held()) return true;  // gone: read on (the check above bounds it)
            // The answer is complete even if the upstream's stream lingers (usage chunk, [DONE]).
            if (last) live->close();
            return true;
        };
        pipeline::PipelineRunner runner(*config->models, &metrics_);
        auto run = runner.run(ctx, *chain, sink);
        write_held();  // a producer that stopped mid-run leaves nothing behind
        beat = {};     // the answer is complete: no ping after the last frame
        if (!run) {
            Error e = run.take_error();
            if (client_gone) return;  // what failed after the client left is nobody's answer
            if (stream && ctx.client_started) {
                // The runner already sent the error event; the status line went out as 200.
                failure = std::move(e);
                status = 200;
                return;
            }
            return fail(std::move(e));
        }
        summary = run.value();
        if (!stream && !client_gone) {
            auto response = whole.take();
            if (response.id.empty()) response.id = "msg_" + request_id;
            send_decision_headers();
            out.send(200, "application/json", codec.encode_response(response));
        }
    }();

    // A streaming client already has a 200 and an error event; everyone else gets the error now
    // (for a non-streaming client, events reaching the runner's sink were only buffered).
    if (failure && !client_gone && !(ctx.request.stream && ctx.client_started)) {
        send_decision_headers();
        send_error(call.protocol, *failure, out);
    }
    if (failure) metrics_.count_error(core::to_string(failure->kind));
    bill(status);

    // One line per request: no prompt or completion text, no key. Fields in the order
    // core::log sorts them (bytewise by key), so the line is the one log() would write.
    core::LogLine line(failure ? core::LogLevel::warn : core::LogLevel::info, "request");
    if (line.active()) {
        const std::string& channel = summary.channel.empty() ? ctx.channel : summary.channel;
        line.field("chain", chain_id).field("channel", channel).field("client_ip", call.client_ip);
        line.field("cost", static_cast<int64_t>(cost));
        if (!ctx.decisions.empty()) line.field("decisions", decisions_json(ctx.decisions));
        if (failure)
            line.field("error", failure->message)
                .field("error_kind", core::to_string(failure->kind));
        line.field("input_tokens", static_cast<int64_t>(usage.input_tokens));
        line.field("key", key_name).field("latency_ms", ms_since(started));
        line.field("output_tokens", static_cast<int64_t>(usage.output_tokens));
        line.field("request_id", request_id).field("requested_model", ctx.requested_model);
        line.field("retries", static_cast<int64_t>(ctx.upstream_retries));
        line.field("route", call.route);
        if (!ctx.requested_model.empty()) {
            const auto route = plugin::effective_route(ctx);
            if (!route.by.empty()) line.field("route_by", route.by);
            line.field("route_model", route.model);
            line.field("route_rank", plugin::route_rank_name(route.rank));
            line.field("route_reason", route.reason);
            line.field("route_scenario", route.scenario);
        }
        if (!ctx.session_id.empty())
            line.field("session", ctx.session_id).field("session_source", ctx.session_source);
        if (!ctx.side_calls.empty()) line.field("side_calls", side_calls_json(ctx, side_costs));
        if (failure && !failure->source.empty()) line.field("source", failure->source);
        line.field("status", status).field("stream", ctx.request.stream).field("tier", ctx.tier);
        if (ttft_ms) line.field("ttft_ms", *ttft_ms);
        line.field("upstream_model", summary.upstream_model.empty() && !ctx.channel.empty()
                                         ? ctx.request.model
                                         : summary.upstream_model);
        if (usage_source) line.field("usage_source", usage_source);
        line.field("user", user);
        line.write();
    }
    if (!ctx.requested_model.empty()) {
        const auto route = plugin::effective_route(ctx);
        metrics_.count_route(route.scenario, route.model, plugin::route_rank_name(route.rank));
        for (const auto& note : ctx.decisions)
            metrics_.count_decision_note(note.plugin, note.kind, route.model);
    }
    for (const auto& side : ctx.side_calls)
        metrics_.count_side_call(chain_id, side.model, side.failed, side.usage.input_tokens,
                                 side.usage.output_tokens);
    metrics_.request_finished(call.route, status, ms_since(started) / 1000.0);
}

}  // namespace tianshu::server
