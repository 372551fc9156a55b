#include "harness.hpp"

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>

namespace tianshu::it {

using Clock = std::chrono::steady_clock;

// ---- paths -------------------------------------------------------------------------------

fs::path binary() {
    return fs::path(TIANSHU_BINARY_DIR) / "tianshu";
}
fs::path source_dir() {
    return fs::path(TIANSHU_SOURCE_DIR);
}
fs::path builtin_plugins() {
    return fs::path(TIANSHU_PLUGIN_DIR);
}
fs::path test_plugins() {
    return fs::path(TIANSHU_BINARY_DIR) / "test-plugins";
}
fs::path it_scripts() {
    return source_dir() / "tests" / "integration" / "scripts";
}

TempDir::TempDir(const std::string& tag) {
    std::string pattern = (fs::temp_directory_path() / ("tianshu-" + tag + "-XXXXXX")).string();
    std::vector<char> buf(pattern.begin(), pattern.end());
    buf.push_back('\0');
    if (!mkdtemp(buf.data()))
        throw std::runtime_error("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = buf.data();
}

TempDir::~TempDir() {
    if (std::getenv("TIANSHU_IT_KEEP")) return;
    std::error_code ec;
    fs::remove_all(path_, ec);
}

fs::path make_plugins_dir(const fs::path& dir, const std::vector<std::string>& names) {
    fs::create_directories(dir);
    for (const auto& n : names) {
        fs::path from = builtin_plugins() / (n + ".so");
        if (!fs::exists(from)) from = test_plugins() / (n + ".so");
        if (!fs::exists(from)) throw std::runtime_error("no built plugin named " + n);
        fs::copy_file(from, dir / (n + ".so"), fs::copy_options::overwrite_existing);
    }
    return dir;
}

fs::path make_scripts_dir(const fs::path& dir, const std::vector<std::string>& files) {
    fs::create_directories(dir / "models");
    fs::create_directories(dir / "strategies");
    for (const auto& f : files) {
        fs::path from = it_scripts() / f;
        if (!fs::exists(from)) from = source_dir() / "scripts" / f;
        if (!fs::exists(from)) throw std::runtime_error("no script " + f);
        fs::copy_file(from, dir / f, fs::copy_options::overwrite_existing);
    }
    return dir;
}

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// ---- processes ----------------------------------------------------------------------------

namespace {

std::vector<char*> argv_of(std::vector<std::string>& args) {
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    return argv;
}

void set_nonblocking(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

int decode_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return -1;
}

}  // namespace

CliResult run_cli(const std::vector<std::string>& args) {
    std::vector<std::string> full{binary().string()};
    full.insert(full.end(), args.begin(), args.end());
    auto argv = argv_of(full);
    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0)
        throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        dup2(devnull, 0);
        dup2(out_pipe[1], 1);
        dup2(err_pipe[1], 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(out_pipe[1]);
    close(err_pipe[1]);
    CliResult r;
    pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
    std::string* sinks[2] = {&r.out, &r.err};
    int open_fds = 2;
    auto deadline = Clock::now() + 60s;
    char buf[8192];
    while (open_fds > 0 && Clock::now() < deadline) {
        if (poll(fds, 2, 200) < 0 && errno != EINTR) break;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(fds[i].fd, buf, sizeof buf);
            if (n > 0) {
                sinks[i]->append(buf, static_cast<size_t>(n));
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    for (auto& f : fds)
        if (f.fd >= 0) close(f.fd);
    if (open_fds > 0) kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    r.exit_code = open_fds > 0 ? -1 : decode_status(status);
    return r;
}

std::string last_line(const std::string& text) {
    std::istringstream in(text);
    std::string line, last;
    while (std::getline(in, line))
        if (!line.empty()) last = line;
    return last;
}

// ---- GatewayProcess -------------------------------------------------------------------------

GatewayProcess::GatewayProcess(ServeOptions options) : options_(std::move(options)) {
    start();
}

GatewayProcess::~GatewayProcess() {
    if (pid_ > 0 && !exited_) {
        kill(pid_, SIGKILL);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
    if (stdout_fd_ >= 0) close(stdout_fd_);
}

void GatewayProcess::start() {
    static std::atomic<int> counter{0};
    log_path_ = options_.data_dir.parent_path() / (options_.data_dir.filename().string() +
                                                   "-stderr-" + std::to_string(counter++) + ".log");
    std::vector<std::string> args{binary().string(),          "serve",    "--data",
                                  options_.data_dir.string(), "--listen", "127.0.0.1:0"};
    if (!options_.plugins_dir.empty())
        args.insert(args.end(), {"--plugins-dir", options_.plugins_dir.string()});
    if (!options_.scripts_dir.empty())
        args.insert(args.end(), {"--scripts-dir", options_.scripts_dir.string()});
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    auto argv = argv_of(args);

    int out_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    pid_ = fork();
    if (pid_ < 0) throw std::runtime_error("fork failed");
    if (pid_ == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        int log = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(devnull, 0);
        dup2(out_pipe[1], 1);
        dup2(log, 2);
        execv(argv[0], argv.data());
        _exit(127);
    }
    close(out_pipe[1]);
    stdout_fd_ = out_pipe[0];
    set_nonblocking(stdout_fd_);

    // The banner is flushed before the "serving" log line, so once that line is in the log
    // file the whole banner is in the pipe.
    auto deadline = Clock::now() + 30s;
    bool serving = false;
    while (Clock::now() < deadline) {
        drain_stdout();
        if (log_text().find("\"msg\":\"serving\"") != std::string::npos) {
            serving = true;
            break;
        }
        if (!running())
            throw std::runtime_error("tianshu serve exited with " + std::to_string(exit_code_) +
                                     " before serving; stderr:\n" + log_text() + "\nstdout:\n" +
                                     stdout_);
        std::this_thread::sleep_for(20ms);
    }
    drain_stdout();
    if (!serving)
        throw std::runtime_error("tianshu serve did not start within 30 s; stderr:\n" + log_text());
    std::smatch m;
    if (std::regex_search(stdout_, m, std::regex(R"(is serving on http://127\.0\.0\.1:(\d+))")))
        port_ = std::stoi(m[1]);
    else
        throw std::runtime_error("no serving line on stdout:\n" + stdout_);
    if (std::regex_search(stdout_, m, std::regex(R"(demo API key:\s+(sk-\S+))"))) demo_key_ = m[1];
    if (std::regex_search(stdout_, m, std::regex(R"(admin login:\s+admin / (\S+))")))
        admin_password_ = m[1];
}

void GatewayProcess::drain_stdout() {
    if (stdout_fd_ < 0) return;
    char buf[4096];
    for (;;) {
        ssize_t n = read(stdout_fd_, buf, sizeof buf);
        if (n > 0) {
            stdout_.append(buf, static_cast<size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        break;
    }
}

std::string GatewayProcess::log_text() const {
    return read_file(log_path_);
}

std::vector<Json> GatewayProcess::log_lines() const {
    std::vector<Json> lines;
    std::istringstream in(log_text());
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        Json j = Json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.is_object()) j = Json{{"unparsed", line}};
        lines.push_back(std::move(j));
    }
    return lines;
}

std::optional<Json> GatewayProcess::wait_for_log(const std::function<bool(const Json&)>& pred,
                                                 std::chrono::milliseconds timeout) const {
    auto deadline = Clock::now() + timeout;
    do {
        for (const auto& l : log_lines())
            if (pred(l)) return l;
        std::this_thread::sleep_for(20ms);
    } while (Clock::now() < deadline);
    return std::nullopt;
}

void GatewayProcess::send_signal(int sig) {
    if (pid_ > 0 && !exited_) kill(pid_, sig);
}

bool GatewayProcess::running() {
    if (pid_ <= 0 || exited_) return false;
    int status = 0;
    pid_t r = waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        exited_ = true;
        exit_code_ = decode_status(status);
        return false;
    }
    return true;
}

int GatewayProcess::wait_exit(std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    while (running()) {
        if (Clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(20ms);
    }
    drain_stdout();
    return exit_code_;
}

int GatewayProcess::terminate(std::chrono::milliseconds timeout) {
    send_signal(SIGTERM);
    return wait_exit(timeout);
}

// ---- HTTP ----------------------------------------------------------------------------------

Json HttpResponse::json() const {
    return Json::parse(body, nullptr, false);
}

namespace {
void prepare(Poco::Net::HTTPRequest& req, const Headers& headers, const std::string& body,
             bool has_body) {
    for (const auto& [k, v] : headers) req.set(k, v);
    if (has_body) {
        if (!req.has("Content-Type")) req.setContentType("application/json");
        req.setContentLength(static_cast<std::streamsize>(body.size()));
    }
}

Headers lower_headers(const Poco::Net::HTTPResponse& resp) {
    Headers h;
    for (const auto& [k, v] : resp) h[Poco::toLower(k)] = v;
    return h;
}
}  // namespace

namespace {
HttpResponse exchange(Poco::Net::HTTPClientSession& session, const std::string& method,
                      const std::string& path, const Headers& headers, const std::string& body,
                      std::chrono::seconds timeout) {
    session.setTimeout(Poco::Timespan(static_cast<long>(timeout.count()), 0));
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    bool has_body = method == "POST" || !body.empty();
    prepare(req, headers, body, has_body);
    auto& os = session.sendRequest(req);
    if (has_body) os << body;
    Poco::Net::HTTPResponse resp;
    auto& is = session.receiveResponse(resp);
    HttpResponse r;
    r.status = static_cast<int>(resp.getStatus());
    r.headers = lower_headers(resp);
    if (method != "HEAD") Poco::StreamCopier::copyToString(is, r.body);
    return r;
}
}  // namespace

HttpResponse http_request(int port, const std::string& method, const std::string& path,
                          const Headers& headers, const std::string& body,
                          std::chrono::seconds timeout) {
    Poco::Net::HTTPClientSession session("127.0.0.1", static_cast<Poco::UInt16>(port));
    return exchange(session, method, path, headers, body, timeout);
}

HttpResponse http_request_from(const std::string& source_ip, int port, const std::string& method,
                               const std::string& path, const Headers& headers,
                               const std::string& body, std::chrono::seconds timeout) {
    Poco::Net::StreamSocket socket(Poco::Net::SocketAddress::IPv4);
    socket.impl()->bind(Poco::Net::SocketAddress(source_ip, 0), false);
    socket.connect(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(port)));
    Poco::Net::HTTPClientSession session(socket);  // connected: it takes no host of its own
    Headers with_host = headers;
    with_host.emplace("Host", "127.0.0.1:" + std::to_string(port));
    return exchange(session, method, path, with_host, body, timeout);
}

HttpResponse post_json(int port, const std::string& path, const Headers& headers,
                       const std::string& body) {
    return http_request(port, "POST", path, headers, body);
}

Headers anthropic_auth(const std::string& key) {
    return {{"x-api-key", key}, {"anthropic-version", "2023-06-01"}};
}
Headers openai_auth(const std::string& key) {
    return {{"Authorization", "Bearer " + key}};
}

std::string anthropic_body(const std::string& model, const std::string& text, bool stream,
                           const std::string& system) {
    Json b{{"model", model},
           {"max_tokens", 256},
           {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
    if (stream) b["stream"] = true;
    if (!system.empty()) b["system"] = system;
    return b.dump();
}

std::string openai_body(const std::string& model, const std::string& text, bool stream) {
    Json b{{"model", model}, {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
    if (stream) b["stream"] = true;
    return b.dump();
}

std::string anthropic_text(const Json& r) {
    std::string out;
    if (!r.is_object() || !r.contains("content") || !r["content"].is_array()) return out;
    for (const auto& b : r["content"])
        if (b.value("type", "") == "text") out += b.value("text", "");
    return out;
}

std::string openai_text(const Json& r) {
    try {
        const auto& c = r.at("choices").at(0).at("message").at("content");
        return c.is_string() ? c.get<std::string>() : std::string();
    } catch (const std::exception&) {
        return {};
    }
}

Json SseEvent::json() const {
    return Json::parse(data, nullptr, false);
}

struct SseStream::Impl {
    Poco::Net::HTTPClientSession session;
    Poco::Net::HTTPResponse response;
    std::istream* in = nullptr;
    bool ended = false;
    Impl(int port) : session("127.0.0.1", static_cast<Poco::UInt16>(port)) {}
};

SseStream::SseStream(int port, const std::string& path, const Headers& headers,
                     const std::string& body, std::chrono::seconds timeout)
    : impl_(std::make_unique<Impl>(port)) {
    impl_->session.setTimeout(Poco::Timespan(static_cast<long>(timeout.count()), 0));
    Poco::Net::HTTPRequest req("POST", path, Poco::Net::HTTPMessage::HTTP_1_1);
    prepare(req, headers, body, true);
    impl_->session.sendRequest(req) << body;
    impl_->in = &impl_->session.receiveResponse(impl_->response);
    status_ = static_cast<int>(impl_->response.getStatus());
    headers_ = lower_headers(impl_->response);
}

SseStream::~SseStream() = default;

std::optional<SseEvent> SseStream::next() {
    if (impl_->ended) return std::nullopt;
    SseEvent ev;
    bool have = false;
    std::string line;
    try {
        while (std::getline(*impl_->in, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) {
                if (have) {
                    ++returned_;
                    return ev;
                }
                continue;
            }
            if (line[0] == ':') {  // comment (keep-alive ping)
                comments_.emplace_back(returned_, line);
                continue;
            }
            auto colon = line.find(':');
            std::string field = line.substr(0, colon);
            std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
            if (!value.empty() && value[0] == ' ') value.erase(0, 1);
            if (field == "event") {
                ev.event = value;
                have = true;
            } else if (field == "data") {
                if (!ev.data.empty()) ev.data += "\n";
                ev.data += value;
                have = true;
            }
        }
    } catch (const std::exception&) {
    }
    impl_->ended = true;
    if (have) return ev;
    return std::nullopt;
}

std::vector<SseEvent> SseStream::rest() {
    std::vector<SseEvent> out;
    while (auto e = next()) out.push_back(std::move(*e));
    return out;
}

std::string SseStream::body() {
    std::string out;
    try {
        Poco::StreamCopier::copyToString(*impl_->in, out);
    } catch (const std::exception&) {
    }
    impl_->ended = true;
    return out;
}

std::vector<SseEvent> stream_all(int port, const std::string& path, const Headers& headers,
                                 const std::string& body, int* status) {
    SseStream s(port, path, headers, body);
    if (status) *status = s.status();
    return s.rest();
}

std::string anthropic_stream_text(const std::vector<SseEvent>& events) {
    std::string out;
    for (const auto& e : events) {
        if (e.event != "content_block_delta") continue;
        Json j = e.json();
        if (j.is_object() && j.contains("delta") && j["delta"].value("type", "") == "text_delta")
            out += j["delta"].value("text", "");
    }
    return out;
}

std::string openai_stream_text(const std::vector<SseEvent>& events) {
    std::string out;
    for (const auto& e : events) {
        if (e.data == "[DONE]") continue;
        Json j = e.json();
        try {
            const auto& d = j.at("choices").at(0).at("delta");
            if (d.contains("content") && d["content"].is_string())
                out += d["content"].get<std::string>();
        } catch (const std::exception&) {
        }
    }
    return out;
}

bool is_anthropic_error(const Json& b) {
    return b.is_object() && b.value("type", "") == "error" && b.contains("error") &&
           b["error"].is_object() && b["error"].contains("type") &&
           b["error"]["type"].is_string() && b["error"].contains("message") &&
           b["error"]["message"].is_string() && !b["error"]["message"].get<std::string>().empty();
}

bool is_openai_error(const Json& b) {
    return b.is_object() && !b.contains("type") && b.contains("error") && b["error"].is_object() &&
           b["error"].contains("message") && b["error"]["message"].is_string() &&
           !b["error"]["message"].get<std::string>().empty() && b["error"].contains("type");
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (pred()) return true;
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(50ms);
    }
}

size_t count_logs(const std::vector<Json>& lines, const std::function<bool(const Json&)>& pred) {
    size_t n = 0;
    for (const auto& l : lines)
        if (pred(l)) ++n;
    return n;
}

std::vector<Json> request_logs(const GatewayProcess& gw) {
    std::vector<Json> out;
    for (auto& l : gw.log_lines())
        if (l.value("msg", "") == "request") out.push_back(std::move(l));
    return out;
}

}  // namespace tianshu::it
