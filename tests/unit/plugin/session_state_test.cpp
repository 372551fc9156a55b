// session_get / session_put / session_delete (ABI 1.4), called the way a C plugin calls them and
// through plugin.hpp, over the real in-memory store.
#include <catch2/catch.hpp>

#include "hub/memory_session_store.hpp"
#include "plugin/host_api.hpp"
#include "plugin_test_support.hpp"
#include "tianshu/plugin.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using namespace tianshu::plugin::testing;

namespace {

using sdk::detail::str;

RequestContext context_for(core::SessionStore& store, std::string user, std::string session) {
    auto ctx = make_context("x");
    ctx.user = std::move(user);
    ctx.session_id = std::move(session);
    ctx.session_source = "header";
    ctx.sessions = &store;
    return ctx;
}

//! A store whose Redis has gone away.
class UnreachableStore final : public core::SessionStore {
  public:
    UnreachableStore() : core::SessionStore({}) {}
    core::Result<std::optional<std::string>> get(const core::SessionScope&,
                                                 std::string_view) override {
        return down();
    }
    core::Result<void> put(const core::SessionScope&, std::string_view, std::string_view,
                           std::chrono::seconds) override {
        return down();
    }
    core::Result<void> erase(const core::SessionScope&, std::string_view) override {
        return down();
    }

  private:
    static core::Error down() {
        return {core::ErrorKind::unavailable, "session store Redis at 127.0.0.1:1: down", {}};
    }
};

}  // namespace

TEST_CASE("session state through the C table", "[host_api][session]") {
    const ts_host_api* api = host_api();
    REQUIRE(TS_HOST_HAS(api, session_delete));
    core::SessionLimits limits;
    limits.session_max_bytes = 64;
    hub::MemorySessionStore store(limits);
    auto ctx = context_for(store, "alice", "sess-1");
    ts_request* r = to_handle(ctx);
    ts_buf out{};

    // Outside a hook there is no plugin to namespace the keys by.
    CHECK(api->session_put(r, str("k"), str("v"), 0) == TS_ERR_WRONG_PHASE);
    CHECK(api->session_get(r, str("k"), &out) == TS_ERR_WRONG_PHASE);

    std::string ledger = "reasoning_ledger";
    {
        HookScope scope(ledger, HookPhase::on_response_end);
        CHECK(api->session_get(r, str("turn:1"), &out) == TS_ERR_NOT_FOUND);
        CHECK(out.ptr == nullptr);
        REQUIRE(api->session_put(r, str("turn:1"), str("thought"), 0) == TS_OK);
        REQUIRE(api->session_get(r, str("turn:1"), &out) == TS_OK);
        CHECK(take(out) == "thought");
        CHECK(api->session_put(r, str(""), str("v"), 0) == TS_ERR_INVALID);
        // Beyond the session's cap: TS_ERR_LIMIT, and the old value stays.
        CHECK(api->session_put(r, str("turn:1"), str(std::string(64, 'x')), 0) == TS_ERR_LIMIT);
        REQUIRE(api->session_get(r, str("turn:1"), &out) == TS_OK);
        CHECK(take(out) == "thought");
    }
    std::string router = "scenario_router";
    {
        HookScope scope(router, HookPhase::on_request);
        CHECK(api->session_get(r, str("turn:1"), &out) == TS_ERR_NOT_FOUND);  // not its key
    }
    {
        // Another user presenting alice's session id sees nothing of hers.
        auto bob = context_for(store, "bob", "sess-1");
        HookScope scope(ledger, HookPhase::on_request);
        CHECK(api->session_get(to_handle(bob), str("turn:1"), &out) == TS_ERR_NOT_FOUND);
        CHECK(api->session_delete(to_handle(bob), str("turn:1")) == TS_OK);
    }
    {
        HookScope scope(ledger, HookPhase::on_request);
        REQUIRE(api->session_get(r, str("turn:1"), &out) == TS_OK);
        CHECK(take(out) == "thought");
        CHECK(api->session_delete(r, str("turn:1")) == TS_OK);
        CHECK(api->session_get(r, str("turn:1"), &out) == TS_ERR_NOT_FOUND);
        CHECK(api->session_delete(r, str("turn:1")) == TS_OK);
    }
}

TEST_CASE("a store that cannot be reached is TS_ERR_FAILED, logged with the plugin",
          "[host_api][session]") {
    const ts_host_api* api = host_api();
    UnreachableStore store;
    auto ctx = context_for(store, "alice", "sess-1");
    LogCapture logs;
    std::string plugin = "reasoning_ledger";
    HookScope scope(plugin, HookPhase::on_request);
    ts_buf out{};
    CHECK(api->session_get(to_handle(ctx), str("k"), &out) == TS_ERR_FAILED);
    CHECK(api->session_put(to_handle(ctx), str("k"), str("v"), 60) == TS_ERR_FAILED);
    CHECK(api->session_delete(to_handle(ctx), str("k")) == TS_ERR_FAILED);
    auto lines = logs.lines();
    REQUIRE(lines.size() == 3);
    CHECK(lines[0].find("session state unavailable") != std::string::npos);
    CHECK(lines[0].find("reasoning_ledger") != std::string::npos);
    // A host that keeps no state at all answers the same way.
    ctx.sessions = nullptr;
    CHECK(api->session_put(to_handle(ctx), str("k"), str("v"), 0) == TS_ERR_FAILED);
}

TEST_CASE("session state through plugin.hpp", "[session][sdk]") {
    hub::MemorySessionStore store({});
    auto ctx = context_for(store, "alice", "sess-1");
    std::string plugin = "probe";
    HookScope scope(plugin, HookPhase::on_request);
    sdk::Request req(host_api(), to_handle(ctx));
    REQUIRE(req.has_session_state());
    CHECK_FALSE(req.session_get("k").has_value());
    CHECK(req.session_put("k", "v", 60) == TS_OK);
    CHECK(req.session_get("k") == "v");
    CHECK(req.session_erase("k") == TS_OK);
    CHECK_FALSE(req.session_get("k").has_value());
    CHECK(req.attribute("session_source") == "header");
    CHECK(req.attribute("session_id") == "sess-1");

    // A 1.3 host's table ends before the session functions: probed, never called.
    ts_host_api old = *host_api();
    old.struct_size = offsetof(ts_host_api, event_json);
    sdk::Request on_old(&old, to_handle(ctx));
    CHECK_FALSE(on_old.has_session_state());
    CHECK_FALSE(on_old.session_get("k").has_value());
    CHECK(on_old.session_put("k", "v") == TS_ERR_FAILED);
}
