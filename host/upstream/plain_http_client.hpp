#pragma once
// The lean path of HttpClientPool for plain http:// upstreams reached without a proxy: HTTP/1.1
// on non-blocking POSIX sockets whose waits go through core::wait_io (on a fiber the request
// parks while the upstream thinks), keep-alive connections pooled per origin, the request sent
// with one system call and the body decoded in place as it arrives.

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

//! Where a plain http:// URL points and what goes on the request line.
struct PlainHttpUrl {
    std::string host;  //!< lower case, as Poco::URI gives it
    uint16_t port = 80;
    std::string target;  //!< path and query, never empty
    std::string origin;  //!< "host:port": the pool key
};

//! Parses the common shape of a plain http:// URL ("http://host[:port][/path][?query]" with
//! characters that need no percent-encoding) to exactly what Poco::URI would give. nullopt for
//! anything else: the caller then parses with Poco::URI, which also says what is malformed.
std::optional<PlainHttpUrl> parse_plain_http_url(std::string_view url);

//! Keep-alive connections to plain-http origins and the HTTP/1.1 exchange over them.
//! Thread-safe: the pool's lock is held only to take or return a connection.
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

    struct Connection;

  private:
    std::unique_ptr<Connection> take_idle(const std::string& origin);
    void keep_idle(const std::string& origin, std::unique_ptr<Connection> connection);

    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::vector<std::unique_ptr<Connection>>> idle_;
    std::atomic<uint64_t> opened_{0};
};

}  // namespace tianshu::upstream
