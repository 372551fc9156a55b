#pragma once
// The one HTTP client of the process: pooled keep-alive sessions per origin, streaming bodies
// handed to the caller chunk by chunk as they arrive. http:// and https:// without a proxy go
// over a lean HTTP/1.1 client on POSIX sockets and OpenSSL (plain_http_client.hpp) whose waits
// park the fiber; proxied requests over Poco's sessions (a thread each for the call).

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/error.hpp"

namespace tianshu::upstream {

struct HttpRequestSpec {
    std::string method = "POST";
    std::string url;  //!< http:// or https://
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    std::chrono::milliseconds connect_timeout{10'000};
    std::chrono::milliseconds first_byte_timeout{120'000};  //!< until the status line arrives
    std::chrono::milliseconds idle_timeout{120'000};        //!< between body chunks
    //! An HTTP proxy, "http://[user:password@]host:port"; empty: connect directly.
    std::string proxy;
    //! PEM file of the CA certificates an https upstream's certificate must chain to, instead
    //! of the system CA store (a channel's options.ca_file); empty: the system store.
    std::string ca_file;
    //! The channel the call is for, named in TLS verification errors; may be empty.
    std::string_view channel;
    //! When set, reading the body ends (as when the sink returns false) once this time has
    //! passed, also while waiting for the next chunk; the sink may move it earlier (its client
    //! went away). The plain client waits no longer; a Poco session notices at the next chunk.
    const std::chrono::steady_clock::time_point* read_until = nullptr;
};

struct HttpResponseHead {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    //! The connection closed before the end the response declared (its Content-Length, or the
    //! last chunk): the body the sink got is incomplete. The caller decides what that means
    //! (a stream decoder has its own words for an answer cut short).
    bool cut = false;
    //! Case-insensitive header lookup; empty when absent.
    std::string header(std::string_view name) const;
};

//! Receives body bytes as they arrive, with the status line and headers already known;
//! return false to stop reading (the client went away).
using BodySink = std::function<bool(const HttpResponseHead& head, std::string_view chunk)>;

//! Keep-alive sessions per origin, reused across requests and threads. Thread-safe.
class HttpClientPool {
  public:
    static HttpClientPool& shared();
    HttpClientPool();
    ~HttpClientPool();

    //! Sends the request and streams the body into `on_body`. Errors (as values): cannot
    //! connect or malformed response (upstream), timed out (timeout), malformed URL
    //! (invalid_request). A non-2xx status is not an error here: the caller reads the body and
    //! decides. A body cut short by the server closing the connection just ends: the caller's
    //! decoder notices what is missing.
    core::Result<HttpResponseHead> send(const HttpRequestSpec& spec, const BodySink& on_body);

    //! Sessions kept idle right now (for tests).
    size_t idle_sessions() const;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace tianshu::upstream
