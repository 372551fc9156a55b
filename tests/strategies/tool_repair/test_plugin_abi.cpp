// tool_repair.so through its C ABI, with a fake host that implements the 1.4 stream-rewriting
// functions as abi.h declares them (the real host's are tested by the host's own tests). Shows
// the wiring: probing, event rewriting through event_json/event_drop/event_set_json/stream_emit,
// the request-side history repair, decision notes and the re-ask through call_model.
#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

#include "event_grammar.hpp"
#include "golden_replay.hpp"

using nlohmann::json;
using namespace tianshu::tool_repair::test;

namespace {

// -- the fake host --

struct FakeRequest {
    json body;
    std::string model = "test-model";
    std::string system;
    std::string capabilities;          // model_capabilities' answer; empty = TS_ERR_NOT_FOUND
    std::vector<std::string> emitted;  // stream_emit during the current hook
    std::vector<std::pair<std::string, std::string>> notes;
    std::string corrected_arguments;  // what call_model answers; empty = TS_ERR_WRONG_PHASE
    std::vector<std::string> prompts;
};
struct FakeEvent {
    std::string json_text;
    std::string text;  // the delta's text, borrowed by event_text
    bool dropped = false;
};
std::vector<std::string> g_logs;

FakeRequest* req(const ts_request* r) {
    return reinterpret_cast<FakeRequest*>(const_cast<ts_request*>(r));
}
FakeEvent* ev(const ts_event* e) {
    return reinterpret_cast<FakeEvent*>(const_cast<ts_event*>(e));
}
ts_buf buf_of(const std::string& s) {
    char* p = static_cast<char*>(std::malloc(s.size() + 1));
    std::memcpy(p, s.data(), s.size());
    return ts_buf{p, s.size()};
}
std::string view(ts_str s) {
    return std::string(s.ptr ? s.ptr : "", s.len);
}

ts_host_api fake_host() {
    ts_host_api h{};
    h.struct_size = sizeof(ts_host_api);
    h.abi_major = TS_ABI_MAJOR;
    h.abi_minor = TS_ABI_MINOR;
    h.alloc = [](size_t n) { return std::malloc(n); };
    h.free = [](void* p) { std::free(p); };
    h.log = [](const ts_request*, int32_t, ts_str m) { g_logs.push_back(view(m)); };
    h.request_model = [](const ts_request* r) {
        return ts_str{req(r)->model.data(), req(r)->model.size()};
    };
    h.request_system_text = [](const ts_request* r, ts_buf* out) {
        *out = buf_of(req(r)->system);
        return TS_OK;
    };
    h.request_set_system_text = [](ts_request* r, ts_str text) {
        req(r)->system = view(text);
        return TS_OK;
    };
    h.model_capabilities = [](const ts_request* r, ts_str, ts_buf* out) {
        if (req(r)->capabilities.empty()) return TS_ERR_NOT_FOUND;
        *out = buf_of(req(r)->capabilities);
        return TS_OK;
    };
    h.request_get_json = [](const ts_request* r, ts_str pointer, ts_buf* out) {
        json::json_pointer p(view(pointer));
        if (!req(r)->body.contains(p)) return TS_ERR_NOT_FOUND;
        *out = buf_of(req(r)->body.at(p).dump());
        return TS_OK;
    };
    h.request_set_json = [](ts_request* r, ts_str pointer, ts_str value) {
        json v = json::parse(view(value), nullptr, false);
        if (v.is_discarded()) return TS_ERR_INVALID;
        req(r)->body[json::json_pointer(view(pointer))] = v;
        return TS_OK;
    };
    h.event_type = [](const ts_event* e) {
        return static_cast<int32_t>(
            event_type_number(json::parse(ev(e)->json_text).value("type", "")));
    };
    h.event_text = [](const ts_event* e) { return ts_str{ev(e)->text.data(), ev(e)->text.size()}; };
    h.event_set_text = [](ts_event* e, ts_str text) {
        json j = json::parse(ev(e)->json_text);
        if (j.value("type", "") != "content_block_delta") return TS_ERR_WRONG_PHASE;
        j["delta"]["text"] = view(text);
        ev(e)->json_text = j.dump();
        ev(e)->text = view(text);
        return TS_OK;
    };
    h.call_model = [](ts_request* r, ts_str, ts_str prompt, ts_buf* out) {
        req(r)->prompts.push_back(view(prompt));
        if (req(r)->corrected_arguments.empty()) return TS_ERR_WRONG_PHASE;
        *out = buf_of(req(r)->corrected_arguments);
        return TS_OK;
    };
    h.request_attribute = [](const ts_request*, ts_str name, ts_str* out) {
        static const std::string id = "req-42";
        if (view(name) != "request_id") return TS_ERR_NOT_FOUND;
        *out = ts_str{id.data(), id.size()};
        return TS_OK;
    };
    h.event_json = [](const ts_event* e, ts_buf* out) {
        *out = buf_of(ev(e)->json_text);
        return TS_OK;
    };
    h.event_set_json = [](ts_event* e, ts_str j) {
        if (json::parse(view(j), nullptr, false).is_discarded()) return TS_ERR_INVALID;
        ev(e)->json_text = view(j);
        return TS_OK;
    };
    h.event_drop = [](ts_event* e) {
        ev(e)->dropped = true;
        return TS_OK;
    };
    h.stream_emit = [](ts_request* r, ts_str j) {
        if (json::parse(view(j), nullptr, false).is_discarded()) return TS_ERR_INVALID;
        req(r)->emitted.push_back(view(j));
        return TS_OK;
    };
    h.decision_note = [](ts_request* r, ts_str kind, ts_str reason) {
        req(r)->notes.emplace_back(view(kind), view(reason));
        return TS_OK;
    };
    return h;
}

// -- the plugin --

struct Plugin {
    void* lib = nullptr;
    const ts_plugin_descriptor* d = nullptr;
    Plugin() {
        std::string path = std::string(TIANSHU_PLUGIN_DIR) + "/tool_repair.so";
        lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        INFO(path << ": " << (lib ? "" : dlerror()));
        REQUIRE(lib);
        auto entry = reinterpret_cast<ts_plugin_entry_fn>(dlsym(lib, TS_PLUGIN_ENTRY_SYMBOL));
        REQUIRE(entry);
        d = entry(TS_ABI_MAJOR, TS_ABI_MINOR);
        REQUIRE(d);
    }
    ~Plugin() {
        if (lib) dlclose(lib);
    }
};

//! An instance of the plugin on `host` with `config`; REQUIREs that create() accepted it.
ts_instance* create(const Plugin& p, const ts_host_api& host, const std::string& config = "{}") {
    ts_error err{};
    ts_instance* inst = p.d->create(&host, ts_str{config.data(), config.size()}, &err);
    INFO(err.message);
    REQUIRE(inst);
    return inst;
}

//! Runs the upstream events through on_stream_event as a host would: emitted events first,
//! then the current one unless dropped.
std::vector<json> stream(const Plugin& p, ts_instance* inst, FakeRequest& r,
                         const std::vector<std::string>& upstream) {
    std::vector<json> out;
    for (const std::string& e : upstream) {
        FakeEvent event;
        event.json_text = e;
        json j = json::parse(e);
        if (j.value("type", "") == "content_block_delta" && j["delta"].contains("text"))
            event.text = j["delta"]["text"];
        ts_error err{};
        auto* request = reinterpret_cast<ts_request*>(&r);
        REQUIRE(p.d->on_stream_event(inst, request, reinterpret_cast<ts_event*>(&event), &err) ==
                TS_HOOK_CONTINUE);
        for (const auto& s : r.emitted) out.push_back(json::parse(s));
        r.emitted.clear();
        if (!event.dropped) out.push_back(json::parse(event.json_text));
    }
    ts_error err{};
    p.d->on_response_end(inst, reinterpret_cast<ts_request*>(&r), &err);
    return out;
}

json tools_json() {
    return json::parse(R"([{"name":"Read","description":"d","input_schema":{"type":"object",
      "properties":{"file_path":{"type":"string"},"limit":{"type":"integer"}},"required":["file_path"]}}])");
}

size_t tool_uses(const std::vector<json>& events) {
    size_t n = 0;
    for (const auto& e : events)
        n += e.value("type", "") == "content_block_start" &&
             e["content_block"].value("type", "") == "tool_use";
    return n;
}

bool noted(const FakeRequest& r, const std::string& kind) {
    for (const auto& [k, reason] : r.notes)
        if (k == kind) return true;
    return false;
}

const std::vector<std::string> kHermesChunks = {
    "Let me read it.\n<tool",
    "_call>\n{\"name\": \"Read\", \"arguments\": {\"file_path\": \"/a\", ",
    "\"limit\": \"3\",}}\n</tool_call>"};
const std::vector<std::string> kMalformedChunks = {
    "<tool_call>\n{\"name\": \"Read\", \"arguments\": {\"limit\": 3}}\n</tool_call>"};

}  // namespace

TEST_CASE("tool_repair.so declares itself advisory with a config schema", "[tool_repair][abi]") {
    Plugin p;
    CHECK(std::string(p.d->name) == "tool_repair");
    CHECK(p.d->kind == TS_KIND_STRATEGY);
    CHECK((p.d->flags & TS_FLAG_ADVISORY) != 0);
    CHECK(p.d->on_request);
    CHECK(p.d->on_stream_event);
    REQUIRE(p.d->config_schema);
    CHECK(json::parse(p.d->config_schema)["properties"].contains("envelopes"));

    ts_host_api host = fake_host();
    ts_error err{};
    std::string bad = R"({"envelopes":["xml"]})";
    CHECK(p.d->create(&host, ts_str{bad.data(), bad.size()}, &err) == nullptr);
    CHECK(std::string(err.message).find("\"xml\"") != std::string::npos);
}

TEST_CASE("through the ABI, a text call becomes a tool_use block", "[tool_repair][abi]") {
    Plugin p;
    ts_host_api host = fake_host();
    ts_instance* inst = create(p, host);
    FakeRequest r;
    r.body = json{{"tools", tools_json()}, {"messages", json::array()}};
    auto out = stream(p, inst, r, upstream_events(kHermesChunks));
    auto violation = grammar_violation(out);
    INFO(violation.value_or("ok"));
    CHECK_FALSE(violation);
    REQUIRE(tool_uses(out) == 1);
    CHECK(noted(r, "tool_call_promoted"));
    CHECK(noted(r, "tool_args_repaired"));
    for (const auto& e : out)
        if (e.value("type", "") == "content_block_start" &&
            e["content_block"]["type"] == "tool_use")
            CHECK(e["content_block"]["id"].get<std::string>().rfind("toolu_trreq42_", 0) == 0);

    // Without declared tools nothing is touched.
    FakeRequest plain;
    plain.body = json{{"messages", json::array()}};
    auto upstream = upstream_events(kHermesChunks);
    auto same = stream(p, inst, plain, upstream);
    REQUIRE(same.size() == upstream.size());
    for (size_t i = 0; i < same.size(); ++i) CHECK(same[i] == json::parse(upstream[i]));
    p.d->destroy(inst);
}

TEST_CASE("a host without stream rewriting gets the events unchanged and one log line",
          "[tool_repair][abi]") {
    Plugin p;
    ts_host_api host = fake_host();
    host.struct_size = offsetof(ts_host_api, event_json);  // a 1.3 host
    ts_instance* inst = create(p, host);
    g_logs.clear();
    for (int i = 0; i < 2; ++i) {
        FakeRequest r;
        r.body = json{{"tools", tools_json()}};
        auto upstream = upstream_events(kHermesChunks);
        auto out = stream(p, inst, r, upstream);
        REQUIRE(out.size() == upstream.size());
        for (size_t k = 0; k < out.size(); ++k) CHECK(out[k] == json::parse(upstream[k]));
    }
    REQUIRE(g_logs.size() == 1);
    CHECK(g_logs[0].find("1.4") != std::string::npos);
    p.d->destroy(inst);
}

TEST_CASE("on_request gives orphaned tool_use blocks a placeholder result", "[tool_repair][abi]") {
    Plugin p;
    ts_host_api host = fake_host();
    ts_instance* inst = create(p, host);
    ts_error err{};
    FakeRequest r;
    r.body = json::parse(R"({"messages":[{"role":"user","content":"hi"},
      {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]},
      {"role":"user","content":"and now?"}]})");
    REQUIRE(p.d->on_request(inst, reinterpret_cast<ts_request*>(&r), &err) == TS_HOOK_CONTINUE);
    CHECK(r.body["messages"][2]["content"][0]["tool_use_id"] == "t1");
    CHECK(noted(r, "tool_result_placeholder"));

    ts_instance* quiet = create(p, host, R"({"repair_history":false})");
    FakeRequest untouched;
    untouched.body = json::parse(R"({"messages":[
      {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{}}]},
      {"role":"user","content":"x"}]})");
    json before = untouched.body;
    p.d->on_request(quiet, reinterpret_cast<ts_request*>(&untouched), &err);
    CHECK(untouched.body == before);
    p.d->destroy(quiet);
    p.d->destroy(inst);
}

TEST_CASE("with reask, call_model is asked once; its refusal leaves the note",
          "[tool_repair][abi]") {
    Plugin p;
    ts_host_api host = fake_host();
    ts_instance* inst = create(p, host, R"({"reask":true})");

    FakeRequest fixed;
    fixed.body = json{{"tools", tools_json()}};
    fixed.corrected_arguments = R"({"file_path": "/fixed"})";
    auto out = stream(p, inst, fixed, upstream_events(kMalformedChunks));
    CHECK_FALSE(grammar_violation(out));
    CHECK(tool_uses(out) == 1);
    CHECK(fixed.prompts.size() == 1);
    CHECK(noted(fixed, "tool_call_reasked"));

    FakeRequest refused;  // a host that allows call_model only in on_request
    refused.body = json{{"tools", tools_json()}};
    out = stream(p, inst, refused, upstream_events(kMalformedChunks));
    CHECK_FALSE(grammar_violation(out));
    CHECK(tool_uses(out) == 0);
    CHECK(noted(refused, "tool_call_malformed"));
    p.d->destroy(inst);
}

TEST_CASE("for a model without native tool calls, tools go into the prompt and calls come back",
          "[tool_repair][abi]") {
    Plugin p;
    ts_host_api host = fake_host();
    // A chain has tool_repair in pre and post: two instances of one library.
    ts_instance* pre = create(p, host);
    ts_instance* post = create(p, host);
    ts_error err{};
    FakeRequest r;
    r.capabilities = R"({"tool_calls":"text","context_window":32768})";
    r.system = "You are Claude Code.";
    r.body = json{{"tools", tools_json()},
                  {"messages", json::parse(R"([{"role":"user","content":"read /a"},
        {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"/a"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"text of a"}]}])")}};
    REQUIRE(p.d->on_request(pre, reinterpret_cast<ts_request*>(&r), &err) == TS_HOOK_CONTINUE);
    CHECK(r.body["tools"] == json::array());
    CHECK(r.system.rfind("You are Claude Code.\n\n# Tools", 0) == 0);
    CHECK(r.body["messages"][1]["content"][0]["type"] == "text");
    CHECK(r.body["messages"][2]["content"][0]["text"].get<std::string>().find("<tool_response>") ==
          0);
    CHECK(noted(r, "tools_as_text"));

    auto out = stream(p, post, r, upstream_events(kHermesChunks));
    CHECK_FALSE(grammar_violation(out));
    CHECK(tool_uses(out) == 1);

    // A native model is left alone.
    FakeRequest native;
    native.capabilities = R"({"tool_calls":"native"})";
    native.body = json{{"tools", tools_json()}, {"messages", json::array()}};
    p.d->on_request(pre, reinterpret_cast<ts_request*>(&native), &err);
    CHECK(native.body["tools"] == tools_json());
    CHECK(native.system.empty());
    p.d->destroy(pre);
    p.d->destroy(post);
}
