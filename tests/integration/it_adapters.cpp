// The openai_compat adapter end to end: the real `tianshu` binary, a channel of type
// openai_compat added with the CLI (sealed key), and the strict scripted fake upstream
// (tests/fake_upstream/fake_upstream.mjs, run with node) standing in for an OpenAI-compatible
// provider. Clients speak Anthropic Messages or OpenAI Chat; the upstream only ever sees a
// valid OpenAI Chat body (it answers 400 to anything else), and what it received is read back
// from its GET /__requests. Scenarios live in tests/integration/scenarios/adapter_*.json.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fake_upstream_process.hpp"
#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;
using Catch::StartsWith;

namespace {

fs::path scenario(const std::string& name) {
    return source_dir() / "tests" / "integration" / "scenarios" / name;
}

//! One HTTP chunk of a streamed answer and when it arrived (ms after the request was sent).
struct TimedChunk {
    double at_ms;
    std::string bytes;
};

//! Sends one request over a raw socket and reads a chunked answer chunk by chunk, so a test
//! sees how the gateway framed its writes (the SDKs and Poco hide it).
std::vector<TimedChunk> timed_chunks(int port, const std::string& path, const Headers& headers,
                                     const std::string& body) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    std::string req = "POST " + path + " HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n";
    for (const auto& [k, v] : headers) req += k + ": " + v + "\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
    const auto sent = std::chrono::steady_clock::now();
    std::string buf;
    double last_at = 0;
    auto fill = [&] {
        pollfd p{fd, POLLIN, 0};
        REQUIRE(::poll(&p, 1, 10000) == 1);
        char tmp[65536];
        const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
        REQUIRE(n > 0);
        last_at = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
                      .count();
        buf.append(tmp, static_cast<size_t>(n));
    };
    size_t head_end;
    while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) fill();
    INFO(buf.substr(0, head_end));
    REQUIRE(buf.rfind("HTTP/1.1 200", 0) == 0);
    REQUIRE(buf.substr(0, head_end).find("Transfer-Encoding: chunked") != std::string::npos);
    buf.erase(0, head_end + 4);
    std::vector<TimedChunk> chunks;
    for (;;) {
        size_t eol;
        while ((eol = buf.find("\r\n")) == std::string::npos) fill();
        const size_t size = std::stoul(buf.substr(0, eol), nullptr, 16);
        while (buf.size() < eol + 2 + size + 2) fill();
        if (size == 0) break;
        // Stamped with the receive that completed it: a chunk split across receives is late.
        chunks.push_back({last_at, buf.substr(eol + 2, size)});
        buf.erase(0, eol + 2 + size + 2);
    }
    ::close(fd);
    return chunks;
}

//! The events of a whole SSE text (each `event:` and `data:` line of a block).
std::vector<SseEvent> sse_events(const std::string& text) {
    std::vector<SseEvent> events;
    size_t from = 0;
    for (size_t end; (end = text.find("\n\n", from)) != std::string::npos; from = end + 2) {
        SseEvent e;
        std::istringstream block(text.substr(from, end - from));
        for (std::string line; std::getline(block, line);) {
            if (line.rfind("event: ", 0) == 0) e.event = line.substr(7);
            if (line.rfind("data: ", 0) == 0) e.data = line.substr(6);
        }
        if (!e.event.empty() || !e.data.empty()) events.push_back(std::move(e));
    }
    return events;
}

//! The chunks' bytes, in order: the whole body.
std::string joined(const std::vector<TimedChunk>& chunks) {
    std::string all;
    for (const auto& c : chunks) all += c.bytes;
    return all;
}

size_t occurrences(const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// ---- one gateway + one fake upstream ---------------------------------------------------------

struct Rig {
    TempDir tmp;
    fs::path data = tmp / "data";
    fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat", "anthropic"});
    //! The adapter the default channel uses: "openai_compat" or "anthropic".
    std::string adapter = "openai_compat";
    fs::path scripts = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    FakeUpstream up;
    std::unique_ptr<GatewayProcess> gw;
    std::string key;
    std::vector<std::string> serve_args;  //!< extra `tianshu serve` flags

    Rig(const std::string& tag, const std::string& scenario_file)
        : tmp(tag), up(scenario(scenario_file), tmp / "upstream.log") {
        // `channel add --key` on a data dir that does not exist yet fails (see the last test
        // case); the other cases are about the adapter, so the folder exists beforehand.
        fs::create_directories(data);
    }

    CliResult add_channel(const std::string& name, const std::string& upstream_key,
                          const std::vector<std::string>& maps, const std::string& config = {}) {
        std::vector<std::string> args{
            "channel",       "add",
            "--data",        data.string(),
            "--name",        name,
            "--type",        adapter,
            "--base-url",    adapter == "anthropic" ? up.anthropic_base_url() : up.base_url(),
            "--key",         upstream_key,
            "--models",      "up-model",
            "--plugins-dir", plugins.string(),
            "--scripts-dir", scripts.string()};
        for (const auto& m : maps) args.insert(args.end(), {"--map", m});
        if (!config.empty()) args.insert(args.end(), {"--config", config});
        return run_cli(args);
    }
    void add_default_channel(const std::string& config = {}) {
        auto r = add_channel("up", "sk-up", {"claude-*=up-model"}, config);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    }
    void start() {
        ServeOptions o;
        o.data_dir = data;
        o.plugins_dir = plugins;
        o.scripts_dir = scripts;
        o.extra_args = serve_args;
        gw = std::make_unique<GatewayProcess>(o);
        REQUIRE(gw->demo_key());
        key = *gw->demo_key();
        // Every channel built: no error line at start.
        INFO(gw->log_text());
        CHECK(count_logs(gw->log_lines(),
                         [](const Json& l) { return l.value("level", "") == "error"; }) == 0);
    }
    ~Rig() {
        if (std::getenv("TIANSHU_IT_VERBOSE") && gw) std::fprintf(stderr, "%s\n", diag().c_str());
    }
    int port() const { return gw->port(); }
    std::string diag() const {
        return "gateway log:\n" + gw->log_text() + "\nupstream requests:\n" +
               up.requests().dump(1) + "\nupstream stderr:\n" + read_file(tmp / "upstream.log");
    }
};

// ---- reading an Anthropic stream strictly ------------------------------------------------

struct Block {
    std::string type;
    std::string id, name;
    std::string text;                   //!< text / thinking
    std::vector<std::string> partials;  //!< input_json_delta fragments
    Json start;
};

struct AnthropicStream {
    std::vector<std::string> names;  //!< event names, pings left out
    std::vector<Block> blocks;
    std::string stop_reason;
    Json message_start, message_delta, error;
    bool stopped = false;  //!< message_stop seen
};

//! Checks Anthropic's stream grammar (what Claude Code relies on) and collects the blocks.
//! `allow_error_end`: the stream may end with one `error` event instead of message_stop.
AnthropicStream read_anthropic(const std::vector<SseEvent>& events, bool allow_error_end = false) {
    AnthropicStream s;
    int open = -1;
    bool delta_seen = false;
    for (size_t i = 0; i < events.size(); ++i) {
        const auto& e = events[i];
        INFO("event #" << i << " " << e.event << ": " << e.data);
        Json j = e.json();
        REQUIRE(j.is_object());
        CHECK(j.value("type", "") == e.event);
        if (e.event == "ping") continue;
        s.names.push_back(e.event);
        REQUIRE_FALSE(s.stopped);    // nothing after message_stop
        REQUIRE(s.error.is_null());  // nothing after an error
        if (i == 0) CHECK(e.event == "message_start");
        if (e.event == "message_start") {
            CHECK(i == 0);
            s.message_start = j;
            CHECK(j["message"].value("role", "") == "assistant");
            CHECK(j["message"]["content"] == Json::array());
        } else if (e.event == "content_block_start") {
            CHECK(open == -1);  // Anthropic blocks are sequential
            CHECK(j.value("index", -1) == static_cast<int>(s.blocks.size()));
            open = j.value("index", -1);
            Block b;
            b.start = j["content_block"];
            b.type = b.start.value("type", "");
            if (b.type == "tool_use") {
                b.id = b.start.value("id", "");
                b.name = b.start.value("name", "");
                CHECK(b.start["input"] == Json::object());
            }
            s.blocks.push_back(b);
        } else if (e.event == "content_block_delta") {
            REQUIRE(open >= 0);
            CHECK(j.value("index", -1) == open);
            Block& b = s.blocks[static_cast<size_t>(open)];
            Json d = j["delta"];
            const std::string dt = d.value("type", "");
            if (b.type == "text") {
                CHECK(dt == "text_delta");
                b.text += d.value("text", "");
            } else if (b.type == "tool_use") {
                CHECK(dt == "input_json_delta");
                b.partials.push_back(d.value("partial_json", ""));
            } else if (b.type == "thinking") {
                CHECK((dt == "thinking_delta" || dt == "signature_delta"));
                b.text += d.value("thinking", "");
            }
        } else if (e.event == "content_block_stop") {
            CHECK(j.value("index", -2) == open);
            open = -1;
        } else if (e.event == "message_delta") {
            CHECK(open == -1);
            CHECK_FALSE(delta_seen);
            delta_seen = true;
            s.message_delta = j;
            s.stop_reason = j["delta"].value("stop_reason", "");
        } else if (e.event == "message_stop") {
            CHECK(delta_seen);
            s.stopped = true;
        } else if (e.event == "error") {
            CHECK(allow_error_end);
            s.error = j;
        } else {
            FAIL("unexpected event " << e.event);
        }
    }
    if (allow_error_end && !s.error.is_null()) return s;
    CHECK(s.stopped);
    return s;
}

Json concat_json(const std::vector<std::string>& parts) {
    std::string all;
    for (const auto& p : parts) all += p;
    return Json::parse(all, nullptr, false);
}

//! The text of an OpenAI message content: a string or text parts.
std::string content_text(const Json& content) {
    if (content.is_string()) return content.get<std::string>();
    std::string out;
    if (content.is_array())
        for (const auto& p : content)
            if (p.value("type", "") == "text") out += p.value("text", "");
    return out;
}

const std::set<std::string> kOpenAiTopLevel{"model",
                                            "messages",
                                            "max_tokens",
                                            "max_completion_tokens",
                                            "temperature",
                                            "top_p",
                                            "n",
                                            "stream",
                                            "stream_options",
                                            "stop",
                                            "presence_penalty",
                                            "frequency_penalty",
                                            "logit_bias",
                                            "user",
                                            "tools",
                                            "tool_choice",
                                            "parallel_tool_calls",
                                            "response_format",
                                            "seed",
                                            "reasoning_effort",
                                            "logprobs",
                                            "top_logprobs",
                                            "metadata",
                                            "store",
                                            "service_tier",
                                            "prediction",
                                            "modalities",
                                            "audio"};

//! What every upstream request of this adapter must look like. The upstream is asked the way
//! the client asked: `streamed` when the client's request was.
void check_upstream_body(Json record, bool streamed) {
    INFO("upstream record: " << record.dump());
    CHECK(record.value("status", 0) == 200);
    CHECK(record.value("path", "") == "/v1/chat/completions");
    CHECK(record.value("protocol", "") == "openai");
    Json b = record["body"];
    REQUIRE(b.is_object());
    for (auto it = b.begin(); it != b.end(); ++it) {
        INFO("top-level field " << it.key());
        CHECK(kOpenAiTopLevel.count(it.key()) == 1);
    }
    CHECK(b.value("model", "") == "up-model");
    CHECK(b["messages"].is_array());
    if (!streamed) {
        CHECK_FALSE(b.value("stream", false));
        CHECK_FALSE(b.contains("stream_options"));  // providers refuse it without stream
        CHECK(record["headers"].value("accept", "") == "application/json");
        return;
    }
    CHECK(b.value("stream", false) == true);
    REQUIRE(b.contains("stream_options"));
    CHECK(b["stream_options"].value("include_usage", false) == true);
    CHECK(record["headers"].value("accept", "") == "text/event-stream");
}

Json tools_json() {
    return Json::parse(R"([
      {"name": "write_file", "description": "Write a file",
       "input_schema": {"type": "object",
                        "properties": {"path": {"type": "string"}, "content": {"type": "string"},
                                       "mode": {"type": "integer"}},
                        "required": ["path", "content"]}},
      {"name": "read_file", "description": "Read a file",
       "input_schema": {"type": "object",
                        "properties": {"path": {"type": "string"},
                                       "limit": {"type": "array", "items": {"type": "integer"}}},
                        "required": ["path"]}}
    ])");
}

Json anthropic_tool_request(const std::string& text, bool stream) {
    Json b{{"model", "claude-sonnet-4-5"},
           {"max_tokens", 1024},
           {"tools", tools_json()},
           {"messages", Json::array({{{"role", "user"}, {"content", text}}})}};
    if (stream) b["stream"] = true;
    return b;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

TEST_CASE("adapter: a text answer in both client protocols; the upstream gets a clean OpenAI body",
          "[integration][adapter]") {
    Rig rig("adapter-text", "adapter_text.json");
    rig.add_default_channel();
    rig.start();
    const std::string expected = "Hello from the upstream model, streamed in small chunks.";

    // Anthropic, not streamed, with top-level fields the upstream does not know.
    Json body = Json::parse(anthropic_body("claude-sonnet-4-5", "first question"));
    body["context_management"] = Json::object();
    body["foo"] = 1;
    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key), body.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    Json j = r.json();
    CHECK(j.value("type", "") == "message");
    CHECK(j.value("role", "") == "assistant");
    CHECK(anthropic_text(j) == expected);
    CHECK(j.value("stop_reason", "") == "end_turn");
    CHECK(j["usage"].value("input_tokens", -1) == 21);
    CHECK(j["usage"].value("output_tokens", -1) == 11);

    // Anthropic, streamed: the exact event order.
    body["stream"] = true;
    body["messages"][0]["content"] = "second question";
    int status = 0;
    auto events =
        stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key), body.dump(), &status);
    REQUIRE(status == 200);
    auto s = read_anthropic(events);
    REQUIRE(s.blocks.size() == 1);
    CHECK(s.blocks[0].type == "text");
    CHECK(s.blocks[0].text == expected);
    std::vector<std::string> expected_names{"message_start", "content_block_start"};
    size_t deltas = std::count(s.names.begin(), s.names.end(), "content_block_delta");
    CHECK(deltas > 1);  // streamed in pieces, not in one lump
    for (size_t i = 0; i < deltas; ++i) expected_names.push_back("content_block_delta");
    for (const char* n : {"content_block_stop", "message_delta", "message_stop"})
        expected_names.push_back(n);
    CHECK(s.names == expected_names);
    CHECK(s.stop_reason == "end_turn");
    CHECK(s.message_delta["usage"].value("output_tokens", -1) == 11);

    // OpenAI, not streamed, by the channel's own model name, with an unknown field.
    Json ob = Json::parse(openai_body("up-model", "third question"));
    ob["foo"] = 1;
    r = post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key), ob.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    j = r.json();
    CHECK(j.value("object", "") == "chat.completion");
    CHECK(openai_text(j) == expected);
    CHECK(j["choices"][0].value("finish_reason", "") == "stop");
    CHECK(j["usage"].value("prompt_tokens", -1) == 21);
    CHECK(j["usage"].value("completion_tokens", -1) == 11);

    // OpenAI, streamed.
    ob["stream"] = true;
    ob["messages"][0]["content"] = "fourth question";
    events =
        stream_all(rig.port(), "/v1/chat/completions", openai_auth(rig.key), ob.dump(), &status);
    REQUIRE(status == 200);
    REQUIRE(!events.empty());
    CHECK(events.back().data == "[DONE]");
    CHECK(openai_stream_text(events) == expected);
    std::string finish;
    for (const auto& e : events) {
        Json c = e.json();
        if (!c.is_object()) continue;
        CHECK(c.value("object", "") == "chat.completion.chunk");
        if (c.contains("choices") && !c["choices"].empty() &&
            c["choices"][0]["finish_reason"].is_string())
            finish = c["choices"][0]["finish_reason"];
    }
    CHECK(finish == "stop");

    // What the upstream received: four valid OpenAI bodies, nothing unknown forwarded.
    Json recs = rig.up.requests();
    REQUIRE(recs.size() == 4);
    const std::vector<std::string> questions{"first question", "second question", "third question",
                                             "fourth question"};
    const bool streamed[] = {false, true, false, true};
    for (size_t i = 0; i < recs.size(); ++i) {
        check_upstream_body(recs[i], streamed[i]);
        Json b = recs[i]["body"];
        CHECK_FALSE(b.contains("foo"));
        CHECK_FALSE(b.contains("context_management"));
        REQUIRE(b["messages"].size() == 1);
        CHECK(b["messages"][0].value("role", "") == "user");
        CHECK(content_text(b["messages"][0]["content"]) == questions[i]);
    }
    CHECK(recs[0]["body"].value("max_tokens", -1) == 256);  // the client's max_tokens
    // The gateway's request log names the channel.
    auto logs = request_logs(*rig.gw);
    CHECK(logs.size() >= 4);
    for (const auto& l : logs) CHECK(l.value("channel", "") == "up");
}

TEST_CASE("adapter: a silent upstream mid-stream gets pings, never before the stream opens",
          "[integration][adapter][ping]") {
    // The upstream waits 600 ms before its first byte, then 700 ms between chunks; the gateway
    // pings after 150 ms of silence.
    Rig rig("adapter-ping", "adapter_silence.json");
    rig.serve_args = {"--stream-ping-ms", "150"};
    rig.add_default_channel();
    rig.start();

    Json body = Json::parse(anthropic_body("claude-sonnet-4-5", "think slowly"));
    body["stream"] = true;
    SseStream s(rig.port(), "/v1/messages", anthropic_auth(rig.key), body.dump());
    REQUIRE(s.status() == 200);
    auto events = s.rest();
    std::vector<std::string> names;
    for (const auto& e : events) names.push_back(e.event);
    INFO(Json(names).dump());
    // Nothing, not even a ping, before message_start: until the upstream answers, the gateway
    // can still fail with a plain HTTP error.
    REQUIRE(!names.empty());
    CHECK(names.front() == "message_start");
    // Two silences of 700 ms between the three chunks: at least two pings in each, and none
    // after message_stop.
    size_t pings = std::count(names.begin(), names.end(), "ping");
    CHECK(pings >= 4);
    CHECK(names.back() == "message_stop");
    for (const auto& e : events)
        if (e.event == "ping") CHECK(e.json() == Json{{"type", "ping"}});
    // Pings sit between deltas: the text arrives whole and in order.
    CHECK(anthropic_stream_text(events) == "abcdefghi");
    auto first_delta = std::find(names.begin(), names.end(), "content_block_delta");
    auto last_delta = std::find(names.rbegin(), names.rend(), "content_block_delta").base();
    CHECK(std::count(first_delta, last_delta, "ping") >= 4);

    // An OpenAI client gets SSE comments (its protocol has no ping chunk); its SDK ignores them.
    Json ob = Json::parse(openai_body("up-model", "think slowly"));
    ob["stream"] = true;
    SseStream o(rig.port(), "/v1/chat/completions", openai_auth(rig.key), ob.dump());
    REQUIRE(o.status() == 200);
    auto chunks = o.rest();
    CHECK(openai_stream_text(chunks) == "abcdefghi");
    CHECK(chunks.back().data == "[DONE]");
    CHECK(o.comments().size() >= 4);
    for (const auto& [before, line] : o.comments()) {
        CHECK(line == ": ping");
        CHECK(before >= 1);  // after the first chunk, never before the stream opened
    }

    // A client that does not stream gets no pings in its JSON body.
    body.erase("stream");
    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key), body.dump());
    REQUIRE(r.status == 200);
    CHECK(anthropic_text(r.json()) == "abcdefghi");
}

TEST_CASE("adapter: events that arrive together leave together, and none waits for the next",
          "[integration][adapter][bursts]") {
    // The upstream writes its 10 events in two bursts of 5, 600 ms apart (role + 4 text chunks;
    // 2 text chunks, finish, usage, [DONE]). Each burst is one receive at the gateway.
    Rig rig("adapter-bursts", "adapter_bursts.json");
    rig.add_default_channel();
    rig.start();

    Json body = Json::parse(anthropic_body("claude-sonnet-4-5", "two bursts"));
    body["stream"] = true;
    auto chunks = timed_chunks(rig.port(), "/v1/messages", anthropic_auth(rig.key), body.dump());
    const std::string all = joined(chunks);
    INFO(all);
    // One write per burst: the first carries message_start, the block's start and four deltas,
    // the second the rest through message_stop.
    REQUIRE(chunks.size() == 2);
    CHECK(occurrences(chunks[0].bytes, "event: message_start") == 1);
    CHECK(occurrences(chunks[0].bytes, "event: content_block_delta") == 4);
    CHECK(occurrences(chunks[1].bytes, "event: content_block_delta") == 2);
    CHECK(occurrences(chunks[1].bytes, "event: message_stop") == 1);
    // The first burst reached the client when it arrived, not with the second.
    CHECK(chunks[1].at_ms - chunks[0].at_ms >= 400);
    auto events = sse_events(all);
    CHECK(events.back().event == "message_stop");
    CHECK(anthropic_stream_text(events) == "abcdefghijkl");

    // An OpenAI client's chunks go out the same way.
    Json ob = Json::parse(openai_body("up-model", "two bursts"));
    ob["stream"] = true;
    auto oc = timed_chunks(rig.port(), "/v1/chat/completions", openai_auth(rig.key), ob.dump());
    const std::string oall = joined(oc);
    INFO(oall);
    REQUIRE(oc.size() == 2);
    CHECK(oc[1].at_ms - oc[0].at_ms >= 400);
    CHECK(occurrences(oc[1].bytes, "data: [DONE]") == 1);
    CHECK(openai_stream_text(sse_events(oall)) == "abcdefghijkl");
}

TEST_CASE("adapter: a channel's HTTP proxy and timeout apply to its upstream calls",
          "[integration][adapter][proxy]") {
    // The fake upstream doubles as the HTTP proxy: the channel's base URL names a host that does
    // not exist, so only a request sent through the proxy can be answered.
    Rig rig("adapter-proxy", "adapter_silence.json");
    const std::string proxy = rig.up.base_url().substr(0, rig.up.base_url().size() - 3);
    auto add = [&](const std::string& name, std::vector<std::string> extra) {
        std::vector<std::string> args{"channel",       "add",
                                      "--data",        rig.data.string(),
                                      "--name",        name,
                                      "--type",        "openai_compat",
                                      "--key",         "sk-up",
                                      "--models",      name + "-model",
                                      "--plugins-dir", rig.plugins.string(),
                                      "--scripts-dir", rig.scripts.string()};
        args.insert(args.end(), extra.begin(), extra.end());
        auto r = run_cli(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    };
    add("proxied", {"--base-url", "http://upstream.invalid/v1", "--proxy", proxy});
    // 300 ms for the first byte, but this upstream is silent for 600 ms before answering.
    add("hasty", {"--base-url", rig.up.base_url(), "--timeout-ms", "300"});
    rig.start();

    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_body("proxied-model", "through the proxy"));
    INFO(r.body << "\n" << rig.diag());
    REQUIRE(r.status == 200);
    CHECK(anthropic_text(r.json()) == "abcdefghi");
    Json recs = rig.up.requests();
    REQUIRE(recs.size() == 1);
    // The proxy got the absolute URL (Poco writes the default port).
    CHECK_THAT(recs[0].value("path", ""), Catch::StartsWith("http://upstream.invalid") &&
                                              Catch::EndsWith("/v1/chat/completions"));

    const auto at = std::chrono::steady_clock::now();
    r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                  anthropic_body("hasty-model", "too slow"));
    CHECK(r.status == 504);
    CHECK(is_anthropic_error(r.json()));
    CHECK_THAT(r.body, Catch::Contains("hasty"));
    CHECK(std::chrono::steady_clock::now() - at < std::chrono::milliseconds(4000));
}

TEST_CASE("adapter: a key the upstream refuses is disabled with an alert; the next key answers",
          "[integration][adapter][failover]") {
    Rig rig("adapter-bad-key", "adapter_text.json");
    auto r = run_cli({"channel",       "add",
                      "--data",        rig.data.string(),
                      "--name",        "up",
                      "--type",        "openai_compat",
                      "--base-url",    rig.up.base_url(),
                      "--key",         "sk-revoked",
                      "--key",         "sk-up",
                      "--models",      "up-model",
                      "--map",         "claude-*=up-model",
                      "--plugins-dir", rig.plugins.string(),
                      "--scripts-dir", rig.scripts.string()});
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    rig.start();

    // Keys rotate: within a few requests the revoked one is tried, refused (401) and disabled,
    // while the client is answered by the other key every time.
    for (int i = 0; i < 4; ++i) {
        auto answer = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                                anthropic_body("claude-sonnet-4-5", "q" + std::to_string(i)));
        INFO(answer.body);
        CHECK(answer.status == 200);
    }
    auto alerts = count_logs(rig.gw->log_lines(), [](const Json& l) {
        return l.value("msg", "") == "alert: upstream key disabled";
    });
    CHECK(alerts == 1);
    // The key is disabled in the store by the loader's writer thread, not by the request.
    CliResult listed;
    REQUIRE(eventually(
        [&] {
            listed = run_cli({"channel", "list", "--data", rig.data.string(), "--json"});
            return listed.exit_code == 0 &&
                   listed.out.find("\"enabled\": false") != std::string::npos;
        },
        5s));
    Json channels = Json::parse(listed.out);
    INFO(listed.out);
    int disabled = 0;
    for (const auto& c : channels)
        for (const auto& k : c["keys"])
            if (!k.value("enabled", true)) {
                ++disabled;
                CHECK_THAT(k.value("disabled_reason", ""), Catch::Contains("401"));
            }
    CHECK(disabled == 1);
    // No upstream key ever appears in the log.
    CHECK(rig.gw->log_text().find("sk-revoked") == std::string::npos);
}

TEST_CASE("adapter: a streamed tool call with fragmented arguments and a late id/name",
          "[integration][adapter][tools]") {
    Rig rig("adapter-tool", "adapter_tools.json");
    rig.add_default_channel();
    rig.start();
    const Json write_args =
        Json::parse(R"({"path":"dir/a.txt","content":"hi \"there\" — ünïcode ✓","mode":420})");

    {
        int status = 0;
        auto events =
            stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_tool_request("please run single-tool", true).dump(), &status);
        REQUIRE(status == 200);
        auto s = read_anthropic(events);
        REQUIRE(s.blocks.size() == 1);
        const Block& b = s.blocks[0];
        CHECK(b.type == "tool_use");
        CHECK(b.id == "call_w1");
        CHECK(b.name == "write_file");
        CHECK(b.partials.size() > 1);  // fragments are passed on, not buffered into one
        CHECK(concat_json(b.partials) == write_args);
        CHECK(s.stop_reason == "tool_use");
    }
    // The same call, answered to a non-streaming client (from the upstream's whole answer).
    {
        auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                           anthropic_tool_request("again single-tool", false).dump());
        INFO(r.body);
        REQUIRE(r.status == 200);
        Json j = r.json();
        CHECK(j.value("stop_reason", "") == "tool_use");
        REQUIRE(j["content"].size() == 1);
        CHECK(j["content"][0].value("type", "") == "tool_use");
        CHECK(j["content"][0].value("id", "") == "call_w1");
        CHECK(j["content"][0].value("name", "") == "write_file");
        CHECK(j["content"][0]["input"] == write_args);
    }
    // The upstream says finish_reason "stop" after a tool call: still tool_use.
    {
        int status = 0;
        auto events =
            stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_tool_request("wrong-finish please", true).dump(), &status);
        REQUIRE(status == 200);
        auto s = read_anthropic(events);
        REQUIRE(s.blocks.size() == 1);
        CHECK(s.blocks[0].type == "tool_use");
        CHECK(s.blocks[0].id == "call_s1");
        CHECK(s.blocks[0].name == "read_file");
        CHECK(concat_json(s.blocks[0].partials) == Json{{"path", "b.txt"}});
        CHECK(s.stop_reason == "tool_use");
    }
    // The tools reached the upstream as OpenAI functions.
    Json recs = rig.up.requests();
    REQUIRE(recs.size() == 3);
    for (size_t i = 0; i < recs.size(); ++i) {
        Json rec = recs[i];
        check_upstream_body(rec, i != 1);
        Json tools = rec["body"]["tools"];
        REQUIRE(tools.size() == 2);
        CHECK(tools[0].value("type", "") == "function");
        CHECK(tools[0]["function"].value("name", "") == "write_file");
        CHECK(tools[0]["function"]["parameters"] == tools_json()[0]["input_schema"]);
    }
}

TEST_CASE("adapter: two parallel tool calls interleaved by index, then the tool loop",
          "[integration][adapter][tools]") {
    Rig rig("adapter-parallel", "adapter_tools.json");
    rig.add_default_channel();
    rig.start();
    const Json p1 = Json{{"path", "a.txt"}, {"content", "alpha alpha alpha"}};
    const Json p2 = Json{{"path", "b.txt"}, {"limit", {1, 2, 3}}};

    Json first = anthropic_tool_request("parallel-tools now", true);
    int status = 0;
    auto events =
        stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key), first.dump(), &status);
    REQUIRE(status == 200);
    auto s = read_anthropic(events);
    REQUIRE(s.blocks.size() == 2);
    CHECK(s.stop_reason == "tool_use");
    CHECK(s.blocks[0].type == "tool_use");
    CHECK(s.blocks[0].id == "call_p1");
    CHECK(s.blocks[0].name == "write_file");
    CHECK(concat_json(s.blocks[0].partials) == p1);
    CHECK(s.blocks[1].type == "tool_use");
    CHECK(s.blocks[1].id == "call_p2");
    CHECK(s.blocks[1].name == "read_file");
    CHECK(concat_json(s.blocks[1].partials) == p2);

    // The tool loop: the assistant turn goes back with both tool_use blocks, the user turn with
    // one tool_result each (the first an error), then a text block.
    Json assistant = Json::array();
    for (const auto& b : s.blocks)
        assistant.push_back({{"type", "tool_use"},
                             {"id", b.id},
                             {"name", b.name},
                             {"input", concat_json(b.partials)}});
    Json results = Json::array(
        {{{"type", "tool_result"},
          {"tool_use_id", "call_p1"},
          {"is_error", true},
          {"content", "disk full"}},
         {{"type", "tool_result"},
          {"tool_use_id", "call_p2"},
          {"content", Json::array({{{"type", "text"}, {"text", "contents of b: hello"}}})}},
         {{"type", "text"}, {"text", "continue please"}}});
    Json second = first;
    second["messages"].push_back({{"role", "assistant"}, {"content", assistant}});
    second["messages"].push_back({{"role", "user"}, {"content", results}});
    second.erase("stream");
    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key), second.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(anthropic_text(r.json()) == "All done: a.txt failed, b.txt read.");
    CHECK(r.json().value("stop_reason", "") == "end_turn");

    Json recs = rig.up.requests();
    REQUIRE(recs.size() == 2);
    check_upstream_body(recs[1], false);
    Json m = recs[1]["body"]["messages"];
    INFO("upstream messages: " << m.dump(1));
    REQUIRE(m.size() == 5);
    CHECK(m[0].value("role", "") == "user");
    CHECK(content_text(m[0]["content"]) == "parallel-tools now");
    CHECK(m[1].value("role", "") == "assistant");
    REQUIRE(m[1]["tool_calls"].size() == 2);
    CHECK(m[1]["tool_calls"][0].value("id", "") == "call_p1");
    CHECK(m[1]["tool_calls"][0]["function"].value("name", "") == "write_file");
    CHECK(Json::parse(m[1]["tool_calls"][0]["function"].value("arguments", "")) == p1);
    CHECK(m[1]["tool_calls"][1].value("id", "") == "call_p2");
    CHECK(Json::parse(m[1]["tool_calls"][1]["function"].value("arguments", "")) == p2);
    CHECK(m[2].value("role", "") == "tool");
    CHECK(m[2].value("tool_call_id", "") == "call_p1");
    CHECK_THAT(content_text(m[2]["content"]), StartsWith("Error: ") && Contains("disk full"));
    CHECK(m[3].value("role", "") == "tool");
    CHECK(m[3].value("tool_call_id", "") == "call_p2");
    CHECK(content_text(m[3]["content"]) == "contents of b: hello");
    CHECK(m[4].value("role", "") == "user");
    CHECK(content_text(m[4]["content"]) == "continue please");
}

TEST_CASE("adapter: the tool loop from an OpenAI client", "[integration][adapter][tools]") {
    Rig rig("adapter-openai-tools", "adapter_tools.json");
    rig.add_default_channel();
    rig.start();
    Json tools = Json::array();
    for (const auto& t : tools_json())
        tools.push_back({{"type", "function"},
                         {"function",
                          {{"name", t["name"]},
                           {"description", t["description"]},
                           {"parameters", t["input_schema"]}}}});
    Json first{{"model", "up-model"},
               {"tools", tools},
               {"messages", Json::array({{{"role", "user"}, {"content", "parallel-tools go"}}})}};
    auto r = post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key), first.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    Json msg = r.json()["choices"][0]["message"];
    CHECK(r.json()["choices"][0].value("finish_reason", "") == "tool_calls");
    REQUIRE(msg["tool_calls"].size() == 2);
    CHECK(msg["tool_calls"][0].value("id", "") == "call_p1");
    CHECK(Json::parse(msg["tool_calls"][0]["function"].value("arguments", "")) ==
          Json{{"path", "a.txt"}, {"content", "alpha alpha alpha"}});
    CHECK(msg["tool_calls"][1].value("id", "") == "call_p2");
    CHECK(Json::parse(msg["tool_calls"][1]["function"].value("arguments", "")) ==
          Json{{"path", "b.txt"}, {"limit", {1, 2, 3}}});

    // Answer them in reverse order: the upstream still gets one tool message per call.
    Json second = first;
    second["stream"] = true;
    second["messages"].push_back(
        {{"role", "assistant"}, {"content", nullptr}, {"tool_calls", msg["tool_calls"]}});
    second["messages"].push_back(
        {{"role", "tool"}, {"tool_call_id", "call_p2"}, {"content", "contents of b: hi"}});
    second["messages"].push_back(
        {{"role", "tool"}, {"tool_call_id", "call_p1"}, {"content", "written"}});
    int status = 0;
    auto events = stream_all(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                             second.dump(), &status);
    REQUIRE(status == 200);
    CHECK(openai_stream_text(events) == "All done: a.txt failed, b.txt read.");
    Json recs = rig.up.requests();
    REQUIRE(recs.size() == 2);
    check_upstream_body(recs[1], true);
    Json m = recs[1]["body"]["messages"];
    INFO(m.dump(1));
    REQUIRE(m.size() == 4);
    CHECK(m[1]["tool_calls"].size() == 2);
    CHECK(m[2].value("tool_call_id", "") == "call_p2");
    CHECK(content_text(m[2]["content"]) == "contents of b: hi");
    CHECK(m[3].value("tool_call_id", "") == "call_p1");
    CHECK(content_text(m[3]["content"]) == "written");
}

TEST_CASE("adapter: upstream errors reach the client in its protocol, never a truncated answer",
          "[integration][adapter][errors]") {
    Rig rig("adapter-errors", "adapter_errors.json");
    rig.add_default_channel();
    rig.start();
    auto error_message = [](const Json& j) {
        return j.contains("error") && j["error"].is_object() ? j["error"].value("message", "")
                                                             : std::string{};
    };

    // 429 with retry_after.
    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_body("claude-sonnet-4-5", "rate-me please"));
    INFO(r.body);
    CHECK(r.status == 429);
    CHECK(is_anthropic_error(r.json()));
    CHECK(r.json()["error"].value("type", "") == "rate_limit_error");
    CHECK_THAT(error_message(r.json()), Contains("slow down, provider quota reached"));
    CHECK(r.headers["retry-after"] == "7");  // the provider's Retry-After reaches the client

    r = post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                  openai_body("up-model", "rate-me please"));
    INFO(r.body);
    CHECK(r.status == 429);
    CHECK(is_openai_error(r.json()));
    CHECK_THAT(error_message(r.json()), Contains("slow down, provider quota reached"));
    CHECK(r.headers["retry-after"] == "7");

    {  // streamed: nothing was sent yet, so it is still an HTTP error
        SseStream st(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                     anthropic_body("claude-sonnet-4-5", "rate-me streamed", true));
        CHECK(st.status() == 429);
        Json j = Json::parse(st.body(), nullptr, false);
        CHECK(is_anthropic_error(j));
        CHECK_THAT(error_message(j), Contains("slow down, provider quota reached"));
    }

    // 500 from the provider.
    r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                  anthropic_body("claude-sonnet-4-5", "boom"));
    INFO(r.body);
    CHECK(r.status >= 500);
    CHECK(is_anthropic_error(r.json()));
    CHECK_THAT(error_message(r.json()), Contains("provider internal explosion"));
    r = post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                  openai_body("up-model", "boom"));
    INFO(r.body);
    CHECK(r.status >= 500);
    CHECK(is_openai_error(r.json()));
    CHECK_THAT(error_message(r.json()), Contains("provider internal explosion"));

    // The connection cut mid-stream: an Anthropic stream ends with `event: error`.
    {
        int status = 0;
        auto events = stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                                 anthropic_body("claude-sonnet-4-5", "cut-me", true), &status);
        REQUIRE(status == 200);
        auto s = read_anthropic(events, true);
        CHECK_FALSE(s.stopped);
        REQUIRE(s.error.is_object());
        CHECK(s.error["error"].is_object());
        CHECK(std::count(s.names.begin(), s.names.end(), "content_block_delta") >= 1);
        CHECK(std::count(s.names.begin(), s.names.end(), "message_stop") == 0);
    }
    // ... and an OpenAI stream ends with an error chunk, never finish_reason "stop".
    {
        int status = 0;
        auto events = stream_all(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                                 openai_body("up-model", "cut-me openai", true), &status);
        REQUIRE(status == 200);
        bool error_chunk = false;
        for (const auto& e : events) {
            Json c = e.json();
            if (!c.is_object()) continue;
            if (c.contains("error")) error_chunk = true;
            if (c.contains("choices") && !c["choices"].empty())
                CHECK_FALSE(c["choices"][0]["finish_reason"].is_string());
        }
        CHECK(error_chunk);
    }

    // An in-stream error chunk from the provider: `event: error` with its message.
    {
        int status = 0;
        auto events =
            stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_body("claude-sonnet-4-5", "in-stream-error", true), &status);
        REQUIRE(status == 200);
        auto s = read_anthropic(events, true);
        CHECK_FALSE(s.stopped);
        REQUIRE(s.error.is_object());
        CHECK_THAT(s.error["error"].value("message", ""),
                   Contains("provider overloaded mid-stream"));
    }
}

TEST_CASE("adapter: a non-streaming client whose upstream answer is cut gets an HTTP error",
          "[integration][adapter][errors]") {
    // Whether the upstream answers whole (the default for a non-streaming client) or streamed
    // (the channel's always_stream), a cut after some bytes must still give a non-streaming
    // client an error answer in its protocol: not a 200 with half an answer, not a body that
    // "is not JSON", and not a connection closed without any response.
    for (bool always_stream : {false, true}) {
        INFO(
            (always_stream ? "always_stream: the upstream streams" : "the upstream answers whole"));
        Rig rig(always_stream ? "adapter-cut-stream" : "adapter-cut-whole", "adapter_errors.json");
        rig.add_default_channel(always_stream ? R"({"options":{"always_stream":true}})" : "");
        rig.start();
        for (bool anthropic : {true, false}) {
            INFO((anthropic ? "anthropic" : "openai"));
            HttpResponse r;
            try {
                r = anthropic ? post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                                          anthropic_body("claude-sonnet-4-5", "cut-me plain"))
                              : post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                                          openai_body("up-model", "cut-me plain"));
            } catch (const std::exception& e) {
                FAIL_CHECK("the gateway closed the connection without an answer: " << e.what());
                continue;
            }
            INFO(r.body);
            CHECK(r.status >= 500);
            CHECK((anthropic ? is_anthropic_error(r.json()) : is_openai_error(r.json())));
            CHECK_THAT(
                r.body,
                Contains(always_stream ? "ended before the model finished"
                                       : "closed the connection before the end of its answer"));
        }
        // A whole answer cut short reached nobody, so it is retried like any failure before the
        // first byte (the default failover policy: 3 attempts per request); a stream cut after
        // its first events is not, since those events already began the answer.
        constexpr size_t kDefaultAttempts = 3;
        Json recs = rig.up.requests();
        CHECK(recs.size() == (always_stream ? 2u : 2u * kDefaultAttempts));
        for (const auto& rec : recs) CHECK(rec["body"].value("stream", false) == always_stream);
    }
}

TEST_CASE("adapter: the upstream key is sealed, never logged, and sent as a Bearer token",
          "[integration][adapter][secrets]") {
    Rig rig("adapter-secrets", "adapter_text.json");
    rig.start();  // the channel is added while the server runs
    rig.add_default_channel();
    // A second channel with the wrong key: the provider refuses it.
    auto bad = rig.add_channel("bad", "sk-wrong-key-123", {"gpt-bad*=up-model"});
    INFO(bad.out << bad.err);
    REQUIRE(bad.exit_code == 0);
    CHECK(eventually(
        [&] {
            auto m = http_request(rig.port(), "GET", "/v1/models", anthropic_auth(rig.key));
            return m.status == 200 && m.body.find("up-model") != std::string::npos;
        },
        5s));
    // The channel reaches the server: the answer comes from the upstream.
    CHECK(eventually(
        [&] {
            auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                               anthropic_body("claude-sonnet-4-5", "secret check"));
            return r.status == 200 &&
                   anthropic_text(r.json()) ==
                       "Hello from the upstream model, streamed in small chunks.";
        },
        5s));
    // The fake upstream answers 401 unless it got `Authorization: Bearer sk-up`: it did.
    Json recs = rig.up.requests();
    REQUIRE(!recs.empty());
    CHECK(recs.back().value("status", 0) == 200);
    // The wrong key is refused by the provider; the client's error does not quote it.
    auto r = post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                       openai_body("gpt-bad", "wrong key"));
    INFO(r.body);
    CHECK(r.status >= 400);
    CHECK(is_openai_error(r.json()));
    CHECK_THAT(r.body, !Contains("sk-wrong-key-123"));
    CHECK(rig.up.last_request().value("status", 0) == 401);

    // Nothing in the data dir holds the keys in clear (database, WAL, ...).
    rig.gw->terminate();
    for (const auto& entry : fs::directory_iterator(rig.data)) {
        if (!entry.is_regular_file()) continue;
        std::string bytes = read_file(entry.path());
        INFO(entry.path());
        CHECK(bytes.find("sk-up") == std::string::npos);
        CHECK(bytes.find("sk-wrong-key-123") == std::string::npos);
    }
    CHECK(fs::exists(rig.data / "tianshu.db"));
    struct stat st {};
    REQUIRE(stat((rig.data / "secret.key").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    // Neither the gateway's log nor the CLI's output shows them.
    CHECK_THAT(rig.gw->log_text(), !Contains("sk-up") && !Contains("sk-wrong-key-123"));
    auto list = run_cli({"channel", "list", "--json", "--data", rig.data.string()});
    CHECK(list.exit_code == 0);
    CHECK_THAT(list.out + list.err, !Contains("sk-up") && !Contains("sk-wrong-key-123"));
}

TEST_CASE("adapter: channel quirks clamp max_tokens and strip schema keywords",
          "[integration][adapter][quirks]") {
    Rig rig("adapter-quirks", "adapter_quirks.json");
    rig.add_default_channel(
        R"({"options":{"max_output_tokens":50,"strip_schema_keywords":["format"]}})");
    rig.start();
    Json body{{"model", "claude-sonnet-4-5"},
              {"max_tokens", 4096},
              {"messages", Json::array({{{"role", "user"}, {"content", "schedule it"}}})},
              {"tools", Json::parse(R"([{"name": "schedule", "description": "Schedule a job",
                 "input_schema": {"type": "object", "properties": {
                   "when": {"type": "object", "properties": {
                     "at": {"type": "string", "format": "date-time"}}},
                   "format": {"type": "string", "enum": ["json", "text"]}},
                   "required": ["when"]}}])")}};
    for (bool stream : {false, true}) {
        body["stream"] = stream;
        int status = 0;
        std::string text;
        if (stream) {
            auto events = stream_all(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                                     body.dump(), &status);
            text = anthropic_stream_text(events);
        } else {
            auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key), body.dump());
            status = r.status;
            text = r.status == 200 ? anthropic_text(r.json()) : r.body;
        }
        INFO(text);
        CHECK(status == 200);
        CHECK(text == "Scheduled.");
    }
    Json recs = rig.up.requests();
    REQUIRE(recs.size() == 2);
    for (size_t i = 0; i < recs.size(); ++i) {
        Json rec = recs[i];
        check_upstream_body(rec, i == 1);
        Json b = rec["body"];
        CHECK(b.value("max_tokens", -1) == 50);
        Json params = b["tools"][0]["function"]["parameters"];
        CHECK_FALSE(params["properties"]["when"]["properties"]["at"].contains("format"));
        CHECK(params["properties"]["when"]["properties"]["at"].value("type", "") == "string");
        // A property NAMED "format" is kept.
        CHECK(params["properties"].contains("format"));
        CHECK(params["properties"]["format"]["enum"] == Json::array({"json", "text"}));
    }
}

TEST_CASE("adapter: `channel add --key` works on a fresh data dir, like every other store command",
          "[integration][adapter][secrets]") {
    // Without --key, `channel add --data NEW` creates NEW (open_store does). With --key the
    // SecretBox is opened BEFORE the store, in a folder nobody created yet.
    TempDir tmp("adapter-fresh");
    fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat", "anthropic"});
    //! The adapter the default channel uses: "openai_compat" or "anthropic".
    std::string adapter = "openai_compat";
    auto r = run_cli({"channel", "add", "--data", (tmp / "data").string(), "--name", "up", "--type",
                      "openai_compat", "--base-url", "http://127.0.0.1:9/v1", "--key", "sk-up",
                      "--models", "up-model", "--plugins-dir", plugins.string()});
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(fs::exists(tmp / "data" / "secret.key"));
    CHECK(fs::exists(tmp / "data" / "tianshu.db"));
}

// ---- the anthropic adapter: Anthropic-compatible upstreams (/anthropic endpoints) ----------

TEST_CASE("anthropic adapter: both client protocols reach an Anthropic-compatible upstream",
          "[integration][adapter][anthropic]") {
    Rig rig("it-adapter-anthropic", "adapter_text.json");
    rig.adapter = "anthropic";
    rig.add_default_channel();
    rig.start();

    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_body("claude-sonnet-4-5", "hello there"));
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(content_text(r.json()["content"]) ==
          "Hello from the upstream model, streamed in small chunks.");
    CHECK(r.json()["stop_reason"] == "end_turn");

    SseStream st(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                 anthropic_body("claude-sonnet-4-5", "hello streamed", true));
    REQUIRE(st.status() == 200);
    auto stream = read_anthropic(st.rest());
    REQUIRE(stream.blocks.size() == 1);
    CHECK(stream.blocks[0].text == "Hello from the upstream model, streamed in small chunks.");

    auto o = post_json(rig.port(), "/v1/chat/completions", openai_auth(rig.key),
                       openai_body("claude-haiku-4", "hello from openai"));
    INFO(o.body);
    REQUIRE(o.status == 200);
    CHECK(o.json()["choices"][0]["message"]["content"] ==
          "Hello from the upstream model, streamed in small chunks.");

    // What the upstream received: Anthropic bodies on its /anthropic endpoint, with the
    // mapped model, max_tokens present, and the key as x-api-key (it answers 401 otherwise).
    // The upstream is asked the way each client asked: whole, streamed, whole.
    auto reqs = rig.up.requests();
    REQUIRE(reqs.size() == 3);
    const bool streamed[] = {false, true, false};
    for (size_t i = 0; i < reqs.size(); ++i) {
        const Json& rec = reqs[i];
        INFO(rec.dump());
        CHECK(rec["path"] == "/anthropic/v1/messages");
        CHECK(rec["status"] == 200);
        CHECK(rec["body"]["model"] == "up-model");
        CHECK(rec["body"].contains("max_tokens"));
        CHECK(rec["body"]["stream"] == streamed[i]);
    }
}

TEST_CASE("anthropic adapter: streamed tool calls and upstream errors keep their shape",
          "[integration][adapter][anthropic]") {
    Rig rig("it-adapter-anthropic-tools", "adapter_tools.json");
    rig.adapter = "anthropic";
    rig.add_default_channel();
    rig.start();
    auto r = post_json(rig.port(), "/v1/messages", anthropic_auth(rig.key),
                       anthropic_tool_request("anthropic single-tool", false).dump());
    INFO(r.body << "\n" << rig.diag());
    REQUIRE(r.status == 200);
    const Json answer = r.json();
    CHECK(answer["stop_reason"] == "tool_use");
    bool saw_tool = false;
    for (const auto& b : answer["content"])
        if (b["type"] == "tool_use") {
            saw_tool = true;
            CHECK(b["input"].is_object());
        }
    CHECK(saw_tool);
}
