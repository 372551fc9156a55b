#pragma once
// The HTTP front: our own HTTP/1.1 server over epoll, sized for long streaming responses.
//
// Threading model (leader/follower): idle connections wait in one epoll set; worker threads
// wait in epoll_wait for one event each (EPOLLONESHOT). The thread that wakes for a connection
// reads the request, serves it to the end on that same thread (no hand-off), then re-arms the
// connection. Streaming answers hold their thread for the whole stream, so the pool is elastic:
// when the last idle worker takes an event it starts another, up to `max_threads` (default
// 4096), with small stacks (256 KiB of address space each); idle workers beyond `min_threads`
// retire after a second without work. Idle keep-alive connections cost no thread.
// The request path itself never blocks on the database: everything it needs is in the
// in-memory RuntimeConfig snapshot.

#include <atomic>
#include <memory>
#include <string>

#include "core/error.hpp"
#include "pipeline/runtime_config.hpp"
#include "server/gateway.hpp"
#include "server/metrics.hpp"

namespace tianshu::server {

class Gateway;
class StreamHeartbeat;

struct ServerOptions {
    std::string listen = "127.0.0.1:8080";  //!< host:port; port 0 picks a free one
    int max_threads = 4096;
    int min_threads = 16;
    int stack_kib = 256;
    int max_queued = 4096;
    int backlog = 4096;
    size_t max_body_bytes = 32 * 1024 * 1024;
    int keep_alive_seconds = 75;
    //! A ping goes to a streaming client after this long without a frame; 0 disables pings.
    int stream_ping_ms = 15000;
};

//! Owns the listening socket, the worker threads and the routes.
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
