#pragma once
// The HTTP front: our own HTTP/1.1 server over epoll, sized for long streaming responses.
//
// Threading model: requests run on fibers (core/fiber.hpp) scheduled over a few carrier threads
// by server/event_loop, one per core by default. A carrier that wakes for a connection with a
// request starts a fiber that reads it and serves it to the end; whenever the fiber waits — for
// the upstream's answer, for a slow client's body or window — it parks on the epoll set and
// the carrier takes the next event, so a busy server goes from request to request without a
// thread sleeping per wait. Idle keep-alive connections cost no fiber and no thread. Code that
// blocks its thread (Poco's TLS sessions, Redis, the admin API's database work, plugins that
// did not declare they may be suspended) gets another carrier meanwhile, up to `max_threads`.
// The request path itself never blocks on the database: everything it needs is in the
// in-memory RuntimeConfig snapshot.

#include <atomic>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "pipeline/runtime_config.hpp"
#include "server/client_address.hpp"
#include "server/gateway.hpp"
#include "server/metrics.hpp"

namespace tianshu::server {

class PanelAssets;

class Gateway;
class StreamHeartbeat;

struct ServerOptions {
    std::string listen = "127.0.0.1:8080";  //!< host:port; port 0 picks a free one
    //! Carrier threads, with those started while others block (see the threading model).
    int max_threads = 4096;
    //! Carriers always running; 0: one per core, at least 2.
    int carriers = 0;
    //! Each request's fiber stack (address space; pages are used as touched).
    int stack_kib = 256;
    int backlog = 4096;
    size_t max_body_bytes = 32 * 1024 * 1024;
    //! An idle keep-alive connection (between requests) is closed after this long.
    int keep_alive_seconds = 75;
    //! A request head must arrive whole within this long of its first byte (of the connection's
    //! opening, for the first request): a deadline for the whole head, not an idle timer, so a
    //! client trickling bytes cannot hold a connection.
    int header_timeout_seconds = 20;
    //! Peers whose X-Forwarded-For / Forwarded headers say who the client is.
    TrustedProxies trusted_proxies;
    //! A ping goes to a streaming client after this long without a frame; 0 disables pings.
    int stream_ping_ms = 15000;
    //! The admin panel's files, served at /admin; null: /admin answers 503 with `panel_problem`.
    std::shared_ptr<const PanelAssets> panel;
    std::string panel_problem = "the gateway was started without the admin panel";
};

//! Owns the listening socket, the event loop (carriers running one fiber per request) and the
//! routes.
class HttpServer {
  public:
    //! `services`: billing and the usage journal (the server adds its own heartbeat).
    HttpServer(ServerOptions options, const pipeline::RuntimeConfigHolder& config, Metrics& metrics,
               GatewayServices services = {});
    ~HttpServer();

    //! Binds and starts serving. The error names the address and why it failed.
    core::Result<void> start();
    //! The port actually bound (useful with port 0).
    int port() const { return port_; }
    //! Stops accepting, lets in-flight requests finish (up to `drain_seconds`), then stops.
    //! /healthz reports "draining" meanwhile. Returns the number of requests cut off.
    int64_t shutdown(int drain_seconds);
    bool draining() const { return draining_; }
    //! The gateway that serves the model API (the admin playground calls it too); null before
    //! start().
    const Gateway* gateway() const { return gateway_.get(); }

  private:
    ServerOptions options_;
    const pipeline::RuntimeConfigHolder& config_;
    Metrics& metrics_;
    GatewayServices services_;
    std::unique_ptr<StreamHeartbeat> heartbeat_;  // outlives the gateway that uses it
    std::unique_ptr<Gateway> gateway_;
    struct Loop;
    std::unique_ptr<Loop> loop_;
    std::atomic<bool> draining_{false};
    int port_ = 0;
};

}  // namespace tianshu::server
