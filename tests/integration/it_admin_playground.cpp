// POST /admin/api/playground through the real server: an operator's request runs the chosen
// tier's chain (a pre block that rewrites the system prompt, managed routing, a post block that
// upper-cases the stream) in the gateway itself, whole and streamed, with the route decision
// and each block's time; it is billed to the operator and logged like any request (no key, no
// prompt text); a user's session, a missing CSRF header, an unknown tier or field are refused.
#include <catch2/catch.hpp>

#include <thread>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

struct Operator {
    Headers cookie;  //!< the panel's session cookie and its CSRF header
    std::string csrf;
};

Operator login(int port, const std::string& name, const std::string& password) {
    auto r = http_request(port, "POST", "/admin/api/login", {{"Content-Type", "application/json"}},
                          Json{{"name", name}, {"password", password}}.dump());
    INFO(r.body);
    REQUIRE(r.status == 201);
    const std::string token = r.json()["token"];
    const std::string csrf = r.json()["csrf_token"];
    Operator op;
    op.csrf = csrf;
    op.cookie = {{"Cookie", "tianshu_session=" + token + "; tianshu_csrf=" + csrf},
                 {"Content-Type", "application/json"},
                 {"X-CSRF-Token", csrf}};
    return op;
}

HttpResponse call(int port, const Operator& op, const std::string& method, const std::string& path,
                  const Json& body = nullptr) {
    return http_request(port, method, path, op.cookie, body.is_null() ? "" : body.dump());
}

Json play_body(const std::string& tier, bool stream, const std::string& text = "hi") {
    return {
        {"tier", tier},
        {"model", "t-play"},
        {"stream", stream},
        {"request",
         {{"max_tokens", 64}, {"messages", Json::array({{{"role", "user"}, {"content", text}}})}}}};
}

const std::string kAnswer = "MODEL=SYS-ECHO SYSTEM=[HOUSE RULES] USER=[HI]";

void check_blocks(const Json& blocks) {
    INFO(blocks.dump());
    REQUIRE(blocks.is_array());
    REQUIRE(blocks.size() == 3);
    CHECK(blocks[0]["name"] == "system_prompt");
    CHECK(blocks[0]["kind"] == "pre");
    CHECK(blocks[0]["where"] == "/pre/0");
    CHECK(blocks[1]["name"] == "sysecho");  // the channel that answered
    CHECK(blocks[1]["kind"] == "model");
    CHECK(blocks[1]["where"] == "sys-echo");
    CHECK(blocks[2]["name"] == "upper_stream");
    CHECK(blocks[2]["kind"] == "post");
    for (const auto& b : blocks) {
        REQUIRE(b["ms"].is_number());
        CHECK(b["ms"].get<double>() >= 0.0);
    }
    CHECK(blocks[1]["ms"].get<double>() > 0.0);  // a Lua model run takes some time
}

void check_route(const Json& route) {
    INFO(route.dump());
    CHECK(route["scenario"] == "managed");
    CHECK(route["model"] == "sys-echo");
    CHECK(route["by"] == "chain");
}

}  // namespace

TEST_CASE("the admin playground runs a tier's chain in the gateway, billed and logged",
          "[integration][admin][playground]") {
    TempDir tmp("playground");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {"system_prompt", "upper_stream"});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/echo_system.lua"});
    const std::string data = o.data_dir.string();
    auto added = run_cli({"channel", "add", "--name", "sysecho", "--type", "echo_system",
                          "--models", "sys-echo", "--data", data, "--plugins-dir",
                          o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    // Only tier "gold" has a chain for t-play: the playground's tier decides.
    write_file(tmp / "gold.json",
               R"({"id":"play-gold","tiers":["gold"],"models":["t-play"],
                   "routing":{"mode":"managed","model":"sys-echo"},
                   "pre":[{"plugin":"system_prompt","config":{"prepend":"HOUSE RULES"}}],
                   "post":[{"plugin":"upper_stream"}]})");
    auto imported =
        run_cli({"chain", "import", (tmp / "gold.json").string(), "--data", data, "--plugins-dir",
                 o.plugins_dir.string(), "--scripts-dir", o.scripts_dir.string()});
    INFO(imported.out << imported.err);
    REQUIRE(imported.exit_code == 0);

    GatewayProcess gw(o);
    REQUIRE(gw.admin_password());
    const int port = gw.port();
    const Operator op = login(port, "admin", *gw.admin_password());
    REQUIRE(call(port, op, "POST", "/admin/api/tiers", {{"name", "gold"}, {"price_ratio", "0.5"}})
                .status == 201);
    REQUIRE(call(port, op, "PUT", "/admin/api/prices/t-play", {{"per_call", "0.2"}}).status == 200);
    // The price reaches the gateway with its next configuration (polled every 500 ms).
    REQUIRE(gw.wait_for_log(
        [](const Json& l) { return l.value("msg", "") == "configuration reloaded"; }, 10s));
    std::this_thread::sleep_for(700ms);  // a change read just after that reload is in by now
    auto topped = call(port, op, "POST", "/admin/api/users/admin/topup", {{"amount", "10"}});
    INFO(topped.body);
    REQUIRE(topped.status == 200);
    auto balance = [&] {
        auto me = call(port, op, "GET", "/admin/api/me");
        REQUIRE(me.status == 200);
        return std::stod(me.json()["balance"].get<std::string>());
    };
    CHECK(balance() == Approx(10.0));

    SECTION("whole: the answer wrapped with the route decision and each block's time") {
        auto r = call(port, op, "POST", "/admin/api/playground", play_body("gold", false));
        INFO(r.body);
        REQUIRE(r.status == 200);
        const Json j = r.json();
        CHECK(j["status"] == 200);
        CHECK(j["chain"] == "play-gold");
        CHECK(j["channel"] == "sysecho");
        CHECK(anthropic_text(j["response"]) == kAnswer);
        check_route(j["route"]);
        check_blocks(j["blocks"]);
        const std::string request_id = j["request_id"];
        REQUIRE(request_id.size() == 24);

        // Billed to the operator at the tier's ratio (0.2 per call x 0.5), with a log row of
        // its own: the operator's, no key, the decision; and the log line has no prompt text.
        Json row;
        REQUIRE(eventually(
            [&] {
                auto logs = call(port, op, "GET", "/admin/api/logs?request_id=" + request_id);
                if (logs.status != 200 || logs.json()["data"].empty()) return false;
                row = logs.json()["data"][0];
                return true;
            },
            5s));
        INFO(row.dump());
        CHECK(row["user"] == "admin");
        CHECK(row["key_id"].is_null());
        CHECK(row["requested_model"] == "t-play");
        CHECK(row["channel"] == "sysecho");
        CHECK(row["cost"] == "0.100000");
        CHECK(row["route"]["model"] == "sys-echo");
        CHECK(balance() == Approx(9.9));
        auto line = gw.wait_for_log([&](const Json& l) {
            return l.value("msg", "") == "request" && l.value("request_id", "") == request_id;
        });
        REQUIRE(line);
        CHECK((*line)["route"] == "playground");
        CHECK((*line)["tier"] == "gold");
        CHECK((*line)["key"] == "playground");
        // Neither the request line nor the playground's own line carries prompt or answer text.
        CHECK_THAT(line->dump(), !Contains("HI]") && !Contains("\"hi\""));
        auto audit = gw.wait_for_log([&](const Json& l) {
            return l.value("msg", "") == "admin playground" &&
                   l.value("request_id", "") == request_id;
        });
        REQUIRE(audit);
        CHECK((*audit)["user"] == "admin");
        CHECK((*audit)["tier"] == "gold");
        CHECK_THAT(audit->dump(), !Contains("HI]") && !Contains("\"hi\""));
    }

    SECTION("streamed: the Messages events unchanged, then one tianshu.playground event") {
        auto events =
            stream_all(port, "/admin/api/playground", op.cookie, play_body("gold", true).dump());
        REQUIRE(events.size() >= 4);
        CHECK(events.front().event == "message_start");
        CHECK(anthropic_stream_text(events) == kAnswer);
        const SseEvent& last = events.back();
        REQUIRE(last.event == "tianshu.playground");
        CHECK(events[events.size() - 2].event == "message_stop");
        const Json trace = last.json();
        INFO(trace.dump());
        CHECK(trace["status"] == 200);
        CHECK(trace["request_id"].get<std::string>().size() == 24);
        CHECK_FALSE(trace.contains("response"));
        check_route(trace["route"]);
        check_blocks(trace["blocks"]);
        REQUIRE(eventually([&] { return balance() < 9.95; }, 5s));
        CHECK(balance() == Approx(9.9));
    }

    SECTION("the tier decides: the operator's own tier has no chain for the model") {
        auto r = call(port, op, "POST", "/admin/api/playground", play_body("default", false));
        INFO(r.body);
        // The default tier has only the catch-all demo chain: no house rules, no routing to
        // sys-echo, and t-play itself is served by no channel.
        CHECK(r.status == 404);
        CHECK(r.json()["chain"] == "demo");
        CHECK(r.json()["error"]["type"] == "not_found");
        CHECK_THAT(r.json()["error"]["message"].get<std::string>(), Contains("'t-play'"));
        CHECK(r.json()["blocks"].empty());
        CHECK_FALSE(r.json().contains("response"));
    }

    SECTION("refused: unknown tier, unknown field, no CSRF header, a user's session, GET") {
        auto tier = call(port, op, "POST", "/admin/api/playground", play_body("platinum", false));
        CHECK(tier.status == 400);
        CHECK_THAT(tier.json()["error"]["message"].get<std::string>(),
                   Contains("'tier'") && Contains("platinum") && Contains("POST /admin/api/tiers"));
        Json typo = play_body("gold", false);
        typo["temprature"] = 1;
        auto field = call(port, op, "POST", "/admin/api/playground", typo);
        CHECK(field.status == 400);
        CHECK_THAT(field.json()["error"]["message"].get<std::string>(),
                   Contains("unknown field 'temprature'"));
        Json no_model = play_body("gold", false);
        no_model.erase("model");
        auto model = call(port, op, "POST", "/admin/api/playground", no_model);
        CHECK(model.status == 400);
        CHECK_THAT(model.body, Contains("'model'"));

        Headers no_csrf = op.cookie;
        no_csrf.erase("X-CSRF-Token");
        auto csrf = http_request(port, "POST", "/admin/api/playground", no_csrf,
                                 play_body("gold", false).dump());
        CHECK(csrf.status == 403);
        CHECK_THAT(csrf.body, Contains("X-CSRF-Token"));

        REQUIRE(call(port, op, "POST", "/admin/api/users",
                     {{"name", "bob"}, {"password", "bob-password-1"}, {"role", "user"}})
                    .status == 201);
        const Operator bob = login(port, "bob", "bob-password-1");
        auto user = call(port, bob, "POST", "/admin/api/playground", play_body("gold", false));
        CHECK(user.status == 403);
        CHECK(user.json()["error"]["type"] == "permission");

        auto get = call(port, op, "GET", "/admin/api/playground");
        CHECK(get.status == 405);
        // Nothing of the refused calls was run or billed.
        CHECK(balance() == Approx(10.0));
    }
}
