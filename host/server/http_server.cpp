#include "server/http_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/fiber.hpp"
#include "core/log.hpp"
#include "server/admin_api.hpp"
#include "server/event_loop.hpp"
#include "server/gateway.hpp"
#include "server/http_wire.hpp"
#include "server/panel_assets.hpp"
#include "server/stream_heartbeat.hpp"

namespace tianshu::server {

namespace {

using protocol::ClientProtocol;

constexpr size_t kMaxHeadBytes = 64 * 1024;
constexpr int kBodyIdleTimeoutMs = 60'000;  // between bytes of a request body
constexpr int kWriteTimeoutMs = 600'000;    // a client that stops reading a stream
constexpr size_t kReadChunk = 16 * 1024;
// After an error answered before the request was read whole, what the client still sends is read
// and dropped for this long, up to this much, so that its TCP stack gets our answer instead of a
// reset (see linger_close).
constexpr int kLingerMs = 2'000;
constexpr size_t kLingerBytes = 1024 * 1024;

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

using wire::iequals;

//! Waits until `fd` is ready for `events` (parking the request's fiber meanwhile); false when
//! `timeout_ms` passed first.
bool wait_ready(int fd, short events, int timeout_ms) {
    return core::wait_io(fd, events, std::chrono::milliseconds(timeout_ms)) == core::IoWait::ready;
}

//! Writes all of `parts` (a non-blocking socket: waits while the client's window is full).
bool send_all(int fd, iovec* parts, int count) {
    while (count > 0) {
        msghdr msg{};
        msg.msg_iov = parts;
        msg.msg_iovlen = static_cast<size_t>(count);
        ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            const int err = core::fresh_errno();
            if (err == EINTR) continue;
            if (err == EAGAIN || err == EWOULDBLOCK) {
                if (!wait_ready(fd, POLLOUT, kWriteTimeoutMs)) return false;
                continue;
            }
            return false;
        }
        size_t left = static_cast<size_t>(n);
        while (count > 0 && left >= parts->iov_len) {
            left -= parts->iov_len;
            ++parts;
            --count;
        }
        if (count > 0) {
            parts->iov_base = static_cast<char*>(parts->iov_base) + left;
            parts->iov_len -= left;
        }
    }
    return true;
}

bool send_all(int fd, std::string_view a, std::string_view b = {}) {
    iovec parts[2] = {{const_cast<char*>(a.data()), a.size()},
                      {const_cast<char*>(b.data()), b.size()}};
    return send_all(fd, parts, b.empty() ? 1 : 2);
}

//! One client connection. Owned by exactly one worker while it is being served; otherwise it
//! waits, armed, in the epoll set.
struct Connection {
    int fd = -1;
    std::string ip;             //!< the peer's address
    bool peer_trusted = false;  //!< the peer is a trusted proxy (its forwarding headers count)
    std::string in;  //!< received and not yet consumed (a head, a body, pipelined requests)
    enum State { owned, armed };
    std::atomic<int> state{owned};
    std::atomic<int64_t> last_active_ms{0};
    //! When the head being received must be complete; 0 between requests (then the keep-alive
    //! idle limit applies). Set by the connection's owner, read by the reaper.
    std::atomic<int64_t> head_deadline_ms{0};
    bool reaped = false;  //!< the reaper already shut it down (guarded by the registry mutex)
    Connection* prev = nullptr;
    Connection* next = nullptr;
};

//! What a request needs from its connection beyond the head: a place to write.
class SocketResponseWriter final : public ResponseWriter {
  public:
    SocketResponseWriter(int fd, bool head_only, bool http10, bool keep_alive)
        : fd_(fd), head_only_(head_only), http10_(http10), keep_alive_(keep_alive) {}
    //! An error answered early (bad head, body too large) is written here.
    ~SocketResponseWriter() override {
        if (!pending_.empty()) send_all(fd_, pending_);
    }
    SocketResponseWriter(const SocketResponseWriter&) = delete;
    SocketResponseWriter& operator=(const SocketResponseWriter&) = delete;

    void set_header(std::string_view name, std::string_view value) override {
        if (began_) return;
        // Our own values only, but never let a value end the head early.
        std::string clean(value);
        for (char& c : clean)
            if (c == '\r' || c == '\n') c = ' ';
        if (iequals(name, "content-type")) {
            content_type_ = std::move(clean);
            return;
        }
        wire::append_header(extra_, name, clean);
    }

    void send(int status, std::string_view content_type, std::string_view body) override {
        if (began_) return;
        began_ = true;
        status_ = status;
        // Held until finish(): the handler logs its line after send(), and a client that has
        // its whole answer must find that line already written (tests and log shippers do).
        std::string& head = pending_;
        head.reserve(256 + extra_.size() + body.size());
        wire::append_status_line(head, status);
        head += "Server: tianshu\r\n";
        wire::append_header(head, "Content-Type",
                            content_type_.empty() ? content_type : std::string_view(content_type_));
        char length[24];
        auto [end, ec] = std::to_chars(length, length + sizeof length, body.size());
        wire::append_header(head, "Content-Length", std::string_view(length, end - length));
        head += extra_;
        if (!keep_alive_)
            head += "Connection: close\r\n";
        else if (http10_)
            head += "Connection: keep-alive\r\n";
        head += "\r\n";
        if (!head_only_) head += body;
    }

    bool begin_stream() override {
        if (began_) return false;
        began_ = true;
        streaming_ = true;
        status_ = 200;
        std::string head;
        wire::append_status_line(head, 200);
        head += "Server: tianshu\r\n";
        wire::append_header(head, "Content-Type",
                            content_type_.empty() ? "text/event-stream; charset=utf-8"
                                                  : std::string_view(content_type_));
        head += "Cache-Control: no-cache\r\nX-Accel-Buffering: no\r\n";
        head += extra_;
        // HTTP/1.0 has no chunked encoding: the body ends when the connection closes.
        if (http10_)
            keep_alive_ = false;
        else
            head += "Transfer-Encoding: chunked\r\n";
        if (!keep_alive_) head += "Connection: close\r\n";
        head += "\r\n";
        ok_ = send_all(fd_, head);
        return ok_;
    }

    bool write(std::string_view frames) override {
        if (!streaming_ || !ok_) return false;
        if (frames.empty()) return true;
        if (http10_) return ok_ = send_all(fd_, frames);
        char size[24];
        auto [end, ec] = std::to_chars(size, size + sizeof size - 2, frames.size(), 16);
        *end++ = '\r';
        *end++ = '\n';
        iovec parts[3] = {{size, static_cast<size_t>(end - size)},
                          {const_cast<char*>(frames.data()), frames.size()},
                          {const_cast<char*>("\r\n"), 2}};
        return ok_ = send_all(fd_, parts, 3);
    }

    // A client that closed the connection (its end of file, or a reset) has gone: like
    // nginx, the server does not tell that apart from a client that only shut down its
    // sending side, which HTTP clients do not do while they wait for an answer.
    bool client_closed() override {
        if (ok_) {
            pollfd p{fd_, POLLRDHUP, 0};
            if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) ok_ = false;
        }
        if (ok_) return false;
        began_ = true;  // abandoned: finish() writes nothing, not even a 500
        pending_.clear();
        keep_alive_ = false;
        return true;
    }

    //! Ends the response: writes a whole response, or the last chunk of a stream, or a 500 if
    //! the handler sent nothing.
    void finish() {
        if (!began_)
            send(
                500, "application/json",
                R"({"type":"error","error":{"type":"api_error","message":"the server produced no response"}})");
        if (!pending_.empty()) {
            ok_ = send_all(fd_, pending_);
            pending_.clear();
        }
        if (streaming_ && ok_ && !http10_) ok_ = send_all(fd_, wire::kLastChunk);
    }

    //! The connection can serve another request after this one.
    bool reusable() const { return ok_ && keep_alive_; }
    void force_close() { keep_alive_ = false; }

  private:
    int fd_;
    bool head_only_;
    bool http10_;
    bool keep_alive_;
    bool began_ = false;
    bool streaming_ = false;
    bool ok_ = true;
    int status_ = 0;
    std::string content_type_;
    std::string extra_;
    std::string pending_;  //!< a whole response, written by finish()
};

//! A request head's headers as the plugins' request_header reads them.
class HeadHeaders final : public plugin::ClientHeaders {
  public:
    explicit HeadHeaders(const wire::RequestHead& head) : head_(head) {}
    std::optional<std::string_view> find(std::string_view name) const override {
        for (const auto& [k, v] : head_.headers)
            if (iequals(k, name)) return v;
        return std::nullopt;
    }

  private:
    const wire::RequestHead& head_;
};

std::string presented_key(const wire::RequestHead& head) {
    if (auto key = head.header("x-api-key"); !key.empty()) return std::string(key);
    std::string_view auth = head.header("authorization");
    constexpr std::string_view bearer = "Bearer ";
    if (auth.size() > bearer.size() && iequals(auth.substr(0, bearer.size()), bearer))
        return std::string(auth.substr(bearer.size()));
    return {};
}

void send_json_error(ResponseWriter& out, ClientProtocol protocol, int status, core::ErrorKind kind,
                     std::string message) {
    const auto& codec = protocol::codec_for(protocol);
    out.send(status, "application/json",
             codec.error_body(core::Error{kind, std::move(message), {}}));
}

ClientProtocol protocol_for_path(std::string_view path) {
    if (path.rfind("/v1/responses", 0) == 0) return ClientProtocol::openai_responses;
    if (path.starts_with("/v1beta/") ||
        (path.starts_with("/v1/models/") && path.find(':') != std::string_view::npos))
        return ClientProtocol::gemini;
    return path.rfind("/v1/chat", 0) == 0 ? ClientProtocol::openai_chat
                                          : ClientProtocol::anthropic_messages;
}

// ---- Gemini: /v1beta/models/{model}:{method}, the key in x-goog-api-key or ?key= ---------------

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//! %XX escapes (and '+' in a query) decoded; a broken escape is kept as it is.
std::string percent_decoded(std::string_view s, bool query) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
            hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += query && s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

//! The decoded value of query parameter `name` in `target`; nullopt when absent.
std::optional<std::string> query_param(std::string_view target, std::string_view name) {
    const size_t q = target.find('?');
    if (q == std::string_view::npos) return std::nullopt;
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        const size_t amp = rest.find('&');
        const std::string_view pair = rest.substr(0, amp);
        const size_t eq = pair.find('=');
        if (pair.substr(0, eq) == name)
            return eq == std::string_view::npos ? std::string()
                                                : percent_decoded(pair.substr(eq + 1), true);
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return std::nullopt;
}

//! A Gemini model call's route: the API version's prefix, the model and the method after the
//! colon. Google serves v1beta and v1 alike (the @google/genai SDK defaults to v1).
struct GeminiRoute {
    std::string_view prefix;
    std::string model;
    std::string_view method;
};

std::optional<GeminiRoute> gemini_route(std::string_view path) {
    for (std::string_view prefix : {"/v1beta/models/", "/v1/models/"}) {
        if (!path.starts_with(prefix)) continue;
        const std::string_view rest = path.substr(prefix.size());
        const size_t colon = rest.rfind(':');
        if (colon == std::string_view::npos || colon == 0) return std::nullopt;
        return GeminiRoute{prefix, percent_decoded(rest.substr(0, colon), false),
                           rest.substr(colon + 1)};
    }
    return std::nullopt;
}

//! POST /v1beta/models/{model}:generateContent, :streamGenerateContent and :countTokens. The
//! route named in logs and metrics has "{model}" in place of the model (bounded labels) and
//! never the query, which may hold the key.
void serve_gemini(const Gateway& gateway, const GeminiRoute& route, ApiCall call,
                  const wire::RequestHead& head, ResponseWriter& out) {
    if (auto key = head.header("x-goog-api-key"); !key.empty())
        call.api_key = std::string(key);
    else if (auto query_key = query_param(head.target, "key"); query_key && !query_key->empty())
        call.api_key = std::move(*query_key);
    call.route = std::string(route.prefix) + "{model}:" + std::string(route.method);
    call.path_model = route.model;
    if (route.model.empty())
        return send_error(ClientProtocol::gemini,
                          core::Error::invalid("the URL names no model: use "
                                               "/v1beta/models/{model}:generateContent"),
                          out);
    if (route.method == "generateContent") return gateway.handle(call, out);
    if (route.method == "streamGenerateContent") {
        if (query_param(head.target, "alt") != "sse")
            return send_error(
                ClientProtocol::gemini,
                core::Error::invalid("streamGenerateContent is served as server-sent events "
                                     "only: add alt=sse to the query (?alt=sse); the JSON-array "
                                     "stream is not supported by this gateway"),
                out);
        call.path_stream = true;
        return gateway.handle(call, out);
    }
    if (route.method == "countTokens") return gateway.count_tokens(call, out);
    send_error(ClientProtocol::gemini,
               core::Error{core::ErrorKind::not_found,
                           "no method '" + std::string(route.method) +
                               "' on a model: this gateway serves generateContent, "
                               "streamGenerateContent (?alt=sse) and countTokens",
                           {}},
               out);
}

}  // namespace

//! The listening socket, the epoll set, the workers, the connections and the routes.
struct HttpServer::Loop {
    Loop(const ServerOptions& options, const Gateway& gateway, const AdminApi* admin,
         Metrics& metrics, const std::atomic<bool>& draining)
        : options_(options),
          gateway_(gateway),
          admin_(admin),
          metrics_(metrics),
          draining_(draining) {}

    ~Loop() { stop(); }

    core::Result<void> listen(const std::string& host, int port);
    void start();
    //! Stops accepting; idle keep-alive connections are closed, busy ones after their request.
    void stop_accepting();
    //! Cuts every connection off (their writes fail, their handlers end).
    void cut_connections();
    //! Stops the workers (after their current request) and closes everything.
    void stop();
    int port() const { return port_; }

  private:
    //! A carrier got an event for one of our descriptors: the listener, or a connection with
    //! (the start of) a request, served on a fiber.
    void on_event(void* tag);
    void accept_all();
    void reaper();
    void serve(Connection* c);
    //! What happens to a connection after its request.
    enum class Next {
        serve,           //!< keep it open for the next request
        close,           //!< the request was read whole (or the client is gone): close now
        close_lingering  //!< answered before the request was read whole: see linger_close
    };
    //! Serves one request whose head is complete.
    Next serve_request(Connection* c, const wire::RequestHead& head, size_t head_bytes);
    void route(const wire::RequestHead& head, std::shared_ptr<std::string> body,
               const std::string& ip, SocketResponseWriter& out);
    bool rearm(Connection* c);
    //! For a connection from a trusted proxy: the client it forwards the request for (the
    //! address the request is served, limited and logged under), or the proxy's own.
    std::string client_ip(const Connection* c, const wire::RequestHead& head) const;
    void close_connection(Connection* c);
    //! Closes a connection whose client may still be sending a request we answered early (an
    //! error before its whole head or body was read). Closing a socket with unread bytes makes
    //! the kernel send a reset, and the client's stack may then drop our answer before the client
    //! read it. So, as careful servers do: stop sending (FIN), read and drop what still comes, for
    //! at most kLingerMs and kLingerBytes, parked on the fiber like any other wait, then close.
    void linger_close(Connection* c);
    //! Reads what is available (waiting up to `timeout_ms` when nothing is): >0 bytes read,
    //! 0 end of stream or error, -1 nothing available (timeout_ms == 0) or timed out.
    static ssize_t read_some(int fd, std::string& into, int timeout_ms);
    int64_t header_timeout_ms() const {
        return static_cast<int64_t>(options_.header_timeout_seconds) * 1000;
    }

    const ServerOptions& options_;
    const Gateway& gateway_;
    const AdminApi* admin_;
    Metrics& metrics_;
    const std::atomic<bool>& draining_;

    std::unique_ptr<EventLoop> events_;
    int epoll_fd_ = -1;  // events_'s
    int listen_fd_ = -1;
    int port_ = 0;
    std::mutex listen_mutex_;         // accept vs closing the listener
    alignas(8) char listen_tag_ = 0;  // epoll data of our own descriptors are even pointers

    std::atomic<bool> stopping_{false};

    std::mutex registry_mutex_;
    Connection* connections_ = nullptr;

    std::thread reaper_;
    std::mutex reaper_mutex_;
    std::condition_variable reaper_wake_;
    bool started_ = false;
    bool stopped_ = false;
};

core::Result<void> HttpServer::Loop::listen(const std::string& host, int port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (int rc =
            ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
        rc != 0)
        return core::Error{core::ErrorKind::unavailable,
                           std::string(gai_strerror(rc)) + " (check the host part of --listen)",
                           {}};
    std::string last_error = "no address";
    for (addrinfo* a = found; a; a = a->ai_next) {
        int fd =
            ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            last_error = std::strerror(errno);
            continue;
        }
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (::bind(fd, a->ai_addr, a->ai_addrlen) == 0 && ::listen(fd, options_.backlog) == 0) {
            listen_fd_ = fd;
            break;
        }
        last_error = std::strerror(errno);
        ::close(fd);
    }
    ::freeaddrinfo(found);
    if (listen_fd_ < 0)
        return core::Error{
            core::ErrorKind::unavailable,
            last_error + " (is another process using the port? choose another with --listen)",
            {}};
    sockaddr_storage bound{};
    socklen_t len = sizeof bound;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &len);
    port_ = bound.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&bound)->sin6_port)
                                        : ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);

    EventLoop::Options eo;
    eo.carriers = options_.carriers;
    eo.max_carriers = options_.max_threads;
    eo.stack_bytes = static_cast<size_t>(options_.stack_kib) * 1024;
    events_ = std::make_unique<EventLoop>(eo, [this](void* tag) { on_event(tag); });
    if (auto opened = events_->open(); !opened) return opened;
    epoll_fd_ = events_->epoll_fd();
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = &listen_tag_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &ev);
    return {};
}

void HttpServer::Loop::start() {
    started_ = true;
    events_->start();
    reaper_ = std::thread([this] { reaper(); });
}

void HttpServer::Loop::on_event(void* tag) {
    if (tag == &listen_tag_) return accept_all();
    auto* c = static_cast<Connection*>(tag);
    events_->run_on_fiber([this, c] { serve(c); });
}

void HttpServer::Loop::accept_all() {
    std::lock_guard lock(listen_mutex_);
    if (listen_fd_ < 0) return;
    for (;;) {
        sockaddr_storage peer{};
        socklen_t len = sizeof peer;
        int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&peer), &len,
                           SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EMFILE || errno == ENFILE) {
                core::log(core::LogLevel::warn, "cannot accept: out of file descriptors",
                          {{"error", std::strerror(errno)}});
                std::this_thread::sleep_for(std::chrono::milliseconds(20));
            }
            break;  // EAGAIN: nothing more to accept
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        auto* c = new Connection;
        c->fd = fd;
        char ip[INET6_ADDRSTRLEN] = {0};
        if (peer.ss_family == AF_INET)
            ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(&peer)->sin_addr, ip, sizeof ip);
        else if (peer.ss_family == AF_INET6)
            ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(&peer)->sin6_addr, ip,
                        sizeof ip);
        c->ip = ip;
        c->peer_trusted = options_.trusted_proxies.trusts(c->ip);
        // The first head is due from the opening of the connection (a connection that never
        // sends a whole head is no idle keep-alive connection).
        c->head_deadline_ms = now_ms() + header_timeout_ms();
        {
            std::lock_guard reg(registry_mutex_);
            c->next = connections_;
            if (connections_) connections_->prev = c;
            connections_ = c;
        }
        metrics_.connection_opened();
        c->last_active_ms = now_ms();
        c->state = Connection::armed;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
        ev.data.ptr = c;
        if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) close_connection(c);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.ptr = &listen_tag_;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, listen_fd_, &ev);
}

bool HttpServer::Loop::rearm(Connection* c) {
    c->last_active_ms = now_ms();
    c->state = Connection::armed;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;
    ev.data.ptr = c;
    return ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, c->fd, &ev) == 0;
}

void HttpServer::Loop::close_connection(Connection* c) {
    {
        std::lock_guard reg(registry_mutex_);
        if (c->prev)
            c->prev->next = c->next;
        else
            connections_ = c->next;
        if (c->next) c->next->prev = c->prev;
    }
    metrics_.connection_closed();
    ::close(c->fd);
    delete c;
}

void HttpServer::Loop::linger_close(Connection* c) {
    ::shutdown(c->fd, SHUT_WR);
    char sink[kReadChunk];
    size_t drained = 0;
    const int64_t deadline = now_ms() + kLingerMs;
    while (drained < kLingerBytes) {
        const ssize_t n = ::recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) {
            drained += static_cast<size_t>(n);
            continue;
        }
        if (n == 0) break;  // the client read our answer and closed
        const int err = core::fresh_errno();
        if (err == EINTR) continue;
        if (err != EAGAIN && err != EWOULDBLOCK) break;
        const int64_t left = deadline - now_ms();
        if (left <= 0 || !wait_ready(c->fd, POLLIN, static_cast<int>(left))) break;
    }
    close_connection(c);
}

ssize_t HttpServer::Loop::read_some(int fd, std::string& into, int timeout_ms) {
    // Into a stack buffer, then appended: growing the string first would zero-fill 16 KiB.
    char buf[kReadChunk];
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n > 0) {
            into.append(buf, static_cast<size_t>(n));
            return n;
        }
        const int err = n < 0 ? core::fresh_errno() : 0;
        if (n < 0 && err == EINTR) continue;
        if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
            const int64_t left = deadline - now_ms();
            // A wake-up may be spurious: read again, and wait again for what is left.
            if (timeout_ms > 0 && left > 0 && wait_ready(fd, POLLIN, static_cast<int>(left)))
                continue;
            return -1;
        }
        return 0;
    }
}

void HttpServer::Loop::serve(Connection* c) {
    c->state = Connection::owned;
    for (;;) {
        wire::RequestHead head;
        wire::ParseResult parsed;
        for (;;) {
            if (!c->in.empty()) {
                parsed = wire::parse_request_head(c->in, head, kMaxHeadBytes);
                if (parsed.status != wire::ParseStatus::incomplete) break;
            }
            ssize_t n = read_some(c->fd, c->in, 0);
            if (n == 0) return close_connection(c);  // closed by the client, or reset
            if (n < 0) {                             // nothing more yet: wait in epoll
                // Part of a head is here: all of it is due within the header timeout, however
                // the rest trickles in (the reaper closes the connection at the deadline).
                if (!c->in.empty() && c->head_deadline_ms.load() == 0)
                    c->head_deadline_ms = now_ms() + header_timeout_ms();
                if (!rearm(c)) close_connection(c);
                return;
            }
        }
        c->head_deadline_ms = 0;
        if (parsed.status == wire::ParseStatus::invalid) {
            {
                SocketResponseWriter out(c->fd, false, false, false);
                send_json_error(out, ClientProtocol::anthropic_messages, parsed.error_status,
                                core::ErrorKind::invalid_request, parsed.error);
                out.finish();
            }
            return linger_close(c);
        }
        const Next next = serve_request(c, head, parsed.head_bytes);
        if (next == Next::close_lingering) return linger_close(c);
        if (next == Next::close || draining_.load()) return close_connection(c);
        if (c->in.empty()) {
            if (!rearm(c)) close_connection(c);
            return;
        }
        // Pipelined: the next request is already (partly) here.
    }
}

HttpServer::Loop::Next HttpServer::Loop::serve_request(Connection* c, const wire::RequestHead& head,
                                                       size_t head_bytes) {
    const bool head_only = head.method == "HEAD";
    SocketResponseWriter out(c->fd, head_only, head.minor_version == 0,
                             head.keep_alive && !draining_.load());
    const size_t max_body = options_.max_body_bytes;
    auto too_large = [&] {
        out.force_close();  // the rest of the body is never read
        send_json_error(out, protocol_for_path(head.path), 413, core::ErrorKind::request_too_large,
                        "request body exceeds " + std::to_string(max_body / (1024 * 1024)) +
                            " MiB: shorten the conversation or raise server.max_body_mib");
        return Next::close_lingering;
    };

    auto body = std::make_shared<std::string>();
    std::string after;  // bytes of the next request read together with this body
    size_t consumed = head_bytes;
    std::string_view available(c->in);
    available.remove_prefix(head_bytes);

    auto send_continue = [&] {
        if (head.expect_continue && head.minor_version == 1)
            return send_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n");
        return true;
    };

    if (head.chunked) {
        wire::ChunkedBodyDecoder decoder;
        std::string_view rest = available;
        auto malformed = [&] {
            out.force_close();
            send_json_error(out, protocol_for_path(head.path), 400,
                            core::ErrorKind::invalid_request,
                            "malformed chunked request body: " + decoder.error());
            return Next::close_lingering;
        };
        if (!decoder.feed(rest, *body)) return malformed();
        consumed = c->in.size() - rest.size();
        if (!decoder.done()) {
            if (!send_continue()) return Next::close;
            std::string more;
            while (!decoder.done()) {
                if (body->size() > max_body) return too_large();
                more.clear();
                if (read_some(c->fd, more, kBodyIdleTimeoutMs) <= 0) return Next::close;
                std::string_view in(more);
                if (!decoder.feed(in, *body)) return malformed();
                after.assign(in);
            }
        }
        if (body->size() > max_body) return too_large();
    } else if (head.content_length > 0) {
        if (static_cast<uint64_t>(head.content_length) > max_body) return too_large();
        const size_t want = static_cast<size_t>(head.content_length);
        const size_t here = std::min(want, available.size());
        body->reserve(want);
        body->assign(available.substr(0, here));
        consumed = head_bytes + here;
        if (body->size() < want) {
            if (!send_continue()) return Next::close;
            while (body->size() < want) {
                std::string& b = *body;
                const size_t old = b.size();
                b.resize(want);
                ssize_t n = ::recv(c->fd, b.data() + old, want - old, 0);
                if (n > 0) {
                    b.resize(old + static_cast<size_t>(n));
                    continue;
                }
                b.resize(old);
                const int err = n < 0 ? core::fresh_errno() : 0;
                if (n < 0 && err == EINTR) continue;
                if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK) &&
                    wait_ready(c->fd, POLLIN, kBodyIdleTimeoutMs))
                    continue;
                return Next::close;  // the client went away or stalled mid-body
            }
        }
    }

    std::string forwarded_for;  // only behind a trusted proxy: the peer is otherwise the client
    route(head, std::move(body), c->peer_trusted ? (forwarded_for = client_ip(c, head)) : c->ip,
          out);
    out.finish();
    // The head's views point into c->in: drop the request only now.
    c->in.erase(0, consumed);
    c->in += after;
    return out.reusable() ? Next::serve : Next::close;
}

std::string HttpServer::Loop::client_ip(const Connection* c, const wire::RequestHead& head) const {
    auto client = options_.trusted_proxies.client_behind(c->ip, head);
    if (!client.problem.empty())
        core::log(core::LogLevel::warn,
                  "forwarding headers from a trusted proxy not believed: the request is served "
                  "under the proxy's own address",
                  {{"proxy", c->ip}, {"error", client.problem}});
    return std::move(client.ip);
}

void HttpServer::Loop::route(const wire::RequestHead& head, std::shared_ptr<std::string> body,
                             const std::string& ip, SocketResponseWriter& out) {
    const std::string_view path = head.path;
    const std::string_view method = head.method;
    const bool post = method == "POST";

    // The head's headers, read in place by request_header (nothing is copied per request).
    const HeadHeaders client_headers(head);
    auto model_call = [&](ClientProtocol protocol) {
        ApiCall call;
        call.headers = &client_headers;
        call.protocol = protocol;
        call.route = std::string(path);
        call.api_key = presented_key(head);
        call.client_ip = ip;
        call.session_id = std::string(head.header("x-claude-code-session-id"));
        call.body = std::move(body);
        return call;
    };
    if (post && path == "/v1/messages")
        return gateway_.handle(model_call(ClientProtocol::anthropic_messages), out);
    if (post && path == "/v1/chat/completions")
        return gateway_.handle(model_call(ClientProtocol::openai_chat), out);
    if (post && path == "/v1/responses")
        return gateway_.handle(model_call(ClientProtocol::openai_responses), out);
    if (post && path == "/v1/messages/count_tokens")
        return gateway_.count_tokens(model_call(ClientProtocol::anthropic_messages), out);
    if (auto gemini = gemini_route(path); gemini && post)
        return serve_gemini(gateway_, *gemini, model_call(ClientProtocol::gemini), head, out);
    if (path == "/v1/models" && method == "GET") {
        // Anthropic clients send anthropic-version (and usually x-api-key); OpenAI clients a
        // Bearer key.
        const bool anthropic = head.has("anthropic-version") || head.has("x-api-key");
        return gateway_.list_models(model_call(anthropic ? ClientProtocol::anthropic_messages
                                                         : ClientProtocol::openai_chat),
                                    out);
    }
    if (admin_ && (path == "/admin/api" || path.rfind("/admin/api/", 0) == 0)) {
        auto call = make_admin_call(method, head.target, head.header("authorization"),
                                    std::move(*body), ip, head.header("cookie"),
                                    head.header("x-csrf-token"), head.header("x-forwarded-proto"));
        if (!call) {
            core::Json e{
                {"error", {{"type", "invalid_request_error"}, {"message", call.error().message}}}};
            return out.send(400, "application/json", e.dump());
        }
        // Database work inside marks itself as blocking; password checks park on their pool.
        return admin_->handle(call.value(), out);
    }
    if (path == "/admin" || path.starts_with("/admin/")) {
        const PanelRequest panel{method, path, head.header("if-none-match"),
                                 head.header("accept-encoding")};
        if (options_.panel) return options_.panel->serve(panel, out);
        return PanelAssets::serve_unavailable(panel, options_.panel_problem, out);
    }
    if (path == "/healthz") {
        const bool draining = draining_.load();
        return out.send(draining ? 503 : 200, "application/json",
                        draining ? R"({"status":"draining"})" : R"({"status":"ok"})");
    }
    if (path == "/metrics")
        return out.send(200, "text/plain; version=0.0.4", metrics_.prometheus_text());
    if (path == "/" && (method == "GET" || method == "HEAD"))
        return out.send(200, "application/json", R"({"name":"tianshu","status":"ok"})");

    const bool known = path == "/v1/messages" || path == "/v1/chat/completions" ||
                       path == "/v1/messages/count_tokens" || path == "/v1/models" ||
                       path == "/v1/responses";
    const auto protocol = protocol_for_path(path);
    if (known) {
        const std::string allowed = path == "/v1/models" ? "GET" : "POST";
        out.set_header("Allow", allowed);
        return send_json_error(out, protocol, 405, core::ErrorKind::invalid_request,
                               "method " + std::string(method) + " is not allowed on " +
                                   std::string(path) + ": use " + allowed);
    }
    send_error(protocol,
               core::Error{core::ErrorKind::not_found,
                           "no route " + std::string(method) + " " + std::string(path) +
                               ": the model API is POST /v1/messages (Anthropic) and POST "
                               "/v1/chat/completions (OpenAI)"
                               "; POST /v1/responses (OpenAI Responses)",
                           {}},
               out);
}

void HttpServer::Loop::reaper() {
    std::unique_lock lock(reaper_mutex_);
    while (!stopping_.load()) {
        reaper_wake_.wait_for(lock, std::chrono::milliseconds(draining_.load() ? 50 : 1000));
        if (stopping_.load()) break;
        const int64_t idle_limit = static_cast<int64_t>(options_.keep_alive_seconds) * 1000;
        const int64_t now = now_ms();
        const bool draining = draining_.load();
        std::lock_guard reg(registry_mutex_);
        for (Connection* c = connections_; c; c = c->next) {
            if (c->reaped || c->state.load() != Connection::armed) continue;
            const int64_t head_deadline = c->head_deadline_ms.load();
            if (draining || now - c->last_active_ms.load() > idle_limit ||
                (head_deadline != 0 && now >= head_deadline)) {
                // The worker that wakes for it reads end-of-stream and closes it.
                ::shutdown(c->fd, SHUT_RDWR);
                c->reaped = true;
            }
        }
    }
}

void HttpServer::Loop::stop_accepting() {
    {
        std::lock_guard lock(listen_mutex_);
        if (listen_fd_ >= 0) {
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
            ::close(listen_fd_);
            listen_fd_ = -1;
        }
    }
    reaper_wake_.notify_all();
}

void HttpServer::Loop::cut_connections() {
    std::lock_guard reg(registry_mutex_);
    for (Connection* c = connections_; c; c = c->next) ::shutdown(c->fd, SHUT_RDWR);
}

void HttpServer::Loop::stop() {
    if (stopped_) return;
    stopped_ = true;
    stop_accepting();
    stopping_ = true;
    if (events_) events_->stop();
    {
        std::lock_guard lock(reaper_mutex_);
        reaper_wake_.notify_all();
    }
    if (reaper_.joinable()) reaper_.join();
    while (connections_) close_connection(connections_);
    events_.reset();
    epoll_fd_ = -1;
}

HttpServer::HttpServer(ServerOptions options, const pipeline::RuntimeConfigHolder& config,
                       Metrics& metrics, GatewayServices services)
    : options_(std::move(options)), config_(config), metrics_(metrics), services_(services) {}

HttpServer::~HttpServer() {
    if (loop_) shutdown(0);
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
    heartbeat_ =
        std::make_unique<StreamHeartbeat>(std::chrono::milliseconds(options_.stream_ping_ms));
    services_.heartbeat = heartbeat_.get();
    gateway_ = std::make_unique<Gateway>(config_, metrics_, services_);
    auto loop = std::make_unique<Loop>(options_, *gateway_, services_.admin, metrics_, draining_);
    if (auto listening = loop->listen(host, port); !listening) {
        auto e = listening.take_error();
        e.message = "cannot listen on " + options_.listen + ": " + e.message;
        return e;
    }
    port_ = loop->port();
    loop->start();
    loop_ = std::move(loop);
    return {};
}

int64_t HttpServer::shutdown(int drain_seconds) {
    if (!loop_) return 0;
    draining_ = true;
    // Stop accepting; keep-alive connections close after their current request.
    loop_->stop_accepting();
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(drain_seconds);
    while (metrics_.in_flight() > 0 && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int64_t cut = metrics_.in_flight();
    if (cut > 0) loop_->cut_connections();
    loop_->stop();
    loop_.reset();
    return cut;
}

}  // namespace tianshu::server
