// Session state through the real server: a Lua strategy (session_counter) keeps a turn counter
// and the previous user text per session. Sessions come from Claude Code's header, from its
// metadata.user_id, or are derived for plain API clients; one user never sees another's state,
// even presenting its session id; caps are serve flags; two gateways sharing one Redis see the
// same session ([redis]: TIANSHU_TEST_REDIS_URL, set by with_redis.sh).
#include <catch2/catch.hpp>

#include "harness.hpp"
#include "test_store.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

const char* kChain =
    R"({"id":"counter","tiers":["*"],"models":["counter"],"routing":{"mode":"passthrough"},)"
    R"("pre":[{"plugin":"session_counter"}]})";

//! A store with the counting chain and two users, alice and bob, each with a key.
struct Fleet {
    Store s{"session-state"};
    ServeOptions options;
    std::string alice, bob;

    Fleet() {
        options = s.serve_options();
        options.scripts_dir =
            make_scripts_dir(s.tmp / "counter-scripts", {"strategies/session_counter.lua"});
        auto file = s.tmp / "chain.json";
        write_file(file, kChain);
        auto imported =
            s.cli({"chain", "import", file.string(), "--scripts-dir", options.scripts_dir.string(),
                   "--plugins-dir", options.plugins_dir.string()});
        INFO(imported.out << imported.err);
        REQUIRE(imported.exit_code == 0);
        alice = key_for("alice");
        bob = key_for("bob");
    }

    std::string key_for(const std::string& user) {
        REQUIRE(s.cli({"user", "add", "--name", user}).exit_code == 0);
        auto made = s.cli({"key", "create", "--user", user, "--name", user + "-key"});
        INFO(made.out << made.err);
        REQUIRE(made.exit_code == 0);
        return last_line(made.out);
    }
};

//! One Claude Code turn: the session in the header (or, with `metadata_session`, only in
//! metadata.user_id as Claude Code 2.x writes it).
std::string claude_code_turn(int port, const std::string& key, const std::string& session,
                             const std::string& text, bool metadata_session = false) {
    auto headers = anthropic_auth(key);
    Json body = Json::parse(anthropic_body("counter", text));
    if (metadata_session) {
        body["metadata"]["user_id"] = Json{
            {"device_id", "5d1c0b1e8f0c4a7e"},
            {"account_uuid", ""},
            {"session_id", session}}.dump();
    } else {
        headers["X-Claude-Code-Session-Id"] = session;
    }
    auto r = post_json(port, "/v1/messages", headers, body.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    return anthropic_text(r.json());
}

//! A plain OpenAI client's turn: the whole conversation so far, no session anywhere.
std::string plain_turn(int port, const std::string& key, const std::vector<std::string>& texts) {
    Json messages = Json::array({Json{{"role", "system"}, {"content", "be brief"}}});
    for (size_t i = 0; i < texts.size(); ++i)
        messages.push_back({{"role", i % 2 ? "assistant" : "user"}, {"content", texts[i]}});
    auto r = post_json(port, "/v1/chat/completions", openai_auth(key),
                       Json{{"model", "counter"}, {"messages", messages}}.dump());
    INFO(r.body);
    REQUIRE(r.status == 200);
    return openai_text(r.json());
}

}  // namespace

TEST_CASE("a strategy keeps session state across turns, apart per user and session",
          "[integration][session]") {
    Fleet f;
    f.options.extra_args.insert(f.options.extra_args.end(), {"--session-max-bytes", "1024"});
    GatewayProcess gw(f.options);
    const int port = gw.port();

    CHECK(claude_code_turn(port, f.alice, "sess-A", "first") ==
          "turn=1 previous= source=header stored=yes");
    CHECK(claude_code_turn(port, f.alice, "sess-A", "second") ==
          "turn=2 previous=first source=header stored=yes");

    // Bob presents alice's session id: he sees none of her state, and changes none of it.
    CHECK(claude_code_turn(port, f.bob, "sess-A", "bob's") ==
          "turn=1 previous= source=header stored=yes");
    // Another session of alice's is another state.
    CHECK(claude_code_turn(port, f.alice, "sess-B", "elsewhere") ==
          "turn=1 previous= source=header stored=yes");
    // The same session named only in metadata.user_id (Claude Code without the header).
    CHECK(claude_code_turn(port, f.alice, "sess-A", "third", true) ==
          "turn=3 previous=second source=metadata stored=yes");

    // A plain API client: the session is derived from the conversation's beginning, the same
    // across its turns, another for another conversation.
    CHECK(plain_turn(port, f.alice, {"plan it"}) == "turn=1 previous= source=derived stored=yes");
    CHECK(plain_turn(port, f.alice, {"plan it", "turn=1 ...", "go on"}) ==
          "turn=2 previous=plan it source=derived stored=yes");
    CHECK(plain_turn(port, f.alice, {"something else"}) ==
          "turn=1 previous= source=derived stored=yes");

    // Beyond --session-max-bytes the put is refused and nothing of it is stored.
    auto refused = claude_code_turn(port, f.alice, "sess-C", "fill 2000");
    CHECK_THAT(refused, Contains("turn=1 previous= source=header stored=tianshu.session_put:"));
    CHECK_THAT(refused, Contains("--session-max-bytes"));
    CHECK(claude_code_turn(port, f.alice, "sess-C", "after") ==
          "turn=2 previous= source=header stored=yes");

    // The request log line names the session and where it came from (never the prompt).
    auto lines = request_logs(gw);
    REQUIRE_FALSE(lines.empty());
    CHECK(lines.front().value("session", "") == "sess-A");
    CHECK(lines.front().value("session_source", "") == "header");
    CHECK(lines.back().value("session", "") == "sess-C");
}

TEST_CASE("two gateways sharing one Redis see the same session", "[integration][session][redis]") {
    const char* redis = std::getenv("TIANSHU_TEST_REDIS_URL");
    if (!redis || !*redis)
        FAIL(
            "needs TIANSHU_TEST_REDIS_URL: run under with_redis.sh (ctest -R "
            "it_session_state_redis)");
    Fleet f;
    f.options.extra_args.insert(f.options.extra_args.end(), {"--redis", redis, "--secret-key-file",
                                                             (f.s.tmp / "fleet.key").string()});
    GatewayProcess a(f.options);
    // The second gateway has its own data dir (journal) over the same store and secret key.
    TempDir other("session-state-b");
    auto o2 = f.options;
    o2.data_dir = other / "data";
    fs::create_directories(o2.data_dir);
    o2.extra_args.insert(o2.extra_args.end(),
                         {"--db", "sqlite://" + fs::absolute(f.s.data / "tianshu.db").string()});
    GatewayProcess b(o2);

    CHECK(claude_code_turn(a.port(), f.alice, "sess-R", "on a") ==
          "turn=1 previous= source=header stored=yes");
    CHECK(claude_code_turn(b.port(), f.alice, "sess-R", "on b") ==
          "turn=2 previous=on a source=header stored=yes");
    CHECK(claude_code_turn(a.port(), f.alice, "sess-R", "on a again") ==
          "turn=3 previous=on b source=header stored=yes");
    // Through either gateway, bob with alice's session id sees nothing of hers.
    CHECK(claude_code_turn(b.port(), f.bob, "sess-R", "bob") ==
          "turn=1 previous= source=header stored=yes");
    // A plain client's derived session is the same on both gateways.
    CHECK(plain_turn(a.port(), f.alice, {"plan it"}) ==
          "turn=1 previous= source=derived stored=yes");
    CHECK(plain_turn(b.port(), f.alice, {"plan it", "ok", "go on"}) ==
          "turn=2 previous=plan it source=derived stored=yes");
}
