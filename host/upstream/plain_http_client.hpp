#pragma once
// The lean path of HttpClientPool for http:// and https:// upstreams reached without a proxy:
// HTTP/1.1 on non-blocking POSIX sockets whose waits go through core::wait_io (on a fiber the
// request parks while the upstream thinks, also during a TLS handshake), keep-alive connections
// pooled per origin, the request sent with one system call and the body decoded in place as it
// arrives. https:// runs OpenSSL over the same sockets: SNI, the certificate and host name
// verified (the system CA store, or the channel's CA file), sessions resumed per origin.

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "upstream/http_client.hpp"

namespace tianshu::upstream {

//! Where an http:// or https:// URL points and what goes on the request line.
struct PlainHttpUrl {
    std::string host;  //!< lower case, as Poco::URI gives it
    uint16_t port = 80;
    std::string target;  //!< path and query, never empty
    //! The pool key: "host:port" for http; "https://host:port" for https, plus " ca=FILE" when
    //! the request names its own CA file (connections verified against another trust store
    //! are never shared).
    std::string origin;
    bool tls = false;  //!< https://
};

//! Parses the common shape of a plain http:// URL ("http://host[:port][/path][?query]" with
//! characters that need no percent-encoding) to exactly what Poco::URI would give. nullopt for
//! anything else: the caller then parses with Poco::URI, which also says what is malformed.
std::optional<PlainHttpUrl> parse_plain_http_url(std::string_view url);

//! The same for an https:// URL (port 443 unless given); `ca_file` goes into the pool key.
std::optional<PlainHttpUrl> parse_https_url(std::string_view url, std::string_view ca_file);

//! The pool key of an https origin verified against `ca_file` (empty: the system CA store).
std::string https_origin(std::string_view host, uint16_t port, std::string_view ca_file);

//! Keep-alive connections to http and https origins and the HTTP/1.1 exchange over them.
//! Thread-safe: the pool's lock is held only to take or return a connection.
//! An https connection is verified against the system CA store, or against `spec.ca_file`
//! alone when the request names one; a failed verification is an upstream error saying why
//! ("certificate has expired", "hostname mismatch"...), never a retry in plain text.
class PlainHttpClient {
  public:
    PlainHttpClient();
    ~PlainHttpClient();
    PlainHttpClient(const PlainHttpClient&) = delete;
    PlainHttpClient& operator=(const PlainHttpClient&) = delete;

    //! Same contract as HttpClientPool::send. A pooled connection the server closed while it
    //! was idle is replaced by a fresh one, once, when not one byte of the response was seen.
    //! `on_body` gets one call per receive (the decoded bytes of it), never an empty one.
    //! The connection goes back to the pool only when the whole response was read, the server
    //! did not say `Connection: close` and `on_body` never returned false.
    core::Result<HttpResponseHead> send(const PlainHttpUrl& url, const HttpRequestSpec& spec,
                                        const BodySink& on_body);

    //! Connections kept idle right now.
    size_t idle_connections() const;

    //! Connections opened so far (for tests: reuse means this does not grow).
    uint64_t connections_opened() const;

    //! TLS handshakes that resumed a cached session of their origin (for tests).
    uint64_t tls_sessions_resumed() const;

    struct Connection;
    struct Tls;

  private:
    std::unique_ptr<Connection> take_idle(const std::string& origin);
    void keep_idle(const std::string& origin, std::unique_ptr<Connection> connection);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
    std::atomic<uint64_t> opened_{0};
    //! OpenSSL contexts and cached sessions, made at the first https request.
    std::unique_ptr<Tls> tls_;
    std::once_flag tls_once_;
};

}  // namespace tianshu::upstream
