// Client for the login-storm benchmark: the storm, and the model-path probe.
//
//   storm_client storm --port P [--first 2] [--last 51] [--conns-per-address 2] [--rate 200]
//                      [--seconds 5] [--password WRONG]
//     POST /admin/api/login with a random name and a wrong password over keep-alive
//     connections, each bound to a loopback address 127.0.0.FIRST ... 127.0.0.LAST, paced to
//     RATE attempts a second in all (each connection sends its next attempt only after the
//     answer to its last one, so at most one attempt per connection is in flight). At the end
//     prints `STORM sent=N answered=N s201=.. s401=.. s429=.. s503=.. other=.. errors=..`.
//
//   storm_client probe --port P --body FILE --key KEY [--seconds 5] [--out FILE]
//     POST /v1/messages one after another on one keep-alive connection (c=1) for SECONDS,
//     writing each response time in microseconds, one a line, to FILE (or stdout); prints
//     `PROBE n=N non200=N` on stderr.
//
// Blocking sockets, a thread per storm connection. Connects to 127.0.0.1 only.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::map<std::string, std::string> parse_flags(int argc, char** argv) {
    std::map<std::string, std::string> f;
    for (int i = 2; i + 1 < argc; i += 2) f[argv[i]] = argv[i + 1];
    return f;
}

std::string flag(const std::map<std::string, std::string>& f, const std::string& name,
                 const std::string& fallback) {
    auto it = f.find(name);
    return it == f.end() ? fallback : it->second;
}

//! A connection to 127.0.0.1:port from `source` (empty: any); -1 on failure.
int connect_from(const std::string& source, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    timeval tv{30, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (!source.empty()) {
        sockaddr_in local{};
        local.sin_family = AF_INET;
        ::inet_pton(AF_INET, source.c_str(), &local.sin_addr);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
            ::close(fd);
            return -1;
        }
    }
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
        ssize_t n = ::send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL);
        if (n <= 0) return false;
        off += static_cast<size_t>(n);
    }
    return true;
}

//! Reads one HTTP response (Content-Length or chunked); its status, or -1 (the connection is
//! then unusable). `buffer` keeps bytes that belong to the next response.
int read_response(int fd, std::string& buffer) {
    char chunk[16384];
    auto fill = [&]() {
        ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer.append(chunk, static_cast<size_t>(n));
        return true;
    };
    size_t head_end;
    while ((head_end = buffer.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) return -1;
    const std::string head = buffer.substr(0, head_end + 4);
    int status = std::atoi(head.c_str() + 9);
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    size_t body_start = head_end + 4;
    if (auto cl = lower.find("content-length:"); cl != std::string::npos) {
        size_t length = std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
        while (buffer.size() < body_start + length)
            if (!fill()) return -1;
        buffer.erase(0, body_start + length);
    } else if (lower.find("transfer-encoding: chunked") != std::string::npos) {
        size_t end;
        while ((end = buffer.find("\r\n0\r\n\r\n", body_start - 2)) == std::string::npos)
            if (!fill()) return -1;
        buffer.erase(0, end + 7);
    } else {
        buffer.erase(0, body_start);
    }
    return status;
}

int storm(const std::map<std::string, std::string>& f) {
    const int port = std::atoi(flag(f, "--port", "0").c_str());
    const int first = std::atoi(flag(f, "--first", "2").c_str());
    const int last = std::atoi(flag(f, "--last", "51").c_str());
    const int per_address = std::atoi(flag(f, "--conns-per-address", "2").c_str());
    const double rate = std::atof(flag(f, "--rate", "200").c_str());
    const double seconds = std::atof(flag(f, "--seconds", "5").c_str());
    const std::string password = flag(f, "--password", "wrong-password-123");
    const int conns = (last - first + 1) * per_address;
    const auto interval = std::chrono::duration<double>(conns / rate);
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);

    std::atomic<long> sent{0}, errors{0};
    std::mutex m;
    std::map<int, long> statuses;
    std::vector<std::thread> threads;
    for (int c = 0; c < conns; ++c) {
        threads.emplace_back([&, c] {
            const std::string source = "127.0.0." + std::to_string(first + c / per_address);
            std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(c));
            // Spread the connections' first attempts over one interval.
            auto next = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           interval * (static_cast<double>(c) / conns));
            int fd = -1;
            std::string buffer;
            while (Clock::now() < until) {
                std::this_thread::sleep_until(next);
                next += std::chrono::duration_cast<Clock::duration>(interval);
                if (Clock::now() >= until) break;
                if (fd < 0) {
                    fd = connect_from(source, port);
                    buffer.clear();
                    if (fd < 0) {
                        ++errors;
                        continue;
                    }
                }
                char name[32];
                std::snprintf(name, sizeof name, "u%016llx",
                              static_cast<unsigned long long>(rng()));
                const std::string body =
                    std::string("{\"name\":\"") + name + "\",\"password\":\"" + password + "\"}";
                std::ostringstream req;
                req << "POST /admin/api/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    << "Content-Type: application/json\r\nContent-Length: " << body.size()
                    << "\r\n\r\n"
                    << body;
                ++sent;
                int status = send_all(fd, req.str()) ? read_response(fd, buffer) : -1;
                if (status < 0) {
                    ++errors;
                    ::close(fd);
                    fd = -1;
                    continue;
                }
                std::lock_guard lock(m);
                ++statuses[status];
            }
            if (fd >= 0) ::close(fd);
        });
    }
    for (auto& t : threads) t.join();
    long answered = 0, other = 0;
    for (auto [s, n] : statuses) {
        answered += n;
        if (s != 201 && s != 401 && s != 429 && s != 503) other += n;
    }
    std::printf(
        "STORM sent=%ld answered=%ld s201=%ld s401=%ld s429=%ld s503=%ld other=%ld "
        "errors=%ld\n",
        sent.load(), answered, statuses[201], statuses[401], statuses[429], statuses[503], other,
        errors.load());
    return 0;
}

int probe(const std::map<std::string, std::string>& f) {
    const int port = std::atoi(flag(f, "--port", "0").c_str());
    const double seconds = std::atof(flag(f, "--seconds", "5").c_str());
    std::ifstream in(flag(f, "--body", ""));
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string body = ss.str();
    std::ostringstream req;
    req << "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        << "anthropic-version: 2023-06-01\r\nx-api-key: " << flag(f, "--key", "")
        << "\r\nContent-Length: " << body.size() << "\r\n\r\n"
        << body;
    const std::string request = req.str();
    FILE* out = stdout;
    if (auto path = flag(f, "--out", ""); !path.empty()) out = std::fopen(path.c_str(), "w");
    if (!out) return 1;
    int fd = connect_from("", port);
    if (fd < 0) return 1;
    std::string buffer;
    long n = 0, non200 = 0;
    const auto until = Clock::now() + std::chrono::duration<double>(seconds);
    while (Clock::now() < until) {
        const auto t = Clock::now();
        int status = send_all(fd, request) ? read_response(fd, buffer) : -1;
        const auto us =
            std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count();
        if (status < 0) {
            ::close(fd);
            fd = connect_from("", port);
            buffer.clear();
            if (fd < 0) return 1;
            ++non200;
            continue;
        }
        if (status != 200) ++non200;
        std::fprintf(out, "%lld\n", static_cast<long long>(us));
        ++n;
    }
    ::close(fd);
    if (out != stdout) std::fclose(out);
    std::fprintf(stderr, "PROBE n=%ld non200=%ld\n", n, non200);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "storm") return storm(parse_flags(argc, argv));
    if (mode == "probe") return probe(parse_flags(argc, argv));
    std::fprintf(stderr, "usage: storm_client storm|probe --port P ... (see the file's head)\n");
    return 2;
}
