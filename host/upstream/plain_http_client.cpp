#include "upstream/plain_http_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <climits>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "core/fiber.hpp"
#include "upstream/http1_response_parser.hpp"

namespace tianshu::upstream {

using core::Error;
using core::ErrorKind;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

constexpr size_t kMaxIdlePerOrigin = 64;
constexpr size_t kBufferBytes = 16 * 1024;
//! A connection idle longer than this is checked (one non-blocking peek) before reuse: the
//! server may have closed it. Younger ones are used as they are; a rare stale one costs a retry.
constexpr milliseconds kCheckIdleAfter{1000};

//! Character classes of plain URLs, one bit each, looked up by byte.
enum : uint8_t {
    kHostChar = 1,   //!< letters, digits, '.', '-', '_'
    kPathChar = 2,   //!< what Poco::URI passes through unchanged in a path (it encodes the rest)
    kQueryChar = 4,  //!< what it keeps as is in a query (it does not re-encode queries)
};

constexpr std::array<uint8_t, 256> url_char_classes() {
    std::array<uint8_t, 256> t{};
    for (int c = 0x21; c < 0x7f; ++c) t[c] = kQueryChar;
    t['#'] = 0;
    auto add = [&t](std::string_view chars, uint8_t bits) {
        for (char c : chars) t[static_cast<unsigned char>(c)] |= bits;
    };
    add("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", kHostChar | kPathChar);
    add(".-_", kHostChar);
    add("-._~/:@&=+;", kPathChar);
    return t;
}
constexpr std::array<uint8_t, 256> kUrlChars = url_char_classes();

bool url_char_is(char c, uint8_t cls) {
    return kUrlChars[static_cast<unsigned char>(c)] & cls;
}

bool has_line_break(const std::string& s) {
    return std::memchr(s.data(), '\n', s.size()) || std::memchr(s.data(), '\r', s.size());
}

//! Waits until `fd` is ready for `events` or `wait` has passed: on a fiber the request parks
//! and its carrier serves others meanwhile (core/fiber.hpp); elsewhere poll(). True when ready
//! (or in error: the next call says which); a ready may be spurious, so callers try again.
bool wait_ready(int fd, short events, milliseconds wait) {
    if (wait.count() < 0) wait = milliseconds(0);
    return core::wait_io(fd, events, wait) == core::IoWait::ready;
}

//! The time left until `deadline`, rounded up to whole ms; 0 once it has passed.
milliseconds time_left(Clock::time_point deadline) {
    const auto left = std::chrono::ceil<milliseconds>(deadline - Clock::now());
    return left.count() > 0 ? left : milliseconds(0);
}

std::string errno_text(int err) {
    char buf[128];
    // GNU strerror_r returns the message (maybe not in buf).
    return ::strerror_r(err, buf, sizeof buf);
}

std::string shown_origin(const PlainHttpUrl& url) {
    return (url.tls ? "https://" : "http://") + url.host + ":" + std::to_string(url.port);
}

Error cannot_reach(const PlainHttpUrl& url, const std::string& why, bool mid_answer) {
    return Error{ErrorKind::upstream,
                 "cannot reach the upstream at " + shown_origin(url) + ": " + why +
                     (mid_answer ? " (mid-answer)" : " (check the channel's base URL)"),
                 {}};
}

Error timed_out(const PlainHttpUrl& url, const std::string& what, const char* timeout_name,
                milliseconds configured) {
    return Error{ErrorKind::timeout,
                 "the upstream at " + shown_origin(url) + " " + what + ": the " + timeout_name +
                     " (" + std::to_string(configured.count()) + " ms) passed",
                 {}};
}

//! The request line and headers: Host (unless the caller set one), the caller's headers (a
//! repeated name keeps its first place and its last value, as Poco's set() does) and
//! Content-Length.
core::Result<std::string> request_head(const PlainHttpUrl& url, const HttpRequestSpec& spec) {
    const auto& headers = spec.headers;
    size_t size = spec.method.size() + url.target.size() + url.host.size() + 64;
    bool has_host = false;
    for (const auto& [k, v] : headers) {
        size += k.size() + v.size() + 4;
        has_host = has_host || iequals(k, "host");
        if (has_line_break(k) || has_line_break(v))
            return Error::invalid("the upstream request header '" + k.substr(0, 40) +
                                  "' contains a line break (check the channel's key)");
    }
    std::string out;
    out.reserve(size);
    out.append(spec.method).append(" ").append(url.target).append(" HTTP/1.1\r\n");
    if (!has_host) {
        out.append("Host: ");
        const bool ipv6 = url.host.find(':') != std::string::npos;
        if (ipv6) out += '[';
        out.append(url.host);
        if (ipv6) out += ']';
        if (url.port != 80 && url.port != 443) {
            char digits[8];
            const auto end = std::to_chars(digits, digits + sizeof digits, url.port).ptr;
            out.append(":").append(digits, end);
        }
        out.append("\r\n");
    }
    for (size_t i = 0; i < headers.size(); ++i) {
        const std::string& name = headers[i].first;
        if (iequals(name, "content-length")) continue;
        bool repeated = false;
        for (size_t j = 0; j < i && !repeated; ++j) repeated = iequals(headers[j].first, name);
        if (repeated) continue;
        const std::string* value = &headers[i].second;
        for (size_t j = i + 1; j < headers.size(); ++j)
            if (iequals(headers[j].first, name)) value = &headers[j].second;
        out.append(name).append(": ").append(*value).append("\r\n");
    }
    char digits[24];
    const auto end = std::to_chars(digits, digits + sizeof digits, spec.body.size()).ptr;
    out.append("Content-Length: ").append(digits, end).append("\r\n\r\n");
    return out;
}

//! What follows "http://" or "https://"; `out.port` holds the scheme's default port.
bool parse_url_rest(std::string_view url, PlainHttpUrl& out) {
    size_t i = 0;
    while (i < url.size() && url_char_is(url[i], kHostChar)) ++i;
    if (i == 0 || (i < url.size() && url[i] != ':' && url[i] != '/' && url[i] != '?')) return false;
    out.host.assign(url.data(), i);
    for (char& c : out.host)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (i < url.size() && url[i] == ':') {
        const size_t start = ++i;
        unsigned port = 0;
        for (; i < url.size() && url[i] >= '0' && url[i] <= '9' && i - start < 5; ++i)
            port = port * 10 + static_cast<unsigned>(url[i] - '0');
        if (i == start || port == 0 || port > 65535) return false;
        if (i < url.size() && url[i] != '/' && url[i] != '?') return false;
        out.port = static_cast<uint16_t>(port);
    }
    const size_t path_start = i;
    for (; i < url.size() && url[i] != '?'; ++i)
        if (!url_char_is(url[i], kPathChar)) return false;
    const std::string_view path = url.substr(path_start, i - path_start);
    std::string_view query;
    if (i < url.size()) {
        query = url.substr(i + 1);
        for (char c : query)
            if (!url_char_is(c, kQueryChar)) return false;
    }
    if (path.empty()) {
        if (!query.empty()) return false;  // Poco sends "?query" as the target
        out.target = "/";
    } else {
        out.target.reserve(path.size() + query.size() + 1);
        out.target.append(path);
        if (!query.empty()) out.target.append("?").append(query);
    }
    return true;
}

}  // namespace

std::optional<PlainHttpUrl> parse_plain_http_url(std::string_view url) {
    constexpr std::string_view kScheme = "http://";
    if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
    url.remove_prefix(kScheme.size());
    PlainHttpUrl out;
    if (!parse_url_rest(url, out)) return std::nullopt;
    char digits[8];
    const auto end = std::to_chars(digits, digits + sizeof digits, out.port).ptr;
    out.origin.reserve(out.host.size() + 6);
    out.origin.append(out.host).append(":").append(digits, end);
    return out;
}

std::string https_origin(std::string_view host, uint16_t port, std::string_view ca_file) {
    std::string origin = "https://";
    origin.append(host).append(":").append(std::to_string(port));
    if (!ca_file.empty()) origin.append(" ca=").append(ca_file);
    return origin;
}

std::optional<PlainHttpUrl> parse_https_url(std::string_view url, std::string_view ca_file) {
    constexpr std::string_view kScheme = "https://";
    if (url.substr(0, kScheme.size()) != kScheme) return std::nullopt;
    url.remove_prefix(kScheme.size());
    PlainHttpUrl out;
    out.port = 443;
    out.tls = true;
    if (!parse_url_rest(url, out)) return std::nullopt;
    out.origin = https_origin(out.host, out.port, ca_file);
    return out;
}

// ---- connections ----------------------------------------------------------------------------

//! One keep-alive TCP connection (non-blocking) and its receive buffer (reused across
//! requests).
struct PlainHttpClient::Connection {
    int fd = -1;
    std::unique_ptr<char[]> buffer;
    size_t capacity = 0;
    Clock::time_point idle_since{};
    //! https: the TLS session over `fd`, the client's TLS state (for the session cache) and
    //! the pool key whose session cache a new session ticket goes to. Null for http.
    SSL* ssl = nullptr;
    PlainHttpClient::Tls* tls = nullptr;
    std::string origin;

    explicit Connection(int socket_fd)
        : fd(socket_fd), buffer(new char[kBufferBytes]), capacity(kBufferBytes) {}
    ~Connection() {
        if (ssl) {
            // Closed without a close_notify (no write here: the server may be gone), but not
            // "bad": SSL_free would otherwise mark the origin's cached session unresumable. A
            // fatal TLS error has already done so itself.
            SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
            SSL_free(ssl);
        }
        if (fd >= 0) ::close(fd);
    }
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    //! Doubles the buffer, keeping the first `used` bytes.
    void grow(size_t used) {
        std::unique_ptr<char[]> bigger(new char[capacity * 2]);
        std::memcpy(bigger.get(), buffer.get(), used);
        buffer = std::move(bigger);
        capacity *= 2;
    }
};

namespace {

using Connection = PlainHttpClient::Connection;

//! Opens a TCP connection to the URL's host (every address it resolves to, in order) within
//! the connect timeout.
core::Result<std::unique_ptr<Connection>> open_connection(const PlainHttpUrl& url,
                                                          milliseconds timeout) {
    // Numeric hosts skip the resolver.
    sockaddr_storage numeric{};
    socklen_t numeric_len = 0;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&numeric);
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&numeric);
    if (::inet_pton(AF_INET, url.host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(url.port);
        numeric_len = sizeof(sockaddr_in);
    } else if (::inet_pton(AF_INET6, url.host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(url.port);
        numeric_len = sizeof(sockaddr_in6);
    }
    addrinfo* resolved = nullptr;
    addrinfo single{};
    if (numeric_len) {
        single.ai_family = numeric.ss_family;
        single.ai_socktype = SOCK_STREAM;
        single.ai_addr = reinterpret_cast<sockaddr*>(&numeric);
        single.ai_addrlen = numeric_len;
    } else {
        addrinfo hints{};
        hints.ai_family = AF_UNSPEC;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICSERV;
        const std::string port = std::to_string(url.port);
        const int rc = ::getaddrinfo(url.host.c_str(), port.c_str(), &hints, &resolved);
        if (rc != 0)
            return cannot_reach(
                url, "host '" + url.host + "' not found (" + ::gai_strerror(rc) + ")", false);
    }
    std::unique_ptr<addrinfo, void (*)(addrinfo*)> free_resolved(resolved, [](addrinfo* a) {
        if (a) ::freeaddrinfo(a);
    });

    const auto deadline = Clock::now() + timeout;
    int last_error = 0;
    for (const addrinfo* a = numeric_len ? &single : resolved; a; a = a->ai_next) {
        const int fd = ::socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            last_error = core::fresh_errno();
            continue;
        }
        auto connection = std::make_unique<Connection>(fd);
        const int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int err = 0;
        if (::connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            const int connect_error = core::fresh_errno();
            if (connect_error != EINPROGRESS && connect_error != EINTR) {
                last_error = connect_error;
                continue;
            }
            // Connected once writable, whatever woke us (a spurious wake-up waits again).
            for (;;) {
                const auto left = time_left(deadline);
                if (left.count() == 0 || !wait_ready(fd, POLLOUT, left))
                    return timed_out(url, "did not accept the connection in time",
                                     "connect timeout", timeout);
                pollfd p{fd, POLLOUT, 0};
                if (::poll(&p, 1, 0) != 0) break;
            }
            socklen_t len = sizeof err;
            if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = core::fresh_errno();
        }
        if (err == 0) return connection;
        last_error = err;
    }
    if (last_error == ECONNREFUSED) return cannot_reach(url, "connection refused", false);
    return cannot_reach(url, "cannot connect: " + errno_text(last_error), false);
}

//! How one request/response exchange on a connection ended.
struct Exchange {
    enum class End {
        keep,    //!< the response was read whole; the connection may serve the next request
        close,   //!< the response was delivered (or the sink stopped); close the connection
        retry,   //!< the connection failed before any response byte; `error` if not retried
        failed,  //!< `error`; close the connection
    };
    End end = End::close;
    Error error;  //!< for retry and failed
};

bool retryable(int err) {
    return err == ECONNRESET || err == EPIPE || err == ENOTCONN;
}

}  // namespace

// ---- TLS ------------------------------------------------------------------------------------

//! OpenSSL contexts (one per trust store: the system's, or a CA file) and the last session of
//! each https origin, resumed by its next connection (a shorter handshake, no certificate
//! sent again).
struct PlainHttpClient::Tls {
    std::mutex mutex;
    std::unordered_map<std::string, SSL_CTX*> contexts;      //!< by CA file; "": system store
    std::unordered_map<std::string, SSL_SESSION*> sessions;  //!< by pool key
    std::atomic<uint64_t> resumed{0};

    Tls() = default;
    Tls(const Tls&) = delete;
    Tls& operator=(const Tls&) = delete;
    ~Tls() {
        for (auto& [origin, session] : sessions) SSL_SESSION_free(session);
        for (auto& [file, ctx] : contexts) SSL_CTX_free(ctx);
    }

    //! Takes over `session` (a new session ticket of `origin`'s server).
    void keep_session(const std::string& origin, SSL_SESSION* session) {
        SSL_SESSION* old = nullptr;
        {
            std::lock_guard lock(mutex);
            auto& slot = sessions[origin];
            old = slot;
            slot = session;
        }
        if (old) SSL_SESSION_free(old);
    }

    //! The session to resume for `origin` (a reference the caller frees), or null.
    SSL_SESSION* session_for(const std::string& origin) {
        std::lock_guard lock(mutex);
        auto it = sessions.find(origin);
        if (it == sessions.end() || !SSL_SESSION_is_resumable(it->second)) return nullptr;
        SSL_SESSION_up_ref(it->second);
        return it->second;
    }
};

namespace {

using Tls = PlainHttpClient::Tls;

//! The reason OpenSSL queued for the last failure on this thread (read right after the call:
//! a fiber may change threads at its next wait).
std::string openssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown TLS error";
    const char* reason = ERR_reason_error_string(e);
    return reason ? reason : "TLS error " + std::to_string(e);
}

std::string channel_prefix(const HttpRequestSpec& spec) {
    return spec.channel.empty() ? std::string() : "channel '" + std::string(spec.channel) + "': ";
}

//! The upstream's certificate did not verify: say why and what to check.
Error tls_refused(const PlainHttpUrl& url, const HttpRequestSpec& spec, const char* why) {
    return Error{ErrorKind::upstream,
                 channel_prefix(spec) + "the upstream at " + shown_origin(url) +
                     " was refused: its TLS certificate did not verify: " + why +
                     " (the certificate must be valid, name the host '" + url.host +
                     "' and chain to " +
                     (spec.ca_file.empty()
                          ? std::string("the system CA store; for a private CA set the channel's "
                                        "options.ca_file")
                          : "the CA file '" + spec.ca_file + "' (the channel's options.ca_file)") +
                     ")",
                 {}};
}

//! OpenSSL hands a new session ticket of the server here (TLS 1.3 sends them after the
//! handshake; the response read processes them): kept for the origin's next connection.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
    auto* c = static_cast<Connection*>(SSL_get_app_data(ssl));
    if (!c || !c->tls) return 0;
    c->tls->keep_session(c->origin, session);
    return 1;  // the cache holds the reference now
}

//! The context for `ca_file` ("" = the system CA store), made at first use.
core::Result<SSL_CTX*> tls_context(Tls& tls, const HttpRequestSpec& spec) {
    std::lock_guard lock(tls.mutex);
    if (auto it = tls.contexts.find(spec.ca_file); it != tls.contexts.end()) return it->second;
    ERR_clear_error();
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) return Error::internal_error("cannot make a TLS context: " + openssl_error());
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    const bool loaded = spec.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                             : SSL_CTX_load_verify_locations(
                                                   ctx, spec.ca_file.c_str(), nullptr) == 1;
    if (!loaded) {
        const std::string why = openssl_error();
        SSL_CTX_free(ctx);
        if (spec.ca_file.empty())
            return Error::internal_error("cannot load the system CA store: " + why);
        return Error{ErrorKind::upstream,
                     channel_prefix(spec) + "options.ca_file '" + spec.ca_file +
                         "' holds no CA certificate the gateway can read (" + why +
                         "): give a PEM file of CA certificates readable by the gateway",
                     {}};
    }
    // Sessions are cached by origin here, not in OpenSSL's own cache (keyed by session id).
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    // A stream's connection idles between chunks: its 34 KiB of record buffers go back to the
    // allocator meanwhile.
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    // A server that closes without close_notify ends the stream as a plain socket would: the
    // HTTP framing (Content-Length, last chunk) still tells a cut answer from a whole one.
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    static const unsigned char kAlpn[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
    SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof kAlpn);
    tls.contexts.emplace(spec.ca_file, ctx);
    return ctx;
}

bool is_ip_literal(const std::string& host) {
    in6_addr any{};
    return ::inet_pton(AF_INET, host.c_str(), &any) == 1 ||
           ::inet_pton(AF_INET6, host.c_str(), &any) == 1;
}

//! The TLS handshake over a fresh connection, within the connect timeout: SNI and the host
//! name (or IP address) the certificate must name, the origin's last session offered.
core::Result<void> tls_handshake(Connection& c, Tls& tls, const PlainHttpUrl& url,
                                 const HttpRequestSpec& spec) {
    auto ctx = tls_context(tls, spec);
    if (!ctx) return ctx.take_error();
    ERR_clear_error();
    c.ssl = SSL_new(ctx.value());
    if (!c.ssl) return cannot_reach(url, "cannot start TLS: " + openssl_error(), false);
    c.tls = &tls;
    c.origin = url.origin;
    SSL_set_app_data(c.ssl, &c);
    SSL_set_fd(c.ssl, c.fd);
    SSL_set_connect_state(c.ssl);
    if (is_ip_literal(url.host)) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c.ssl), url.host.c_str());
    } else {
        SSL_set_tlsext_host_name(c.ssl, url.host.c_str());
        SSL_set1_host(c.ssl, url.host.c_str());
    }
    if (SSL_SESSION* session = tls.session_for(url.origin)) {
        SSL_set_session(c.ssl, session);
        SSL_SESSION_free(session);
    }
    const auto deadline = Clock::now() + spec.connect_timeout;
    for (;;) {
        ERR_clear_error();
        const int rc = SSL_do_handshake(c.ssl);
        if (rc == 1) break;
        const int e = SSL_get_error(c.ssl, rc);
        const short want = e == SSL_ERROR_WANT_READ    ? POLLIN
                           : e == SSL_ERROR_WANT_WRITE ? POLLOUT
                                                       : 0;
        if (want) {
            const auto left = time_left(deadline);
            if (left.count() == 0 || !wait_ready(c.fd, want, left))
                return timed_out(url, "did not complete the TLS handshake in time",
                                 "connect timeout", spec.connect_timeout);
            continue;
        }
        const int sys_error = e == SSL_ERROR_SYSCALL ? core::fresh_errno() : 0;
        const std::string queued = e == SSL_ERROR_SSL ? openssl_error() : std::string();
        const long verified = SSL_get_verify_result(c.ssl);
        if (verified != X509_V_OK)
            return tls_refused(url, spec, X509_verify_cert_error_string(verified));
        return cannot_reach(
            url,
            "the TLS handshake failed: " + (!queued.empty() ? queued
                                            : sys_error     ? errno_text(sys_error)
                                                            : std::string("the upstream closed the "
                                                                              "connection")),
            false);
    }
    if (SSL_session_reused(c.ssl)) tls.resumed.fetch_add(1, std::memory_order_relaxed);
    return {};
}

//! One receive from the connection: > 0 bytes, 0 at the end of the stream, or -1 with `err`
//! (EAGAIN: nothing yet, wait for `want`; EPROTO: a TLS failure, `tls_error` says which).
ssize_t receive(Connection& c, char* into, size_t room, int& err, short& want,
                std::string& tls_error) {
    want = POLLIN;
    if (!c.ssl) {
        const ssize_t n = ::recv(c.fd, into, room, 0);
        if (n < 0) err = core::fresh_errno();
        return n;
    }
    ERR_clear_error();
    size_t got = 0;
    const int rc = SSL_read_ex(c.ssl, into, room, &got);
    if (rc == 1) return static_cast<ssize_t>(got);
    switch (SSL_get_error(c.ssl, rc)) {
        case SSL_ERROR_WANT_READ:
            err = EAGAIN;
            return -1;
        case SSL_ERROR_WANT_WRITE:
            err = EAGAIN;
            want = POLLOUT;
            return -1;
        case SSL_ERROR_ZERO_RETURN:
            return 0;
        case SSL_ERROR_SYSCALL:
            err = core::fresh_errno();
            if (err == 0) return 0;
            return -1;
        default:
            err = EPROTO;
            tls_error = "TLS: " + openssl_error();
            return -1;
    }
}

//! Sends `n` bytes over TLS; nullopt once all went out.
std::optional<Exchange> tls_write(Connection& c, const PlainHttpUrl& url, const char* data,
                                  size_t n, const HttpRequestSpec& spec) {
    while (n > 0) {
        ERR_clear_error();
        size_t written = 0;
        const int rc = SSL_write_ex(c.ssl, data, n, &written);
        if (rc == 1) {
            data += written;
            n -= written;
            continue;
        }
        const int e = SSL_get_error(c.ssl, rc);
        if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
            // The same buffer goes again once the socket is ready, as OpenSSL requires.
            if (wait_ready(c.fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN,
                           spec.first_byte_timeout))
                continue;
            return Exchange{Exchange::End::failed,
                            timed_out(url, "did not take the request in time", "first-byte timeout",
                                      spec.first_byte_timeout)};
        }
        if (e == SSL_ERROR_ZERO_RETURN)
            return Exchange{Exchange::End::retry,
                            cannot_reach(url, "it closed the connection", false)};
        if (e == SSL_ERROR_SYSCALL) {
            const int err = core::fresh_errno();
            return Exchange{
                err == 0 || retryable(err) ? Exchange::End::retry : Exchange::End::failed,
                cannot_reach(url,
                             "sending the request failed: " +
                                 (err ? errno_text(err) : std::string("connection closed")),
                             false)};
        }
        return Exchange{
            Exchange::End::failed,
            cannot_reach(url, "sending the request failed: TLS: " + openssl_error(), false)};
    }
    return std::nullopt;
}

//! Sends the request head and body with as few system calls as the socket allows; nullopt
//! once all is sent.
std::optional<Exchange> write_request(Connection& c, const PlainHttpUrl& url,
                                      const std::string& head, const HttpRequestSpec& spec) {
    if (c.ssl) {
        // One TLS record for a small request; a large body goes as records of its own.
        constexpr size_t kOneRecord = 16 * 1024;
        if (!spec.body.empty() && head.size() + spec.body.size() <= kOneRecord) {
            std::string whole;
            whole.reserve(head.size() + spec.body.size());
            whole.append(head).append(spec.body);
            return tls_write(c, url, whole.data(), whole.size(), spec);
        }
        if (auto failed = tls_write(c, url, head.data(), head.size(), spec)) return failed;
        return tls_write(c, url, spec.body.data(), spec.body.size(), spec);
    }
    iovec iov[2] = {{const_cast<char*>(head.data()), head.size()},
                    {const_cast<char*>(spec.body.data()), spec.body.size()}};
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = spec.body.empty() ? 1 : 2;
    size_t left = head.size() + spec.body.size();
    while (left > 0) {
        const ssize_t n = ::sendmsg(c.fd, &msg, MSG_NOSIGNAL);
        if (n >= 0) {
            left -= static_cast<size_t>(n);
            size_t sent = static_cast<size_t>(n);
            while (sent > 0 && msg.msg_iovlen > 0) {
                const size_t step = std::min(sent, msg.msg_iov[0].iov_len);
                msg.msg_iov[0].iov_base = static_cast<char*>(msg.msg_iov[0].iov_base) + step;
                msg.msg_iov[0].iov_len -= step;
                sent -= step;
                if (msg.msg_iov[0].iov_len == 0) {
                    ++msg.msg_iov;
                    --msg.msg_iovlen;
                }
            }
            continue;
        }
        const int send_error = core::fresh_errno();
        if (send_error == EINTR) continue;
        // The server's window is full: wait for it to take more, up to the first-byte timeout
        // per wait (as long as Poco's send timeout).
        if (send_error == EAGAIN || send_error == EWOULDBLOCK) {
            if (wait_ready(c.fd, POLLOUT, spec.first_byte_timeout)) continue;
            return Exchange{Exchange::End::failed,
                            timed_out(url, "did not take the request in time", "first-byte timeout",
                                      spec.first_byte_timeout)};
        }
        return Exchange{
            retryable(send_error) ? Exchange::End::retry : Exchange::End::failed,
            cannot_reach(url, "sending the request failed: " + errno_text(send_error), false)};
    }
    return std::nullopt;
}

//! Reads the response: the head, then the body decoded into `on_body` one receive at a time.
Exchange read_response(Connection& c, const PlainHttpUrl& url, const HttpRequestSpec& spec,
                       const BodySink& on_body, HttpResponseHead& head) {
    Http1ResponseParser parser(spec.method == "HEAD");
    size_t head_bytes = 0;  // bytes of the response head in the buffer so far
    bool head_done = false;
    // The first-byte timeout bounds the whole head; the idle timeout each wait after it.
    const auto head_deadline = Clock::now() + spec.first_byte_timeout;
    // The answer cannot be there the moment the request left: wait before the first receive.
    bool wait_first = true;
    short want = POLLIN;  // what the next wait is for (TLS may need to write to read)
    std::string tls_error;

    auto malformed = [&] {
        return Exchange{Exchange::End::failed,
                        Error{ErrorKind::upstream,
                              "the upstream at " + shown_origin(url) +
                                  " sent a malformed HTTP response: " + parser.error(),
                              {}}};
    };
    // Delivers `n` raw body bytes at `data`; false when the exchange ends here.
    auto deliver = [&](char* data, size_t n, Exchange& out) {
        size_t decoded = 0;
        const bool well_formed = parser.decode_body(data, n, decoded);
        if (decoded > 0 && !on_body(head, std::string_view(data, decoded))) {
            out = {Exchange::End::close, Error{}};  // the client went away
            return false;
        }
        if (!well_formed) {
            out = malformed();
            return false;
        }
        if (parser.done()) {
            const bool reusable = parser.keep_alive() && parser.excess_bytes() == 0;
            out = {reusable ? Exchange::End::keep : Exchange::End::close, Error{}};
            return false;
        }
        return true;
    };

    while (true) {
        if (wait_first) {
            milliseconds wait = head_done ? spec.idle_timeout : time_left(head_deadline);
            // Reading for a client that went away stops at its bound, not the idle timeout.
            const bool bounded = head_done && spec.read_until &&
                                 *spec.read_until != Clock::time_point::max() &&
                                 time_left(*spec.read_until) <= wait;
            if (bounded) wait = time_left(*spec.read_until);
            if ((!head_done && wait.count() == 0) || !wait_ready(c.fd, want, wait)) {
                if (bounded) return {Exchange::End::close, Error{}};
                if (head_done)
                    return {Exchange::End::failed, timed_out(url, "stopped sending mid-answer",
                                                             "idle timeout", spec.idle_timeout)};
                return {Exchange::End::failed,
                        timed_out(url, "did not answer in time", "first-byte timeout",
                                  spec.first_byte_timeout)};
            }
        }
        char* into = c.buffer.get();
        size_t room = c.capacity;
        if (!head_done) {
            if (head_bytes == c.capacity) {
                // Http1ResponseParser rejects a head over its limit before the buffer gets
                // much bigger than that.
                if (c.capacity > 2 * Http1ResponseParser::kMaxHeadBytes)
                    return {Exchange::End::failed,
                            Error{ErrorKind::upstream,
                                  "the upstream at " + shown_origin(url) +
                                      " sent a malformed HTTP response: its interim (1xx) "
                                      "responses exceed " +
                                      std::to_string(c.capacity / 1024) + " KiB",
                                  {}}};
                c.grow(head_bytes);
            }
            into = c.buffer.get() + head_bytes;
            room = c.capacity - head_bytes;
        }
        int err = 0;
        const ssize_t n = receive(c, into, room, err, want, tls_error);
        if (n < 0) {
            if (err == EINTR) {
                wait_first = false;
                continue;
            }
            if (err == EAGAIN || err == EWOULDBLOCK) {  // nothing yet (or a spurious wake-up)
                wait_first = true;
                continue;
            }
            const bool nothing_yet = !head_done && head_bytes == 0;
            return {
                nothing_yet && retryable(err) ? Exchange::End::retry : Exchange::End::failed,
                cannot_reach(url, err == EPROTO && !tls_error.empty() ? tls_error : errno_text(err),
                             !nothing_yet)};
        }
        if (n == 0) {
            if (head_done) {
                // The body may end with the connection only when it declared no length.
                head.cut =
                    !parser.done() && parser.framing() != Http1ResponseParser::Framing::until_close;
                return {};
            }
            if (head_bytes == 0)
                return {Exchange::End::retry,
                        cannot_reach(url, "it closed the connection without answering", false)};
            return {Exchange::End::failed,
                    cannot_reach(url, "it closed the connection in the middle of the response head",
                                 true)};
        }
        wait_first = false;  // read until the socket is empty, then wait
        const auto got = static_cast<size_t>(n);
        if (head_done) {
            Exchange out;
            if (!deliver(into, got, out)) return out;
            continue;
        }
        head_bytes += got;
        switch (parser.parse_head(std::string_view(c.buffer.get(), head_bytes), head)) {
            case Http1ResponseParser::HeadStatus::incomplete:
                continue;
            case Http1ResponseParser::HeadStatus::malformed:
                return malformed();
            case Http1ResponseParser::HeadStatus::complete: {
                head_done = true;
                Exchange out;
                if (!deliver(c.buffer.get() + parser.head_size(), head_bytes - parser.head_size(),
                             out))
                    return out;
                continue;
            }
        }
    }
}

bool still_open(int fd) {
    char byte;
    const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

PlainHttpClient::PlainHttpClient() = default;
PlainHttpClient::~PlainHttpClient() {
    // Idle TLS connections go before the contexts and sessions they came from.
    std::lock_guard lock(mutex_);
    idle_.clear();
}

std::unique_ptr<PlainHttpClient::Connection> PlainHttpClient::take_idle(const std::string& origin) {
    while (true) {
        std::unique_ptr<Connection> c;
        {
            std::lock_guard lock(mutex_);
            auto it = idle_.find(origin);
            if (it == idle_.end() || it->second.empty()) return nullptr;
            c = std::move(it->second.back());
            it->second.pop_back();
        }
        // A server may close a connection it has kept idle for a while: check old ones.
        if (Clock::now() - c->idle_since < kCheckIdleAfter || still_open(c->fd)) return c;
    }
}

void PlainHttpClient::keep_idle(const std::string& origin, std::unique_ptr<Connection> c) {
    c->idle_since = Clock::now();
    std::lock_guard lock(mutex_);
    auto& list = idle_[origin];
    if (list.size() < kMaxIdlePerOrigin) list.push_back(std::move(c));
}

size_t PlainHttpClient::idle_connections() const {
    std::lock_guard lock(mutex_);
    size_t n = 0;
    for (const auto& [origin, list] : idle_) n += list.size();
    return n;
}

uint64_t PlainHttpClient::connections_opened() const {
    return opened_.load();
}

uint64_t PlainHttpClient::tls_sessions_resumed() const {
    return tls_ ? tls_->resumed.load() : 0;
}

core::Result<HttpResponseHead> PlainHttpClient::send(const PlainHttpUrl& url,
                                                     const HttpRequestSpec& spec,
                                                     const BodySink& on_body) {
    auto head_text = request_head(url, spec);
    if (!head_text) return head_text.take_error();
    // A pooled connection may have been closed by the server while idle: retry once on a fresh
    // one, but only when nothing of the response has been seen.
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<Connection> c = attempt == 0 ? take_idle(url.origin) : nullptr;
        const bool reused = c != nullptr;
        if (!c) {
            auto opened = open_connection(url, spec.connect_timeout);
            if (!opened) return opened.take_error();
            c = std::move(opened).value();
            opened_.fetch_add(1, std::memory_order_relaxed);
            if (url.tls) {
                std::call_once(tls_once_, [this] { tls_ = std::make_unique<Tls>(); });
                if (auto secured = tls_handshake(*c, *tls_, url, spec); !secured)
                    return secured.take_error();
            }
        }
        HttpResponseHead head;
        auto failed_write = write_request(*c, url, head_text.value(), spec);
        Exchange e =
            failed_write ? std::move(*failed_write) : read_response(*c, url, spec, on_body, head);
        switch (e.end) {
            case Exchange::End::keep:
                keep_idle(url.origin, std::move(c));
                return head;
            case Exchange::End::close:
                return head;
            case Exchange::End::retry:
                if (reused) continue;
                return std::move(e.error);
            case Exchange::End::failed:
                return std::move(e.error);
        }
    }
    return cannot_reach(url, "the connection failed twice before any response", false);
}

}  // namespace tianshu::upstream
