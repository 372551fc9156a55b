// The https side of the fiber-aware upstream client against an OpenSSL server on 127.0.0.1
// (certificates made by tests/scripts/make_tls_certs.sh with the openssl CLI): keep-alive
// connections are pooled per origin, a new connection resumes the origin's last TLS session,
// and a certificate that does not verify is an upstream error saying why.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/ssl.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "upstream/http_client.hpp"
#include "upstream/plain_http_client.hpp"

using namespace tianshu;
using upstream::HttpRequestSpec;
using upstream::HttpResponseHead;
using upstream::PlainHttpClient;
namespace fs = std::filesystem;

namespace {

//! A fresh folder, removed at exit.
struct CertDir {
    fs::path root;
    CertDir() {
        char tmpl[] = "/tmp/tianshu-tls-unit.XXXXXX";
        const char* made = ::mkdtemp(tmpl);
        REQUIRE(made);
        root = made;
    }
    ~CertDir() {
        std::error_code ignored;
        fs::remove_all(root, ignored);
    }
};

//! The test certificates, made once per run.
const fs::path& certs() {
    static const CertDir dir;
    static const fs::path made = [] {
        const fs::path d = dir.root / "certs";
        const std::string cmd = std::string("bash '") + TIANSHU_SOURCE_DIR +
                                "/tests/scripts/make_tls_certs.sh' '" + d.string() +
                                "' >/dev/null 2>&1";
        REQUIRE(std::system(cmd.c_str()) == 0);
        return d;
    }();
    return made;
}

//! A TLS HTTP/1.1 server on 127.0.0.1, a thread per connection: each request
//! ("GET /keep" or "GET /close") is answered "hello"; /close then closes the connection.
class TlsServer {
  public:
    explicit TlsServer(const std::string& cert_name) {
        ::signal(SIGPIPE, SIG_IGN);
        ctx_ = SSL_CTX_new(TLS_server_method());
        REQUIRE(ctx_);
        REQUIRE(SSL_CTX_use_certificate_chain_file(ctx_,
                                                   (certs() / (cert_name + ".pem")).c_str()) == 1);
        REQUIRE(SSL_CTX_use_PrivateKey_file(ctx_, (certs() / (cert_name + ".key")).c_str(),
                                            SSL_FILETYPE_PEM) == 1);
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(listen_fd_ >= 0);
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
    ~TlsServer() {
        stop_ = true;
        thread_.join();
        ::close(listen_fd_);
        SSL_CTX_free(ctx_);
    }
    std::string url(const std::string& host, const std::string& path) const {
        return "https://" + host + ":" + std::to_string(port_) + path;
    }
    int handshakes() const { return handshakes_; }
    int resumed() const { return resumed_; }
    int requests() const { return requests_; }

  private:
    void run() {
        while (!stop_) {
            pollfd p{listen_fd_, POLLIN, 0};
            if (::poll(&p, 1, 50) <= 0) continue;
            const int fd = ::accept(listen_fd_, nullptr, nullptr);
            if (fd < 0) continue;
            timeval tv{5, 0};
            ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            connections_.emplace_back([this, fd] {
                serve(fd);
                ::close(fd);
            });
        }
        for (auto& t : connections_) t.join();
    }
    void serve(int fd) {
        SSL* ssl = SSL_new(ctx_);
        SSL_set_fd(ssl, fd);
        if (SSL_accept(ssl) == 1) {
            ++handshakes_;
            if (SSL_session_reused(ssl)) ++resumed_;
            std::string in;
            char buf[4096];
            for (bool open = true; open && !stop_;) {
                const int n = SSL_read(ssl, buf, sizeof buf);
                if (n <= 0) break;
                in.append(buf, static_cast<size_t>(n));
                size_t end;
                while (open && (end = in.find("\r\n\r\n")) != std::string::npos) {
                    const bool close = in.rfind("GET /close", 0) == 0;
                    in.erase(0, end + 4);
                    ++requests_;
                    const std::string answer =
                        std::string("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n") +
                        (close ? "Connection: close\r\n" : "") + "\r\nhello";
                    SSL_write(ssl, answer.data(), static_cast<int>(answer.size()));
                    open = !close;
                }
            }
            SSL_shutdown(ssl);
        }
        SSL_free(ssl);
    }

    SSL_CTX* ctx_ = nullptr;
    int listen_fd_ = -1;
    int port_ = 0;
    std::thread thread_;
    std::vector<std::thread> connections_;  //!< one per accepted connection
    std::atomic<bool> stop_{false};
    std::atomic<int> handshakes_{0}, resumed_{0}, requests_{0};
};

struct Answer {
    core::Result<HttpResponseHead> head;
    std::string body;
};

Answer get(PlainHttpClient& client, const std::string& url, const std::string& ca_file) {
    HttpRequestSpec spec;
    spec.method = "GET";
    spec.url = url;
    spec.ca_file = ca_file;
    spec.channel = "unit-tls";
    spec.connect_timeout = std::chrono::milliseconds(5000);
    spec.first_byte_timeout = std::chrono::milliseconds(5000);
    spec.idle_timeout = std::chrono::milliseconds(5000);
    auto parsed = upstream::parse_https_url(url, ca_file);
    REQUIRE(parsed);
    std::string body;
    auto head = client.send(*parsed, spec, [&](const HttpResponseHead&, std::string_view chunk) {
        body.append(chunk);
        return true;
    });
    return {std::move(head), std::move(body)};
}

}  // namespace

TEST_CASE("tls client: keep-alive connections are reused and a new one resumes the session",
          "[upstream][tls]") {
    TlsServer server("good");
    PlainHttpClient client;
    const std::string ca = (certs() / "ca.pem").string();

    auto a = get(client, server.url("localhost", "/keep"), ca);
    INFO((a.head ? "" : a.head.error().message));
    REQUIRE(a.head);
    CHECK(a.head->status == 200);
    CHECK(a.body == "hello");
    CHECK(client.connections_opened() == 1);
    CHECK(client.idle_connections() == 1);
    CHECK(client.tls_sessions_resumed() == 0);

    // The pooled connection serves the next request: no new handshake.
    auto b = get(client, server.url("localhost", "/close"), ca);
    REQUIRE(b.head);
    CHECK(b.body == "hello");
    CHECK(client.connections_opened() == 1);
    CHECK(server.handshakes() == 1);
    CHECK(client.idle_connections() == 0);  // Connection: close

    // A new connection to the same origin resumes the session its server issued.
    auto c = get(client, server.url("localhost", "/keep"), ca);
    REQUIRE(c.head);
    CHECK(c.body == "hello");
    CHECK(client.connections_opened() == 2);
    CHECK(server.handshakes() == 2);
    CHECK(client.tls_sessions_resumed() == 1);
    CHECK(server.resumed() == 1);

    // The pool key holds the scheme, host and CA file: the same server by address is another
    // origin (a full handshake, its own pool).
    auto d = get(client, server.url("127.0.0.1", "/close"), ca);
    REQUIRE(d.head);
    CHECK(client.connections_opened() == 3);
    CHECK(server.resumed() == 1);
    CHECK(client.idle_connections() == 1);  // the localhost one
    CHECK(server.requests() == 4);
}

TEST_CASE("tls client: a certificate that does not verify is an upstream error saying why",
          "[upstream][tls]") {
    PlainHttpClient client;
    const std::string ca = (certs() / "ca.pem").string();
    struct Case {
        std::string cert, host, ca_file, reason;
    };
    const std::vector<Case> cases{
        {"good", "localhost", "", "unable to get local issuer certificate"},  // system store
        {"wronghost", "localhost", ca, "hostname mismatch"},
        {"wronghost", "127.0.0.1", ca, "IP address mismatch"},
        {"expired", "localhost", ca, "certificate has expired"},
        {"selfsigned", "localhost", ca, "self-signed certificate"},
    };
    for (const auto& c : cases) {
        INFO(c.cert << " as " << c.host);
        TlsServer server(c.cert);
        auto a = get(client, server.url(c.host, "/keep"), c.ca_file);
        REQUIRE_FALSE(a.head);
        CHECK(a.head.error().kind == core::ErrorKind::upstream);
        CHECK_THAT(a.head.error().message, Catch::Contains(c.reason));
        CHECK_THAT(a.head.error().message, Catch::Contains("channel 'unit-tls'"));
        CHECK(server.requests() == 0);  // never a request without a verified peer
    }
    // A CA file that cannot be read names the option and the fix.
    TlsServer server("good");
    auto a = get(client, server.url("localhost", "/keep"), "/nonexistent/ca.pem");
    REQUIRE_FALSE(a.head);
    CHECK_THAT(a.head.error().message, Catch::Contains("options.ca_file '/nonexistent/ca.pem'"));
}
