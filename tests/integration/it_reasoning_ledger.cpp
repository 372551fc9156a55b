// reasoning_ledger through the real server: a client that, like Claude Code, never sends the
// provider's reasoning back runs a 20-turn tool loop against the fake upstream's DeepSeek mode
// (which refuses a tool turn without reasoning_content), with a gateway restart after turn 10
// and a switch to a Kimi-mode upstream at turn 15. With the ledger in the chain no request is
// refused; without it the same history is. Where the host offers session state and stream
// rewriting (ABI 1.4), the reasoning sent back is the recorded one, not the placeholder, and a
// leading <think> in the answer's text reaches the client as a thinking block. A switch to an
// Anthropic-compatible model drops the thinking it did not sign, which its upstream refuses.
#include <catch2/catch.hpp>

#include <map>

#include "fake_upstream_process.hpp"
#include "harness.hpp"

using namespace tianshu::it;

namespace {

constexpr int kTurns = 20;
constexpr int kRestartAfter = 10;
constexpr int kSwitchAt = 15;

std::string reasoning_of(int turn) {
    return "reasoning of turn " + std::to_string(turn);
}

//! One scripted answer per turn: reasoning, a little text, one read_file call with its own id.
fs::path write_scenario(const fs::path& path, const std::string& provider, int first, int last) {
    Json turns = Json::array();
    for (int t = first; t <= last; ++t) {
        Json turn = {
            {"reasoning", reasoning_of(t)},
            {"text", t == first ? "<think>inline plan</think>Reading." : "Reading."},
            {"tool_calls", Json::array({{{"id", "call_" + std::to_string(t)},
                                         {"name", "read_file"},
                                         {"arguments", {{"path", "f" + std::to_string(t)}}}}})}};
        turns.push_back(turn);
    }
    write_file(path, Json{{"provider", provider}, {"turns", turns}}.dump(1));
    return path;
}

const Json kTools = Json::array(
    {{{"name", "read_file"},
      {"description", "Reads a file"},
      {"input_schema", {{"type", "object"}, {"properties", {{"path", {{"type", "string"}}}}}}}}});

struct Answer {
    int status = 0;
    Json content = Json::array();  //!< the content blocks, deltas joined
    std::string body;              //!< the raw events, for diagnostics
};

//! A streamed /v1/messages call, its blocks put together.
Answer ask(int port, const std::string& key, const std::string& model, const Json& messages) {
    const Json body = {{"model", model},
                       {"max_tokens", 4096},
                       {"stream", true},
                       {"tools", kTools},
                       {"messages", messages}};
    Answer a;
    const auto events =
        stream_all(port, "/v1/messages", anthropic_auth(key), body.dump(), &a.status);
    std::string partial;
    for (const auto& e : events) {
        a.body += e.data + "\n";
        const Json j = e.json();
        const std::string type = j.is_object() ? j.value("type", "") : "";
        if (type == "content_block_start") {
            a.content.push_back(j["content_block"]);
            partial.clear();
        } else if (type == "content_block_delta" && !a.content.empty()) {
            Json& b = a.content.back();
            const Json& d = j["delta"];
            if (d.contains("text")) b["text"] = b.value("text", "") + d["text"].get<std::string>();
            if (d.contains("thinking"))
                b["thinking"] = b.value("thinking", "") + d["thinking"].get<std::string>();
            if (d.contains("partial_json")) partial += d["partial_json"].get<std::string>();
        } else if (type == "content_block_stop" && !a.content.empty() &&
                   a.content.back().value("type", "") == "tool_use" && !partial.empty()) {
            a.content.back()["input"] = Json::parse(partial);
        }
    }
    return a;
}

//! What Claude Code keeps of an answer in its history here: everything but the thinking.
Json without_thinking(const Json& content) {
    Json kept = Json::array();
    for (const Json& b : content)
        if (b.value("type", "") != "thinking") kept.push_back(b);
    return kept;
}

std::string first_tool_use_id(const Json& content) {
    for (const Json& b : content)
        if (b.value("type", "") == "tool_use") return b.value("id", "");
    return {};
}

struct LedgerRig {
    TempDir tmp{"ledger"};
    fs::path data = tmp / "data";
    fs::path plugins =
        make_plugins_dir(tmp / "plugins", {"openai_compat", "anthropic", "reasoning_ledger"});
    FakeUpstream deepseek{write_scenario(tmp / "deepseek.json", "deepseek", 1, kSwitchAt - 1),
                          tmp / "deepseek.log"};
    FakeUpstream kimi{write_scenario(tmp / "kimi.json", "kimi", kSwitchAt, kTurns),
                      tmp / "kimi.log"};
    //! An Anthropic-compatible upstream: it refuses a thinking block without a signature.
    FakeUpstream claude{[this] {
                            write_file(tmp / "claude.json",
                                       R"({"turns":[{"text":"Done.","times":0}]})");
                            return tmp / "claude.json";
                        }(),
                        tmp / "claude.log"};
    std::unique_ptr<GatewayProcess> gw;
    std::string key;

    LedgerRig() {
        fs::create_directories(data);
        // One setting, the capability's thinking, drives both the ledger (which reads
        // model_capabilities) and the encoder (which sends reasoning_content): the ledger's
        // config names no model. "ds" spells it the older way, "kimi" the capability's way;
        // claude-* is "anthropic" in the built-in table.
        add_channel("ds", deepseek, {"deepseek-reasoner", "bare-deepseek"},
                    R"({"options":{"reasoning_on_tool_turns":true}})");
        add_channel("kimi", kimi, {"kimi-k2-thinking"},
                    R"({"options":{"thinking":"reasoning_content"}})");
        add_channel("claude", claude, {"claude-opus", "bare-claude"}, "{}", "anthropic");
        const Json ledger_config = Json::object();
        import_chain({{"id", "ledger"},
                      {"tiers", {"*"}},
                      {"models", {"deepseek-*", "kimi-*", "claude-*"}},
                      {"routing", {{"mode", "passthrough"}}},
                      {"pre", {{{"plugin", "reasoning_ledger"}, {"config", ledger_config}}}},
                      {"post", {{{"plugin", "reasoning_ledger"}, {"config", ledger_config}}}}});
        import_chain({{"id", "bare"},
                      {"tiers", {"*"}},
                      {"models", {"bare-*"}},
                      {"routing", {{"mode", "passthrough"}}}});
        start();
        REQUIRE(gw->demo_key());
        key = *gw->demo_key();
    }

    void add_channel(const std::string& name, const FakeUpstream& up,
                     const std::vector<std::string>& models, const std::string& config,
                     const std::string& type = "openai_compat") {
        const std::string url = type == "anthropic" ? up.anthropic_base_url() : up.base_url();
        std::vector<std::string> args{"channel",       "add",
                                      "--data",        data.string(),
                                      "--name",        name,
                                      "--type",        type,
                                      "--base-url",    url,
                                      "--key",         "sk-up",
                                      "--plugins-dir", plugins.string(),
                                      "--config",      config};
        std::string list;
        for (const auto& m : models) list += (list.empty() ? "" : ",") + m;
        args.insert(args.end(), {"--models", list});
        const CliResult r = run_cli(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }

    void import_chain(const Json& chain) {
        const fs::path file = tmp / (chain["id"].get<std::string>() + ".chain.json");
        write_file(file, chain.dump());
        const CliResult r = run_cli({"chain", "import", file.string(), "--data", data.string(),
                                     "--plugins-dir", plugins.string()});
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }

    void start() {
        ServeOptions o;
        o.data_dir = data;
        o.plugins_dir = plugins;
        o.scripts_dir = source_dir() / "scripts";
        gw = std::make_unique<GatewayProcess>(o);
    }
    void restart() {
        REQUIRE(gw->terminate() == 0);
        start();
    }

    //! Whether the plugin said at load that this host lacks `what` ("session state", "rewrite
    //! streams"): the ABI 1.4 functions it probes.
    bool host_lacks(const std::string& what) const {
        return count_logs(gw->log_lines(), [&](const Json& l) {
                   const std::string m = l.value("msg", "");
                   return m.find("reasoning_ledger: this host") != std::string::npos &&
                          m.find(what) != std::string::npos;
               }) > 0;
    }

    std::string diag() const {
        return "gateway log:\n" + gw->log_text() + "\ndeepseek requests:\n" +
               deepseek.requests().dump(1) + "\nkimi requests:\n" + kimi.requests().dump(1);
    }
};

//! The reasoning_content of each assistant tool-call message of an upstream request, by the id
//! of its first call.
std::map<std::string, std::string> reasoning_sent(const Json& request) {
    std::map<std::string, std::string> out;
    for (const Json& m : request["body"]["messages"])
        if (m.value("role", "") == "assistant" && m.contains("tool_calls"))
            out[m["tool_calls"][0].value("id", "")] = m.value("reasoning_content", "");
    return out;
}

}  // namespace

TEST_CASE("reasoning_ledger: 20 tool turns, a restart and a model switch, no request refused",
          "[integration][reasoning_ledger]") {
    LedgerRig rig;
    Json history = Json::array({{{"role", "user"}, {"content", "Read the files one by one."}}});
    for (int turn = 1; turn <= kTurns; ++turn) {
        if (turn == kRestartAfter + 1) rig.restart();
        const std::string model = turn < kSwitchAt ? "deepseek-reasoner" : "kimi-k2-thinking";
        const Answer a = ask(rig.gw->port(), rig.key, model, history);
        INFO("turn " << turn << " (" << model << ")\n" << a.body << "\n" << rig.diag());
        REQUIRE(a.status == 200);
        const std::string id = first_tool_use_id(a.content);
        REQUIRE(id == "call_" + std::to_string(turn));
        history.push_back({{"role", "assistant"}, {"content", without_thinking(a.content)}});
        history.push_back(
            {{"role", "user"},
             {"content", Json::array({{{"type", "tool_result"},
                                       {"tool_use_id", id},
                                       {"content", "contents of f" + std::to_string(turn)}}})}});
    }

    // Not one refusal reached either upstream, and each saw only its own turns.
    for (const FakeUpstream* up : {&rig.deepseek, &rig.kimi})
        for (const Json& r : up->requests()) CHECK(r.value("status", 0) == 200);
    const Json ds = rig.deepseek.requests();
    const Json km = rig.kimi.requests();
    REQUIRE(ds.size() == kSwitchAt - 1);
    REQUIRE(km.size() == kTurns - kSwitchAt + 1);
    // Every earlier tool turn carried reasoning (the providers' check, read off the wire).
    for (const Json* all : {&ds, &km})
        for (const Json& r : *all)
            for (const auto& [id, reasoning] : reasoning_sent(r)) CHECK_FALSE(reasoning.empty());

    // The same history without the ledger is refused: the loop above is what made it pass.
    const Json bare = {{"model", "bare-deepseek"},
                       {"max_tokens", 4096},
                       {"tools", kTools},
                       {"messages", Json(history.begin(), history.begin() + 3)}};
    const HttpResponse refused =
        post_json(rig.gw->port(), "/v1/messages", anthropic_auth(rig.key), bare.dump());
    INFO(refused.body);
    CHECK(refused.status == 400);
    CHECK(refused.body.find("reasoning_content") != std::string::npos);

    if (rig.host_lacks("session state") || rig.host_lacks("rewrite streams")) {
        WARN(
            "this host lacks ABI 1.4 session state or stream rewriting: the placeholder "
            "answered every ledger miss; the recorded-reasoning checks are skipped");
        return;
    }
    // Turns answered by the same gateway process come back with their own reasoning; the
    // turns from before the restart get the placeholder.
    const auto before_switch = reasoning_sent(ds.back());  // turn 14's request: turns 1..13
    for (int t = 1; t < kSwitchAt - 1; ++t) {
        const std::string got = before_switch.at("call_" + std::to_string(t));
        INFO("turn " << t << ": " << got);
        if (t <= kRestartAfter)
            CHECK(got.find("not retained") != std::string::npos);
        else
            CHECK(got == reasoning_of(t));
    }
    // After the switch, Kimi gets DeepSeek's recorded reasoning as text (converted).
    const auto after_switch = reasoning_sent(km.back());
    CHECK(after_switch.at("call_" + std::to_string(kSwitchAt - 1)) == reasoning_of(kSwitchAt - 1));
}

TEST_CASE("reasoning_ledger: a leading <think> in the answer's text reaches the client as thinking",
          "[integration][reasoning_ledger]") {
    LedgerRig rig;
    if (rig.host_lacks("rewrite streams")) {
        WARN("this host lacks ABI 1.4 stream rewriting: <think> splitting is not checked");
        return;
    }
    const Json messages = Json::array({{{"role", "user"}, {"content", "Read f1."}}});
    const Answer a = ask(rig.gw->port(), rig.key, "deepseek-reasoner", messages);
    INFO(a.body << "\n" << rig.diag());
    REQUIRE(a.status == 200);
    // The upstream's reasoning, then the inline plan as its own thinking block, then the text.
    REQUIRE(a.content.size() == 4);
    CHECK(a.content[0].value("thinking", "") == reasoning_of(1));
    CHECK(a.content[1].value("type", "") == "thinking");
    CHECK(a.content[1].value("thinking", "") == "inline plan");
    CHECK(a.content[2].value("text", "") == "Reading.");
    CHECK(a.content[3].value("type", "") == "tool_use");
}

TEST_CASE("reasoning_ledger: switching to an Anthropic model drops the thinking it did not sign",
          "[integration][reasoning_ledger]") {
    LedgerRig rig;
    // A DeepSeek tool turn as the client got it from the gateway: its thinking has no signature.
    const Json messages = Json::array(
        {{{"role", "user"}, {"content", "Read f1."}},
         {{"role", "assistant"},
          {"content",
           {{{"type", "thinking"}, {"thinking", "deepseek reasoning"}},
            {{"type", "text"}, {"text", "Reading."}},
            {{"type", "tool_use"},
             {"id", "call_1"},
             {"name", "read_file"},
             {"input", {{"path", "f1"}}}}}}},
         {{"role", "user"},
          {"content", {{{"type", "tool_result"}, {"tool_use_id", "call_1"}, {"content", "x"}}}}}});
    auto body = [&](const std::string& model) {
        return Json{{"model", model},
                    {"max_tokens", 4096},
                    {"thinking", {{"type", "enabled"}, {"budget_tokens", 2048}}},
                    {"tools", kTools},
                    {"messages", messages}}
            .dump();
    };
    // Without the ledger the provider refuses the unsigned thinking block.
    const HttpResponse bare =
        post_json(rig.gw->port(), "/v1/messages", anthropic_auth(rig.key), body("bare-claude"));
    INFO(bare.body << "\n" << rig.diag());
    CHECK(bare.status == 400);
    CHECK(bare.body.find("signature") != std::string::npos);

    const HttpResponse r =
        post_json(rig.gw->port(), "/v1/messages", anthropic_auth(rig.key), body("claude-opus"));
    INFO(r.body);
    REQUIRE(r.status == 200);
    const Json sent = rig.claude.last_request()["body"];
    for (const Json& b : sent["messages"][1]["content"]) CHECK(b.value("type", "") != "thinking");
    CHECK(sent["messages"][1]["content"].size() == 2);  // text and tool_use kept
    // The last assistant turn has no thinking of its own now: thinking is off for this request.
    CHECK(sent["thinking"]["type"] == "disabled");
}
