// load_streams: opens N connections to a running gateway at once, sends N streaming
// /v1/messages requests, and checks that every stream is complete and that all N were open
// at the same moment. It asserts completeness, never timing; timings are printed only.
//
// One thread drives every connection through epoll (non-blocking POSIX sockets); a second
// thread samples GET /metrics (tianshu_requests_in_flight) and, given --server-pid, the
// server's thread count and peak RSS from /proc.
//
//   load_streams --port P --key sk-ts-... [--model slow-model] [--streams 2000]
//                [--deadline-seconds 180] [--server-pid PID]
//
// Exit status: 0 when every check holds, 1 when one fails, 2 on bad arguments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int port = 0;
    std::string key;
    std::string model = "slow-model";
    int streams = 2000;
    int deadline_seconds = 180;
    long server_pid = 0;
};

//! One client connection carrying one streaming request, parsed as bytes arrive.
struct Stream {
    int fd = -1;
    bool connected = false;
    bool request_sent = false;
    size_t request_offset = 0;
    std::string raw;  // bytes not yet parsed
    bool headers_done = false;
    int status = 0;
    bool chunked = false;
    long chunk_left = -1;     // bytes left in the current chunk; -1: expecting a size line
    bool chunk_crlf = false;  // expecting the CRLF after a chunk's data
    std::string body;         // de-chunked body (the SSE text)
    size_t scanned = 0;       // body prefix already searched for events
    bool saw_start = false;
    bool saw_stop = false;
    bool saw_error = false;
    bool complete = false;  // terminal chunk seen (or EOF for a non-chunked body)
    bool closed = false;
    std::string failure;  // first socket-level failure, if any
    Clock::time_point first_event{};
    Clock::time_point stop_event{};
    Clock::time_point sent_at{};      // the whole request written
    Clock::time_point first_token{};  // the first content_block_delta
    bool saw_token = false;
};

std::string make_request(const Options& o) {
    std::string body =
        R"({"model":")" + o.model +
        R"(","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]})";
    return "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(o.port) +
           "\r\nx-api-key: " + o.key +
           "\r\nanthropic-version: 2023-06-01\r\ncontent-type: application/json\r\nConnection: "
           "close\r\n"
           "Content-Length: " +
           std::to_string(body.size()) + "\r\n\r\n" + body;
}

void scan_events(Stream& s) {
    static constexpr std::string_view kStart = "event: message_start";
    static constexpr std::string_view kStop = "event: message_stop";
    static constexpr std::string_view kError = "event: error";
    size_t from = s.scanned > kStart.size() ? s.scanned - kStart.size() : 0;
    std::string_view view(s.body);
    view.remove_prefix(from);
    auto now = Clock::now();
    if (!s.saw_start && view.find(kStart) != std::string_view::npos) {
        s.saw_start = true;
        s.first_event = now;
    }
    if (!s.saw_token && view.find("event: content_block_delta") != std::string_view::npos) {
        s.saw_token = true;
        s.first_token = now;
    }
    if (!s.saw_stop && view.find(kStop) != std::string_view::npos) {
        s.saw_stop = true;
        s.stop_event = now;
    }
    if (view.find(kError) != std::string_view::npos) s.saw_error = true;
    s.scanned = s.body.size();
}

//! Parses what has arrived: status line and headers once, then chunked framing.
void parse(Stream& s) {
    if (!s.headers_done) {
        auto end = s.raw.find("\r\n\r\n");
        if (end == std::string::npos) return;
        std::string head = s.raw.substr(0, end);
        s.raw.erase(0, end + 4);
        s.headers_done = true;
        if (head.rfind("HTTP/1.", 0) == 0 && head.size() > 12)
            s.status = std::atoi(head.c_str() + 9);
        std::string lower = head;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        s.chunked = lower.find("transfer-encoding: chunked") != std::string::npos;
    }
    if (!s.chunked) {
        s.body += s.raw;
        s.raw.clear();
        scan_events(s);
        return;
    }
    size_t pos = 0;
    while (!s.complete) {
        if (s.chunk_crlf) {
            if (s.raw.size() - pos < 2) break;
            pos += 2;
            s.chunk_crlf = false;
            continue;
        }
        if (s.chunk_left < 0) {
            auto eol = s.raw.find("\r\n", pos);
            if (eol == std::string::npos) break;
            long size = std::strtol(s.raw.c_str() + pos, nullptr, 16);
            pos = eol + 2;
            if (size == 0) {
                s.complete = true;  // trailers (none expected) are ignored
                break;
            }
            s.chunk_left = size;
        }
        size_t take = std::min(static_cast<size_t>(s.chunk_left), s.raw.size() - pos);
        if (take == 0) break;
        s.body.append(s.raw, pos, take);
        pos += take;
        s.chunk_left -= static_cast<long>(take);
        if (s.chunk_left == 0) {
            s.chunk_left = -1;
            s.chunk_crlf = true;
        }
    }
    s.raw.erase(0, pos);
    scan_events(s);
}

//! Blocking GET on loopback; returns the whole response (Connection: close) or "".
std::string http_get(int port, const std::string& path) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return {};
    timeval tv{2, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        std::string req =
            "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
        if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
            char buf[16384];
            ssize_t n;
            while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0)
                out.append(buf, static_cast<size_t>(n));
        }
    }
    ::close(fd);
    return out;
}

long metric_value(const std::string& text, const std::string& name) {
    auto at = text.find("\n" + name + " ");
    if (at == std::string::npos) return -1;
    return std::atol(text.c_str() + at + name.size() + 2);
}

//! Reads "Key:   value kB" style fields from /proc/PID/status.
long proc_status_field(long pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(field + ":", 0) == 0) return std::atol(line.c_str() + field.size() + 1);
    return -1;
}

struct Samples {
    std::atomic<long> max_in_flight{-1};
    std::atomic<long> max_threads{-1};
    std::atomic<long> samples{0};
};

void sample_server(const Options& o, const std::atomic<bool>& stop, Samples& out) {
    while (!stop) {
        long in_flight = metric_value(http_get(o.port, "/metrics"), "tianshu_requests_in_flight");
        if (in_flight > out.max_in_flight) out.max_in_flight = in_flight;
        if (o.server_pid > 0) {
            long threads = proc_status_field(o.server_pid, "Threads");
            if (threads > out.max_threads) out.max_threads = threads;
        }
        ++out.samples;
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
}

int raise_fd_limit() {
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    return static_cast<int>(rl.rlim_cur);
}

double seconds(Clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

bool parse_args(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = next();
        if (!v) return false;
        if (a == "--port")
            o.port = std::atoi(v);
        else if (a == "--key")
            o.key = v;
        else if (a == "--model")
            o.model = v;
        else if (a == "--streams")
            o.streams = std::atoi(v);
        else if (a == "--deadline-seconds")
            o.deadline_seconds = std::atoi(v);
        else if (a == "--server-pid")
            o.server_pid = std::atol(v);
        else
            return false;
    }
    return o.port > 0 && !o.key.empty() && o.streams > 0;
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse_args(argc, argv, o)) {
        std::fprintf(stderr,
                     "usage: load_streams --port P --key KEY [--model M] [--streams N] "
                     "[--deadline-seconds S] "
                     "[--server-pid PID]\n");
        return 2;
    }
    int fd_limit = raise_fd_limit();
    if (fd_limit < o.streams + 64) {
        std::fprintf(stderr, "RLIMIT_NOFILE is %d: too low for %d connections\n", fd_limit,
                     o.streams);
        return 1;
    }

    std::atomic<bool> stop_sampling{false};
    Samples samples;
    std::thread sampler(sample_server, std::cref(o), std::cref(stop_sampling), std::ref(samples));

    const std::string request = make_request(o);
    std::vector<Stream> streams(static_cast<size_t>(o.streams));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(o.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    const auto t0 = Clock::now();
    const auto deadline = t0 + std::chrono::seconds(o.deadline_seconds);
    int open = 0;
    for (size_t i = 0; i < streams.size(); ++i) {
        Stream& s = streams[i];
        s.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (s.fd < 0) {
            s.failure = std::string("socket: ") + std::strerror(errno);
            s.closed = true;
            continue;
        }
        int one = 1;
        setsockopt(s.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int rc = ::connect(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        if (rc < 0 && errno != EINPROGRESS) {
            s.failure = std::string("connect: ") + std::strerror(errno);
            ::close(s.fd);
            s.closed = true;
            continue;
        }
        epoll_event ev{};
        ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
        ev.data.u64 = i;
        epoll_ctl(ep, EPOLL_CTL_ADD, s.fd, &ev);
        ++open;
    }
    const auto t_connects_issued = Clock::now();

    std::vector<epoll_event> events(1024);
    std::vector<char> buf(65536);
    while (open > 0 && Clock::now() < deadline) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 500);
        for (int k = 0; k < n; ++k) {
            Stream& s = streams[events[k].data.u64];
            if (s.closed) continue;
            uint32_t e = events[k].events;
            auto finish = [&](const std::string& why) {
                if (!why.empty() && s.failure.empty()) s.failure = why;
                epoll_ctl(ep, EPOLL_CTL_DEL, s.fd, nullptr);
                ::close(s.fd);
                s.closed = true;
                --open;
            };
            if (!s.connected && (e & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) {
                    finish(std::string("connect: ") + std::strerror(err));
                    continue;
                }
                s.connected = true;
            }
            if (s.connected && !s.request_sent && (e & EPOLLOUT)) {
                ssize_t w = ::send(s.fd, request.data() + s.request_offset,
                                   request.size() - s.request_offset, MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN) {
                    finish(std::string("send: ") + std::strerror(errno));
                    continue;
                }
                if (w > 0) s.request_offset += static_cast<size_t>(w);
                if (s.request_offset == request.size()) {
                    s.request_sent = true;
                    s.sent_at = Clock::now();
                    epoll_event ev{};
                    ev.events = EPOLLIN | EPOLLRDHUP;
                    ev.data.u64 = events[k].data.u64;
                    epoll_ctl(ep, EPOLL_CTL_MOD, s.fd, &ev);
                }
            }
            if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = ::recv(s.fd, buf.data(), buf.size(), 0);
                    if (r > 0) {
                        s.raw.append(buf.data(), static_cast<size_t>(r));
                        parse(s);
                        continue;
                    }
                    if (r == 0) {
                        if (s.headers_done && !s.chunked) s.complete = true;
                        finish(s.complete ? ""
                                          : "connection closed before the response was complete");
                    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
                        finish(std::string("recv: ") + std::strerror(errno));
                    }
                    break;
                }
                // Connection: close was asked for; stop as soon as the terminal chunk is here.
                if (!s.closed && s.complete) finish("");
            }
        }
    }
    const auto t_end = Clock::now();
    stop_sampling = true;
    sampler.join();
    for (auto& s : streams)
        if (!s.closed) {
            if (s.failure.empty()) s.failure = "still open at the deadline";
            ::close(s.fd);
        }
    ::close(ep);

    // Completeness.
    int ok = 0, not_200 = 0, no_start = 0, no_stop = 0, errors = 0, incomplete = 0;
    std::map<std::string, int> failures;
    std::map<int, int> statuses;
    for (auto& s : streams) {
        statuses[s.status]++;
        bool good = true;
        if (s.status != 200) ++not_200, good = false;
        if (!s.saw_start) ++no_start, good = false;
        if (!s.saw_stop) ++no_stop, good = false;
        if (s.saw_error) ++errors, good = false;
        if (!s.complete) ++incomplete, good = false;
        if (!s.failure.empty()) failures[s.failure]++;
        if (good) ++ok;
    }

    // Simultaneity: a stream is open from its first event (message_start) to message_stop.
    std::vector<std::pair<Clock::time_point, int>> edges;
    Clock::time_point last_first_event{}, first_stop = Clock::time_point::max();
    for (auto& s : streams) {
        if (!s.saw_start) continue;
        edges.emplace_back(s.first_event, +1);
        last_first_event = std::max(last_first_event, s.first_event);
        Clock::time_point end = s.saw_stop ? s.stop_event : t_end;
        edges.emplace_back(end, -1);
        if (s.saw_stop) first_stop = std::min(first_stop, s.stop_event);
    }
    // At equal instants count the opening first: both were observed in the same epoll round.
    std::sort(edges.begin(), edges.end(), [](auto& a, auto& b) {
        return a.first != b.first ? a.first < b.first : a.second > b.second;
    });
    int now_open = 0, peak_open = 0;
    for (auto& [t, d] : edges) peak_open = std::max(peak_open, now_open += d);

    std::printf("load_streams: %d streaming requests to 127.0.0.1:%d model=%s\n", o.streams, o.port,
                o.model.c_str());
    std::printf("  complete streams (200, message_start..message_stop, no error): %d / %d\n", ok,
                o.streams);
    std::printf(
        "  not 200: %d   no message_start: %d   no message_stop: %d   event: error: %d   "
        "incomplete: %d\n",
        not_200, no_start, no_stop, errors, incomplete);
    for (auto& [status, count] : statuses) std::printf("  HTTP status %d: %d\n", status, count);
    for (auto& [why, count] : failures) std::printf("  failure x%d: %s\n", count, why.c_str());
    std::printf("  peak simultaneously open streams (client side): %d\n", peak_open);
    std::printf("  peak tianshu_requests_in_flight (GET /metrics, %ld samples): %ld\n",
                samples.samples.load(), samples.max_in_flight.load());
    if (o.server_pid > 0) {
        std::printf("  server peak threads (sampled): %ld\n", samples.max_threads.load());
        std::printf("  server peak RSS (VmHWM): %.1f MiB\n",
                    proc_status_field(o.server_pid, "VmHWM") / 1024.0);
    }
    std::printf(
        "  connects issued in %.3f s; last first-event at %.3f s; first message_stop at %.3f s\n",
        seconds(t_connects_issued - t0), seconds(last_first_event - t0),
        first_stop == Clock::time_point::max() ? -1.0 : seconds(first_stop - t0));
    std::printf("  total time %.3f s\n", seconds(t_end - t0));
    // Time to first token: from the request written to the first content_block_delta.
    std::vector<double> ttft;
    for (auto& s : streams)
        if (s.saw_token && s.request_sent) ttft.push_back(seconds(s.first_token - s.sent_at) * 1e3);
    if (!ttft.empty()) {
        std::sort(ttft.begin(), ttft.end());
        auto at = [&](double q) { return ttft[static_cast<size_t>(q * (ttft.size() - 1))]; };
        std::printf("  time to first token (ms): p50 %.1f  p99 %.1f  max %.1f\n", at(0.5), at(0.99),
                    ttft.back());
    }

    bool pass = ok == o.streams && peak_open >= o.streams;
    std::printf("%s\n", pass ? "PASS" : "FAIL");
    return pass ? 0 : 1;
}
