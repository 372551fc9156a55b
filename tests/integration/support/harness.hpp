#pragma once
//! Integration-test harness: runs the real `tianshu` binary in a temp data dir and talks to it
//! over real HTTP on loopback. Everything here is test-only.

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

#include <nlohmann/json.hpp>

namespace tianshu::it {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using namespace std::chrono_literals;

// ---- paths -------------------------------------------------------------------------------

fs::path binary();           //!< ${CMAKE_BINARY_DIR}/tianshu
fs::path source_dir();       //!< the repository
fs::path builtin_plugins();  //!< ${CMAKE_BINARY_DIR}/plugins
fs::path test_plugins();     //!< ${CMAKE_BINARY_DIR}/test-plugins
fs::path it_scripts();       //!< tests/integration/scripts

//! A fresh directory under the system temp dir, removed on destruction
//! (kept when TIANSHU_IT_KEEP is set, to debug a failure).
class TempDir {
  public:
    explicit TempDir(const std::string& tag = "it");
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const fs::path& path() const { return path_; }
    fs::path operator/(const std::string& sub) const { return path_ / sub; }

  private:
    fs::path path_;
};

//! Makes `dir` and copies `<name>.so` from the built-in plugin dir or the test-plugin dir.
fs::path make_plugins_dir(const fs::path& dir, const std::vector<std::string>& names);

//! Makes `dir/models` and `dir/strategies`; each entry is "models/x.lua" or "strategies/y.lua",
//! taken from tests/integration/scripts first, then from the repository's scripts/.
fs::path make_scripts_dir(const fs::path& dir, const std::vector<std::string>& files);

void write_file(const fs::path& path, const std::string& text);
std::string read_file(const fs::path& path);

// ---- CLI ---------------------------------------------------------------------------------

struct CliResult {
    int exit_code = -1;
    std::string out;
    std::string err;
};

//! Runs `tianshu args...` to completion (60 s limit) and captures its output.
CliResult run_cli(const std::vector<std::string>& args);

//! The last non-empty line of a text.
std::string last_line(const std::string& text);

// ---- the server process ----------------------------------------------------------------------

struct ServeOptions {
    fs::path data_dir;     //!< required
    fs::path plugins_dir;  //!< empty: an empty temp folder is NOT made; the flag is omitted
    fs::path scripts_dir;
    std::vector<std::string> extra_args;
};

//! One `tianshu serve` process: started on port 0, stderr (JSON log lines) to a file.
class GatewayProcess {
  public:
    explicit GatewayProcess(ServeOptions options);
    ~GatewayProcess();  // SIGKILL if still running
    GatewayProcess(const GatewayProcess&) = delete;
    GatewayProcess& operator=(const GatewayProcess&) = delete;

    int port() const { return port_; }
    const std::string& banner() const { return stdout_; }  //!< everything printed on stdout
    const std::optional<std::string>& demo_key() const { return demo_key_; }
    const std::optional<std::string>& admin_password() const { return admin_password_; }
    pid_t pid() const { return pid_; }

    //! Parsed stderr lines (a line that is not JSON becomes {"unparsed": line}).
    std::vector<Json> log_lines() const;
    std::string log_text() const;
    //! Waits until some log line satisfies `pred`; returns it.
    std::optional<Json> wait_for_log(const std::function<bool(const Json&)>& pred,
                                     std::chrono::milliseconds timeout = 5s) const;

    void send_signal(int sig);
    //! Waits for the process to exit; returns its exit code, or -1 on timeout / signal death.
    int wait_exit(std::chrono::milliseconds timeout);
    //! SIGTERM and wait.
    int terminate(std::chrono::milliseconds timeout = 15s);
    bool running();

  private:
    void start();
    void drain_stdout();

    ServeOptions options_;
    pid_t pid_ = -1;
    int stdout_fd_ = -1;
    int exit_code_ = -1;
    bool exited_ = false;
    int port_ = 0;
    fs::path log_path_;
    std::string stdout_;
    std::optional<std::string> demo_key_;
    std::optional<std::string> admin_password_;
};

// ---- HTTP ----------------------------------------------------------------------------------

using Headers = std::map<std::string, std::string>;

struct HttpResponse {
    int status = 0;
    Headers headers;  //!< lower-case names
    std::string body;
    Json json() const;  //!< the body parsed; discarded on error
};

//! One request on a fresh connection (throws Poco exceptions on connection failures).
HttpResponse http_request(int port, const std::string& method, const std::string& path,
                          const Headers& headers = {}, const std::string& body = {},
                          std::chrono::seconds timeout = 60s);
//! The same from a chosen loopback address (127.0.0.2, ...): the server sees it as the client's.
HttpResponse http_request_from(const std::string& source_ip, int port, const std::string& method,
                               const std::string& path, const Headers& headers = {},
                               const std::string& body = {}, std::chrono::seconds timeout = 60s);
HttpResponse post_json(int port, const std::string& path, const Headers& headers,
                       const std::string& body);

//! Headers with `x-api-key` (Anthropic) or `Authorization: Bearer` (OpenAI).
Headers anthropic_auth(const std::string& key);
Headers openai_auth(const std::string& key);

//! Request bodies.
std::string anthropic_body(const std::string& model, const std::string& text, bool stream = false,
                           const std::string& system = {});
std::string openai_body(const std::string& model, const std::string& text, bool stream = false);

//! The text of a non-streamed answer in either protocol.
std::string anthropic_text(const Json& response);
std::string openai_text(const Json& response);

struct SseEvent {
    std::string event;  //!< the `event:` field (empty for OpenAI chunks)
    std::string data;
    Json json() const;  //!< data parsed (discarded for "[DONE]")
};

//! A streaming request read event by event on the calling thread.
class SseStream {
  public:
    SseStream(int port, const std::string& path, const Headers& headers, const std::string& body,
              std::chrono::seconds timeout = 60s);
    ~SseStream();
    int status() const { return status_; }
    const Headers& headers() const { return headers_; }
    //! The next event; nullopt at the end of the stream (or on a read error).
    std::optional<SseEvent> next();
    //! Everything up to the end of the stream.
    std::vector<SseEvent> rest();
    //! For a non-200 answer: the body.
    std::string body();
    //! SSE comment lines (": ping" keep-alives) skipped so far, each with the number of events
    //! returned before it.
    const std::vector<std::pair<size_t, std::string>>& comments() const { return comments_; }

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
    int status_ = 0;
    Headers headers_;
    size_t returned_ = 0;
    std::vector<std::pair<size_t, std::string>> comments_;
};

//! Reads a whole stream.
std::vector<SseEvent> stream_all(int port, const std::string& path, const Headers& headers,
                                 const std::string& body, int* status = nullptr);

//! Concatenated text deltas of an Anthropic / OpenAI stream.
std::string anthropic_stream_text(const std::vector<SseEvent>& events);
std::string openai_stream_text(const std::vector<SseEvent>& events);

//! True when `r` is an Anthropic error object / an OpenAI error object.
bool is_anthropic_error(const Json& body);
bool is_openai_error(const Json& body);

//! Polls `pred` every 50 ms until it is true or the timeout passes.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

//! The number of lines of the log matching `pred`.
size_t count_logs(const std::vector<Json>& lines, const std::function<bool(const Json&)>& pred);

//! The `"msg":"request"` lines.
std::vector<Json> request_logs(const GatewayProcess& gw);

}  // namespace tianshu::it
