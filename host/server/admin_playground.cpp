// POST /admin/api/playground: an operator's request run by the gateway itself (the chosen
// tier's chain, routing, the channel, billing to the operator, the request log), answered with
// the route decision and each block's time beside the answer. The body is parsed and checked
// here (under the database region); the run happens outside it, through the hook the server
// wiring fills (AdminApiOptions::playground).

#include "core/log.hpp"
#include "server/admin_support.hpp"
#include "store/tiers.hpp"

namespace tianshu::server::admin {

using core::Error;

namespace {

Json blocks_json(const pipeline::BlockTrace& blocks) {
    Json out = Json::array();
    for (const auto& b : blocks) {
        Json block{{"name", b.name}, {"kind", b.kind}, {"where", b.where}, {"ms", b.ms}};
        if (b.answered) block["answered"] = true;
        if (b.failed) block["failed"] = true;
        out.push_back(std::move(block));
    }
    return out;
}

//! What every playground answer carries besides the model's answer (no prompt, no answer text).
Json trace_json(const PlaygroundTrace& trace) {
    Json out{{"request_id", trace.request_id}, {"status", trace.status},
             {"chain", trace.chain},           {"channel", trace.channel},
             {"route", trace.route},           {"blocks", blocks_json(trace.blocks)}};
    if (trace.failure)
        out["error"] = {{"type", core::to_string(trace.failure->kind)},
                        {"message", trace.failure->message}};
    return out;
}

//! Stands between the gateway and the operator's connection: a whole answer is held (it goes
//! out wrapped with the trace), a stream passes through unchanged.
class PlaygroundWriter final : public ResponseWriter {
  public:
    explicit PlaygroundWriter(ResponseWriter& out) : out_(out) {}

    // ResponseWriter
    void set_header(std::string_view name, std::string_view value) override {
        out_.set_header(name, value);  // x-tianshu-route, retry-after: the operator sees them
    }
    void send(int status, std::string_view, std::string_view body) override {
        status_ = status;
        body_ = std::string(body);
    }
    bool begin_stream() override {
        out_.set_header("Cache-Control", "no-store");
        streamed_ = true;
        return out_.begin_stream();
    }
    bool write(std::string_view frames) override { return out_.write(frames); }
    bool client_closed() override { return out_.client_closed(); }

    bool streamed() const { return streamed_; }
    int status() const { return status_; }
    const std::string& body() const { return body_; }

  private:
    ResponseWriter& out_;
    bool streamed_ = false;
    int status_ = 0;
    std::string body_;
};

}  // namespace

core::Result<PlaygroundCall> playground_call(Context& ctx) {
    if (!ctx.options.playground)
        return Error{core::ErrorKind::unavailable,
                     "the playground is not wired to a gateway in this process "
                     "(AdminApiOptions::playground is unset): use the admin API of a running "
                     "`tianshu serve`",
                     {}};
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"tier", "model", "request", "stream"}); !ok)
        return ok.take_error();
    auto tier_name = required_string(body.value(), "tier");
    if (!tier_name) return tier_name.take_error();
    auto model = string_field(body.value(), "model");
    if (!model) return model.take_error();
    auto stream = bool_field(body.value(), "stream");
    if (!stream) return stream.take_error();
    if (!body->contains("request") || !(*body)["request"].is_object())
        return Error::invalid(
            "field 'request' must be an Anthropic Messages request object, e.g. "
            "{\"max_tokens\":256,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    Json request = (*body)["request"];
    if (model.value()) request["model"] = *model.value();
    if (!request.contains("model") || !request["model"].is_string() ||
        request["model"].get<std::string>().empty())
        return Error::invalid(
            "field 'model' is missing: name the model to ask, in 'model' or in 'request.model'");
    request["stream"] = stream.value().value_or(request.value("stream", false));

    auto tier = store::tiers::find(ctx.db, tier_name.value());
    if (!tier) return tier.take_error();
    if (!tier.value()) {
        std::string names;
        if (auto all = store::tiers::list(ctx.db))
            for (const auto& t : all.value()) names += (names.empty() ? "" : ", ") + t.name;
        return Error::invalid("field 'tier': there is no tier '" + tier_name.value() +
                              "': pick one of GET /admin/api/tiers (" + names +
                              ") or create it with POST /admin/api/tiers");
    }
    PlaygroundCall call;
    call.user_id = ctx.caller.user_id;
    call.user_name = ctx.caller.name;
    call.tier = tier.value()->name;
    call.tier_ratio_ppm = tier.value()->price_ratio_ppm;
    call.body = std::make_shared<const std::string>(dump(request));
    call.client_ip = ctx.call.client_ip;
    return call;
}

void run_playground(const AdminApiOptions& options, const PlaygroundCall& call,
                    ResponseWriter& out) {
    PlaygroundWriter held(out);
    const PlaygroundTrace trace = options.playground(call, held);
    // Who tried which tier and model: never the request's text.
    core::log(core::LogLevel::info, "admin playground",
              {{"user", call.user_name},
               {"tier", call.tier},
               {"request_id", trace.request_id},
               {"status", trace.status}});
    if (held.streamed()) {
        // The Messages events went through unchanged; the trace follows as one last event.
        const std::string frame =
            "event: tianshu.playground\ndata: " + dump(trace_json(trace)) + "\n\n";
        (void)out.write(frame);
        return;
    }
    if (trace.status == 499) return;  // the operator is gone: nobody reads an answer
    Json reply = trace_json(trace);
    if (held.status() == 200 && !trace.failure) {
        Json response = Json::parse(held.body(), nullptr, false);
        reply["response"] = response.is_discarded() ? Json(held.body()) : std::move(response);
        return send_json(out, 200, reply);
    }
    // The admin API's error shape, with the trace beside it (how far the request got).
    const int status = held.status() ? held.status() : (trace.status ? trace.status : 500);
    if (!trace.failure) {
        Json upstream = Json::parse(held.body(), nullptr, false);
        std::string message = "the gateway answered " + std::to_string(status);
        if (!upstream.is_discarded() && upstream.contains("error") && upstream["error"].is_object())
            message = upstream["error"].value("message", message);
        reply["error"] = {{"type", core::to_string(core::ErrorKind::internal)},
                          {"message", message}};
    }
    send_json(out, status, reply);
}

}  // namespace tianshu::server::admin
