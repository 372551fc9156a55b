#include "server/http_server.hpp"

#include <chrono>
#include <thread>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

#include "core/log.hpp"
#include "server/admin_api.hpp"
#include "server/gateway.hpp"
#include "server/stream_heartbeat.hpp"

namespace tianshu::server {

using Poco::Net::HTTPRequest;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

namespace {

//! Writes the gateway's answer into Poco's response; SSE frames are flushed one by one.
class PocoResponseWriter final : public ResponseWriter {
  public:
    explicit PocoResponseWriter(HTTPServerResponse& response) : response_(response) {}

    void set_header(std::string_view name, std::string_view value) override {
        response_.set(std::string(name), std::string(value));
    }

    void send(int status, std::string_view content_type, std::string_view body) override {
        if (stream_) return;
        response_.setStatus(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
        response_.setContentType(std::string(content_type));
        response_.setContentLength(static_cast<std::streamsize>(body.size()));
        try {
            response_.sendBuffer(body.data(), body.size());
        } catch (const Poco::Exception&) {
            // The client went away; nothing else to do.
        }
    }

    bool begin_stream() override {
        response_.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
        // A streamed CSV export sets its own type first; everything else streamed is SSE.
        if (!response_.has("Content-Type"))
            response_.setContentType("text/event-stream; charset=utf-8");
        response_.set("Cache-Control", "no-cache");
        response_.set("X-Accel-Buffering", "no");
        response_.setChunkedTransferEncoding(true);
        try {
            stream_ = &response_.send();
            stream_->flush();
            return stream_->good();
        } catch (const Poco::Exception&) {
            return false;
        }
    }

    bool write(std::string_view frames) override {
        if (!stream_) return false;
        try {
            stream_->write(frames.data(), static_cast<std::streamsize>(frames.size()));
            stream_->flush();
            return stream_->good();
        } catch (const Poco::Exception&) {
            return false;
        }
    }

  private:
    HTTPServerResponse& response_;
    std::ostream* stream_ = nullptr;
};

std::string client_ip(const HTTPServerRequest& request) {
    try {
        return request.clientAddress().host().toString();
    } catch (const Poco::Exception&) {
        return {};
    }
}

std::string presented_key(const HTTPServerRequest& request) {
    if (request.has("x-api-key")) return request.get("x-api-key");
    if (request.has("Authorization")) {
        const std::string& auth = request.get("Authorization");
        static const std::string bearer = "Bearer ";
        if (auth.size() > bearer.size() &&
            Poco::icompare(auth.substr(0, bearer.size()), bearer) == 0)
            return auth.substr(bearer.size());
    }
    return {};
}

//! What a model API route does with the call.
enum class ApiOperation { generate, count_tokens, list_models };

//! /v1/messages, /v1/chat/completions, /v1/messages/count_tokens, /v1/models.
class ModelApiHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    ModelApiHandler(const Gateway& gateway, protocol::ClientProtocol protocol, std::string route,
                    size_t max_body, ApiOperation operation = ApiOperation::generate)
        : gateway_(gateway),
          protocol_(protocol),
          route_(std::move(route)),
          max_body_(max_body),
          operation_(operation) {}

    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        PocoResponseWriter writer(response);
        ApiCall call;
        call.protocol = protocol_;
        call.route = route_;
        call.api_key = presented_key(request);
        call.client_ip = client_ip(request);
        if (request.has("X-Claude-Code-Session-Id"))
            call.session_id = request.get("X-Claude-Code-Session-Id");
        if (request.getContentLength() != HTTPRequest::UNKNOWN_CONTENT_LENGTH &&
            static_cast<size_t>(request.getContentLength()) > max_body_)
            return too_large(writer);
        auto body = std::make_shared<std::string>();
        auto& in = request.stream();
        char buf[16384];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) {
            body->append(buf, static_cast<size_t>(in.gcount()));
            if (body->size() > max_body_) return too_large(writer);
        }
        call.body = std::move(body);
        switch (operation_) {
            case ApiOperation::generate:
                return gateway_.handle(call, writer);
            case ApiOperation::count_tokens:
                return gateway_.count_tokens(call, writer);
            case ApiOperation::list_models:
                return gateway_.list_models(call, writer);
        }
    }

  private:
    void too_large(ResponseWriter& writer) {
        send_error(protocol_,
                   core::Error{core::ErrorKind::request_too_large,
                               "request body exceeds " + std::to_string(max_body_ / (1024 * 1024)) +
                                   " MiB: shorten the conversation or raise server.max_body_mib",
                               {}},
                   writer);
    }
    const Gateway& gateway_;
    protocol::ClientProtocol protocol_;
    std::string route_;
    size_t max_body_;
    ApiOperation operation_;
};

//! /admin/api/…: JSON for operators (see docs/admin-api.md).
class AdminHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    AdminHandler(const AdminApi& admin, size_t max_body) : admin_(admin), max_body_(max_body) {}
    void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
        PocoResponseWriter writer(response);
        std::string body;
        auto& in = request.stream();
        char buf[16384];
        while (in.read(buf, sizeof buf) || in.gcount() > 0) {
            body.append(buf, static_cast<size_t>(in.gcount()));
            if (body.size() > max_body_)
                return writer.send(
                    413, "application/json",
                    R"({"error":{"type":"request_too_large","message":"admin request body too large"}})");
        }
        auto call =
            make_admin_call(request.getMethod(), request.getURI(), request.get("Authorization", ""),
                            std::move(body), client_ip(request));
        if (!call) {
            core::Json e{
                {"error", {{"type", "invalid_request_error"}, {"message", call.error().message}}}};
            return writer.send(400, "application/json", e.dump());
        }
        admin_.handle(call.value(), writer);
    }

  private:
    const AdminApi& admin_;
    size_t max_body_;
};

//! Small fixed answers: /healthz, /metrics, /, and errors for unknown routes.
class FixedHandler final : public Poco::Net::HTTPRequestHandler {
  public:
    using Fill = std::function<void(ResponseWriter&)>;
    explicit FixedHandler(Fill fill) : fill_(std::move(fill)) {}
    void handleRequest(HTTPServerRequest&, HTTPServerResponse& response) override {
        PocoResponseWriter writer(response);
        fill_(writer);
    }

  private:
    Fill fill_;
};

class Routes final : public Poco::Net::HTTPRequestHandlerFactory {
  public:
    Routes(const Gateway& gateway, const AdminApi* admin, Metrics& metrics,
           const std::atomic<bool>& draining, size_t max_body)
        : gateway_(gateway),
          admin_(admin),
          metrics_(metrics),
          draining_(draining),
          max_body_(max_body) {}

    Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest& request) override {
        std::string path = request.getURI();
        if (auto q = path.find('?'); q != std::string::npos) path.resize(q);
        const std::string& method = request.getMethod();
        const bool post = method == HTTPRequest::HTTP_POST;
        if (path == "/v1/messages" && post)
            return new ModelApiHandler(gateway_, protocol::ClientProtocol::anthropic_messages, path,
                                       max_body_);
        if (path == "/v1/chat/completions" && post)
            return new ModelApiHandler(gateway_, protocol::ClientProtocol::openai_chat, path,
                                       max_body_);
        if (path == "/v1/messages/count_tokens" && post)
            return new ModelApiHandler(gateway_, protocol::ClientProtocol::anthropic_messages, path,
                                       max_body_, ApiOperation::count_tokens);
        if (path == "/v1/models" && method == HTTPRequest::HTTP_GET) {
            // Anthropic clients send anthropic-version (and usually x-api-key); OpenAI clients a
            // Bearer key.
            const bool anthropic = request.has("anthropic-version") || request.has("x-api-key");
            return new ModelApiHandler(gateway_,
                                       anthropic ? protocol::ClientProtocol::anthropic_messages
                                                 : protocol::ClientProtocol::openai_chat,
                                       path, max_body_, ApiOperation::list_models);
        }
        if (admin_ && (path == "/admin/api" || path.rfind("/admin/api/", 0) == 0))
            return new AdminHandler(*admin_, max_body_);
        if (path == "/healthz") {
            bool draining = draining_;
            return new FixedHandler([draining](ResponseWriter& w) {
                w.send(draining ? 503 : 200, "application/json",
                       draining ? R"({"status":"draining"})" : R"({"status":"ok"})");
            });
        }
        if (path == "/metrics") {
            return new FixedHandler([this](ResponseWriter& w) {
                w.send(200, "text/plain; version=0.0.4", metrics_.prometheus_text());
            });
        }
        if (path == "/" && (method == HTTPRequest::HTTP_GET || method == HTTPRequest::HTTP_HEAD)) {
            return new FixedHandler([](ResponseWriter& w) {
                w.send(200, "application/json", R"({"name":"tianshu","status":"ok"})");
            });
        }
        const bool openai = path.rfind("/v1/chat", 0) == 0;
        const bool known = path == "/v1/messages" || path == "/v1/chat/completions" ||
                           path == "/v1/messages/count_tokens" || path == "/v1/models";
        core::Error e =
            known ? core::Error{core::ErrorKind::invalid_request,
                                "method " + method + " is not allowed on " + path + ": use POST",
                                {}}
                  : core::Error{core::ErrorKind::not_found,
                                "no route " + method + " " + path +
                                    ": the model API is POST /v1/messages (Anthropic) and POST "
                                    "/v1/chat/completions (OpenAI)",
                                {}};
        auto protocol = openai ? protocol::ClientProtocol::openai_chat
                               : protocol::ClientProtocol::anthropic_messages;
        return new FixedHandler([e, protocol, known](ResponseWriter& w) {
            if (known) {
                const auto& codec = protocol::codec_for(protocol);
                w.send(405, "application/json", codec.error_body(e));
            } else {
                send_error(protocol, e, w);
            }
        });
    }

  private:
    const Gateway& gateway_;
    const AdminApi* admin_;
    Metrics& metrics_;
    const std::atomic<bool>& draining_;
    size_t max_body_;
};

}  // namespace

HttpServer::HttpServer(ServerOptions options, const pipeline::RuntimeConfigHolder& config,
                       Metrics& metrics, GatewayServices services)
    : options_(std::move(options)), config_(config), metrics_(metrics), services_(services) {}

HttpServer::~HttpServer() {
    if (server_) shutdown(0);
}

core::Result<void> HttpServer::start() {
    auto colon = options_.listen.rfind(':');
    if (colon == std::string::npos)
        return core::Error::invalid("listen address '" + options_.listen +
                                    "' must be HOST:PORT, e.g. 127.0.0.1:8080");
    std::string host = options_.listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
        host = host.substr(1, host.size() - 2);
    int port = 0;
    try {
        port = std::stoi(options_.listen.substr(colon + 1));
    } catch (...) {
        port = -1;
    }
    if (port < 0 || port > 65535)
        return core::Error::invalid("listen address '" + options_.listen +
                                    "': the port must be a number 0-65535");
    try {
        Poco::Net::ServerSocket socket;
        socket.bind(Poco::Net::SocketAddress(host, static_cast<Poco::UInt16>(port)), true);
        socket.listen(options_.backlog);
        port_ = socket.address().port();

        pool_ = std::make_unique<Poco::ThreadPool>(
            "http", options_.min_threads, options_.max_threads, 60, options_.stack_kib * 1024);
        auto params = new Poco::Net::HTTPServerParams;
        params->setMaxThreads(options_.max_threads);
        params->setMaxQueued(options_.max_queued);
        // Idle dispatcher threads wait this long for the next connection before retiring; Poco's
        // 10 s default made shutdown's joinAll() wait up to 10 s after a burst.
        params->setThreadIdleTime(Poco::Timespan(0, 500 * 1000));
        params->setKeepAlive(true);
        params->setKeepAliveTimeout(Poco::Timespan(options_.keep_alive_seconds, 0));
        params->setMaxKeepAliveRequests(0);
        params->setTimeout(Poco::Timespan(600, 0));
        params->setServerName("tianshu");
        heartbeat_ =
            std::make_unique<StreamHeartbeat>(std::chrono::milliseconds(options_.stream_ping_ms));
        services_.heartbeat = heartbeat_.get();
        gateway_ = std::make_unique<Gateway>(config_, metrics_, services_);
        server_ = std::make_unique<Poco::Net::HTTPServer>(
            new Routes(*gateway_, services_.admin, metrics_, draining_, options_.max_body_bytes),
            *pool_, socket, params);
        server_->start();
    } catch (const Poco::Exception& e) {
        return core::Error{core::ErrorKind::unavailable,
                           "cannot listen on " + options_.listen + ": " + e.displayText() +
                               " (is another process using the port? choose another with --listen)",
                           {}};
    }
    return {};
}

int64_t HttpServer::shutdown(int drain_seconds) {
    if (!server_) return 0;
    draining_ = true;
    // Stop accepting; keep-alive connections close after their current request.
    server_->stopAll(false);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(drain_seconds);
    while (metrics_.in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int64_t cut = metrics_.in_flight();
    if (cut > 0) server_->stopAll(true);
    pool_->joinAll();
    server_.reset();
    return cut;
}

}  // namespace tianshu::server
