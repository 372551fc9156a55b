// Load client for the overhead benchmark: HTTP/1.1 keep-alive POSTs over C connections, one
// thread, epoll, non-blocking sockets. Reports latency and time-to-marker percentiles.
//
//   ovh_load --port P --path /v1/messages --body FILE [--header 'K: V']... [--conns C]
//            [--requests R] [--warmup W] [--duration SECONDS] [--marker STRING]
//            [--all-at-once] [--label NAME] [--latencies FILE] [--timeline FILE]
//
// --requests R   total timed requests (spread over the connections); default 2000;
//                0 = no count, run until --duration (throughput runs)
// --warmup W     requests sent first (on one connection, untimed); default 50
// --duration S   hard bound: stop after S seconds even if R were not done (default 60)
// --marker M     "time to first token": from the request's first byte sent to the first response
//                body byte sequence M (e.g. content_block_delta, or `data: {`); default none
// --all-at-once  connect all C connections first, then send one request on each at the same
//                moment (R = C); reports the peak number of responses in progress at once
// --latencies F  also append every timed request's latency (µs, one a line) to F, so that a
//                script can take percentiles over several runs (tail_table.sh's rounds)
// --timeline F   also append "END_US LATENCY_US" per timed request, END_US on the steady clock
//                (CLOCK_MONOTONIC, as the gateway's debug timings): tail_sources.sh
// Output: one line `RESULT label=... n=... errors=... non2xx=... secs=... rps=... lat_p50_us=...
//   lat_p90_us=... lat_p99_us=... lat_p999_us=... lat_max_us=... ttft_p50_us=... ttft_p99_us=... resp_bytes=...
//   peak_in_progress=...`. Connects to 127.0.0.1 only. Exit status 1 if any request failed.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Conn {
    int fd = -1;
    bool connected = false;
    bool busy = false;        // a request is in flight
    bool timed = true;
    size_t sent = 0;
    Clock::time_point t0;
    std::string buf;
    bool headers_done = false;
    int status = 0;
    bool chunked = false;
    size_t content_length = 0;
    size_t body_start = 0;
    size_t chunk_pos = 0;     // next chunk-size line (chunked)
    bool ttft_seen = false;
    size_t marker_from = 0;
    bool in_progress = false;
};

std::string g_request;
std::string g_marker;
int g_port = 0;
int g_ep = -1;

std::vector<double> g_lat, g_ttft;
long g_errors = 0, g_non2xx = 0, g_done = 0, g_started = 0, g_total = 0;
long g_in_progress = 0, g_peak_in_progress = 0;
size_t g_resp_bytes = 0;

int open_conn() {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(g_port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (r != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

void watch(Conn& c, int idx, bool out) {
    epoll_event ev{};
    ev.events = EPOLLIN | (out ? EPOLLOUT : 0u);
    ev.data.u32 = static_cast<uint32_t>(idx);
    if (epoll_ctl(g_ep, EPOLL_CTL_MOD, c.fd, &ev) != 0) epoll_ctl(g_ep, EPOLL_CTL_ADD, c.fd, &ev);
}

void reset_response(Conn& c) {
    c.buf.clear();
    c.headers_done = false;
    c.status = 0;
    c.chunked = false;
    c.content_length = 0;
    c.body_start = 0;
    c.chunk_pos = 0;
    c.ttft_seen = false;
    c.marker_from = 0;
    c.in_progress = false;
}

void try_send(Conn& c, int idx) {
    while (c.sent < g_request.size()) {
        ssize_t n = send(c.fd, g_request.data() + c.sent, g_request.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) {
            c.sent += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            watch(c, idx, true);
            return;
        }
        if (n < 0 && errno == EINTR) continue;
        return;  // error shows up on read
    }
    watch(c, idx, false);
}

void start_request(Conn& c, int idx, bool timed) {
    reset_response(c);
    c.busy = true;
    c.timed = timed;
    c.sent = 0;
    c.t0 = Clock::now();
    try_send(c, idx);
}

// Returns true when the response in c.buf is complete.
bool parse(Conn& c) {
    if (!c.headers_done) {
        auto he = c.buf.find("\r\n\r\n");
        if (he == std::string::npos) return false;
        c.headers_done = true;
        c.status = std::atoi(c.buf.c_str() + 9);
        std::string head = c.buf.substr(0, he);
        std::string lower = head;
        std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
        if (lower.find("transfer-encoding: chunked") != std::string::npos) c.chunked = true;
        auto cl = lower.find("content-length:");
        if (cl != std::string::npos) c.content_length = std::strtoull(head.c_str() + cl + 15, nullptr, 10);
        c.body_start = he + 4;
        c.chunk_pos = c.body_start;
        c.marker_from = c.body_start;
        if (!c.in_progress) {
            c.in_progress = true;
            if (++g_in_progress > g_peak_in_progress) g_peak_in_progress = g_in_progress;
        }
    }
    if (!g_marker.empty() && !c.ttft_seen) {
        auto m = c.buf.find(g_marker, c.marker_from);
        if (m != std::string::npos) {
            c.ttft_seen = true;
            if (c.timed)
                g_ttft.push_back(std::chrono::duration<double, std::micro>(Clock::now() - c.t0).count());
        } else if (c.buf.size() > g_marker.size()) {
            c.marker_from = std::max(c.marker_from, c.buf.size() - g_marker.size());
        }
    }
    if (!c.chunked) return c.buf.size() >= c.body_start + c.content_length;
    for (;;) {
        auto le = c.buf.find("\r\n", c.chunk_pos);
        if (le == std::string::npos) return false;
        size_t sz = std::strtoull(c.buf.c_str() + c.chunk_pos, nullptr, 16);
        if (sz == 0) return c.buf.size() >= le + 4;
        if (c.buf.size() < le + 2 + sz + 2) return false;
        c.chunk_pos = le + 2 + sz + 2;
    }
}

std::vector<long long> g_end_us;  // when each timed request ended (steady clock, µs)

double pct(std::vector<double>& v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
}

std::string read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) {
        std::fprintf(stderr, "cannot read %s\n", path.c_str());
        std::exit(2);
    }
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
}

}  // namespace

int main(int argc, char** argv) {
    std::string path = "/", body_file, label = "run", latencies_file, timeline_file;
    std::vector<std::string> headers;
    int conns = 1;
    long requests = 2000, warmup = 50;
    double duration = 60;
    bool all_at_once = false;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", a.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--port") g_port = std::atoi(next().c_str());
        else if (a == "--path") path = next();
        else if (a == "--body") body_file = next();
        else if (a == "--header") headers.push_back(next());
        else if (a == "--conns") conns = std::atoi(next().c_str());
        else if (a == "--requests") requests = std::atol(next().c_str());
        else if (a == "--warmup") warmup = std::atol(next().c_str());
        else if (a == "--duration") duration = std::atof(next().c_str());
        else if (a == "--marker") g_marker = next();
        else if (a == "--label") label = next();
        else if (a == "--all-at-once") all_at_once = true;
        else if (a == "--latencies") latencies_file = next();
        else if (a == "--timeline") timeline_file = next();
        else {
            std::fprintf(stderr, "unknown option %s (see the comment at the top of ovh_load.cpp)\n", a.c_str());
            return 2;
        }
    }
    if (!g_port || body_file.empty()) {
        std::fprintf(stderr, "usage: ovh_load --port P --path PATH --body FILE [options]\n");
        return 2;
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    const std::string body = read_file(body_file);
    g_request = "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(g_port) +
                "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
    for (auto& h : headers) g_request += h + "\r\n";
    g_request += "\r\n" + body;
    if (all_at_once) requests = conns;
    const bool unbounded = requests == 0;
    g_total = unbounded ? (1L << 62) : requests;
    g_ep = epoll_create1(0);
    std::vector<Conn> cs(static_cast<size_t>(conns));
    for (int i = 0; i < conns; ++i) {
        cs[i].fd = open_conn();
        if (cs[i].fd < 0) {
            std::fprintf(stderr, "connect failed: %s\n", std::strerror(errno));
            return 1;
        }
        watch(cs[i], i, true);  // EPOLLOUT = connected
    }
    const auto deadline = Clock::now() + std::chrono::duration<double>(duration);
    std::vector<epoll_event> evs(4096);
    long warm_left = all_at_once ? 0 : warmup;
    int connected = 0;
    bool started = false;
    Clock::time_point t_start = Clock::now();
    char rbuf[65536];
    auto begin_timed = [&]() {
        started = true;
        t_start = Clock::now();
        for (int i = 0; i < conns && g_started < g_total; ++i)
            if (cs[i].connected && !cs[i].busy) {
                ++g_started;
                start_request(cs[i], i, true);
            }
    };
    while (g_done < g_total && Clock::now() < deadline) {
        int n = epoll_wait(g_ep, evs.data(), static_cast<int>(evs.size()), 100);
        for (int k = 0; k < n; ++k) {
            const int i = static_cast<int>(evs[k].data.u32);
            Conn& c = cs[i];
            if (!c.connected && (evs[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) {
                    std::fprintf(stderr, "connect failed: %s\n", std::strerror(err));
                    return 1;
                }
                c.connected = true;
                watch(c, i, false);
                ++connected;
                if (i == 0 && warm_left > 0) {
                    --warm_left;
                    start_request(c, i, false);
                } else if (started && g_started < g_total) {
                    ++g_started;
                    start_request(c, i, true);
                }
                if (!started && warm_left == 0 && connected == conns && !cs[0].busy) begin_timed();
                continue;
            }
            if ((evs[k].events & EPOLLOUT) && c.busy && c.sent < g_request.size()) try_send(c, i);
            if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR))) continue;
            bool closed = false;
            for (;;) {
                ssize_t r = recv(c.fd, rbuf, sizeof rbuf, 0);
                if (r > 0) {
                    c.buf.append(rbuf, static_cast<size_t>(r));
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                if (r < 0 && errno == EINTR) continue;
                closed = true;
                break;
            }
            if (c.busy && parse(c)) {
                const double us = std::chrono::duration<double, std::micro>(Clock::now() - c.t0).count();
                if (c.in_progress) --g_in_progress;
                if (c.timed) {
                    ++g_done;
                    g_lat.push_back(us);
                    g_end_us.push_back(std::chrono::duration_cast<std::chrono::microseconds>(
                                           Clock::now().time_since_epoch()).count());
                    g_resp_bytes = c.buf.size();
                    if (c.status < 200 || c.status >= 300) {
                        ++g_non2xx;
                        if (g_non2xx <= 3)
                            std::fprintf(stderr, "non-2xx (%d): %.300s\n", c.status, c.buf.c_str());
                    }
                } else if (c.status < 200 || c.status >= 300) {
                    std::fprintf(stderr, "warm-up request failed (%d): %.400s\n", c.status, c.buf.c_str());
                    return 1;
                }
                c.busy = false;
                reset_response(c);
                if (!c.timed || !started) {
                    if (warm_left > 0) {
                        --warm_left;
                        start_request(c, i, false);
                    } else if (!started && connected == conns) {
                        begin_timed();
                    }
                } else if (!all_at_once && g_started < g_total) {
                    ++g_started;
                    start_request(c, i, true);
                }
                continue;
            }
            if (closed) {
                if (c.busy) {
                    ++g_errors;
                    if (c.timed) ++g_done;
                    if (c.in_progress) --g_in_progress;
                }
                epoll_ctl(g_ep, EPOLL_CTL_DEL, c.fd, nullptr);
                close(c.fd);
                c = Conn{};
                if (all_at_once || g_started >= g_total) {
                    c.fd = -1;
                    continue;
                }
                c.fd = open_conn();  // reconnect; the next request starts once connected
                --connected;
                if (c.fd >= 0) watch(c, i, true);
            }
        }
    }
    const double secs = std::chrono::duration<double>(Clock::now() - t_start).count();
    const long unfinished = unbounded ? 0 : g_total - g_done;
    const long n = static_cast<long>(g_lat.size());
    if (!timeline_file.empty()) {
        if (FILE* f = std::fopen(timeline_file.c_str(), "a")) {
            for (size_t k = 0; k < g_lat.size(); ++k) std::fprintf(f, "%lld %.1f\n", g_end_us[k], g_lat[k]);
            std::fclose(f);
        } else {
            std::fprintf(stderr, "cannot append to --timeline %s\n", timeline_file.c_str());
            return 1;
        }
    }
    if (!latencies_file.empty()) {
        if (FILE* f = std::fopen(latencies_file.c_str(), "a")) {
            for (double us : g_lat) std::fprintf(f, "%.1f\n", us);
            std::fclose(f);
        } else {
            std::fprintf(stderr, "cannot append to --latencies %s\n", latencies_file.c_str());
            return 1;
        }
    }
    std::printf("RESULT label=%s n=%ld errors=%ld unfinished=%ld non2xx=%ld secs=%.3f rps=%.0f "
                "lat_p50_us=%.1f lat_p90_us=%.1f lat_p99_us=%.1f lat_p999_us=%.1f lat_max_us=%.1f "
                "ttft_p50_us=%.1f "
                "ttft_p99_us=%.1f resp_bytes=%zu peak_in_progress=%ld\n",
                label.c_str(), n, g_errors, unfinished, g_non2xx, secs, secs > 0 ? n / secs : 0.0,
                pct(g_lat, 50), pct(g_lat, 90), pct(g_lat, 99), pct(g_lat, 99.9), pct(g_lat, 100), pct(g_ttft, 50),
                pct(g_ttft, 99), g_resp_bytes, g_peak_in_progress);
    return (g_errors || unfinished || g_non2xx) ? 1 : 0;
}
