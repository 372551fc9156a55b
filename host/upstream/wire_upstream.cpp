#include "upstream/wire_upstream.hpp"

#include <algorithm>

#include "core/scratch.hpp"
#include "plugin/request_access.hpp"
#include "protocol/anthropic_upstream.hpp"
#include "protocol/gemini_upstream.hpp"
#include "protocol/json_text.hpp"
#include "protocol/openai_upstream.hpp"
#include "protocol/responses_upstream.hpp"
#include "protocol/sse.hpp"

namespace tianshu::upstream {

using core::Error;
using core::ErrorKind;
namespace wire = protocol::openai_upstream;

namespace {
//! A vector goes back to the thread's pool emptied, its capacity kept (up to a point).
template <class T>
bool emptied(std::vector<T>& v) {
    v.clear();
    return v.capacity() <= 64;
}
//! The events and SSE frames of one upstream answer: several KiB each (a StreamEvent is ~600
//! bytes), so they come from the thread's pool instead of malloc on every call.
using EventBuffers = core::Scratch<std::vector<core::StreamEvent>, &emptied<core::StreamEvent>>;
using FrameBuffers = core::Scratch<std::vector<protocol::SseEvent>, &emptied<protocol::SseEvent>>;

constexpr size_t kMaxErrorBody = 64 * 1024;
//! A non-streamed answer is held whole before it is decoded; the SSE parser's event limit.
constexpr size_t kMaxWholeAnswer = protocol::SseParser::kDefaultMaxEvent;

//! Clamps the request to what the target model accepts (the capability table: built in, the
//! channel's provider preset, the channel's options) before it is encoded, so that a limit the
//! provider would refuse never reaches it: max_tokens above the model's max_output_tokens is
//! lowered (a visible decision: header, log line, metrics). More tools than the model takes is
//! refused here, naming the limit, since dropping a tool would change what the model may do.
core::Result<void> clamp_to_capabilities(plugin::RequestContext& ctx,
                                         const std::optional<core::ModelCapabilities>& caps,
                                         wire::UpstreamOptions& options) {
    if (!caps) return {};
    if (caps->max_output_tokens) {
        const int64_t limit = *caps->max_output_tokens;
        if (!options.max_output_tokens || *options.max_output_tokens > limit)
            options.max_output_tokens = limit;
        if (ctx.request.max_tokens && *ctx.request.max_tokens > *options.max_output_tokens)
            ctx.decisions.push_back(
                {"host", "clamp",
                 "max_tokens " + std::to_string(*ctx.request.max_tokens) + " lowered to " +
                     std::to_string(*options.max_output_tokens) + ", the most " +
                     ctx.request.model + " on channel " + ctx.channel + " accepts"});
    }
    if (caps->max_tools && ctx.request.tools.size() > static_cast<size_t>(*caps->max_tools))
        return Error::invalid("the request carries " + std::to_string(ctx.request.tools.size()) +
                              " tools but " + ctx.request.model + " on channel " + ctx.channel +
                              " accepts at most " + std::to_string(*caps->max_tools) +
                              ": send fewer tools, or route this request to another model");
    return {};
}
}  // namespace

WireUpstream& WireUpstream::shared() {
    static WireUpstream instance;
    return instance;
}

core::Result<void> WireUpstream::call(plugin::RequestContext& ctx,
                                      const plugin::UpstreamCallSpec& spec) {
    ctx.upstream_error.reset();
    const bool openai = spec.wire_protocol == "openai_chat";
    const bool responses = spec.wire_protocol == "openai_responses";
    const bool gemini = spec.wire_protocol == "gemini";
    if (!openai && !responses && !gemini && spec.wire_protocol != "anthropic_messages")
        return Error::invalid("upstream_call: unknown wire protocol '" + spec.wire_protocol +
                              "' (this host speaks: openai_chat, anthropic_messages, "
                              "openai_responses, gemini)");
    if (!ctx.emit) return Error::internal_error("upstream_call outside generate");
    auto options = openai || responses || gemini
                       ? wire::options_from_json(spec.options)
                       : protocol::anthropic_upstream::options_from_json(spec.options);
    if (!options) return options.take_error();
    // Reasoning goes back on tool turns when the target's capability says so (the built-in
    // table, serve --capabilities, or the channel's thinking / reasoning_on_tool_turns option):
    // the same setting the reasoning ledger reads, so the ledger and the wire never disagree.
    std::optional<core::ModelCapabilities> caps;
    if (ctx.capabilities) caps = ctx.capabilities->capabilities(ctx, {});
    if (openai && caps && caps->thinking)
        options.value().reasoning_on_tool_turns = *caps->thinking == "reasoning_content";
    if (auto refused = clamp_to_capabilities(ctx, caps, options.value()); !refused)
        return refused.take_error();

    // The upstream is asked the way the client asked (a whole answer is one parse instead of a
    // stream of chunks), unless the channel wants every answer streamed (always_stream).
    const bool client_stream = ctx.request.stream;
    const bool upstream_stream = client_stream || options.value().always_stream;
    core::Result<std::string> body = std::string();
    if (gemini) {
        auto json = protocol::gemini_upstream::encode_request(ctx.request, options.value());
        if (!json) return json.take_error();
        body = protocol::dump_json(json.value());
    } else if (openai || responses) {
        ctx.request.stream = upstream_stream;
        body = openai ? wire::encode_request_body(ctx.request, options.value())
                      : protocol::responses_upstream::encode_request_body(ctx.request,
                                                                          options.value());
        ctx.request.stream = client_stream;
        if (!body) return body.take_error();
    } else {
        // An Anthropic client's own bytes pass through, re-encoding only what changed.
        body = protocol::anthropic_upstream::encode_body(ctx.request, options.value(),
                                                         upstream_stream);
        if (!body) return body.take_error();
    }

    HttpRequestSpec http;
    http.url = spec.url;
    // Gemini names the model and the method in the path: the channel's URL is the API root.
    if (gemini)
        http.url += protocol::gemini_upstream::method_path(ctx.request.model, upstream_stream);
    http.headers = {{"Content-Type", "application/json"},
                    {"Accept", upstream_stream ? "text/event-stream" : "application/json"}};
    if (gemini) {
        http.headers.emplace_back("x-goog-api-key", spec.api_key);  // never in the URL
    } else if (openai || responses) {
        // A channel without a key (a local server) sends no Authorization header at all.
        if (!spec.api_key.empty())
            http.headers.emplace_back("Authorization", "Bearer " + spec.api_key);
    } else {
        http.headers.emplace_back("x-api-key", spec.api_key);
        http.headers.emplace_back("anthropic-version", "2023-06-01");
    }
    http.body = std::move(body).value();
    http.connect_timeout = spec.connect_timeout;
    // A whole answer's first byte comes when the model has finished: unless the channel set a
    // first-byte timeout, it may take as long as a streamed answer could.
    http.first_byte_timeout = spec.first_byte_timeout.value_or(
        upstream_stream ? plugin::kStreamFirstByteTimeout : plugin::kWholeAnswerTimeout);
    http.idle_timeout = spec.idle_timeout;
    if (ctx.call_depth > 0 && ctx.deadline != std::chrono::steady_clock::time_point::max()) {
        // A call_model call waits no longer than its deadline (the caller's, narrowed by the
        // calling stage's deadline_ms): no wait of it may outlast the time left.
        const auto left = std::max(std::chrono::milliseconds(1),
                                   std::chrono::ceil<std::chrono::milliseconds>(
                                       ctx.deadline - std::chrono::steady_clock::now()));
        http.connect_timeout = std::min(http.connect_timeout, left);
        http.first_byte_timeout = std::min(http.first_byte_timeout, left);
        http.idle_timeout = std::min(http.idle_timeout, left);
    }
    http.proxy = ctx.upstream_proxy;
    http.ca_file = options.value().ca_file;
    http.channel = ctx.channel;
    http.read_until = &ctx.read_until;

    protocol::SseParser parser;
    wire::StreamDecoder openai_decoder("msg_" + ctx.request_id, ctx.request.model,
                                       plugin::estimate_input_tokens(ctx.request));
    protocol::anthropic_upstream::StreamDecoder anthropic_decoder;
    protocol::responses_upstream::StreamDecoder responses_decoder(
        "msg_" + ctx.request_id, ctx.request.model, plugin::estimate_input_tokens(ctx.request));
    protocol::gemini_upstream::StreamDecoder gemini_decoder("msg_" + ctx.request_id,
                                                            ctx.request.model);
    auto decode = [&](const protocol::SseEvent& f, std::vector<core::StreamEvent>& out) {
        if (responses) return responses_decoder.feed(f, out);
        if (gemini) return gemini_decoder.feed(f.data, out);
        return openai ? openai_decoder.feed(f.data, out) : anthropic_decoder.feed(f, out);
    };
    auto decoder_done = [&] {
        if (responses) return responses_decoder.done();
        if (gemini) return gemini_decoder.done();
        return openai ? openai_decoder.done() : anthropic_decoder.done();
    };
    auto decoder_finish = [&](std::vector<core::StreamEvent>& out) {
        if (responses) return responses_decoder.finish(out);
        if (gemini) return gemini_decoder.finish(out);
        return openai ? openai_decoder.finish(out) : anthropic_decoder.finish(out);
    };
    // Reused for every chunk; reserved so the (large) events are not moved by regrowth.
    auto frame_buffer = FrameBuffers::acquire();
    auto event_buffer = EventBuffers::acquire();
    std::vector<protocol::SseEvent>& frames = *frame_buffer;
    std::vector<core::StreamEvent>& events = *event_buffer;
    frames.reserve(16);
    events.reserve(16);
    std::string error_body;
    std::string whole;  // a non-streamed answer, decoded once it is all here
    std::optional<Error> failure;
    bool client_gone = false;

    // One receive's events reach the client as one write (ctx.more_events_follow).
    auto emit_all = [&]() -> bool {
        for (size_t i = 0; i < events.size(); ++i) {
            const auto& e = events[i];
            ctx.more_events_follow = i + 1 < events.size();
            if (!ctx.emit(e)) {
                ctx.more_events_follow = false;
                client_gone = true;
                return false;
            }
            ctx.started = true;
            if (e.type == core::StreamEvent::Type::message_stop) ctx.finished = true;
        }
        ctx.more_events_follow = false;
        events.clear();
        return true;
    };

    auto sent = pool_.send(http, [&](const HttpResponseHead& head, std::string_view chunk) {
        if (head.status < 200 || head.status >= 300) {
            if (error_body.size() < kMaxErrorBody)
                error_body.append(chunk.substr(0, kMaxErrorBody - error_body.size()));
            return true;
        }
        if (!upstream_stream) {
            if (whole.size() + chunk.size() > kMaxWholeAnswer) {
                failure = Error{ErrorKind::upstream,
                                "the upstream's answer is larger than " +
                                    std::to_string(kMaxWholeAnswer >> 20) +
                                    " MiB; ask for it streamed (stream: true)",
                                {}};
                return false;
            }
            whole.append(chunk);
            return true;
        }
        frames.clear();
        if (auto r = parser.feed(chunk, frames); !r) {
            failure = r.take_error();
            return false;
        }
        for (const auto& f : frames) {
            if (auto r = decode(f, events); !r) {
                failure = r.take_error();
                emit_all();
                return false;
            }
        }
        return emit_all();
    });

    auto fail = [&](Error e) -> core::Result<void> {
        if (e.source.empty()) e.source = ctx.channel;
        if (e.kind == ErrorKind::timeout && !ctx.channel.empty())
            e.message = "channel '" + ctx.channel + "': " + e.message +
                        " (its timeouts: `tianshu channel edit --name " + ctx.channel +
                        " --timeout-ms N`)";
        ctx.upstream_error = e;
        return e;
    };
    if (!sent) return fail(sent.take_error());
    if (sent->status < 200 || sent->status >= 300) {
        auto e = wire::upstream_error(sent->status, error_body, ctx.channel);
        // Relay the provider's Retry-After (seconds form) so clients back off as it asked.
        const std::string retry_after = sent->header("retry-after");
        if (!retry_after.empty() && std::all_of(retry_after.begin(), retry_after.end(), ::isdigit))
            e.retry_after_seconds = std::min(std::stoi(retry_after.substr(0, 6)), 86400);
        return fail(std::move(e));
    }
    // Read no further for a client that went away: what came is what is billed.
    if (client_gone || std::chrono::steady_clock::now() >= ctx.read_until) return {};
    if (failure) return fail(std::move(*failure));
    if (!upstream_stream) {
        if (sent->cut)
            return fail(Error{ErrorKind::upstream,
                              "the upstream closed the connection before the end of its answer "
                              "(" +
                                  std::to_string(whole.size()) +
                                  " bytes came); the answer is incomplete",
                              {}});
        auto decoded = responses ? responses_decoder.feed_response(whole, events)
                       : gemini  ? gemini_decoder.feed(whole, events)
                       : openai  ? openai_decoder.feed_completion(whole, events)
                                 : protocol::anthropic_upstream::decode_message(whole, events);
        if (decoded && gemini && !gemini_decoder.done()) decoded = gemini_decoder.finish(events);
        if (!decoded) return fail(decoded.take_error());
        emit_all();
        return {};
    }
    if (!decoder_done()) {
        if (auto r = decoder_finish(events); !r) {
            emit_all();
            return fail(r.take_error());
        }
        emit_all();
    }
    return {};
}

}  // namespace tianshu::upstream
