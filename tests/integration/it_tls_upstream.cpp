// https upstreams on the fiber-aware client: the real `tianshu` binary, openai_compat channels
// whose base URLs are https://, and the strict fake upstream in https mode (node's https module)
// serving certificates this test makes with the openssl CLI (tests/scripts/make_tls_certs.sh):
// a test CA, a good certificate for localhost and 127.0.0.1, one for another host name, an
// expired one and a self-signed one. A channel verifies against its own CA file
// (options.ca_file) or the system CA store, and a certificate that does not verify is refused
// with an error naming the channel and the reason.
#include <chrono>
#include <cstdlib>
#include <thread>

#include <catch2/catch.hpp>

#include "fake_upstream_process.hpp"
#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

const std::string kExpected = "Hello from the upstream model, streamed in small chunks.";

fs::path scenario() {
    return source_dir() / "tests" / "integration" / "scenarios" / "adapter_text.json";
}

//! The test's certificates, made fresh in `dir`.
fs::path make_certs(const fs::path& dir) {
    const std::string cmd = "bash '" +
                            (source_dir() / "tests" / "scripts" / "make_tls_certs.sh").string() +
                            "' '" + dir.string() + "' >'" + (dir.string() + ".log") + "' 2>&1";
    INFO(cmd);
    REQUIRE(std::system(cmd.c_str()) == 0);
    return dir;
}

//! A fake upstream in https mode serving certificate `name` (good, wronghost...).
std::unique_ptr<FakeUpstream> https_upstream(const fs::path& certs, const std::string& name,
                                             const fs::path& log) {
    return std::make_unique<FakeUpstream>(
        scenario(), log,
        std::vector<std::string>{"--tls-cert", (certs / (name + ".pem")).string(), "--tls-key",
                                 (certs / (name + ".key")).string()});
}

struct Rig {
    TempDir tmp{"tls-upstream"};
    fs::path data = tmp / "data";
    fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat"});
    fs::path scripts = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    fs::path certs = make_certs(tmp / "certs");
    std::unique_ptr<GatewayProcess> gw;
    std::string key;

    Rig() { fs::create_directories(data); }

    //! Channel `name` serving model "<name>-model" from `base_url`, with `config` (JSON).
    void add_channel(const std::string& name, const std::string& base_url,
                     const std::string& config = {}) {
        std::vector<std::string> args{"channel",        "add",           "--data",
                                      data.string(),    "--name",        name,
                                      "--type",         "openai_compat", "--base-url",
                                      base_url,         "--key",         "sk-up",
                                      "--models",       name + "-model", "--plugins-dir",
                                      plugins.string(), "--scripts-dir", scripts.string()};
        if (!config.empty()) args.insert(args.end(), {"--config", config});
        auto r = run_cli(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    std::string ca_config(const fs::path& file) const {
        return Json{{"options", {{"ca_file", file.string()}}}}.dump();
    }
    void start() {
        ServeOptions o;
        o.data_dir = data;
        o.plugins_dir = plugins;
        o.scripts_dir = scripts;
        gw = std::make_unique<GatewayProcess>(o);
        REQUIRE(gw->demo_key());
        key = *gw->demo_key();
    }
    int port() const { return gw->port(); }
};

std::string error_message(const Json& j) {
    return j.contains("error") && j["error"].is_object() ? j["error"].value("message", "")
                                                         : std::string{};
}

std::string streamed_text(const std::vector<SseEvent>& events) {
    std::string text;
    for (const auto& e : events) {
        if (e.event != "content_block_delta") continue;
        Json j = e.json();
        text += j["delta"].value("text", "");
    }
    return text;
}

}  // namespace

TEST_CASE("tls upstream: a channel with its own CA file answers whole and streamed over https",
          "[integration][tls]") {
    Rig rig;
    auto up = https_upstream(rig.certs, "good", rig.tmp / "good.log");
    const std::string port = std::to_string(up->port());
    // By name (SNI, host name checked) and by address (the certificate's IP SAN checked).
    rig.add_channel("tls-name", "https://localhost:" + port + "/v1",
                    rig.ca_config(rig.certs / "ca.pem"));
    rig.add_channel("tls-ip", "https://127.0.0.1:" + port + "/v1",
                    rig.ca_config(rig.certs / "ca.pem"));
    rig.start();

    for (const std::string model : {"tls-name-model", "tls-ip-model"}) {
        INFO(model);
        auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                           anthropic_body(model, "whole, please"));
        INFO(r.body << "\n" << rig.gw->log_text());
        REQUIRE(r.status == 200);
        CHECK(anthropic_text(r.json()) == kExpected);

        int status = 0;
        auto events = stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                                 anthropic_body(model, "streamed, please", true), &status);
        REQUIRE(status == 200);
        CHECK(streamed_text(events) == kExpected);
        REQUIRE_FALSE(events.empty());
        CHECK(events.back().event == "message_stop");
    }
}

TEST_CASE("tls upstream: a certificate that does not verify is refused naming channel and reason",
          "[integration][tls]") {
    Rig rig;
    auto good = https_upstream(rig.certs, "good", rig.tmp / "good.log");
    auto wrong = https_upstream(rig.certs, "wronghost", rig.tmp / "wronghost.log");
    auto expired = https_upstream(rig.certs, "expired", rig.tmp / "expired.log");
    auto self = https_upstream(rig.certs, "selfsigned", rig.tmp / "selfsigned.log");
    auto url = [](const FakeUpstream& up) {
        return "https://localhost:" + std::to_string(up.port()) + "/v1";
    };
    const std::string ca = rig.ca_config(rig.certs / "ca.pem");
    rig.add_channel("tls-wronghost", url(*wrong), ca);
    rig.add_channel("tls-expired", url(*expired), ca);
    rig.add_channel("tls-selfsigned", url(*self), ca);
    // Verification is on by default: without the CA file the test CA is unknown.
    rig.add_channel("tls-systemstore", url(*good));
    // A CA file the gateway cannot read is named with the fix.
    rig.add_channel("tls-nocafile", url(*good),
                    rig.ca_config(rig.tmp / "no-such-dir" / "missing-ca.pem"));
    rig.start();

    struct Case {
        std::string channel, reason;
    };
    const std::vector<Case> cases{
        {"tls-wronghost", "hostname mismatch"},
        {"tls-expired", "certificate has expired"},
        {"tls-selfsigned", "self-signed certificate"},
        {"tls-systemstore", "unable to get local issuer certificate"},
        {"tls-nocafile", "options.ca_file"},
    };
    for (const auto& c : cases) {
        INFO(c.channel);
        auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                           anthropic_body(c.channel + "-model", "hello"));
        INFO(r.body << "\n" << rig.gw->log_text());
        CHECK(r.status >= 500);
        REQUIRE(is_anthropic_error(r.json()));
        const std::string message = error_message(r.json());
        CHECK_THAT(message, Contains("channel '" + c.channel + "'"));
        CHECK_THAT(message, Contains(c.reason));

        // Streamed: refused before anything was sent, so still an HTTP error in the client's
        // shape, never an answer over plain text.
        SseStream st(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                     anthropic_body(c.channel + "-model", "hello streamed", true));
        CHECK(st.status() >= 500);
        CHECK_THAT(st.body(), Contains(c.reason));
    }
    // The same upstream that was refused without the CA file answers a channel that has it.
    rig.add_channel("tls-good", url(*good), ca);
    bool answered = false;
    for (int i = 0; i < 50 && !answered; ++i) {  // the CLI change reaches the server in ~1 s
        auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                           anthropic_body("tls-good-model", "now with the CA file"));
        answered = r.status == 200 && anthropic_text(r.json()) == kExpected;
        if (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    CHECK(answered);
}
