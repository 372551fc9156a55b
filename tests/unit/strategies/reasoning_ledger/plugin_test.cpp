// The built reasoning_ledger.so against a small in-test host: the ABI 1.4 functions it probes
// (session state, stream rewriting, capabilities, decision notes) implemented over plain
// containers, with the stream semantics abi.h states (released and emitted events go on before
// the current one; held events the stage still holds at the end are released). It checks the
// glue between the host-free library and the ABI, and the fallbacks of an older host.
#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

#include "event_grammar.hpp"
#include "think_tags.hpp"

using Json = nlohmann::json;
using reasoning_ledger::testing::Block;
using reasoning_ledger::testing::blocks_of;
using reasoning_ledger::testing::grammar_violation;

// The opaque handles, as this test host sees them.
struct ts_request {
    std::string model = "deepseek-reasoner";
    Json body;
    std::vector<std::string> held;     //!< this (single) stage's held events
    std::vector<std::string> out_now;  //!< released or emitted during the current hook
    std::vector<std::pair<std::string, std::string>> notes;
};
struct ts_event {
    std::string json;
    std::string text;  //!< for event_text
    enum class Fate { pass, drop, hold } fate = Fate::pass;
};

namespace {

// ---- the in-test host -------------------------------------------------------------------

std::map<std::string, std::string> g_session;  // one (user, session) is enough here
std::vector<std::string> g_log;
bool g_refuse_hold = false;

ts_str view(const std::string& s) {
    return ts_str{s.data(), s.size()};
}
std::string str(ts_str s) {
    return s.ptr ? std::string(s.ptr, s.len) : std::string();
}
ts_status fill(ts_buf* out, const std::string& s) {
    out->ptr = static_cast<char*>(std::malloc(s.size() + 1));
    std::memcpy(out->ptr, s.data(), s.size());
    out->len = s.size();
    return TS_OK;
}

void h_log(const ts_request*, int32_t, ts_str m) {
    g_log.push_back(str(m));
}
ts_str h_model(const ts_request* r) {
    return view(r->model);
}
ts_status h_get_json(const ts_request* r, ts_str pointer, ts_buf* out) {
    const Json::json_pointer p(str(pointer));
    if (!r->body.contains(p)) return TS_ERR_NOT_FOUND;
    return fill(out, r->body.at(p).dump());
}
ts_status h_set_json(ts_request* r, ts_str pointer, ts_str value) {
    Json v = Json::parse(str(value), nullptr, false);
    if (v.is_discarded()) return TS_ERR_INVALID;
    r->body[Json::json_pointer(str(pointer))] = v;
    return TS_OK;
}
int32_t h_event_type(const ts_event* e) {
    return reasoning_ledger::event_type_of(e->json);
}
ts_str h_event_text(const ts_event* e) {
    return view(e->text);
}
ts_status h_event_json(const ts_event* e, ts_buf* out) {
    return fill(out, e->json);
}
ts_status h_event_set_json(ts_event* e, ts_str json) {
    if (Json::parse(str(json), nullptr, false).is_discarded()) return TS_ERR_INVALID;
    e->json = str(json);
    return TS_OK;
}
ts_status h_event_drop(ts_event* e) {
    e->fate = ts_event::Fate::drop;
    return TS_OK;
}
ts_status h_event_hold(ts_event* e) {
    if (g_refuse_hold) return TS_ERR_LIMIT;
    e->fate = ts_event::Fate::hold;
    return TS_OK;
}
uint32_t h_held_count(const ts_request* r) {
    return static_cast<uint32_t>(r->held.size());
}
ts_status h_held_event_json(const ts_request* r, uint32_t i, ts_buf* out) {
    if (i >= r->held.size()) return TS_ERR_NOT_FOUND;
    return fill(out, r->held[i]);
}
ts_status h_held_release(ts_request* r) {
    r->out_now.insert(r->out_now.end(), r->held.begin(), r->held.end());
    r->held.clear();
    return TS_OK;
}
ts_status h_held_discard(ts_request* r) {
    r->held.clear();
    return TS_OK;
}
ts_status h_stream_emit(ts_request* r, ts_str json) {
    if (Json::parse(str(json), nullptr, false).is_discarded()) return TS_ERR_INVALID;
    r->out_now.push_back(str(json));
    return TS_OK;
}
ts_status h_session_get(const ts_request*, ts_str key, ts_buf* out) {
    auto it = g_session.find(str(key));
    if (it == g_session.end()) return TS_ERR_NOT_FOUND;
    return fill(out, it->second);
}
ts_status h_session_put(ts_request*, ts_str key, ts_str value, uint32_t) {
    g_session[str(key)] = str(value);
    return TS_OK;
}
ts_status h_session_delete(ts_request*, ts_str key) {
    g_session.erase(str(key));
    return TS_OK;
}
ts_status h_capabilities(const ts_request* r, ts_str model, ts_buf* out) {
    const std::string m = model.len ? str(model) : r->model;
    if (m.rfind("deepseek", 0) == 0) return fill(out, R"({"thinking":"reasoning_content"})");
    return TS_ERR_NOT_FOUND;
}
ts_status h_note(ts_request* r, ts_str kind, ts_str reason) {
    r->notes.emplace_back(str(kind), str(reason));
    return TS_OK;
}

ts_host_api full_host() {
    ts_host_api h{};
    h.struct_size = sizeof(ts_host_api);
    h.abi_major = TS_ABI_MAJOR;
    h.abi_minor = TS_ABI_MINOR;
    h.alloc = std::malloc;
    h.free = std::free;
    h.log = h_log;
    h.request_model = h_model;
    h.request_get_json = h_get_json;
    h.request_set_json = h_set_json;
    h.event_type = h_event_type;
    h.event_text = h_event_text;
    h.event_json = h_event_json;
    h.event_set_json = h_event_set_json;
    h.event_drop = h_event_drop;
    h.event_hold = h_event_hold;
    h.held_count = h_held_count;
    h.held_event_json = h_held_event_json;
    h.held_release = h_held_release;
    h.held_discard = h_held_discard;
    h.stream_emit = h_stream_emit;
    h.session_get = h_session_get;
    h.session_put = h_session_put;
    h.session_delete = h_session_delete;
    h.model_capabilities = h_capabilities;
    h.decision_note = h_note;
    return h;
}

//! A 1.3 host: the table ends before the 1.4 functions.
ts_host_api old_host() {
    ts_host_api h = full_host();
    h.struct_size = static_cast<uint32_t>(offsetof(ts_host_api, event_json));
    return h;
}

// ---- the plugin -----------------------------------------------------------------------------

struct Plugin {
    void* lib = nullptr;
    const ts_plugin_descriptor* d = nullptr;
    ts_instance* instance = nullptr;
    ts_host_api host;

    Plugin(ts_host_api h, const std::string& config) : host(h) {
        lib = dlopen(TIANSHU_PLUGIN_DIR "/reasoning_ledger.so", RTLD_NOW | RTLD_LOCAL);
        INFO(dlerror());
        REQUIRE(lib);
        auto entry = reinterpret_cast<ts_plugin_entry_fn>(dlsym(lib, TS_PLUGIN_ENTRY_SYMBOL));
        REQUIRE(entry);
        d = entry(TS_ABI_MAJOR, TS_ABI_MINOR);
        REQUIRE(d);
        ts_error err{};
        instance = d->create(&host, view(config), &err);
        INFO(err.message);
        REQUIRE(instance);
    }
    ~Plugin() {
        if (instance) d->destroy(instance);
        if (lib) dlclose(lib);
    }

    void request(ts_request& r) {
        ts_error err{};
        REQUIRE(d->on_request(instance, &r, &err) == TS_HOOK_CONTINUE);
    }

    //! Runs a stream through on_stream_event as the host's one post stage; what leaves it.
    std::vector<std::string> stream(ts_request& r, const std::vector<std::string>& events) {
        std::vector<std::string> out;
        for (const std::string& json : events) {
            ts_event e;
            e.json = json;
            const Json j = Json::parse(json);
            if (j.contains("delta") && j["delta"].contains("text"))
                e.text = j["delta"]["text"].get<std::string>();
            if (j.contains("delta") && j["delta"].contains("thinking"))
                e.text = j["delta"]["thinking"].get<std::string>();
            r.out_now.clear();
            ts_error err{};
            REQUIRE(d->on_stream_event(instance, &r, &e, &err) == TS_HOOK_CONTINUE);
            out.insert(out.end(), r.out_now.begin(), r.out_now.end());
            if (e.fate == ts_event::Fate::pass) out.push_back(e.json);
            if (e.fate == ts_event::Fate::hold) r.held.push_back(e.json);
        }
        out.insert(out.end(), r.held.begin(), r.held.end());  // released at the end
        r.held.clear();
        ts_error err{};
        if (d->on_response_end) d->on_response_end(instance, &r, &err);
        return out;
    }
};

std::string ev(const Json& j) {
    return j.dump();
}

//! An answer: the upstream's reasoning, text in `chunks`, one tool call with id `tool_id`.
std::vector<std::string> answer(const std::string& reasoning,
                                const std::vector<std::string>& chunks,
                                const std::string& tool_id) {
    std::vector<std::string> e = {
        ev({{"type", "message_start"}, {"message", {{"id", "msg"}, {"content", Json::array()}}}})};
    int i = 0;
    if (!reasoning.empty()) {
        e.push_back(ev({{"type", "content_block_start"},
                        {"index", i},
                        {"content_block", {{"type", "thinking"}, {"thinking", ""}}}}));
        e.push_back(ev({{"type", "content_block_delta"},
                        {"index", i},
                        {"delta", {{"type", "thinking_delta"}, {"thinking", reasoning}}}}));
        e.push_back(ev({{"type", "content_block_stop"}, {"index", i}}));
        ++i;
    }
    e.push_back(ev({{"type", "content_block_start"},
                    {"index", i},
                    {"content_block", {{"type", "text"}, {"text", ""}}}}));
    for (const auto& c : chunks)
        e.push_back(ev({{"type", "content_block_delta"},
                        {"index", i},
                        {"delta", {{"type", "text_delta"}, {"text", c}}}}));
    e.push_back(ev({{"type", "content_block_stop"}, {"index", i}}));
    ++i;
    e.push_back(ev({{"type", "content_block_start"},
                    {"index", i},
                    {"content_block",
                     {{"type", "tool_use"},
                      {"id", tool_id},
                      {"name", "read_file"},
                      {"input", Json::object()}}}}));
    e.push_back(ev({{"type", "content_block_delta"},
                    {"index", i},
                    {"delta", {{"type", "input_json_delta"}, {"partial_json", "{}"}}}}));
    e.push_back(ev({{"type", "content_block_stop"}, {"index", i}}));
    e.push_back(ev({{"type", "message_delta"}, {"delta", {{"stop_reason", "tool_use"}}}}));
    e.push_back(ev({{"type", "message_stop"}}));
    return e;
}

//! A request whose history has one tool turn `id` (no thinking, as Claude Code sends it).
Json history_with(const std::string& id) {
    return {{"model", "deepseek-reasoner"},
            {"max_tokens", 1024},
            {"messages",
             {{{"role", "user"}, {"content", "go"}},
              {{"role", "assistant"},
               {"content",
                {{{"type", "text"}, {"text", "Reading."}},
                 {{"type", "tool_use"},
                  {"id", id},
                  {"name", "read_file"},
                  {"input", Json::object()}}}}},
              {{"role", "user"},
               {"content", {{{"type", "tool_result"}, {"tool_use_id", id}, {"content", "ok"}}}}}}}};
}

std::vector<std::string> one_by_one(const std::string& s) {
    std::vector<std::string> out;
    for (char c : s) out.emplace_back(1, c);
    return out;
}

}  // namespace

TEST_CASE("plugin: declares itself advisory, with a schema that refuses unknown keys") {
    g_session.clear();
    Plugin p(full_host(), "{}");
    CHECK((p.d->flags & TS_FLAG_ADVISORY) != 0);
    CHECK(std::string(p.d->name) == "reasoning_ledger");
    REQUIRE(p.d->config_schema);
    CHECK(Json::parse(p.d->config_schema)["additionalProperties"] == false);
    CHECK(p.d->on_request);
    CHECK(p.d->on_stream_event);
}

TEST_CASE("plugin: an answer's reasoning is recorded and comes back on the next request") {
    g_session.clear();
    Plugin p(full_host(), "{}");  // which models want it: the host's capabilities
    ts_request first;
    first.body = {{"messages", Json::array({{{"role", "user"}, {"content", "go"}}})}};
    p.request(first);
    const auto out = p.stream(first, answer("I should read f1", {"Reading."}, "toolu_1"));
    CHECK(grammar_violation(out).empty());
    REQUIRE(g_session.count("turn:toolu_1"));
    CHECK(Json::parse(g_session["turn:toolu_1"])["reasoning"] == "I should read f1");

    ts_request second;
    second.body = history_with("toolu_1");
    p.request(second);
    const Json& turn = second.body["messages"][1]["content"];
    CHECK(turn[0] == Json{{"type", "thinking"}, {"thinking", "I should read f1"}});
    CHECK(turn.size() == 3);
    REQUIRE(second.notes.size() == 1);
    CHECK(second.notes[0].first == "ledger_restored");

    ts_request stranger;  // a turn this ledger never saw: the placeholder
    stranger.body = history_with("toolu_unknown");
    p.request(stranger);
    CHECK(stranger.body["messages"][1]["content"][0]["thinking"].get<std::string>().find(
              "not retained") != std::string::npos);
    CHECK(stranger.notes.at(0).first == "ledger_placeholder");
}

TEST_CASE("plugin: a leading <think> chunked byte by byte leaves as a thinking block") {
    g_session.clear();
    Plugin p(full_host(), "{}");
    ts_request r;
    r.body = {{"messages", Json::array()}};
    const auto out =
        p.stream(r, answer("", one_by_one("<think>plan it</think>\n\nReading."), "toolu_2"));
    INFO(Json(out).dump(1));
    CHECK(grammar_violation(out).empty());
    CHECK(blocks_of(out) == std::vector<Block>{{"thinking", "plan it"},
                                               {"text", "Reading."},
                                               {"tool_use", "toolu_2 read_file {}"}});
    // The split-off thinking is what the ledger keeps for the turn.
    CHECK(Json::parse(g_session.at("turn:toolu_2"))["reasoning"] == "plan it");
}

TEST_CASE("plugin: when the host refuses to hold, the answer leaves as it came") {
    g_session.clear();
    g_refuse_hold = true;
    Plugin p(full_host(), "{}");
    ts_request r;
    const auto in = answer("", one_by_one("<think>x</think>y"), "toolu_3");
    const auto out = p.stream(r, in);
    g_refuse_hold = false;
    CHECK(out == in);
}

TEST_CASE("plugin: on a 1.3 host the placeholder still satisfies the provider") {
    g_session.clear();
    g_log.clear();
    Plugin p(old_host(), R"({"thinking":{"deepseek-*":"reasoning_content"}})");
    CHECK(g_log.size() == 2);  // no session state, no stream rewriting: said once each at load
    ts_request r;
    r.body = history_with("toolu_1");
    p.request(r);
    CHECK(r.body["messages"][1]["content"][0]["type"] == "thinking");
    const auto in = answer("thoughts", {"<think>x</think>y"}, "toolu_4");
    ts_event e;
    e.json = in[0];
    ts_error err{};
    // A 1.3 host never offers the stream hooks these functions; the plugin only passes events.
    CHECK(p.d->on_stream_event(p.instance, &r, &e, &err) == TS_HOOK_CONTINUE);
    CHECK(e.fate == ts_event::Fate::pass);
    CHECK(g_session.empty());
}

TEST_CASE("plugin: a model the host and the config know nothing of is left alone") {
    g_session.clear();
    Plugin p(full_host(), "{}");
    ts_request r;
    r.model = "mystery-model";
    r.body = history_with("toolu_1");
    const Json before = r.body;
    p.request(r);
    CHECK(r.body == before);
    CHECK(r.notes.empty());
}
