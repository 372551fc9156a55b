#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <Poco/URI.h>
#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "upstream/http_client.hpp"
#include "upstream/plain_http_client.hpp"

using namespace tianshu;
using core::ErrorKind;
using std::chrono::milliseconds;
using upstream::HttpClientPool;
using upstream::HttpRequestSpec;
using upstream::HttpResponseHead;

namespace {

//! The server's side of one accepted connection, for scripts.
struct Peer {
    int fd = -1;
    //! One send of all the bytes.
    void write(std::string_view bytes) const {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return;
            bytes.remove_prefix(static_cast<size_t>(n));
        }
    }
    //! One send per byte, `gap` apart (TCP_NODELAY is on), so the client sees every split.
    void write_bytewise(std::string_view bytes, milliseconds gap) const {
        for (char c : bytes) {
            if (::send(fd, &c, 1, MSG_NOSIGNAL) != 1) return;
            std::this_thread::sleep_for(gap);
        }
    }
};

//! A scripted HTTP/1.1 server on 127.0.0.1: one thread, one connection at a time. It reads
//! each request (head and Content-Length body), records it and lets the script answer.
class ScriptedServer {
  public:
    //! Answers request `n` (counted from 0 over all connections); returns false to close the
    //! connection after answering.
    using Script = std::function<bool(const Peer& peer, const std::string& request, int n)>;

    explicit ScriptedServer(Script script) : script_(std::move(script)) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listen_fd_ >= 0);
        const int one = 1;
        ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listen_fd_, 16) == 0);
        socklen_t len = sizeof addr;
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~ScriptedServer() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
    }

    std::string url(const std::string& path) const {
        return "http://127.0.0.1:" + std::to_string(port_) + path;
    }
    uint16_t port() const { return port_; }
    int accepts() const { return accepts_; }
    std::vector<std::string> requests() const {
        std::lock_guard lock(mutex_);
        return requests_;
    }

  private:
    //! Waits up to 20 ms for `fd` to be readable; false when not (yet).
    static bool readable(int fd) {
        pollfd p{fd, POLLIN, 0};
        return ::poll(&p, 1, 20) > 0;
    }

    void run() {
        while (!stop_) {
            if (!readable(listen_fd_)) continue;
            const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            ++accepts_;
            const int one = 1;
            ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
            serve(fd);
            ::close(fd);
        }
    }

    void serve(int fd) {
        std::string pending;
        while (!stop_) {
            std::string request;
            if (!read_request(fd, pending, request)) return;
            int n;
            {
                std::lock_guard lock(mutex_);
                requests_.push_back(request);
                n = static_cast<int>(requests_.size()) - 1;
            }
            if (!script_(Peer{fd}, request, n)) return;
        }
    }

    //! One request from `fd` (bytes beyond it stay in `pending`); false at EOF or stop.
    bool read_request(int fd, std::string& pending, std::string& request) {
        size_t head_end = std::string::npos;
        size_t want = 0;
        while (!stop_) {
            if (head_end == std::string::npos) {
                head_end = pending.find("\r\n\r\n");
                if (head_end != std::string::npos) {
                    head_end += 4;
                    std::string lower = pending.substr(0, head_end);
                    for (char& c : lower) c = static_cast<char>(std::tolower(c));
                    const auto at = lower.find("\r\ncontent-length:");
                    const size_t length =
                        at == std::string::npos ? 0 : std::stoul(lower.substr(at + 17));
                    want = head_end + length;
                }
            }
            if (head_end != std::string::npos && pending.size() >= want) {
                request = pending.substr(0, want);
                pending.erase(0, want);
                return true;
            }
            if (!readable(fd)) continue;
            char buf[65536];
            const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) return false;
            pending.append(buf, static_cast<size_t>(n));
        }
        return false;
    }

    Script script_;
    int listen_fd_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<int> accepts_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> requests_;
    std::thread thread_;
};

//! A Content-Length answer with `body`.
std::string answer(const std::string& body, const std::string& extra_headers = "") {
    return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n" + extra_headers +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

//! What one send() produced.
struct Outcome {
    core::Result<HttpResponseHead> head = core::Error{};
    std::string body;
    int calls = 0;
};

Outcome send(HttpClientPool& pool, HttpRequestSpec spec, int stop_after_calls = 0) {
    Outcome out;
    out.head = pool.send(spec, [&](const HttpResponseHead& head, std::string_view chunk) {
        CHECK(head.status != 0);
        CHECK_FALSE(chunk.empty());
        out.body.append(chunk);
        ++out.calls;
        return stop_after_calls == 0 || out.calls < stop_after_calls;
    });
    return out;
}

HttpRequestSpec spec_for(const std::string& url, std::string body = "{}") {
    HttpRequestSpec spec;
    spec.url = url;
    spec.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer sk-up"}};
    spec.body = std::move(body);
    spec.connect_timeout = milliseconds(2000);
    spec.first_byte_timeout = milliseconds(5000);
    spec.idle_timeout = milliseconds(5000);
    return spec;
}

//! A port nothing listens on (bound, then closed).
uint16_t closed_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("http client: a Content-Length answer over plain http, and the request on the wire",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write(answer("hello upstream", "X-Request-Id: r-1\r\n"));
        return true;
    });
    HttpClientPool pool;
    auto r = send(pool, spec_for(server.url("/v1/chat/completions?beta=true"), "{\"a\":1}"));
    REQUIRE(r.head.ok());
    CHECK(r.head->status == 200);
    CHECK(r.body == "hello upstream");
    REQUIRE(r.head->headers.size() == 3);
    CHECK(r.head->headers[0].first == "Content-Type");
    CHECK(r.head->headers[1] == std::pair<std::string, std::string>("X-Request-Id", "r-1"));
    CHECK(r.head->header("x-request-id") == "r-1");
    CHECK(pool.idle_sessions() == 1);

    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK(requests[0] ==
          "POST /v1/chat/completions?beta=true HTTP/1.1\r\n"
          "Host: 127.0.0.1:" +
              std::to_string(server.port()) +
              "\r\n"
              "Content-Type: application/json\r\n"
              "Authorization: Bearer sk-up\r\n"
              "Content-Length: 7\r\n"
              "\r\n"
              "{\"a\":1}");
}

TEST_CASE("http client: a URL of unusual shape is normalised as Poco::URI does",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write(answer("ok"));
        return true;
    });
    HttpClientPool pool;
    auto spec = spec_for("http://LOCALHOST:" + std::to_string(server.port()) + "/a,b(c)");
    spec.method = "GET";
    spec.body.clear();
    auto r = send(pool, spec);
    REQUIRE(r.head.ok());
    CHECK(r.body == "ok");
    const auto requests = server.requests();
    REQUIRE(requests.size() == 1);
    CHECK_THAT(requests[0], Catch::StartsWith("GET /a%2Cb%28c%29 HTTP/1.1\r\nHost: localhost:"));
    CHECK_THAT(requests[0], Catch::EndsWith("Content-Length: 0\r\n\r\n"));
}

TEST_CASE("http client: a chunked answer split at every byte boundary", "[upstream][http_client]") {
    const std::string events = "data: {\"a\":\"b\"}\n\ndata: [DONE]\n\n";
    ScriptedServer server([&](const Peer& peer, const std::string&, int) {
        peer.write_bytewise(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "11\r\ndata: {\"a\":\"b\"}\n\n\r\n"
            "e\r\ndata: [DONE]\n\n\r\n"
            "0\r\n\r\n",
            milliseconds(1));
        return true;
    });
    HttpClientPool pool;
    auto r = send(pool, spec_for(server.url("/v1/chat/completions")));
    REQUIRE(r.head.ok());
    CHECK(r.body == events);
    CHECK(r.calls > 10);  // the bytes arrived one by one and were handed on as they came
    CHECK(pool.idle_sessions() == 1);
}

TEST_CASE("http client: chunk extensions and trailers; the connection stays usable",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5;name=value\r\nhello\r\n"
            "6 ; quoted=\"a;b\"\r\n world\r\n"
            "0;last\r\nX-Checksum: abc\r\nX-Other: 1\r\n\r\n");
        return true;
    });
    HttpClientPool pool;
    for (int i = 0; i < 2; ++i) {
        auto r = send(pool, spec_for(server.url("/x")));
        REQUIRE(r.head.ok());
        CHECK(r.body == "hello world");
        CHECK(r.calls == 1);  // one receive's worth, one call
    }
    CHECK(server.accepts() == 1);
    CHECK(server.requests().size() == 2);
}

TEST_CASE("http client: without length or chunking the body runs until the server closes",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ");
        std::this_thread::sleep_for(milliseconds(20));
        peer.write("second part");
        return false;
    });
    HttpClientPool pool;
    auto r = send(pool, spec_for(server.url("/x")));
    REQUIRE(r.head.ok());
    CHECK(r.body == "first part, second part");
    CHECK(pool.idle_sessions() == 0);
}

TEST_CASE("http client: a body the connection cuts before its declared end is marked cut",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string& request, int) {
        if (request.find("/length") != std::string::npos)
            peer.write("HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nhalf of it");
        else if (request.find("/chunked") != std::string::npos)
            peer.write(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n wo");
        else if (request.find("/whole") != std::string::npos)
            peer.write(answer("all of it"));
        else  // no length, no chunking: the body ends with the connection
            peer.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
        return false;
    });
    HttpClientPool pool;
    auto cut_length = send(pool, spec_for(server.url("/length")));
    REQUIRE(cut_length.head.ok());
    CHECK(cut_length.body == "half of it");
    CHECK(cut_length.head->cut);

    auto cut_chunked = send(pool, spec_for(server.url("/chunked")));
    REQUIRE(cut_chunked.head.ok());
    CHECK(cut_chunked.body == "hello wo");
    CHECK(cut_chunked.head->cut);

    auto whole = send(pool, spec_for(server.url("/whole")));
    REQUIRE(whole.head.ok());
    CHECK(whole.body == "all of it");
    CHECK_FALSE(whole.head->cut);

    auto until_close = send(pool, spec_for(server.url("/close")));
    REQUIRE(until_close.head.ok());
    CHECK(until_close.body == "until close");
    CHECK_FALSE(until_close.head->cut);
    CHECK(pool.idle_sessions() == 0);
}

TEST_CASE("http client: keep-alive connections are reused; Connection: close is honoured",
          "[upstream][http_client]") {
    // Read once per request: the client may have its answer (and the test may flip the flag)
    // before the script returns, and keep-or-close must match what the answer said.
    std::atomic<bool> say_close = false;
    ScriptedServer server([&](const Peer& peer, const std::string&, int) {
        const bool close = say_close;
        peer.write(answer("ok", close ? "Connection: close\r\n" : ""));
        return !close;
    });
    HttpClientPool pool;
    for (int i = 0; i < 3; ++i) {
        auto r = send(pool, spec_for(server.url("/x")));
        REQUIRE(r.head.ok());
        CHECK(r.body == "ok");
    }
    CHECK(server.accepts() == 1);
    CHECK(pool.idle_sessions() == 1);

    say_close = true;
    REQUIRE(send(pool, spec_for(server.url("/x"))).head.ok());
    CHECK(pool.idle_sessions() == 0);
    say_close = false;
    REQUIRE(send(pool, spec_for(server.url("/x"))).head.ok());
    CHECK(server.accepts() == 2);
}

TEST_CASE("http client: a pooled connection the server closed is replaced, once",
          "[upstream][http_client]") {
    SECTION("closed right after the answer: the next request retries on a fresh connection") {
        ScriptedServer server([](const Peer& peer, const std::string&, int) {
            peer.write(answer("ok"));
            return false;  // close without saying so
        });
        HttpClientPool pool;
        for (int i = 0; i < 3; ++i) {
            auto r = send(pool, spec_for(server.url("/x")));
            INFO((r.head.ok() ? "" : r.head.error().message));
            REQUIRE(r.head.ok());
            CHECK(r.body == "ok");
        }
        CHECK(server.accepts() == 3);
        CHECK(server.requests().size() == 3);  // each request reached the server exactly once
    }
    SECTION("closed while idle for a while: found closed before use") {
        ScriptedServer server([](const Peer& peer, const std::string&, int) {
            peer.write(answer("ok"));
            return false;
        });
        HttpClientPool pool;
        REQUIRE(send(pool, spec_for(server.url("/x"))).head.ok());
        CHECK(pool.idle_sessions() == 1);
        std::this_thread::sleep_for(milliseconds(1100));
        REQUIRE(send(pool, spec_for(server.url("/x"))).head.ok());
        CHECK(server.accepts() == 2);
    }
    SECTION("a server that never answers is tried once more, not again and again") {
        ScriptedServer server([](const Peer& peer, const std::string&, int n) {
            if (n == 0) peer.write(answer("ok"));
            return false;  // answers only the very first request
        });
        HttpClientPool pool;
        REQUIRE(send(pool, spec_for(server.url("/x"))).head.ok());
        auto r = send(pool, spec_for(server.url("/x")));
        REQUIRE_FALSE(r.head.ok());
        CHECK(r.head.error().kind == ErrorKind::upstream);
        CHECK_THAT(r.head.error().message,
                   Catch::Contains("127.0.0.1:" + std::to_string(server.port())) &&
                       Catch::Contains("closed the connection without answering"));
        CHECK(server.accepts() == 2);  // the pooled connection, then one fresh one
        CHECK(pool.idle_sessions() == 0);
    }
}

TEST_CASE("http client: first-byte and idle timeouts are timeout errors naming the wait",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string& request, int) {
        if (request.find("/slow-start") != std::string::npos) {
            std::this_thread::sleep_for(milliseconds(400));
            peer.write(answer("late"));
        } else {
            peer.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
            std::this_thread::sleep_for(milliseconds(400));
            peer.write("defghij");
        }
        return false;
    });
    HttpClientPool pool;
    auto spec = spec_for(server.url("/slow-start"));
    spec.first_byte_timeout = milliseconds(60);
    const auto at = std::chrono::steady_clock::now();
    auto r = send(pool, spec);
    REQUIRE_FALSE(r.head.ok());
    CHECK(std::chrono::steady_clock::now() - at < milliseconds(350));
    CHECK(r.head.error().kind == ErrorKind::timeout);
    CHECK_THAT(r.head.error().message, Catch::Contains("did not answer in time") &&
                                           Catch::Contains("first-byte timeout (60 ms)"));

    spec = spec_for(server.url("/stalls"));
    spec.idle_timeout = milliseconds(60);
    r = send(pool, spec);
    REQUIRE_FALSE(r.head.ok());
    CHECK(r.body == "abc");
    CHECK(r.head.error().kind == ErrorKind::timeout);
    CHECK_THAT(r.head.error().message, Catch::Contains("stopped sending mid-answer") &&
                                           Catch::Contains("idle timeout (60 ms)"));
    CHECK(pool.idle_sessions() == 0);
}

TEST_CASE("http client: the first-byte timeout bounds the whole head, not each receive",
          "[upstream][http_client]") {
    // Every byte of the head comes well within the timeout of the one before, but the whole
    // head takes ~20 x 40 ms: the wait ends at the deadline, not at the last byte.
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write_bytewise("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", milliseconds(20));
        return false;
    });
    HttpClientPool pool;
    auto spec = spec_for(server.url("/trickle"));
    spec.first_byte_timeout = milliseconds(150);
    const auto at = std::chrono::steady_clock::now();
    auto r = send(pool, spec);
    const auto took = std::chrono::steady_clock::now() - at;
    REQUIRE_FALSE(r.head.ok());
    CHECK(took >= milliseconds(140));
    CHECK(took < milliseconds(450));
    CHECK(r.head.error().kind == ErrorKind::timeout);
    CHECK_THAT(r.head.error().message, Catch::Contains("did not answer in time") &&
                                           Catch::Contains("first-byte timeout (150 ms)"));
    CHECK(pool.idle_sessions() == 0);
}

TEST_CASE("http client: a zero idle timeout does not wait for the body at all",
          "[upstream][http_client]") {
    // A socket timeout of zero would mean "wait for ever": the client must not set one.
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab");
        std::this_thread::sleep_for(milliseconds(300));
        peer.write("cd");
        return false;
    });
    HttpClientPool pool;
    auto spec = spec_for(server.url("/x"));
    spec.idle_timeout = milliseconds(0);
    const auto at = std::chrono::steady_clock::now();
    auto r = send(pool, spec);
    REQUIRE_FALSE(r.head.ok());
    CHECK(std::chrono::steady_clock::now() - at < milliseconds(250));
    CHECK(r.body == "ab");
    CHECK(r.head.error().kind == ErrorKind::timeout);
    CHECK_THAT(r.head.error().message, Catch::Contains("stopped sending mid-answer") &&
                                           Catch::Contains("idle timeout (0 ms)"));
}

TEST_CASE("http client: a refused port is an upstream error naming host and port",
          "[upstream][http_client]") {
    HttpClientPool pool;
    const uint16_t port = closed_port();
    auto r = send(pool, spec_for("http://127.0.0.1:" + std::to_string(port) + "/v1"));
    REQUIRE_FALSE(r.head.ok());
    CHECK(r.head.error().kind == ErrorKind::upstream);
    CHECK_THAT(r.head.error().message,
               Catch::Contains("http://127.0.0.1:" + std::to_string(port)) &&
                   Catch::Contains("refused") && Catch::Contains("check the channel's base URL"));

    auto unknown = send(pool, spec_for("http://no-such-host.invalid/v1"));
    REQUIRE_FALSE(unknown.head.ok());
    CHECK(unknown.head.error().kind == ErrorKind::upstream);
    CHECK_THAT(unknown.head.error().message, Catch::Contains("'no-such-host.invalid' not found"));
}

TEST_CASE("http client: reading ends quietly at read_until, also while the upstream is silent",
          "[upstream][http_client]") {
    // The gateway moves read_until from the sink when its client goes away; an upstream that
    // then stays silent is left at that time, not at its idle timeout, and is no error.
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        std::this_thread::sleep_for(milliseconds(400));
        peer.write("defghij");
        return false;
    });
    HttpClientPool pool;
    auto spec = spec_for(server.url("/x"));
    auto until = std::chrono::steady_clock::time_point::max();
    spec.read_until = &until;
    std::string body;
    auto head = pool.send(spec, [&](const HttpResponseHead&, std::string_view chunk) {
        body.append(chunk);
        until = std::chrono::steady_clock::now();  // the client left: read no further
        return true;
    });
    REQUIRE(head.ok());
    CHECK(body == "abc");
    CHECK(pool.idle_sessions() == 0);
}

TEST_CASE("http client: a sink that stops closes the connection instead of pooling it",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n");
        std::this_thread::sleep_for(milliseconds(30));
        peer.write("6\r\nsecond\r\n0\r\n\r\n");
        return true;
    });
    HttpClientPool pool;
    auto r = send(pool, spec_for(server.url("/x")), 1);
    REQUIRE(r.head.ok());
    CHECK(r.body == "first");
    CHECK(pool.idle_sessions() == 0);
    r = send(pool, spec_for(server.url("/x")));
    REQUIRE(r.head.ok());
    CHECK(r.body == "firstsecond");
    CHECK(server.accepts() == 2);
    CHECK(pool.idle_sessions() == 1);
}

TEST_CASE("http client: malformed answers are upstream errors saying what was malformed",
          "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string& request, int) {
        if (request.find("/bad-chunk") != std::string::npos)
            peer.write(
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                "5\r\nhello\r\nnot-hex\r\n");
        else
            peer.write("220 smtp.example.com ESMTP\r\n\r\n");
        return true;
    });
    HttpClientPool pool;
    auto r = send(pool, spec_for(server.url("/bad-chunk")));
    REQUIRE_FALSE(r.head.ok());
    CHECK(r.body == "hello");
    CHECK(r.head.error().kind == ErrorKind::upstream);
    CHECK_THAT(r.head.error().message,
               Catch::Contains("malformed HTTP response") && Catch::Contains("chunk size"));
    CHECK(pool.idle_sessions() == 0);

    r = send(pool, spec_for(server.url("/not-http")));
    REQUIRE_FALSE(r.head.ok());
    CHECK(r.head.error().kind == ErrorKind::upstream);
    CHECK_THAT(r.head.error().message, Catch::Contains("status line '220 smtp.example.com"));
}

TEST_CASE("http client: large request and response bodies", "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string& request, int) {
        const size_t body = request.size() - request.find("\r\n\r\n") - 4;
        peer.write(answer(std::string(300 * 1024, 'r') + std::to_string(body)));
        return true;
    });
    HttpClientPool pool;
    auto r = send(pool, spec_for(server.url("/x"), std::string(4 * 1024 * 1024, 'q')));
    REQUIRE(r.head.ok());
    CHECK(r.body == std::string(300 * 1024, 'r') + std::to_string(4 * 1024 * 1024));
    CHECK(pool.idle_sessions() == 1);
}

TEST_CASE("http client: a HEAD answer has no body", "[upstream][http_client]") {
    ScriptedServer server([](const Peer& peer, const std::string&, int) {
        peer.write("HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
        return true;
    });
    HttpClientPool pool;
    auto spec = spec_for(server.url("/x"), "");
    spec.method = "HEAD";
    for (int i = 0; i < 2; ++i) {
        auto r = send(pool, spec);
        REQUIRE(r.head.ok());
        CHECK(r.head->header("content-length") == "1234");
        CHECK(r.calls == 0);
    }
    CHECK(server.accepts() == 1);
}

TEST_CASE("plain http URLs parse to exactly what Poco::URI gives", "[upstream][http_client]") {
    using upstream::parse_plain_http_url;
    // The shapes channels use take the fast path...
    for (const char* url :
         {"http://127.0.0.1:8080/v1/chat/completions", "http://localhost/v1",
          "http://API.Example.com:80/v1/messages?beta=true&x=%41", "http://h:65535", "http://h/v1/",
          "http://h/~a_b-c.d/e:f@g&h=i+j;k", "http://h/x?", "http://h:0080/x",
          "http://my_host.internal:9000/openai/v1?api-version=2024-10-21"}) {
        INFO(url);
        const auto fast = parse_plain_http_url(url);
        REQUIRE(fast);
        const Poco::URI uri(url);
        CHECK(fast->host == uri.getHost());
        CHECK(fast->port == uri.getPort());
        const std::string target = uri.getPathAndQuery();
        CHECK(fast->target == (target.empty() ? "/" : target));
        CHECK(fast->origin == uri.getHost() + ":" + std::to_string(uri.getPort()));
    }
    // ...anything Poco would rewrite is left to Poco.
    for (const char* url :
         {"https://h/v1", "HTTP://h/", "http://u:p@h/", "http://[::1]:80/", "http://h/a,b",
          "http://h/a%41", "http://h/a b", "http://h?x=1", "http://h/x#frag", "http://h:0/",
          "http://h:/x", "http://h:99999/", "http:///x", "http://h:80x/"}) {
        INFO(url);
        CHECK_FALSE(parse_plain_http_url(url));
    }
}
