#include "server/gateway.hpp"

#include <chrono>
#include <random>

#include "core/elapsed.hpp"
#include "plugin/request_access.hpp"

namespace tianshu::server {

using core::Error;
using core::ErrorKind;
using Clock = std::chrono::steady_clock;
using core::ms_since;

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

core::Result<const pipeline::Identity*> authenticate(const pipeline::RuntimeConfig* config,
                                                     const ApiCall& call) {
    if (call.api_key.empty() && call.protocol == protocol::ClientProtocol::gemini)
        return Error{ErrorKind::authentication,
                     "missing API key: send it in the x-goog-api-key header (or as ?key=)",
                     {}};
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
        const char* field =
            call.protocol == protocol::ClientProtocol::gemini ? "totalTokens" : "input_tokens";
        out.send(200, "application/json", core::Json{{field, result.value()}}.dump());
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

}  // namespace tianshu::server
