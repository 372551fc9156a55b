#include "server/gateway_stages.hpp"

#include <algorithm>

#include "core/elapsed.hpp"
#include "core/log.hpp"
#include "pipeline/runner.hpp"
#include "plugin/request_access.hpp"
#include "server/session_identity.hpp"
#include "upstream/wire_upstream.hpp"

namespace tianshu::server {

using core::Error;
using core::ErrorKind;
using Clock = std::chrono::steady_clock;
using core::ms_since;

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

namespace {
//! The upstream key and proxy of the channel the record names, for the admin Health page: the
//! key's store id (runtime_loader names stored keys by it; a keyless channel's "default" is
//! none) and the proxy without its credentials.
void channel_key_of(const plugin::RequestContext& ctx, store::UsageRecord& r) {
    if (ctx.channel.empty() || ctx.channel != r.channel) return;
    const std::string& id = ctx.upstream_key_id;
    if (!id.empty() && id.size() < 19 &&
        std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
        r.channel_key_id = std::stoll(id);
    r.proxy = store::proxy_origin(ctx.upstream_proxy);
}
}  // namespace

// The stages and what each hands on: gateway_stages.hpp.
void Gateway::handle(const ApiCall& call, ResponseWriter& out) const {
    const auto started = Clock::now();
    metrics_.request_started();
    GatewayRequest request(started, call, out, config_.snapshot(), services_, metrics_);
    request.run();
}

PlaygroundTrace Gateway::playground(const PlaygroundCall& call, ResponseWriter& out) const {
    const auto started = Clock::now();
    metrics_.request_started();
    ApiCall api;
    api.protocol = protocol::ClientProtocol::anthropic_messages;
    api.route = "playground";
    api.body = call.body;
    api.client_ip = call.client_ip;
    // The operator pays, as themself, at the chosen tier's ratio; no key, so no key limits.
    auto payer = std::make_shared<hub::Payer>();
    payer->user_id = call.user_id;
    payer->user_name = call.user_name;
    payer->key_name = "playground";
    payer->tier_ratio_ppm = call.tier_ratio_ppm;
    payer->limits.key_name = "playground";
    const pipeline::Identity who{call.user_name, call.tier, "playground", 0, std::move(payer)};
    PlaygroundTrace trace;
    GatewayRequest request(started, api, out, config_.snapshot(), services_, metrics_, &who,
                           &trace.blocks);
    request.run();
    request.describe(trace);
    return trace;
}

void GatewayRequest::run() {
    if (auto answered = answer(); !answered) fail(answered.take_error());
    send_failure();
    bill();
    log_request();
    count_request();
}

void GatewayRequest::describe(PlaygroundTrace& trace) const {
    trace.request_id = request_id_;
    trace.status = status_;
    trace.failure = failure_;
    trace.chain = std::string(chain_id_);
    trace.channel = summary_.channel.empty() ? ctx_.channel : summary_.channel;
    if (!ctx_.requested_model.empty() && !chain_id_.empty()) {
        const auto route = plugin::effective_route(ctx_);
        trace.route = {{"scenario", route.scenario},
                       {"model", route.model},
                       {"reason", route.reason},
                       {"by", route.by},
                       {"rank", route.rank}};
    }
}

// ---- AnswerMeter ------------------------------------------------------------------------------

void AnswerMeter::observe(const core::StreamEvent& e, Clock::time_point started) {
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
        // together, so cached tokens are never counted as input as well. An estimate (an
        // answer cut short) does not replace counts the upstream gave at the start.
        const bool prompt_known =
            usage.input_tokens || usage.cache_read_tokens || usage.cache_write_tokens;
        if ((e.usage.input_tokens || e.usage.cache_read_tokens || e.usage.cache_write_tokens) &&
            !(e.usage.output_estimated && prompt_known)) {
            usage.input_tokens = e.usage.input_tokens;
            usage.cache_read_tokens = e.usage.cache_read_tokens;
            usage.cache_write_tokens = e.usage.cache_write_tokens;
        }
    }
    if (e.type == core::StreamEvent::Type::message_start) usage = e.message.usage;
}

void AnswerMeter::complete(const plugin::RequestContext& ctx) {
    if (ctx.answer) return;  // a strategy answered: its usage is its own
    if (!usage.input_tokens && !usage.cache_read_tokens && !usage.cache_write_tokens)
        usage.input_tokens = input_estimate;
    const bool reported =
        final_usage && !usage.output_estimated && (usage.output_tokens > 0 || output_bytes == 0);
    if (!reported)
        usage.output_tokens =
            std::max(usage.output_tokens, plugin::estimate_tokens_for_bytes(output_bytes));
    usage_source = reported ? "upstream" : "estimate";
}

// ---- GatewayRequest: the stages up to the answer ----------------------------------------------

GatewayRequest::GatewayRequest(Clock::time_point started, const ApiCall& call, ResponseWriter& out,
                               std::shared_ptr<const pipeline::RuntimeConfig> config,
                               const GatewayServices& services, Metrics& metrics,
                               const pipeline::Identity* given, pipeline::BlockTrace* trace)
    : started_(started),
      call_(call),
      out_(out),
      config_(std::move(config)),
      services_(services),
      metrics_(metrics),
      codec_(protocol::codec_for(call.protocol)),
      request_id_(new_request_id()),
      given_(given),
      trace_(trace) {}

core::Result<void> GatewayRequest::answer() {
    if (!config_)
        return Error{
            ErrorKind::unavailable, "the gateway is still starting: retry in a moment", {}};
    auto identity = given_ ? core::Result<const pipeline::Identity*>(given_)
                           : authenticate(config_.get(), call_);
    if (!identity) return identity.take_error();
    const pipeline::Identity& who = *identity.value();
    user_ = who.user;
    key_name_ = who.key_name;
    payer_ = who.payer.get();
    if (auto decoded = decode(who); !decoded) return decoded;
    auto chain = match_chain();
    if (!chain) return chain.take_error();
    if (auto admitted = admit(); !admitted) return admitted;
    return run_chain(*chain.value());
}

core::Result<void> GatewayRequest::decode(const pipeline::Identity& who) {
    auto decoded = codec_.decode_request(*call_.body);
    if (!decoded) return decoded.take_error();
    plugin::RequestContext& ctx = ctx_;
    ctx.request = std::move(decoded).value();
    if (!call_.path_model.empty()) {
        ctx.request.model = call_.path_model;
        ctx.request.stream = call_.path_stream;
    }
    if (call_.protocol == protocol::ClientProtocol::anthropic_messages)
        ctx.request.client_body = call_.body;  // shared, not copied
    ctx.request_id = request_id_;
    ctx.requested_model = ctx.request.model;
    ctx.tier = who.tier;
    ctx.client_protocol = call_.protocol == protocol::ClientProtocol::anthropic_messages
                              ? "anthropic"
                          : call_.protocol == protocol::ClientProtocol::gemini ? "gemini"
                                                                               : "openai";
    ctx.deadline = started_ + kRequestDeadline;
    // Session state: whose (the authenticated user, never the client's word) and which
    // conversation (server/session_identity).
    auto session = identify_session(call_.session_id, ctx.request);
    ctx.session_id = std::move(session.id);
    ctx.session_source = std::string(to_string(session.source));
    ctx.user = who.user;
    ctx.sessions = services_.sessions;
    ctx.upstream = &upstream::WireUpstream::shared();
    ctx.client_headers = call_.headers;
    ctx.capabilities = config_->capabilities.get();
    return {};
}

core::Result<const pipeline::Chain*> GatewayRequest::match_chain() {
    const auto* chain =
        config_->chains ? config_->chains->match(ctx_.tier, ctx_.request.model) : nullptr;
    if (!chain)
        return Error{ErrorKind::not_found,
                     "no chain serves model '" + ctx_.request.model + "' for tier '" + ctx_.tier +
                         "': import one with `tianshu chain import FILE`",
                     {}};
    chain_id_ = chain->spec().id;
    return chain;
}

core::Result<void> GatewayRequest::admit() {
    meter_.input_estimate = plugin::estimate_input_tokens(ctx_.request);
    if (!services_.billing || !payer_) return {};
    auto admitted =
        services_.billing->admit(*payer_, config_->prices.get(), ctx_.request,
                                 meter_.input_estimate, call_.client_ip, request_id_, &refusal_);
    if (!admitted) return admitted.take_error();
    admission_ = std::move(admitted).value();
    return {};
}

core::Result<void> GatewayRequest::run_chain(const pipeline::Chain& chain) {
    ClientSink sink(*this);
    pipeline::PipelineRunner runner(*config_->models, &metrics_);
    runner.trace_blocks(trace_);
    auto run =
        runner.run(ctx_, chain, [&sink](const core::StreamEvent& e) { return sink.deliver(e); });
    sink.write_held();  // a producer that stopped mid-run leaves nothing behind
    sink.stop_heartbeat();
    if (!run) {
        Error e = run.take_error();
        if (client_gone_) return {};  // what failed after the client left is nobody's answer
        if (ctx_.request.stream && ctx_.client_started) {
            // The runner already sent the error event; the status line went out as 200.
            failure_ = std::move(e);
            status_ = 200;
            return {};
        }
        return e;
    }
    summary_ = run.value();
    if (!ctx_.request.stream && !client_gone_) {
        auto response = sink.take_response();
        if (response.id.empty()) response.id = "msg_" + request_id_;
        send_decision_headers();
        out_.send(200, "application/json", codec_.encode_response(response));
    }
    return {};
}

void GatewayRequest::fail(Error e) {
    status_ = core::http_status(e.kind);
    failure_ = std::move(e);
}

void GatewayRequest::client_left() {
    if (client_gone_) return;
    client_gone_ = true;
    ctx_.read_until = Clock::now() + kReadAfterClientLeft;
    status_ = 499;
    failure_ = Error{ErrorKind::client_closed,
                     "the client closed the connection before the end of its answer; "
                     "billed for the output the upstream produced",
                     {}};
}

void GatewayRequest::send_decision_headers() {
    if (decision_headers_sent_ || ctx_.requested_model.empty()) return;
    decision_headers_sent_ = true;
    if (config_ && config_->tiers_without_route_header.count(ctx_.tier)) return;
    out_.set_header("x-tianshu-route", plugin::route_header_value(plugin::effective_route(ctx_)));
    std::string notes;
    for (const auto& note : ctx_.decisions)
        notes += (notes.empty() ? "" : ", ") + plugin::decision_header_value(note);
    if (!notes.empty()) out_.set_header("x-tianshu-decision", notes);
}

// ---- ClientSink -------------------------------------------------------------------------------

ClientSink::ClientSink(GatewayRequest& request)
    : r_(request),
      stream_(request.ctx_.request.stream),
      encoder_(stream_ ? request.codec_.stream_encoder() : nullptr) {}

bool ClientSink::client_closed() {
    return live_ ? live_->client_closed() : r_.out_.client_closed();
}

bool ClientSink::write_held() {
    if (frames_.empty() || !live_ || r_.client_gone_) return !r_.client_gone_;
    if (!live_->write(frames_)) r_.client_left();
    frames_.clear();
    return !r_.client_gone_;
}

bool ClientSink::open_stream() {
    stream_open_ = true;
    r_.send_decision_headers();
    if (!r_.out_.begin_stream()) {
        r_.client_left();
        return false;
    }
    live_ = std::make_shared<HeartbeatStream>(
        r_.out_, std::string(protocol::keepalive_frame(r_.call_.protocol)));
    if (r_.services_.heartbeat) beat_ = r_.services_.heartbeat->watch(live_);
    return true;
}

bool ClientSink::deliver(const core::StreamEvent& e) {
    r_.meter_.observe(e, r_.started_);
    if (e.type == core::StreamEvent::Type::message_stop) {
        // The last chance to tell a client that hung up near the end (its last writes may
        // have succeeded into the socket) from one that reads the end: one poll.
        if (!r_.client_gone_ && client_closed()) r_.client_left();
        r_.bill(r_.client_gone_ ? 499 : 200);
    }
    if (r_.client_gone_) return Clock::now() < r_.ctx_.read_until;
    if (!stream_) return whole_.add(e).ok();
    if (!stream_open_ && !open_stream()) return true;
    if (e.type == core::StreamEvent::Type::error)
        encoder_->encode_error(e.error, frames_);
    else
        encoder_->encode(e, frames_);
    const bool last =
        e.type == core::StreamEvent::Type::message_stop || e.type == core::StreamEvent::Type::error;
    // A run of events the producer already holds goes out in one write: a send per frame cost
    // more than the rest of the frame's work.
    if (r_.ctx_.more_events_follow && !last && frames_.size() < kHeldFramesBytes) return true;
    if (!write_held()) return true;  // gone: read on (the check above bounds it)
    // The answer is complete even if the upstream's stream lingers (usage chunk, [DONE]).
    if (last) live_->close();
    return true;
}

// ---- GatewayRequest: the stages after the answer ----------------------------------------------

void GatewayRequest::send_failure() {
    // A streaming client already has a 200 and an error event; everyone else gets the error
    // now (for a non-streaming client, events reaching the runner's sink were only buffered).
    if (failure_ && !client_gone_ && !(ctx_.request.stream && ctx_.client_started)) {
        send_decision_headers();
        send_error(call_.protocol, *failure_, out_);
    }
}

void GatewayRequest::price_side_calls(hub::Micros& total, int64_t& tokens) {
    // Side calls (call_model) cost what they used, at their own model's price and the tier's
    // ratio, whether or not the request itself produced anything.
    for (const auto& side : ctx_.side_calls) {
        const hub::ModelPrice* p =
            admission_ && config_->prices ? config_->prices->find(side.model) : nullptr;
        side_costs_.push_back(p ? hub::cost(*p, side.usage, admission_->ratio_ppm) : 0);
        total += side_costs_.back();
        tokens += side.usage.input_tokens + side.usage.output_tokens;
    }
}

void GatewayRequest::bill(int final_status) {
    if (billed_) return;
    billed_ = true;
    // A request that failed before the model produced anything costs nothing.
    const bool produced = ctx_.client_started || final_status == 200;
    if (produced) meter_.complete(ctx_);
    hub::Micros side_total = 0;
    int64_t side_tokens = 0;
    price_side_calls(side_total, side_tokens);
    const core::Usage& usage = meter_.usage;
    if (admission_) {
        const hub::Micros price =
            (produced ? hub::Billing::price_of(*admission_, usage) : 0) + side_total;
        cost_ =
            services_.billing
                ->settle(*admission_, price, usage.input_tokens + usage.output_tokens + side_tokens)
                .cost;
    }
    if (!services_.usage || !payer_) return;
    record_usage(final_status);
}

void GatewayRequest::record_usage(int final_status) const {
    const plugin::RequestContext& ctx = ctx_;
    const core::Usage& usage = meter_.usage;
    store::UsageRecord r;
    r.request_id = request_id_;
    r.created_at_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count();
    r.user_id = payer_->user_id;
    // A playground call has no key (key_id 0): its row names none.
    if (payer_->key_id) r.key_id = payer_->key_id;
    r.channel = summary_.channel.empty() ? ctx.channel : summary_.channel;
    r.requested_model = ctx.requested_model;
    r.upstream_model = ctx.request.model;
    r.input_tokens = usage.input_tokens;
    r.output_tokens = usage.output_tokens;
    r.cache_read_tokens = usage.cache_read_tokens;
    r.cache_write_tokens = usage.cache_write_tokens;
    r.reasoning_tokens = usage.reasoning_tokens;
    r.cost = cost_;
    r.latency_ms = static_cast<long long>(ms_since(started_));
    r.ttft_ms = meter_.ttft_ms ? static_cast<long long>(*meter_.ttft_ms) : 0;
    r.status = final_status;
    if (failure_) r.error_kind = core::to_string(failure_->kind);
    r.client_ip = call_.client_ip;
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
    channel_key_of(ctx, r);
    services_.usage->record(r);
}

void GatewayRequest::log_request() const {
    // Fields in the order core::log sorts them (bytewise by key), so the line is the one log()
    // would write.
    core::LogLine line(failure_ ? core::LogLevel::warn : core::LogLevel::info, "request");
    if (!line.active()) return;
    const plugin::RequestContext& ctx = ctx_;
    const core::Usage& usage = meter_.usage;
    const std::string& channel = summary_.channel.empty() ? ctx.channel : summary_.channel;
    line.field("chain", chain_id_).field("channel", channel).field("client_ip", call_.client_ip);
    line.field("cost", static_cast<int64_t>(cost_));
    if (!ctx.decisions.empty()) line.field("decisions", decisions_json(ctx.decisions));
    if (failure_)
        line.field("error", failure_->message).field("error_kind", core::to_string(failure_->kind));
    line.field("input_tokens", static_cast<int64_t>(usage.input_tokens));
    line.field("key", key_name_).field("latency_ms", ms_since(started_));
    line.field("output_tokens", static_cast<int64_t>(usage.output_tokens));
    line.field("request_id", request_id_).field("requested_model", ctx.requested_model);
    line.field("retries", static_cast<int64_t>(ctx.upstream_retries));
    line.field("route", call_.route);
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
    if (!ctx.side_calls.empty()) line.field("side_calls", side_calls_json(ctx, side_costs_));
    if (failure_ && !failure_->source.empty()) line.field("source", failure_->source);
    line.field("status", status_).field("stream", ctx.request.stream).field("tier", ctx.tier);
    if (meter_.ttft_ms) line.field("ttft_ms", *meter_.ttft_ms);
    line.field("upstream_model", summary_.upstream_model.empty() && !ctx.channel.empty()
                                     ? ctx.request.model
                                     : summary_.upstream_model);
    if (meter_.usage_source) line.field("usage_source", meter_.usage_source);
    line.field("user", user_);
    line.write();
}

void GatewayRequest::count_request() const {
    const plugin::RequestContext& ctx = ctx_;
    RequestFigures f;
    f.route = call_.route;
    f.status = status_;
    f.seconds = ms_since(started_) / 1000.0;
    if (failure_) f.error_kind = core::to_string(failure_->kind);
    f.refusal = refusal_;
    plugin::RouteDecision route;
    if (!ctx.requested_model.empty()) {
        route = plugin::effective_route(ctx);
        f.routed = true;
        f.scenario = route.scenario;
        f.route_model = route.model;
        f.rank = plugin::route_rank_name(route.rank);
        f.notes.reserve(ctx.decisions.size());
        for (const auto& note : ctx.decisions) f.notes.emplace_back(note.plugin, note.kind);
    }
    f.chain = chain_id_;
    f.side_calls.reserve(ctx.side_calls.size());
    for (const auto& side : ctx.side_calls)
        f.side_calls.push_back(
            {side.model, side.failed, side.usage.input_tokens, side.usage.output_tokens});
    // The upstream that served the request, as its log line names it.
    f.channel = summary_.channel.empty() ? std::string_view(ctx.channel) : summary_.channel;
    f.upstream_model = summary_.upstream_model.empty() && !ctx.channel.empty()
                           ? std::string_view(ctx.request.model)
                           : std::string_view(summary_.upstream_model);
    f.upstream_seconds = ctx.upstream_ms > 0 ? ctx.upstream_ms / 1000.0 : f.seconds;
    if (meter_.ttft_ms) f.ttft_seconds = *meter_.ttft_ms / 1000.0;
    const core::Usage& usage = meter_.usage;
    f.input_tokens = usage.input_tokens;
    f.output_tokens = usage.output_tokens;
    f.cache_read_tokens = usage.cache_read_tokens;
    f.cache_write_tokens = usage.cache_write_tokens;
    f.cost = cost_;
    f.retries = ctx.upstream_retries;
    f.failovers = ctx.upstream_failovers;
    metrics_.record_request(f);
}

}  // namespace tianshu::server
