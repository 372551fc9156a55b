// The built scenario_router.so against a fake host table (dlopen, no gateway): what it calls on a
// 1.4 host (route_decide with the rank, request_set_json to remove the tag, session state,
// call_model for scenes) and that it still routes on a 1.3 host that has none of those.
#include <catch2/catch.hpp>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <tianshu/abi.h>
#include <nlohmann/json.hpp>

#include "fixture_store.hpp"

using nlohmann::json;
namespace fs = std::filesystem;
namespace sr = tianshu::scenario_router;

namespace {

const fs::path kDir = fs::path(TIANSHU_SOURCE_DIR) / "tests/strategies/scenario_router";

//! One request as the fake host holds it, plus everything the plugin did to it.
struct FakeRequest {
    json body;
    std::map<std::string, std::string> headers;
    std::map<std::string, std::string>* session = nullptr;  //!< shared by a session's requests
    std::map<std::string, json> caps;
    std::string model = "claude-sonnet-4-6";
    struct Decision {
        int rank;
        std::string scenario, model, reason;
    };
    std::vector<Decision> decisions;
    std::vector<std::pair<std::string, std::string>> edits;
    std::optional<std::string> scene_answer;  //!< nullopt: call_model fails
    std::set<std::string> failing;            //!< models whose every channel is failing
    int model_calls = 0;
    std::optional<uint32_t> timeout_ms;  //!< what call_model_within was given
};

FakeRequest& req(const ts_request* r) {
    return *reinterpret_cast<FakeRequest*>(const_cast<ts_request*>(r));
}
std::string s(ts_str v) {
    return std::string(v.ptr, v.len);
}
ts_status fill(ts_buf* out, const std::string& text) {
    out->ptr = static_cast<char*>(std::malloc(text.size() + 1));
    std::memcpy(out->ptr, text.data(), text.size());
    out->len = text.size();
    return TS_OK;
}

ts_host_api make_host(bool with_14) {
    ts_host_api h{};
    h.struct_size = with_14 ? sizeof(ts_host_api) : offsetof(ts_host_api, event_json);
    h.abi_major = 1;
    h.abi_minor = with_14 ? 4 : 3;
    h.alloc = [](size_t n) { return std::malloc(n); };
    h.free = [](void* p) { std::free(p); };
    h.log = [](const ts_request*, int32_t, ts_str) {};
    h.request_model = [](const ts_request* r) {
        return ts_str{req(r).model.data(), req(r).model.size()};
    };
    h.request_set_model = [](ts_request* r, ts_str m) {
        req(r).model = s(m);
        return TS_OK;
    };
    h.request_get_json = [](const ts_request* r, ts_str pointer, ts_buf* out) {
        json::json_pointer p(s(pointer));
        if (!req(r).body.contains(p)) return TS_ERR_NOT_FOUND;
        return fill(out, req(r).body.at(p).dump());
    };
    h.request_set_json = [](ts_request* r, ts_str pointer, ts_str value) {
        req(r).edits.emplace_back(s(pointer), s(value));
        req(r).body[json::json_pointer(s(pointer))] = json::parse(s(value));
        return TS_OK;
    };
    h.call_model = [](ts_request* r, ts_str, ts_str, ts_buf* out) {
        ++req(r).model_calls;
        if (!req(r).scene_answer) return TS_ERR_FAILED;
        return fill(out, *req(r).scene_answer);
    };
    if (!with_14) return h;
    h.call_model_within = [](ts_request* r, ts_str, ts_str, uint32_t timeout_ms, ts_buf* out) {
        ++req(r).model_calls;
        req(r).timeout_ms = timeout_ms;
        if (!req(r).scene_answer) return TS_ERR_FAILED;
        return fill(out, *req(r).scene_answer);
    };
    h.session_get = [](const ts_request* r, ts_str key, ts_buf* out) {
        auto& store = *req(r).session;
        auto it = store.find(s(key));
        if (it == store.end()) return TS_ERR_NOT_FOUND;
        return fill(out, it->second);
    };
    h.session_put = [](ts_request* r, ts_str key, ts_str value, uint32_t) {
        (*req(r).session)[s(key)] = s(value);
        return TS_OK;
    };
    h.session_delete = [](ts_request* r, ts_str key) {
        req(r).session->erase(s(key));
        return TS_OK;
    };
    h.model_capabilities = [](const ts_request* r, ts_str model, ts_buf* out) {
        auto it = req(r).caps.find(s(model));
        if (it == req(r).caps.end()) return TS_ERR_NOT_FOUND;
        return fill(out, it->second.dump());
    };
    h.route_decide = [](ts_request* r, int32_t rank, ts_str scenario, ts_str model, ts_str reason) {
        req(r).decisions.push_back({rank, s(scenario), s(model), s(reason)});
        req(r).model = s(model);
        return TS_OK;
    };
    h.request_header = [](const ts_request* r, ts_str name, ts_str* out) {
        auto it = req(r).headers.find(s(name));
        if (it == req(r).headers.end()) return TS_ERR_NOT_FOUND;
        *out = ts_str{it->second.data(), it->second.size()};
        return TS_OK;
    };
    h.model_serving = [](const ts_request* r, ts_str model, int32_t* out) {
        *out = req(r).failing.count(s(model)) ? 0 : 1;
        return TS_OK;
    };
    return h;
}

//! The plugin, loaded once, and one instance per config.
struct Plugin {
    void* lib = nullptr;
    const ts_plugin_descriptor* d = nullptr;

    Plugin() {
        std::string path = std::string(TIANSHU_PLUGIN_DIR) + "/scenario_router.so";
        lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!lib) FAIL("cannot load " << path << ": " << dlerror());
        auto entry = reinterpret_cast<ts_plugin_entry_fn>(dlsym(lib, TS_PLUGIN_ENTRY_SYMBOL));
        REQUIRE(entry);
        d = entry(TS_ABI_MAJOR, TS_ABI_MINOR);
        REQUIRE(d);
    }
    ~Plugin() {
        if (lib) dlclose(lib);
    }
};

struct Instance {
    const ts_plugin_descriptor* d;
    ts_host_api host;
    ts_instance* self;

    Instance(const Plugin& p, bool with_14, const std::string& config)
        : d(p.d), host(make_host(with_14)) {
        ts_error err{};
        self = d->create(&host, ts_str{config.data(), config.size()}, &err);
        if (!self) FAIL("create refused: " << err.message);
    }
    ~Instance() { d->destroy(self); }

    ts_hook_result run(FakeRequest& r) {
        ts_error err{};
        auto result = d->on_request(self, reinterpret_cast<ts_request*>(&r), &err);
        INFO(err.message);
        return result;
    }
};

std::string config_text() {
    return sr::testing::read_text(kDir / "router_config.json");
}

FakeRequest from_fixture(const std::string& name, std::map<std::string, std::string>* session) {
    sr::testing::Fixture f = sr::testing::load_fixture(kDir / "captured" / (name + ".json"));
    FakeRequest r;
    r.body = std::move(f.body);
    for (const auto& [k, v] : f.headers) r.headers[k] = v;
    r.session = session;
    return r;
}

}  // namespace

TEST_CASE("scenario_router declares itself advisory and may park in call_model") {
    Plugin p;
    CHECK(std::string(p.d->name) == "scenario_router");
    CHECK((p.d->flags & TS_FLAG_ADVISORY) != 0);
    CHECK((p.d->flags & TS_FLAG_MAY_SUSPEND) != 0);
    CHECK(p.d->on_request != nullptr);
    CHECK(p.d->on_stream_event == nullptr);  // costs nothing per event
    REQUIRE(p.d->config_schema);
    CHECK(json::parse(p.d->config_schema)["additionalProperties"] == false);
}

TEST_CASE("on a 1.4 host: route_decide with the rank, the tag removed, the session stored") {
    Plugin p;
    Instance plugin(p, true, config_text());
    std::map<std::string, std::string> session;

    FakeRequest tagged = from_fixture("usertag-main", &session);
    CHECK(plugin.run(tagged) == TS_HOOK_CONTINUE);
    REQUIRE(tagged.decisions.size() == 1);
    CHECK(tagged.decisions[0].rank == TS_ROUTE_AGENT);
    CHECK(tagged.decisions[0].model == "user-pick");
    CHECK(tagged.decisions[0].scenario == "main");
    REQUIRE(tagged.edits.size() == 1);
    CHECK(tagged.body.dump().find("tianshu-model") == std::string::npos);
    REQUIRE(session.count("route"));
    CHECK(json::parse(session["route"])["model"] == "user-pick");

    // Headers come through request_header: without the billing block the header still decides.
    std::map<std::string, std::string> other;
    FakeRequest agent = from_fixture("subagent-agent", &other);
    agent.body["system"].erase(0);  // drop the billing block
    CHECK(plugin.run(agent) == TS_HOOK_CONTINUE);
    REQUIRE(agent.decisions.size() == 1);
    CHECK(agent.decisions[0].scenario == "subagent");
    CHECK(agent.decisions[0].model == "m-agent");
    CHECK(other.empty());  // side calls leave the session alone
}

TEST_CASE("on a 1.4 host the session's model sticks and escalates on capabilities") {
    Plugin p;
    Instance plugin(p, true, config_text());
    std::map<std::string, std::string> session;
    FakeRequest first = from_fixture("sticky-first", &session);
    plugin.run(first);
    CHECK(first.model == "m-main");
    FakeRequest think = from_fixture("sticky-think", &session);
    plugin.run(think);
    CHECK(think.model == "m-main");
    REQUIRE(think.decisions.size() == 1);
    CHECK(think.decisions[0].reason == "session keeps m-main");

    FakeRequest image = from_fixture("image-result", &session);
    image.caps = {{"m-main", {{"vision", false}}}, {"m-think", {{"vision", false}}}};
    plugin.run(image);
    CHECK(image.model == "m-vision");
    CHECK(image.decisions[0].rank == TS_ROUTE_ESCALATION);
    CHECK(image.decisions[0].reason == "image for text-only m-main");
    CHECK(json::parse(session["route"])["switches"] == 1);
}

TEST_CASE("on a 1.4 host a session leaves a model whose channels all fail, once, and only up") {
    Plugin p;
    Instance plugin(p, true, config_text());
    std::map<std::string, std::string> session;
    FakeRequest first = from_fixture("sticky-first", &session);
    plugin.run(first);
    REQUIRE(first.model == "m-main");

    // Every channel of m-main fails (the host's breakers): the session moves up the order.
    FakeRequest next = from_fixture("sticky-think", &session);
    next.failing = {"m-main"};
    plugin.run(next);
    REQUIRE(next.decisions.size() == 1);
    CHECK(next.model != "m-main");
    CHECK(next.decisions[0].rank == TS_ROUTE_ESCALATION);
    CHECK(next.decisions[0].reason.find("channels of m-main failing") != std::string::npos);
    const std::string moved_to = next.model;
    CHECK(json::parse(session["route"])["switches"] == 1);

    // m-main serves again: the session does not move back down, and does not switch again.
    FakeRequest after = from_fixture("sticky-think", &session);
    plugin.run(after);
    CHECK(after.model == moved_to);
    CHECK(json::parse(session["route"])["switches"] == 1);

    // A host without model_serving (an earlier 1.4 table): nothing is failing.
    std::map<std::string, std::string> other;
    FakeRequest a = from_fixture("sticky-first", &other);
    plugin.run(a);
    FakeRequest b = from_fixture("sticky-think", &other);
    b.failing = {"m-main"};
    plugin.host.struct_size = offsetof(ts_host_api, model_serving);
    plugin.run(b);
    plugin.host.struct_size = sizeof(ts_host_api);
    CHECK(b.model == "m-main");
}

TEST_CASE("the scene model is asked with its time box (scenes.timeout_ms, default 3000)") {
    Plugin p;
    json config = json::parse(config_text());
    config["scenes"] = {{"model", "router"},
                        {"list", {{{"name", "code"}, {"models", "m-strong"}}}}};
    {
        Instance plugin(p, true, config.dump());
        std::map<std::string, std::string> session;
        FakeRequest r = from_fixture("plain-main", &session);
        r.scene_answer = "code";
        plugin.run(r);
        CHECK(r.timeout_ms == std::optional<uint32_t>(3000));
        CHECK(r.model == "m-strong");
    }
    config["scenes"]["timeout_ms"] = 250;
    Instance plugin(p, true, config.dump());
    std::map<std::string, std::string> session;
    FakeRequest r = from_fixture("plain-main", &session);
    r.scene_answer = std::nullopt;  // ran out: fails open to the scenario's default
    plugin.run(r);
    CHECK(r.timeout_ms == std::optional<uint32_t>(250));
    REQUIRE(r.decisions.size() == 1);
    CHECK(r.decisions[0].model == "m-main");
}

TEST_CASE("scenes go through call_model once per session turn and fail open") {
    Plugin p;
    json config = json::parse(config_text());
    config["scenes"] = {
        {"model", "router"},
        {"list",
         {{{"name", "简单对话"}, {"description", "small talk"}, {"models", "m-small"}},
          {{"name", "代码创建"}, {"description", "write code"}, {"models", "m-strong"}}}}};
    Instance plugin(p, true, config.dump());

    std::map<std::string, std::string> session;
    FakeRequest r = from_fixture("plain-main", &session);
    r.scene_answer = "代码创建";
    plugin.run(r);
    CHECK(r.model_calls == 1);
    REQUIRE(r.decisions.size() == 1);
    CHECK(r.decisions[0].rank == TS_ROUTE_SCENE);
    CHECK(r.decisions[0].model == "m-strong");
    CHECK(r.decisions[0].reason == "scene 代码创建");
    // The session has its model now: the next main turn does not ask again.
    FakeRequest again = from_fixture("plain-main", &session);
    again.scene_answer = "简单对话";
    plugin.run(again);
    CHECK(again.model_calls == 0);
    CHECK(again.model == "m-strong");

    std::map<std::string, std::string> fresh;
    FakeRequest failing = from_fixture("plain-main", &fresh);
    plugin.run(failing);  // scene_answer unset: call_model fails
    CHECK(failing.model_calls == 1);
    CHECK(failing.model == "m-main");
    CHECK(failing.decisions[0].rank == TS_ROUTE_DEFAULT);
}

TEST_CASE("on a 1.3 host the plugin still routes, through request_set_model") {
    Plugin p;
    Instance plugin(p, false, config_text());
    FakeRequest title = from_fixture("plain-title", nullptr);
    CHECK(plugin.run(title) == TS_HOOK_CONTINUE);
    CHECK(title.model == "m-small");
    FakeRequest agent = from_fixture("subagent-agent", nullptr);  // the billing block says so
    plugin.run(agent);
    CHECK(agent.model == "m-agent");
    FakeRequest tagged = from_fixture("usertag-main", nullptr);
    plugin.run(tagged);
    CHECK(tagged.model == "user-pick");
    CHECK(tagged.body.dump().find("tianshu-model") == std::string::npos);
}

TEST_CASE("a config the schema lets through but the router refuses names the field") {
    Plugin p;
    ts_host_api host = make_host(true);
    std::string config = R"({"scenes": {"list": [{"name": "a", "models": "m"}]}})";
    ts_error err{};
    CHECK(p.d->create(&host, ts_str{config.data(), config.size()}, &err) == nullptr);
    CHECK_THAT(std::string(err.message), Catch::StartsWith("scenes.model:"));
}
