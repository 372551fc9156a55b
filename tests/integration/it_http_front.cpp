// The HTTP front over raw sockets: what real clients and proxies do that the SDKs rarely show —
// pipelining, chunked request bodies, Expect: 100-continue, HTTP/1.0, HEAD, malformed and
// oversized heads, clients that vanish mid-body or trickle a head, errors answered to a client
// still sending, forwarding headers from trusted and untrusted peers — and that idle keep-alive
// connections cost no thread.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <thread>

#include "support/harness.hpp"

using namespace tianshu::it;

namespace {

struct Server {
    explicit Server(std::vector<std::string> serve_args = {})
        : gw{ServeOptions{dir / "data", builtin_plugins(), source_dir() / "scripts",
                          std::move(serve_args)}} {}
    TempDir dir{"front"};
    GatewayProcess gw;
    std::string key() const { return *gw.demo_key(); }
};

struct RawResponse {
    int status = 0;
    std::map<std::string, std::string> headers;  // lower-case names
    std::string body;
    bool chunked = false;
};

//! One TCP connection spoken to byte by byte.
class Raw {
  public:
    //! `from`: the loopback address to connect from (default 127.0.0.1).
    explicit Raw(int port, const char* from = nullptr) {
        fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        if (from) {
            sockaddr_in local{};
            local.sin_family = AF_INET;
            REQUIRE(::inet_pton(AF_INET, from, &local.sin_addr) == 1);
            REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
        }
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~Raw() { ::close(fd_); }
    Raw(const Raw&) = delete;
    Raw& operator=(const Raw&) = delete;

    void send(std::string_view bytes) {
        while (!bytes.empty()) {
            ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) return;  // the server closed: the read side tells
            bytes.remove_prefix(static_cast<size_t>(n));
        }
    }

    //! Reads more bytes into the buffer; false on end of stream or after `ms` without data.
    bool fill(int ms = 5000) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, ms) <= 0) return false;
        char buf[16384];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return false;
        buf_.append(buf, static_cast<size_t>(n));
        return true;
    }

    //! True when the server already dropped the connection (an end of stream, or a reset when
    //! we kept sending after it closed).
    bool closed_now() {
        char c;
        const ssize_t n = ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }

    //! True when the server closed the connection (end of stream within `ms`).
    bool closed_by_server(int ms = 5000) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, ms) <= 0) return false;
        char c;
        return ::recv(fd_, &c, 1, MSG_PEEK) == 0;
    }

    std::string line() {
        size_t end;
        while ((end = buf_.find("\r\n")) == std::string::npos) REQUIRE(fill());
        std::string l = buf_.substr(0, end);
        buf_.erase(0, end + 2);
        return l;
    }

    //! One response; `head_only` for a HEAD request (no body whatever Content-Length says).
    RawResponse response(bool head_only = false) {
        RawResponse r;
        std::string status = line();
        REQUIRE(status.rfind("HTTP/1.1 ", 0) == 0);
        r.status = std::stoi(status.substr(9, 3));
        for (std::string h = line(); !h.empty(); h = line()) {
            auto colon = h.find(':');
            std::string name = h.substr(0, colon);
            for (auto& ch : name)
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            r.headers[name] = h.substr(h.find_first_not_of(' ', colon + 1));
        }
        if (head_only || r.status == 100) return r;
        if (r.headers.count("transfer-encoding")) {
            r.chunked = true;
            for (;;) {
                size_t size = std::stoul(line(), nullptr, 16);
                if (size == 0) {
                    REQUIRE(line().empty());
                    break;
                }
                while (buf_.size() < size + 2) REQUIRE(fill());
                r.body += buf_.substr(0, size);
                buf_.erase(0, size + 2);
            }
        } else if (r.headers.count("content-length")) {
            size_t size = std::stoul(r.headers["content-length"]);
            while (buf_.size() < size) REQUIRE(fill());
            r.body = buf_.substr(0, size);
            buf_.erase(0, size);
        } else {
            while (fill()) {
            }
            r.body = std::move(buf_);
            buf_.clear();
        }
        return r;
    }

  private:
    int fd_ = -1;
    std::string buf_;
};

std::string count_body() {
    return R"({"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"count these words please"}]})";
}

std::string post(const std::string& path, const std::string& key, const std::string& body,
                 const std::string& extra = "") {
    return "POST " + path + " HTTP/1.1\r\nHost: t\r\nx-api-key: " + key +
           "\r\ncontent-type: application/json\r\n" + extra +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

int threads_of(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    for (std::string l; std::getline(status, l);)
        if (l.rfind("Threads:", 0) == 0) return std::stoi(l.substr(8));
    return -1;
}

}  // namespace

TEST_CASE("pipelined requests are answered in order on one connection", "[integration][front]") {
    Server s;
    Raw c(s.gw.port());
    c.send(post("/v1/messages/count_tokens", s.key(), count_body()) +
           "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" +
           post("/v1/messages", s.key(),
                R"({"model":"claude-sonnet-4-5","max_tokens":50,)"
                R"("messages":[{"role":"user","content":"hi"}]})"));
    auto first = c.response();
    CHECK(first.status == 200);
    CHECK(Json::parse(first.body)["input_tokens"].get<int>() > 0);
    auto second = c.response();
    CHECK(second.status == 200);
    CHECK(second.body == R"({"status":"ok"})");
    auto third = c.response();
    CHECK(third.status == 200);
    CHECK(Json::parse(third.body)["type"] == "message");
    // Still open for more.
    c.send("GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(c.response().status == 200);
}

TEST_CASE("a chunked request body, sent in pieces, equals the same body with Content-Length",
          "[integration][front]") {
    Server s;
    Raw plain(s.gw.port());
    plain.send(post("/v1/messages/count_tokens", s.key(), count_body()));
    auto expected = plain.response();
    REQUIRE(expected.status == 200);

    Raw c(s.gw.port());
    const std::string body = count_body();
    c.send("POST /v1/messages/count_tokens HTTP/1.1\r\nHost: t\r\nx-api-key: " + s.key() +
           "\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (size_t at = 0; at < body.size(); at += 17) {
        std::string piece = body.substr(at, 17);
        char size[16];
        std::snprintf(size, sizeof size, "%zx", piece.size());
        c.send(std::string(size) + ";ext=1\r\n" + piece + "\r\n");
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    c.send("0\r\nX-Trailer: yes\r\n\r\n");
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.body == expected.body);

    // A malformed chunk size is a 400 in the Anthropic shape, and the connection closes.
    Raw bad(s.gw.port());
    bad.send("POST /v1/messages/count_tokens HTTP/1.1\r\nHost: t\r\nx-api-key: " + s.key() +
             "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    auto refused = bad.response();
    CHECK(refused.status == 400);
    CHECK(is_anthropic_error(Json::parse(refused.body)));
    CHECK(bad.closed_by_server());
}

TEST_CASE("Expect: 100-continue gets its interim answer before the body is sent",
          "[integration][front]") {
    Server s;
    Raw c(s.gw.port());
    const std::string body = count_body();
    c.send("POST /v1/messages/count_tokens HTTP/1.1\r\nHost: t\r\nx-api-key: " + s.key() +
           "\r\nExpect: 100-continue\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n\r\n");
    auto interim = c.response();
    CHECK(interim.status == 100);
    c.send(body);
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(Json::parse(r.body)["input_tokens"].get<int>() > 0);
}

TEST_CASE(
    "malformed, oversized and unsupported requests get a clear error and a closed "
    "connection",
    "[integration][front]") {
    Server s;
    {
        Raw c(s.gw.port());
        c.send("THIS IS NOT HTTP\r\n\r\n");
        auto r = c.response();
        CHECK(r.status == 400);
        auto body = Json::parse(r.body);
        CHECK(is_anthropic_error(body));
        CHECK(body["error"]["message"].get<std::string>().find("request line") !=
              std::string::npos);
        CHECK(r.headers["connection"] == "close");
        CHECK(c.closed_by_server());
    }
    {
        // A NUL in a header value: another hop could cut the value there (smuggling).
        Raw c(s.gw.port());
        using namespace std::string_literals;
        c.send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Note: a\0b\r\n\r\n"s);
        auto r = c.response();
        CHECK(r.status == 400);
        auto body = Json::parse(r.body);
        CHECK(is_anthropic_error(body));
        CHECK(body["error"]["message"].get<std::string>().find("'X-Note'") != std::string::npos);
        CHECK(body["error"]["message"].get<std::string>().find("0x00") != std::string::npos);
        CHECK(c.closed_by_server());
    }
    {
        Raw c(s.gw.port());
        c.send("GET / HTTP/1.1\r\nX-Huge: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
        auto r = c.response();
        CHECK(r.status == 431);
        CHECK(Json::parse(r.body)["error"]["message"].get<std::string>().find("KiB") !=
              std::string::npos);
        CHECK(c.closed_by_server());
    }
    {
        // Declared larger than the 32 MiB limit: refused at once, in the caller's protocol.
        Raw c(s.gw.port());
        c.send("POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + s.key() +
               "\r\nContent-Length: 40000000\r\n\r\n{\"model\":");
        auto r = c.response();
        CHECK(r.status == 413);
        auto body = Json::parse(r.body);
        CHECK(is_openai_error(body));
        CHECK(body["error"]["message"].get<std::string>().find("MiB") != std::string::npos);
        CHECK(c.closed_by_server());
    }
    {
        Raw c(s.gw.port());
        c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n");
        CHECK(c.response().status == 501);
    }
    {
        Raw c(s.gw.port());
        c.send("GET / HTTP/2.0\r\n\r\n");
        CHECK(c.response().status == 505);
    }
    // The server is unharmed.
    Raw ok(s.gw.port());
    ok.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    CHECK(ok.response().status == 200);
}

TEST_CASE("an error answered before the request was read whole reaches a client still sending",
          "[integration][front]") {
    // Closing a socket with unread bytes sends a reset, and a reset can make the client's stack
    // drop the answer; the server must stop, answer, send FIN and drain instead. The client sees
    // the whole answer and then an orderly end of stream (a reset would fail closed_by_server).
    Server s;
    {
        // 100 KB of head, well over the 64 KiB limit, sent while the client also reads.
        Raw c(s.gw.port());
        std::thread sender([&] {
            c.send("GET / HTTP/1.1\r\nHost: t\r\n");
            for (int i = 0; i < 100; ++i)
                c.send("X-Pad-" + std::to_string(i) + ": " + std::string(1000, 'a') + "\r\n");
        });
        auto r = c.response();
        sender.join();
        CHECK(r.status == 431);
        CHECK(is_anthropic_error(Json::parse(r.body)));
        CHECK(r.headers["connection"] == "close");
        CHECK(c.closed_by_server());
    }
    {
        // A body declared over the 32 MiB limit, and 512 KiB of it sent anyway.
        Raw c(s.gw.port());
        std::thread sender([&] {
            c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: " + s.key() +
                   "\r\nContent-Length: 40000000\r\n\r\n");
            for (int i = 0; i < 32; ++i) c.send(std::string(16 * 1024, 'x'));
        });
        auto r = c.response();
        sender.join();
        CHECK(r.status == 413);
        CHECK(is_anthropic_error(Json::parse(r.body)));
        CHECK(c.closed_by_server());
    }
    {
        // A malformed chunked body, with more of it still coming.
        Raw c(s.gw.port());
        std::thread sender([&] {
            c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nx-api-key: " + s.key() +
                   "\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
            for (int i = 0; i < 32; ++i) c.send(std::string(16 * 1024, 'x'));
        });
        auto r = c.response();
        sender.join();
        CHECK(r.status == 400);
        CHECK(c.closed_by_server());
    }
}

TEST_CASE("HTTP/1.0, HEAD and Connection: close are honoured", "[integration][front]") {
    Server s;
    {
        Raw c(s.gw.port());
        c.send("GET /healthz HTTP/1.0\r\n\r\n");
        auto r = c.response();
        CHECK(r.status == 200);
        CHECK(r.headers["connection"] == "close");
        CHECK(c.closed_by_server());
    }
    {
        Raw c(s.gw.port());
        c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        auto r = c.response();
        CHECK(r.headers["connection"] == "keep-alive");
        c.send("GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(c.response().status == 200);
    }
    {
        // A streamed answer to an HTTP/1.0 client: no chunked framing; the close ends it.
        Raw c(s.gw.port());
        const std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,)"
                                 R"("messages":[{"role":"user","content":"hi"}]})";
        c.send("POST /v1/messages HTTP/1.0\r\nx-api-key: " + s.key() +
               "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
        auto r = c.response();
        CHECK(r.status == 200);
        CHECK_FALSE(r.chunked);
        CHECK(r.body.find("event: message_stop") != std::string::npos);
    }
    {
        Raw c(s.gw.port());
        c.send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n");
        auto head = c.response(/*head_only=*/true);
        CHECK(head.status == 200);
        CHECK(std::stoi(head.headers["content-length"]) > 0);
        auto get = c.response();  // parses only if HEAD sent no body
        CHECK(get.status == 200);
        CHECK(get.body.find("tianshu") != std::string::npos);
    }
    {
        Raw c(s.gw.port());
        c.send("GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        auto r = c.response();
        CHECK(r.headers["connection"] == "close");
        CHECK(c.closed_by_server());
    }
}

TEST_CASE("a stream is chunked and the connection serves the next request after it",
          "[integration][front]") {
    Server s;
    Raw c(s.gw.port());
    const std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":50,"stream":true,)"
                             R"("messages":[{"role":"user","content":"hi"}]})";
    c.send(post("/v1/messages", s.key(), body));
    auto r = c.response();
    CHECK(r.status == 200);
    CHECK(r.chunked);
    CHECK(r.headers["content-type"].find("text/event-stream") == 0);
    CHECK(r.body.find("event: message_start") != std::string::npos);
    CHECK(r.body.find("event: message_stop") != std::string::npos);
    c.send(post("/v1/messages/count_tokens", s.key(), count_body()));
    CHECK(c.response().status == 200);
}

TEST_CASE("clients that vanish mid-body or mid-head leave the server serving",
          "[integration][front]") {
    Server s;
    for (int i = 0; i < 20; ++i) {
        Raw c(s.gw.port());
        if (i % 2)
            c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n{\"mo");
        else
            c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Le");
    }
    Raw c(s.gw.port());
    c.send(post("/v1/messages/count_tokens", s.key(), count_body()));
    CHECK(c.response().status == 200);
}

TEST_CASE("idle keep-alive connections hold no thread", "[integration][front]") {
    Server s;
    const int before = threads_of(s.gw.pid());
    REQUIRE(before > 0);
    std::vector<std::unique_ptr<Raw>> idle;
    for (int i = 0; i < 300; ++i) {
        idle.push_back(std::make_unique<Raw>(s.gw.port()));
        idle.back()->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    }
    for (auto& c : idle) REQUIRE(c->response().status == 200);
    // 300 open keep-alive connections, all idle: the worker pool did not grow to match them.
    const int during = threads_of(s.gw.pid());
    INFO("threads before " << before << ", with 300 idle connections " << during);
    CHECK(during < before + 50);
    // And every one of them still works.
    for (auto& c : idle) c->send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
    for (auto& c : idle) CHECK(c->response().status == 200);
}

TEST_CASE("a head must arrive whole within the header timeout, however it trickles",
          "[integration][front]") {
    Server s({"--header-timeout-seconds", "1"});
    {
        // Part of a head, then silence: closed long before the 75 s keep-alive limit.
        Raw c(s.gw.port());
        c.send("POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Le");
        CHECK(c.closed_by_server(10000));
    }
    {
        // A slow loris: a byte every 200 ms resets no timer; the head's deadline stands. It
        // would take 60 s to finish this header line.
        Raw c(s.gw.port());
        c.send("GET /healthz HTTP/1.1\r\nX-Slow: ");
        bool closed = false;
        for (int i = 0; i < 300 && !closed; ++i) {
            c.send("a");
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            closed = c.closed_now();
        }
        CHECK(closed);
    }
    {
        // The header timeout is not the keep-alive limit: a connection idle between requests
        // stays open past it.
        Raw c(s.gw.port());
        c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK(c.response().status == 200);
        std::this_thread::sleep_for(std::chrono::milliseconds(3000));
        CHECK_FALSE(c.closed_now());
        c.send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
        CHECK(c.response().status == 200);
    }
    // The flag is checked.
    auto bad =
        run_cli({"serve", "--data", (s.dir / "other").string(), "--header-timeout-seconds", "0"});
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("--header-timeout-seconds '0'") != std::string::npos);
}

TEST_CASE("behind a trusted proxy the forwarded client address is the one limited and logged",
          "[integration][front]") {
    Server s({"--trusted-proxy", "127.0.0.1/32"});
    const std::string data = (s.dir / "data").string();
    REQUIRE(run_cli({"user", "add", "--name", "behind", "--data", data}).exit_code == 0);
    auto made = run_cli({"key", "create", "--user", "behind", "--name", "office", "--allow-ip",
                         "203.0.113.0/24", "--data", data});
    INFO(made.err);
    REQUIRE(made.exit_code == 0);
    const std::string key = last_line(made.out);
    const std::string body = R"({"model":"claude-sonnet-4-5","max_tokens":50,)"
                             R"("messages":[{"role":"user","content":"hi"}]})";
    auto ask = [&](const char* from, const std::string& forwarding) {
        Raw c(s.gw.port(), from);
        c.send(post("/v1/messages", key, body, forwarding));
        return c.response();
    };
    // The key becomes live once the server reloaded.
    REQUIRE(eventually(
        [&] { return ask("127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n").status == 200; },
        5000ms));

    // From the trusted proxy: the forwarded address is the client, right to left past it.
    CHECK(ask("127.0.0.1", "X-Forwarded-For: 198.51.100.1, 203.0.113.8, 127.0.0.1\r\n").status ==
          200);
    CHECK(ask("127.0.0.1", "Forwarded: for=\"203.0.113.9:4711\";proto=https\r\n").status == 200);
    auto denied = ask("127.0.0.1", "X-Forwarded-For: 198.51.100.1\r\n");
    CHECK(denied.status == 403);
    CHECK(denied.body.find("198.51.100.1") != std::string::npos);
    // From an untrusted peer the same headers are ignored: the peer is the client.
    auto spoofed = ask("127.0.0.2", "X-Forwarded-For: 203.0.113.7\r\n");
    CHECK(spoofed.status == 403);
    CHECK(spoofed.body.find("127.0.0.2") != std::string::npos);
    CHECK(ask("127.0.0.2", "Forwarded: for=203.0.113.7\r\n").status == 403);
    // A malformed header from the trusted proxy: its own address, and a log line saying why.
    auto garbled = ask("127.0.0.1", "X-Forwarded-For: 203.0.113.7, banana\r\n");
    CHECK(garbled.status == 403);
    CHECK(garbled.body.find("127.0.0.1") != std::string::npos);
    CHECK(s.gw.wait_for_log([](const Json& l) {
        return l.value("msg", "").find("trusted proxy") != std::string::npos &&
               l.value("error", "").find("'banana'") != std::string::npos &&
               l.value("proxy", "") == "127.0.0.1";
    }));

    // The admin API is given the same address (its API-key callers meet the key's IP lists).
    auto admin = [&](const char* from, const std::string& forwarding) {
        Raw c(s.gw.port(), from);
        c.send("GET /admin/api/users HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer " + key + "\r\n" +
               forwarding + "\r\n");
        return c.response();
    };
    auto admin_denied = admin("127.0.0.1", "X-Forwarded-For: 198.51.100.1\r\n");
    CHECK(admin_denied.status == 403);
    CHECK(admin_denied.body.find("may not be used from 198.51.100.1") != std::string::npos);
    CHECK(admin("127.0.0.2", "X-Forwarded-For: 203.0.113.7\r\n")
              .body.find("may not be used from 127.0.0.2") != std::string::npos);
    auto admin_allowed = admin("127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n");
    CHECK(admin_allowed.body.find("may not be used") == std::string::npos);  // past the IP lists
    CHECK(admin_allowed.status == 403);  // and refused only as no admin

    // The request log names the resolved client.
    REQUIRE(eventually([&] { return request_logs(s.gw).size() >= 7; }, 5000ms));
    auto logged = [&](const std::string& ip, int status) {
        return count_logs(request_logs(s.gw), [&](const Json& l) {
            return l.value("client_ip", "") == ip && l.value("status", 0) == status;
        });
    };
    CHECK(logged("203.0.113.8", 200) == 1);
    CHECK(logged("203.0.113.9", 200) == 1);
    CHECK(logged("198.51.100.1", 403) == 1);
    CHECK(logged("127.0.0.2", 403) == 2);
    CHECK(logged("127.0.0.1", 403) == 1);

    // The flag is checked: the entry and what to write instead.
    auto bad =
        run_cli({"serve", "--data", (s.dir / "other").string(), "--trusted-proxy", "127.0.0.1/8"});
    CHECK(bad.exit_code != 0);
    CHECK(bad.err.find("--trusted-proxy") != std::string::npos);
    CHECK(bad.err.find("127.0.0.0/8") != std::string::npos);
}
