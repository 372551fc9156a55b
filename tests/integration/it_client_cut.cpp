// A client that hangs up before the end of its answer is still charged for what the upstream
// produced: the real binary, both adapters against the strict fake upstream, clients on raw
// sockets that close exactly when the test says. For every combination of client protocol x
// adapter x streamed or whole answer x an upstream that reports usage or does not, the request
// log says 499 client_closed with the tokens of the whole answer, and the ledger charges what
// the log says.
#include <soci/soci.h>

#include <catch2/catch.hpp>

#include "fake_upstream_process.hpp"
#include "harness.hpp"
#include "raw_client.hpp"
#include "test_store.hpp"

using namespace tianshu::it;

namespace {

//! The answer every turn gives: 48 bytes, sent 8 code points per delta.
const std::string kAnswer = "Tianshu bills every token the upstream produced!";
constexpr size_t kPiece = 8;
//! What the upstream reports when it reports usage.
constexpr long long kUpstreamInput = 31, kUpstreamOutput = 23;

struct Combo {
    bool openai_client = false;
    std::string adapter;  //!< "anthropic" or "openai_compat"
    bool stream = false;
    bool usage = false;  //!< the upstream reports usage
    std::string name() const {
        return std::string(openai_client ? "openai client" : "anthropic client") + ", " + adapter +
               " adapter, " + (stream ? "streamed" : "whole") + ", usage " +
               (usage ? "reported" : "not reported");
    }
};

//! When the client hangs up; `stalled`: after the first delta, and the upstream falls silent
//! before its end.
enum class HangUp { never, after_first_delta, at_the_end, stalled };

//! One scripted turn per (usage, hold point); the prompt names the turn.
std::string marker(bool usage, HangUp h) {
    if (h == HangUp::stalled) return "[stall]";
    return std::string("[u") + (usage ? "1" : "0") + "-h" + std::to_string(static_cast<int>(h)) +
           "]";
}

Json scenario() {
    Json turns = Json::array();
    for (bool usage : {true, false}) {
        auto turn = [&](HangUp h, Json stream) {
            Json t{{"match", marker(usage, h)},
                   {"text", kAnswer},
                   {"times", 0},
                   {"stream", std::move(stream)}};
            if (usage)
                t["usage"] = {{"input_tokens", kUpstreamInput}, {"output_tokens", kUpstreamOutput}};
            else
                t["report_usage"] = false;
            return t;
        };
        turns.push_back(turn(HangUp::never, {{"chunk_size", kPiece}}));
        // Held before the event that ends the answer (a whole answer: before all of it).
        turns.push_back(turn(HangUp::at_the_end, {{"chunk_size", kPiece}, {"hold_at", "end"}}));
        // Held after the first text delta: Anthropic sends message_start, ping and
        // content_block_start before it, OpenAI a role chunk.
        Json an = turn(HangUp::after_first_delta, {{"chunk_size", kPiece}, {"hold_at", 4}});
        an["protocol"] = "anthropic";
        Json oa = turn(HangUp::after_first_delta, {{"chunk_size", kPiece}, {"hold_at", 2}});
        oa["protocol"] = "openai";
        turns.push_back(an);
        turns.push_back(oa);
    }
    // Held after the first delta; once released, the rest of the text (an event per write, so
    // the gateway's writes to the client that left fail), then silent before the end until the
    // gateway hangs up (nobody releases the second hold).
    for (auto [protocol, at] : {std::pair{"anthropic", 4}, std::pair{"openai", 2}})
        turns.push_back(
            {{"match", "[stall]"},
             {"protocol", protocol},
             {"text", kAnswer},
             {"times", 0},
             {"usage", {{"input_tokens", kUpstreamInput}, {"output_tokens", kUpstreamOutput}}},
             {"stream",
              {{"chunk_size", kPiece}, {"hold_at", Json::array({at, "end"})}, {"delay_ms", 20}}}});
    return Json{{"turns", turns}};
}

fs::path write_scenario(const TempDir& tmp) {
    const fs::path p = tmp / "cut_scenario.json";
    write_file(p, scenario().dump(1));
    return p;
}

//! What the request log and the ledger say about one request.
struct Billed {
    std::string request_id;
    Json line;  //!< the gateway's log line
    long long status = 0, input = 0, output = 0, cost = 0, charged = 0, charge_rows = 0;
    std::string error_kind;
};

struct Rig {
    Store s{"client-cut"};
    FakeUpstream up{write_scenario(s.tmp), s.tmp / "upstream.log"};
    fs::path plugins = make_plugins_dir(s.tmp / "adapters", {"openai_compat", "anthropic"});
    std::unique_ptr<GatewayProcess> gw;
    std::string key;

    Rig() {
        ServeOptions o = s.serve_options();
        o.plugins_dir = plugins;
        for (std::string adapter : {"anthropic", "openai_compat"}) {
            std::vector<std::string> args{
                "channel",       "add",
                "--name",        adapter,
                "--type",        adapter,
                "--base-url",    adapter == "anthropic" ? up.anthropic_base_url() : up.base_url(),
                "--key",         "sk-up",
                "--models",      "up-model",
                "--map",         "cut-" + adapter + "=up-model",
                "--plugins-dir", plugins.string(),
                "--scripts-dir", o.scripts_dir.string()};
            // On MariaDB the channel's key is sealed with the data folder's secret, as serve's.
            if (!s.db_url.empty()) args.insert(args.end(), {"--data", s.data.string()});
            must(args);
        }
        must({"price", "set", "--model", "cut-*", "--input", "3", "--output", "15"});
        must({"user", "add", "--name", "thrifty"});
        auto k = s.cli({"key", "create", "--user", "thrifty", "--name", "thrifty-key"});
        INFO(k.err);
        REQUIRE(k.exit_code == 0);
        key = last_line(k.out);
        must({"user", "topup", "--user", "thrifty", "--amount", "100"});
        gw = std::make_unique<GatewayProcess>(o);
    }
    void must(std::vector<std::string> args) {
        auto r = s.cli(args);
        INFO(args[0] << " " << args[1] << ": " << r.err);
        REQUIRE(r.exit_code == 0);
    }

    int held() const { return up_json("GET", "/__held").value("held", -1); }
    void release() const { up_json("POST", "/__release"); }
    Json up_json(const std::string& method, const std::string& path) const {
        return Json::parse(http_request(up.port(), method, path).body, nullptr, false);
    }

    //! Sends one request for `c`, hangs up as `h` says, and returns what was logged and charged.
    Billed run(const Combo& c, HangUp h) {
        const size_t logged_before = request_logs(*gw).size();
        const std::string prompt = marker(c.usage, h) + " say it";
        const std::string model = "cut-" + c.adapter;
        RawClient client(gw->port());
        std::vector<std::string> headers{c.openai_client ? "Authorization: Bearer " + key
                                                         : "x-api-key: " + key};
        if (!c.openai_client) headers.push_back("anthropic-version: 2023-06-01");
        if (h == HangUp::never) headers.push_back("Connection: close");
        client.post(c.openai_client ? "/v1/chat/completions" : "/v1/messages", headers,
                    c.openai_client ? openai_body(model, prompt, c.stream)
                                    : anthropic_body(model, prompt, c.stream));
        if (h == HangUp::never) {
            REQUIRE(client.read_to_end());
            CHECK(client.received().rfind("HTTP/1.1 200", 0) == 0);
            CHECK(client.received().find(kAnswer.substr(kAnswer.size() - kPiece)) !=
                  std::string::npos);
        } else {
            if (!c.stream) {
                // A whole answer reaches the client all at once: it hangs up while waiting.
                REQUIRE(eventually([&] { return held() == 1; }, 10s));
            } else if (h == HangUp::after_first_delta || h == HangUp::stalled) {
                REQUIRE(client.read_until(kAnswer.substr(0, kPiece)));
            } else {
                REQUIRE(client.read_until(kAnswer.substr(kAnswer.size() - kPiece)));
            }
            // Nothing after what the upstream sent before its hold reached the client.
            CHECK(client.received().find(c.openai_client ? "finish_reason\":\""
                                                         : "message_delta") == std::string::npos);
            client.hang_up();
            release();  // the upstream goes on only now: the gateway saw the hang-up first
        }
        // A silent upstream is left 10 s after the gateway saw the hang-up (kReadAfterClientLeft).
        REQUIRE(eventually([&] { return request_logs(*gw).size() > logged_before; }, 30s));
        Billed b;
        b.line = request_logs(*gw).at(logged_before);
        b.request_id = b.line.value("request_id", "");
        return b;
    }

    //! Fills in the request log row and the ledger's charge of `b` (the journal writes them a
    //! little later).
    void read_store(Billed& b) const {
        auto db = s.open_db();
        bool found = false;
        REQUIRE(eventually(
            [&] {
                auto r = db->with_session("read the request log", [&](soci::session& q) {
                    soci::indicator ik;
                    long long rows = 0;
                    q << "SELECT COUNT(*) FROM request_logs WHERE request_id = :r",
                        soci::use(b.request_id), soci::into(rows);
                    found = rows == 1;
                    if (!found) return;
                    q << "SELECT status, input_tokens, output_tokens, cost, error_kind FROM "
                         "request_logs WHERE request_id = :r",
                        soci::use(b.request_id), soci::into(b.status), soci::into(b.input),
                        soci::into(b.output), soci::into(b.cost), soci::into(b.error_kind, ik);
                    soci::indicator ic;
                    const std::string ref = "req:" + b.request_id;
                    q << "SELECT COALESCE(-SUM(amount), 0), COUNT(*) FROM ledger WHERE ref = :r "
                         "AND kind = 'charge'",
                        soci::use(ref), soci::into(b.charged, ic), soci::into(b.charge_rows);
                });
                REQUIRE(r.ok());
                return found;
            },
            15s));
    }
};

std::vector<Combo> every_combination() {
    std::vector<Combo> all;
    for (bool openai_client : {false, true})
        for (std::string adapter : {"anthropic", "openai_compat"})
            for (bool stream : {true, false})
                for (bool usage : {true, false})
                    all.push_back(Combo{openai_client, adapter, stream, usage});
    return all;
}

}  // namespace

TEST_CASE("client cut: a client that hangs up is charged for what the upstream produced",
          "[integration][metering][client_cut]") {
    Rig rig;
    for (const Combo& c : every_combination()) {
        INFO(c.name());
        const Billed whole = rig.run(c, HangUp::never);
        const Billed end = rig.run(c, HangUp::at_the_end);
        std::optional<Billed> first;
        if (c.stream) first = rig.run(c, HangUp::after_first_delta);
        INFO("gateway log:\n" << rig.gw->log_text());

        Billed w = whole;
        rig.read_store(w);
        CHECK(w.status == 200);
        CHECK(w.error_kind.empty());
        // The upstream's count when it gave one; otherwise the host's estimate of the answer.
        const long long output =
            c.usage ? kUpstreamOutput : static_cast<long long>((kAnswer.size() + 3) / 4);
        CHECK(w.output == output);
        if (c.usage) CHECK(w.input == kUpstreamInput);
        CHECK(w.input > 0);
        CHECK(w.cost > 0);
        CHECK(w.charged == w.cost);
        CHECK(w.line.value("usage_source", "") == (c.usage ? "upstream" : "estimate"));

        std::vector<Billed> cut{end};
        if (first) cut.push_back(*first);
        for (Billed b : cut) {
            rig.read_store(b);
            INFO("request " << b.request_id << ": " << b.line.dump());
            CHECK(b.status == 499);
            CHECK(b.error_kind == "client_closed");
            CHECK(b.line.value("status", 0) == 499);
            CHECK(b.line.value("error_kind", "") == "client_closed");
            // Read to its end after the client left: the same tokens as the client that stayed,
            // so at least what the client received.
            CHECK(b.output == w.output);
            CHECK(b.input == w.input);
            CHECK(b.output >= static_cast<long long>((kPiece + 3) / 4));
            CHECK(b.line.value("usage_source", "") == w.line.value("usage_source", ""));
            // The ledger charges what the log says, once.
            CHECK(b.cost == w.cost);
            CHECK(b.charged == b.cost);
            CHECK(b.charge_rows == 1);
        }
    }
}

TEST_CASE("client cut: an upstream silent 10 s after the client left is left; what came is billed",
          "[integration][metering][client_cut]") {
    Rig rig;
    for (std::string adapter : {"anthropic", "openai_compat"}) {
        const Combo c{false, adapter, true, true};
        INFO(c.name());
        Billed b = rig.run(c, HangUp::stalled);
        INFO("gateway log:\n" << rig.gw->log_text());
        rig.read_store(b);
        CHECK(b.status == 499);
        CHECK(b.error_kind == "client_closed");
        // No usage came: the estimate of the text that did, all of it (the client had one delta).
        CHECK(b.line.value("usage_source", "") == "estimate");
        CHECK(b.output == static_cast<long long>((kAnswer.size() + 3) / 4));
        // The Anthropic upstream gave its prompt count at the start; it is kept.
        if (adapter == "anthropic") CHECK(b.input == kUpstreamInput);
        CHECK(b.input > 0);
        CHECK(b.cost > 0);
        CHECK(b.charged == b.cost);
        CHECK(b.charge_rows == 1);
        // The gateway hung up on the upstream: the held answer is gone from the hold.
        CHECK(eventually([&] { return rig.held() == 0; }, 5s));
    }
}
