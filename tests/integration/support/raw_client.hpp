#pragma once
// A client on a plain TCP socket, for tests that must decide exactly when a client stops
// reading or hangs up (an HTTP library reads ahead and closes when it likes). Header-only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::it {

//! One connection to 127.0.0.1:port; closed by hang_up() or the destructor.
class RawClient {
  public:
    explicit RawClient(int port) {
        fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<uint16_t>(port));
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error("cannot connect to 127.0.0.1:" + std::to_string(port));
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~RawClient() { hang_up(); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    //! POSTs `body` as JSON with `headers` (each "Name: value"), keep-alive.
    void post(const std::string& path, const std::vector<std::string>& headers,
              const std::string& body) {
        std::string req = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        for (const auto& h : headers) req += h + "\r\n";
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n\r\n" + body;
        std::string_view left = req;
        while (!left.empty()) {
            ssize_t n = ::send(fd_, left.data(), left.size(), MSG_NOSIGNAL);
            if (n <= 0) throw std::runtime_error("the server closed the connection mid-request");
            left.remove_prefix(static_cast<size_t>(n));
        }
    }

    //! Reads until `what` is among the bytes received; false at the end of the stream or after
    //! `timeout` without it.
    bool read_until(std::string_view what,
                    std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (received_.find(what) == std::string::npos) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0 || !fill(static_cast<int>(left.count()))) return false;
        }
        return true;
    }

    //! Reads until the server closes the connection (or `timeout` passes); true at its end.
    bool read_to_end(std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            char buf[16384];
            ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
            if (n <= 0) return n == 0;
            received_.append(buf, static_cast<size_t>(n));
        }
    }

    //! Closes the connection now, whatever the server is still sending.
    void hang_up() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
    }

    //! Everything received so far (head and body, as sent).
    const std::string& received() const { return received_; }

  private:
    bool fill(int ms) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, ms) <= 0) return false;
        char buf[16384];
        ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
        if (n <= 0) return false;
        received_.append(buf, static_cast<size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string received_;
};

}  // namespace tianshu::it
