// The classifier on small requests: shapes the pinned CLI does not send (older Claude Code
// versions, plain API clients) and the edges of each rule. The real CLI's requests are in
// test_fixtures.cpp.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "agent_tag.hpp"
#include "classifier.hpp"
#include "message_text.hpp"
#include "stall.hpp"

using nlohmann::json;
using namespace tianshu::scenario_router;

namespace {

json user(json content) {
    return json{{"role", "user"}, {"content", std::move(content)}};
}
json assistant(json content) {
    return json{{"role", "assistant"}, {"content", std::move(content)}};
}
json text(const std::string& t) {
    return json{{"type", "text"}, {"text", t}};
}
json tool(const std::string& name) {
    return json{{"name", name}, {"input_schema", {{"type", "object"}}}};
}
json request(json messages, json tools = json::array({tool("Read")})) {
    return json{{"model", "claude-sonnet-4-6"},
                {"max_tokens", 1024},
                {"messages", std::move(messages)},
                {"tools", std::move(tools)}};
}

Classification of(const json& r, const Headers& h = {}, ClassifierConfig c = {}) {
    return classify(r, h, c);
}

const Headers kClaudeCode{{"x-claude-code-session-id", "s-1"}, {"x-app", "cli"}};

}  // namespace

TEST_CASE("system-reminder blocks are not the user's words") {
    CHECK(without_reminders("a<system-reminder>x</system-reminder>b") == "ab");
    CHECK(without_reminders("a<system-reminder>unclosed") == "a");
    CHECK_FALSE(is_genuine("<system-reminder>\nctx\n</system-reminder>\n"));
    CHECK(is_genuine("<system-reminder>ctx</system-reminder> fix the bug"));
    CHECK_FALSE(
        is_genuine_user_message(user(json::array({text("<system-reminder>r</system-reminder>")}))));
    CHECK(is_genuine_user_message(user("hello")));
}

TEST_CASE("a compaction marker inside a system-reminder does not make a compact request") {
    json r = request(json::array(
        {user(json::array({text("<system-reminder>Your task is to create a detailed summary of "
                                "the conversation</system-reminder>"),
                           text("fix the bug")}))}));
    CHECK(of(r, kClaudeCode).scenario == Scenario::main);
    json compact = request(json::array(
        {user("fix the bug"), assistant(json::array({text("done")})),
         user(json::array({text("Your task is to create a detailed summary of the conversation so "
                                "far")}))}));
    CHECK(of(compact, kClaudeCode).scenario == Scenario::compact);
}

TEST_CASE("subagents are told by headers, the billing block, the old prompt or a system tag") {
    json r = request(json::array({user("find the file")}));
    CHECK(of(r, {{"x-claude-code-agent-id", "a1"}}).scenario == Scenario::subagent);
    CHECK(of(r, {{"x-claude-code-parent-agent-id", "a0"}}).scenario == Scenario::subagent);
    CHECK(of(r, {{"x-claude-code-agent-id", ""}}).scenario == Scenario::main);

    json billing = r;
    billing["system"] =
        json::array({text("x-anthropic-billing-header: cc_version=2.1.197.0; cc_is_subagent=true;"),
                     text("You search files.")});
    CHECK(of(billing).scenario == Scenario::subagent);

    json old = r;  // Claude Code 1.x: no headers, no billing block
    old["system"] = "You are an agent for Claude Code, Anthropic's official CLI for Claude.";
    CHECK(of(old).scenario == Scenario::subagent);

    json tagged = r;
    tagged["system"] = json::array({text("<tianshu-model>coder</tianshu-model>\nYou review.")});
    Classification c = of(tagged);
    CHECK(c.scenario == Scenario::subagent);
    REQUIRE(c.agent_tag);
    CHECK(c.agent_tag->model == "coder");
}

TEST_CASE("background: Warmup and Claude Code's calls without tools, not plain API clients") {
    json warmup = request(json::array({user("Warmup")}));
    CHECK(of(warmup).scenario == Scenario::background);
    json title =
        request(json::array({user("<session>fix it</session> Write the title")}), json::array());
    CHECK(of(title, kClaudeCode).scenario == Scenario::background);
    CHECK(of(title, {{"user-agent", "claude-cli/1.0.88 (external, cli)"}}).scenario ==
          Scenario::background);
    // The same shape from a plain API client is a main turn.
    CHECK(of(title).scenario == Scenario::main);
    CHECK(of(title, {{"user-agent", "curl/8"}}).scenario == Scenario::main);
}

TEST_CASE("web_search needs a server web search tool, not a tool named WebSearch") {
    json custom = request(json::array({user("search")}), json::array({tool("WebSearch")}));
    CHECK(of(custom, kClaudeCode).scenario == Scenario::main);
    json server = request(json::array({user("search")}),
                          json::array({{{"type", "web_search_20250305"}, {"name", "web_search"}}}));
    CHECK(of(server, kClaudeCode).scenario == Scenario::web_search);
}

TEST_CASE("think takes the effort from output_config or from the thinking budget") {
    json r = request(json::array({user("design it")}));
    r["thinking"] = {{"type", "adaptive"}};
    r["output_config"] = {{"effort", "high"}};
    CHECK(of(r).scenario == Scenario::main);
    CHECK(of(r).effort == Effort::high);
    CHECK(of(r, {}, {60000, Effort::high}).scenario == Scenario::think);
    r["output_config"]["effort"] = "max";
    CHECK(of(r).scenario == Scenario::think);

    json budget = request(json::array({user("design it")}));
    budget["thinking"] = {{"type", "enabled"}, {"budget_tokens", 31999}};
    CHECK(of(budget).effort == Effort::high);
    budget["thinking"]["budget_tokens"] = 32000;
    CHECK(of(budget).scenario == Scenario::think);
    budget["thinking"] = {{"type", "disabled"}};
    CHECK(of(budget).effort == Effort::none);
}

TEST_CASE("long_context is the estimate over the threshold; images count a fixed amount") {
    json r = request(json::array({user(std::string(4000, 'x'))}));
    CHECK(of(r, {}, {999, Effort::max}).scenario == Scenario::long_context);
    CHECK(of(r, {}, {1100, Effort::max}).scenario == Scenario::main);
    json img = request(json::array({user(
        json::array({text("look"),
                     {{"type", "image"},
                      {"source", {{"type", "base64"}, {"data", std::string(100000, 'A')}}}}}))}));
    Classification c = of(img);
    CHECK(c.estimated_tokens < 2000);  // the base64 is not text
    CHECK(c.scenario == Scenario::image);
    CHECK(c.has_image);
}

TEST_CASE("tool_continuation: only tool results (and reminders) in the last user message") {
    json calls = assistant(json::array(
        {{{"type", "tool_use"}, {"id", "t1"}, {"name", "Read"}, {"input", json::object()}}}));
    json result = {{"type", "tool_result"}, {"tool_use_id", "t1"}, {"content", "ok"}};
    json r = request(
        json::array({user("read it"), calls,
                     user(json::array({result, text("<system-reminder>x</system-reminder>")}))}));
    CHECK(of(r).scenario == Scenario::tool_continuation);
    CHECK(of(r).user_turn == 1);
    json with_words = request(json::array(
        {user("read it"), calls, user(json::array({result, text("and also fix it")}))}));
    CHECK(of(with_words).scenario == Scenario::main);
    CHECK(of(with_words).user_turn == 2);
    CHECK(of(with_words).newest_request == "and also fix it");

    json image_result = result;
    image_result["content"] = json::array({{{"type", "image"}, {"source", json::object()}}});
    json img = request(json::array({user("look"), calls, user(json::array({image_result}))}));
    CHECK(of(img).scenario == Scenario::image);
}

TEST_CASE("the <tianshu-model> tag is found in system blocks and the first user message only") {
    CHECK(find_tag("a <tianshu-model> m1 </tianshu-model> b") == "m1");
    CHECK_FALSE(find_tag("<tianshu-model></tianshu-model>"));
    CHECK_FALSE(find_tag("<tianshu-model>unclosed"));
    CHECK(strip_tags("Say hi <tianshu-model>m</tianshu-model>") == "Say hi");
    CHECK(strip_tags("<tianshu-model>m</tianshu-model>\nYou review.") == "You review.");
    CHECK(strip_tags("keep <tianshu-model></tianshu-model> empty") ==
          "keep <tianshu-model></tianshu-model> empty");

    json r = request(
        json::array({user(json::array({text("<system-reminder>r</system-reminder>"),
                                       text("Say hi <tianshu-model>glm-4.6</tianshu-model>")})),
                     assistant(json::array({text("hi")})),
                     user("later <tianshu-model>ignored</tianshu-model>")}));
    auto tag = find_agent_tag(r);
    REQUIRE(tag);
    CHECK(tag->model == "glm-4.6");
    CHECK_FALSE(tag->in_system);
    REQUIRE(tag->edits.size() == 1);
    CHECK(tag->edits[0].pointer == "/messages/0/content/1/text");
    CHECK(tag->edits[0].text == "Say hi");
    CHECK(of(r).scenario == Scenario::main);  // a user's tag picks a model, not a scenario
}

TEST_CASE("a stall is the same call failing 3 times in the last 6, counted once") {
    auto call = [](const std::string& id, const std::string& cmd) {
        return assistant(json::array(
            {{{"type", "tool_use"}, {"id", id}, {"name", "Bash"}, {"input", {{"command", cmd}}}}}));
    };
    auto result = [](const std::string& id, bool error) {
        return user(json::array({{{"type", "tool_result"},
                                  {"tool_use_id", id},
                                  {"content", "x"},
                                  {"is_error", error}}}));
    };
    json msgs = json::array({user("go")});
    auto add = [&](const std::string& id, const std::string& cmd, bool error) {
        msgs.push_back(call(id, cmd));
        msgs.push_back(result(id, error));
    };
    add("1", "make", true);
    add("2", "ls", true);
    add("3", "make", true);
    CHECK_FALSE(find_stall(request(msgs), {}, {}));
    add("4", "make", true);
    auto stall = find_stall(request(msgs), {}, {});
    REQUIRE(stall);
    CHECK(stall->tool == "Bash");
    CHECK(stall->failed_ids == std::vector<std::string>{"1", "3", "4"});
    // Once escalated for, those failures do not count again.
    CHECK_FALSE(find_stall(request(msgs), {}, {"1", "3", "4"}));
    // Three more calls push the first failure out of the window of 6.
    add("5", "ls", false);
    add("6", "ls", false);
    add("7", "ls", false);
    CHECK_FALSE(find_stall(request(msgs), {}, {}));
}
