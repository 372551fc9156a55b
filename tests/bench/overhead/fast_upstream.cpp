// A FAST fake OpenAI-compatible upstream for the overhead benchmark (not for correctness:
// tests/fake_upstream is the strict, scripted one).
//
//   fast_upstream [--port N] [--chunks N] [--delay-us N]
//
// One thread, epoll, non-blocking sockets, HTTP/1.1 keep-alive. Accepts ANY request body
// (Content-Length or chunked) on any path and answers an OpenAI chat completion at once:
//   - body without "stream":true  -> one JSON chat.completion (Content-Length);
//   - body with "stream":true     -> text/event-stream, chunked: N content chunks, one final
//                                    chunk with finish_reason "stop" and usage, then [DONE].
// N is --chunks (default 5) unless the body contains the marker `chunks=NNN` (e.g. in the user
// text); the pause between chunks is --delay-us (default 0) unless the body contains
// `delay_ms=NNN`. With no pause the whole stream goes out in one write; each chunk is still its
// own HTTP chunk and its own SSE frame. Prints "fast_upstream listening on 127.0.0.1:PORT".
// Listens on 127.0.0.1 only. Stops on SIGTERM/SIGINT.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <queue>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
volatile sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int g_default_chunks = 5;
long g_default_delay_us = 0;

struct Conn {
    int fd = -1;
    std::string in;
    std::string out;         // bytes waiting for EPOLLOUT
    bool want_close = false;
    // streaming with a pause between chunks
    bool streaming = false;
    int chunks_left = 0;
    int chunk_no = 0;
    long delay_us = 0;
    uint64_t stream_id = 0;
    uint64_t generation = 0;  // invalidates timers of a closed fd that was reused
};

struct Timer {
    Clock::time_point at;
    int fd;
    uint64_t generation;
    bool operator>(const Timer& o) const { return at > o.at; }
};

std::unordered_map<int, Conn> g_conns;
std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> g_timers;
uint64_t g_generation = 0;
int g_ep = -1;
uint64_t g_id = 0;

bool ieq_prefix(std::string_view s, std::string_view p) {
    if (s.size() < p.size()) return false;
    for (size_t i = 0; i < p.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(s[i])) != p[i]) return false;
    return true;
}

long marker(std::string_view body, std::string_view key, long fallback) {
    auto p = body.find(key);
    if (p == std::string_view::npos) return fallback;
    p += key.size();
    long v = 0;
    bool any = false;
    while (p < body.size() && body[p] >= '0' && body[p] <= '9') {
        v = v * 10 + (body[p++] - '0');
        any = true;
    }
    return any ? v : fallback;
}

void append_chunk(std::string& out, std::string_view data) {
    char hex[32];
    int n = std::snprintf(hex, sizeof hex, "%zx\r\n", data.size());
    out.append(hex, static_cast<size_t>(n));
    out.append(data);
    out.append("\r\n");
}

std::string sse_content(uint64_t id, int i) {
    char buf[320];
    int n = std::snprintf(buf, sizeof buf,
                          "data: {\"id\":\"chatcmpl-%llu\",\"object\":\"chat.completion.chunk\","
                          "\"created\":1700000000,\"model\":\"up-model\",\"choices\":[{\"index\":0,"
                          "\"delta\":{%s\"content\":\"tok%d \"},\"finish_reason\":null}]}\n\n",
                          static_cast<unsigned long long>(id),
                          i == 0 ? "\"role\":\"assistant\"," : "", i);
    return std::string(buf, static_cast<size_t>(n));
}

std::string sse_final(uint64_t id, int chunks) {
    char buf[400];
    int n = std::snprintf(buf, sizeof buf,
                          "data: {\"id\":\"chatcmpl-%llu\",\"object\":\"chat.completion.chunk\","
                          "\"created\":1700000000,\"model\":\"up-model\",\"choices\":[{\"index\":0,"
                          "\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
                          "12,\"completion_tokens\":%d,\"total_tokens\":%d}}\n\ndata: [DONE]\n\n",
                          static_cast<unsigned long long>(id), chunks, chunks + 12);
    return std::string(buf, static_cast<size_t>(n));
}

void close_conn(int fd) {
    epoll_ctl(g_ep, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    g_conns.erase(fd);
}

// Writes c.out; returns false when the connection was closed.
bool flush(Conn& c) {
    while (!c.out.empty()) {
        ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
        if (n > 0) {
            c.out.erase(0, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT;
            ev.data.fd = c.fd;
            epoll_ctl(g_ep, EPOLL_CTL_MOD, c.fd, &ev);
            return true;
        }
        if (n < 0 && errno == EINTR) continue;
        close_conn(c.fd);
        return false;
    }
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = c.fd;
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c.fd, &ev);
    if (c.want_close && !c.streaming) {
        close_conn(c.fd);
        return false;
    }
    return true;
}

void respond(Conn& c, std::string_view body) {
    const uint64_t id = ++g_id;
    const bool stream = body.find("\"stream\":true") != std::string_view::npos ||
                        body.find("\"stream\": true") != std::string_view::npos;
    if (!stream) {
        char json[512];
        int n = std::snprintf(json, sizeof json,
                              "{\"id\":\"chatcmpl-%llu\",\"object\":\"chat.completion\",\"created\":"
                              "1700000000,\"model\":\"up-model\",\"choices\":[{\"index\":0,"
                              "\"message\":{\"role\":\"assistant\",\"content\":\"Hello from the fast "
                              "upstream.\"},\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":"
                              "12,\"completion_tokens\":6,\"total_tokens\":18}}",
                              static_cast<unsigned long long>(id));
        char head[256];
        int h = std::snprintf(head, sizeof head,
                              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                              "Content-Length: %d\r\n%s\r\n",
                              n, c.want_close ? "Connection: close\r\n" : "");
        c.out.append(head, static_cast<size_t>(h));
        c.out.append(json, static_cast<size_t>(n));
        return;
    }
    const int chunks = static_cast<int>(marker(body, "chunks=", g_default_chunks));
    const long delay_us = marker(body, "delay_ms=", -1) >= 0 ? marker(body, "delay_ms=", 0) * 1000
                                                               : g_default_delay_us;
    c.out.append("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 "Transfer-Encoding: chunked\r\n");
    if (c.want_close) c.out.append("Connection: close\r\n");
    c.out.append("\r\n");
    if (delay_us <= 0) {
        for (int i = 0; i < chunks; ++i) append_chunk(c.out, sse_content(id, i));
        append_chunk(c.out, sse_final(id, chunks));
        c.out.append("0\r\n\r\n");
        return;
    }
    // First chunk now, the rest one per timer tick.
    c.streaming = true;
    c.chunk_no = 0;
    c.chunks_left = chunks;
    c.delay_us = delay_us;
    c.stream_id = id;
    if (c.chunks_left > 0) {
        append_chunk(c.out, sse_content(id, c.chunk_no++));
        --c.chunks_left;
    }
    g_timers.push({Clock::now() + std::chrono::microseconds(delay_us), c.fd, c.generation});
}

void on_timer(Conn& c) {
    if (!c.streaming) return;
    if (c.chunks_left > 0) {
        append_chunk(c.out, sse_content(c.stream_id, c.chunk_no++));
        --c.chunks_left;
        g_timers.push({Clock::now() + std::chrono::microseconds(c.delay_us), c.fd, c.generation});
    } else {
        append_chunk(c.out, sse_final(c.stream_id, c.chunk_no));
        c.out.append("0\r\n\r\n");
        c.streaming = false;
    }
    flush(c);
}

// Parses as many complete requests as c.in holds; answers each. Returns false if closed.
bool handle_input(Conn& c) {
    for (;;) {
        if (c.streaming) return true;  // pipelined requests wait for the stream to end
        auto hend = c.in.find("\r\n\r\n");
        if (hend == std::string::npos) return true;
        std::string_view head(c.in.data(), hend);
        size_t content_length = 0;
        bool chunked = false;
        bool close_after = false;
        size_t pos = head.find("\r\n");
        while (pos != std::string_view::npos && pos < head.size()) {
            size_t next = head.find("\r\n", pos + 2);
            std::string_view line =
                head.substr(pos + 2, (next == std::string_view::npos ? head.size() : next) - pos - 2);
            if (ieq_prefix(line, "content-length:"))
                content_length = std::strtoull(std::string(line.substr(15)).c_str(), nullptr, 10);
            else if (ieq_prefix(line, "transfer-encoding:") &&
                     line.find("chunked") != std::string_view::npos)
                chunked = true;
            else if (ieq_prefix(line, "connection:") &&
                     (line.find("close") != std::string_view::npos ||
                      line.find("Close") != std::string_view::npos))
                close_after = true;
            pos = next;
        }
        const size_t body_start = hend + 4;
        std::string body;
        size_t consumed = 0;
        if (chunked) {
            size_t p = body_start;
            bool complete = false;
            for (;;) {
                auto le = c.in.find("\r\n", p);
                if (le == std::string::npos) break;
                size_t sz = std::strtoull(c.in.substr(p, le - p).c_str(), nullptr, 16);
                if (sz == 0) {
                    // skip trailers up to the empty line
                    auto te = c.in.find("\r\n\r\n", le);
                    if (te == std::string::npos && c.in.compare(le, 4, "\r\n\r\n") != 0) break;
                    consumed = (te == std::string::npos ? le : te) + 4;
                    complete = true;
                    break;
                }
                if (c.in.size() < le + 2 + sz + 2) break;
                body.append(c.in, le + 2, sz);
                p = le + 2 + sz + 2;
            }
            if (!complete) return true;
        } else {
            if (c.in.size() < body_start + content_length) return true;
            body.assign(c.in, body_start, content_length);
            consumed = body_start + content_length;
        }
        c.in.erase(0, consumed);
        c.want_close = close_after;
        respond(c, body);
        if (!flush(c)) return false;
    }
}

int listen_on(int port) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd, 8192) != 0) {
        std::perror("bind/listen");
        std::exit(1);
    }
    socklen_t len = sizeof a;
    getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    std::printf("fast_upstream listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    std::fflush(stdout);
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        std::string a = argv[i];
        if (a == "--port") port = std::atoi(argv[i + 1]);
        else if (a == "--chunks") g_default_chunks = std::atoi(argv[i + 1]);
        else if (a == "--delay-us") g_default_delay_us = std::atol(argv[i + 1]);
        else {
            std::fprintf(stderr, "usage: fast_upstream [--port N] [--chunks N] [--delay-us N]\n");
            return 2;
        }
    }
    rlimit rl{};
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    const int lfd = listen_on(port);
    g_ep = epoll_create1(0);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = lfd;
    epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &ev);
    std::vector<epoll_event> events(1024);
    char buf[65536];
    while (!g_stop) {
        int timeout = 1000;
        if (!g_timers.empty()) {
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(g_timers.top().at -
                                                                            Clock::now()).count();
            timeout = us <= 0 ? 0 : static_cast<int>((us + 999) / 1000);
        }
        int n = epoll_wait(g_ep, events.data(), static_cast<int>(events.size()), timeout);
        for (int i = 0; i < n; ++i) {
            const int fd = events[i].data.fd;
            if (fd == lfd) {
                for (;;) {
                    int cfd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK);
                    if (cfd < 0) break;
                    int one = 1;
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    Conn& c = g_conns[cfd];
                    c = Conn{};
                    c.fd = cfd;
                    c.generation = ++g_generation;
                    epoll_event cev{};
                    cev.events = EPOLLIN;
                    cev.data.fd = cfd;
                    epoll_ctl(g_ep, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            auto it = g_conns.find(fd);
            if (it == g_conns.end()) continue;
            Conn& c = it->second;
            if (events[i].events & EPOLLOUT) {
                if (!flush(c)) continue;
            }
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                bool closed = false;
                for (;;) {
                    ssize_t r = recv(fd, buf, sizeof buf, 0);
                    if (r > 0) {
                        c.in.append(buf, static_cast<size_t>(r));
                        continue;
                    }
                    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
                    if (r < 0 && errno == EINTR) continue;
                    close_conn(fd);
                    closed = true;
                    break;
                }
                if (!closed) handle_input(c);
            }
        }
        const auto now = Clock::now();
        while (!g_timers.empty() && g_timers.top().at <= now) {
            Timer t = g_timers.top();
            g_timers.pop();
            auto it = g_conns.find(t.fd);
            if (it == g_conns.end() || it->second.generation != t.generation) continue;
            on_timer(it->second);
            it = g_conns.find(t.fd);
            if (it != g_conns.end() && !it->second.streaming && !it->second.in.empty())
                handle_input(it->second);
        }
    }
    return 0;
}
