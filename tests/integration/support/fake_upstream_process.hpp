#pragma once
// The strict scripted fake upstream (tests/fake_upstream/fake_upstream.mjs) as a child process,
// for integration tests that need an OpenAI- or Anthropic-compatible provider on loopback.
// Header-only.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "harness.hpp"

namespace tianshu::it {

//! `node fake_upstream.mjs --port 0 --scenario FILE`: started in the constructor (waits for its
//! "listening" line), SIGTERM then SIGKILL in the destructor. stderr goes to `log`.
class FakeUpstream {
  public:
    //! `extra_args` go after the scenario (e.g. --tls-cert PEM --tls-key PEM: https mode).
    FakeUpstream(const fs::path& scenario, const fs::path& log,
                 const std::vector<std::string>& extra_args = {}) {
        const fs::path script = source_dir() / "tests" / "fake_upstream" / "fake_upstream.mjs";
        int out[2];
        if (pipe2(out, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        pid_ = fork();
        if (pid_ < 0) throw std::runtime_error("fork failed");
        if (pid_ == 0) {
            dup2(out[1], 1);
            int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (err >= 0) dup2(err, 2);
            std::vector<std::string> args{"node", script.string(), "--port",
                                          "0",    "--scenario",    scenario.string()};
            args.insert(args.end(), extra_args.begin(), extra_args.end());
            std::vector<char*> argv;
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            execvp("node", argv.data());
            _exit(127);
        }
        close(out[1]);
        fd_ = out[0];
        std::string line;
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (line.find('\n') == std::string::npos) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) break;
            pollfd p{fd_, POLLIN, 0};
            if (poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
            char buf[256];
            ssize_t n = read(fd_, buf, sizeof buf);
            if (n <= 0) break;
            line.append(buf, static_cast<size_t>(n));
        }
        std::string marker = "listening on http://127.0.0.1:";
        if (line.find(marker) == std::string::npos) marker = "listening on https://127.0.0.1:";
        auto at = line.find(marker);
        if (at == std::string::npos) {
            stop();
            throw std::runtime_error("fake upstream did not start (is node on PATH?): '" + line +
                                     "' " + read_file(log));
        }
        port_ = std::stoi(line.substr(at + marker.size()));
    }
    ~FakeUpstream() { stop(); }
    FakeUpstream(const FakeUpstream&) = delete;
    FakeUpstream& operator=(const FakeUpstream&) = delete;

    int port() const { return port_; }
    std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
    //! The Anthropic-compatible root (the anthropic adapter appends /v1/messages).
    std::string anthropic_base_url() const {
        return "http://127.0.0.1:" + std::to_string(port_) + "/anthropic";
    }

    //! Every request received on the API routes (GET /__requests).
    Json requests() const {
        auto r = http_request(port_, "GET", "/__requests");
        Json j = Json::parse(r.body, nullptr, false);
        return j.is_array() ? j : Json::array();
    }
    Json last_request() const {
        Json all = requests();
        return all.empty() ? Json::object() : all.back();
    }

  private:
    void stop() {
        if (pid_ > 0) {
            kill(pid_, SIGTERM);
            int status = 0;
            bool gone = false;
            for (int i = 0; i < 60 && !gone; ++i) {
                if (waitpid(pid_, &status, WNOHANG) == pid_)
                    gone = true;
                else
                    usleep(50'000);
            }
            if (!gone) {
                kill(pid_, SIGKILL);
                waitpid(pid_, &status, 0);
            }
            pid_ = -1;
        }
        if (fd_ >= 0) close(fd_);
        fd_ = -1;
    }

    pid_t pid_ = -1;
    int fd_ = -1;
    int port_ = 0;
};

}  // namespace tianshu::it
