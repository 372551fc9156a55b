// The ledger without the host: recording an answer, mending a history for each thinking
// protocol, and a scripted 20-turn tool loop with a restart and a model switch in which every
// request would pass DeepSeek's and Kimi's reasoning_content check.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>

#include <tianshu/abi.h>

#include "ledger.hpp"

using namespace reasoning_ledger;

namespace {

//! An answer as the host streams it: reasoning, text, then one tool call.
std::vector<std::pair<int, std::string>> answer_events(const std::string& reasoning,
                                                       const std::string& tool_id) {
    std::vector<std::pair<int, std::string>> e = {
        {TS_EVENT_MESSAGE_START, R"({"type":"message_start","message":{"id":"m"}})"},
        {TS_EVENT_CONTENT_BLOCK_START,
         R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})"}};
    for (size_t i = 0, n = 0; i < reasoning.size(); i += n) {
        n = std::min<size_t>(3, reasoning.size() - i);  // three bytes, whole code points
        while (i + n < reasoning.size() &&
               (static_cast<unsigned char>(reasoning[i + n]) & 0xC0) == 0x80)
            ++n;
        e.emplace_back(
            TS_EVENT_CONTENT_BLOCK_DELTA,
            Json{{"type", "content_block_delta"},
                 {"index", 0},
                 {"delta", {{"type", "thinking_delta"}, {"thinking", reasoning.substr(i, n)}}}}
                .dump());
    }
    e.emplace_back(
        TS_EVENT_CONTENT_BLOCK_DELTA,
        R"({"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"sig"}})");
    e.emplace_back(TS_EVENT_CONTENT_BLOCK_STOP, R"({"type":"content_block_stop","index":0})");
    e.emplace_back(
        TS_EVENT_CONTENT_BLOCK_START,
        R"({"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}})");
    e.emplace_back(
        TS_EVENT_CONTENT_BLOCK_DELTA,
        R"({"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Reading."}})");
    e.emplace_back(TS_EVENT_CONTENT_BLOCK_STOP, R"({"type":"content_block_stop","index":1})");
    if (!tool_id.empty()) {
        e.emplace_back(TS_EVENT_CONTENT_BLOCK_START, Json{{"type", "content_block_start"},
                                                          {"index", 2},
                                                          {"content_block",
                                                           {{"type", "tool_use"},
                                                            {"id", tool_id},
                                                            {"name", "read_file"},
                                                            {"input", Json::object()}}}}
                                                         .dump());
        e.emplace_back(TS_EVENT_CONTENT_BLOCK_STOP, R"({"type":"content_block_stop","index":2})");
    }
    e.emplace_back(TS_EVENT_MESSAGE_DELTA, R"({"type":"message_delta","delta":{}})");
    e.emplace_back(TS_EVENT_MESSAGE_STOP, R"({"type":"message_stop"})");
    return e;
}

//! Feeds events as the plugin does: JSON only where the recorder asks for it.
TurnRecorder record(const std::vector<std::pair<int, std::string>>& events, size_t max = 65536) {
    TurnRecorder r(max);
    for (const auto& [type, json] : events) r.observe(type, r.needs_json(type) ? json : "");
    return r;
}

Json tool_turn(const std::string& id, std::optional<Json> thinking = std::nullopt) {
    Json content = Json::array();
    if (thinking) content.push_back(*thinking);
    content.push_back({{"type", "text"}, {"text", "Reading."}});
    content.push_back(
        {{"type", "tool_use"}, {"id", id}, {"name", "read_file"}, {"input", Json::object()}});
    return {{"role", "assistant"}, {"content", content}};
}

Json tool_result(const std::string& id) {
    return {{"role", "user"},
            {"content",
             Json::array({{{"type", "tool_result"}, {"tool_use_id", id}, {"content", "ok"}}})}};
}

Json user(const std::string& text) {
    return {{"role", "user"}, {"content", text}};
}

//! What DeepSeek and Kimi check in thinking mode, on the Anthropic-shaped history the host
//! encodes: every assistant turn with a tool call carries non-empty thinking text.
bool provider_accepts(const Json& messages) {
    for (const Json& m : messages) {
        if (m["role"] != "assistant" || !m["content"].is_array()) continue;
        bool tool = false;
        std::string thinking;
        for (const Json& b : m["content"]) {
            if (b["type"] == "tool_use") tool = true;
            if (b["type"] == "thinking") thinking += b.value("thinking", "");
        }
        if (tool && thinking.empty()) return false;
    }
    return true;
}

Json apply(Json messages, const MendResult& r) {
    for (const auto& [i, content] : r.changed) messages[i]["content"] = content;
    return messages;
}

}  // namespace

TEST_CASE("recorder: a tool turn is keyed by its first tool_use id, with its reasoning") {
    const TurnRecorder r = record(answer_events("first I look, then I read", "toolu_A"));
    auto rec = r.finish("deepseek-reasoner");
    REQUIRE(rec);
    CHECK(rec->first == "turn:toolu_A");
    CHECK(rec->second.model == "deepseek-reasoner");
    CHECK(rec->second.reasoning == "first I look, then I read");  // the signature is not text
}

TEST_CASE("recorder: no tool call, or no message_stop, records nothing") {
    CHECK_FALSE(record(answer_events("thoughts", "")).finish("m"));
    auto events = answer_events("thoughts", "toolu_A");
    events.pop_back();
    CHECK_FALSE(record(events).finish("m"));
}

TEST_CASE("recorder: reasoning is cut to the byte cap on a code point boundary") {
    const TurnRecorder r = record(answer_events("ab思考思考", "toolu_A"), 5);
    auto rec = r.finish("m");
    REQUIRE(rec);
    CHECK(rec->second.reasoning == "ab思");
}

TEST_CASE("recorder: only text and tool deltas are never asked for as JSON") {
    TurnRecorder r;
    CHECK(r.needs_json(TS_EVENT_CONTENT_BLOCK_START));
    CHECK_FALSE(r.needs_json(TS_EVENT_CONTENT_BLOCK_DELTA));
    r.observe(
        TS_EVENT_CONTENT_BLOCK_START,
        R"({"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}})");
    CHECK(r.needs_json(TS_EVENT_CONTENT_BLOCK_DELTA));
    r.observe(TS_EVENT_CONTENT_BLOCK_STOP, "");
    CHECK_FALSE(r.needs_json(TS_EVENT_CONTENT_BLOCK_DELTA));
}

TEST_CASE("recorder: with a cap of 0 it records who answered and never asks for deltas") {
    TurnRecorder r(0);
    auto events = answer_events("signed thoughts", "toolu_A");
    for (const auto& [type, json] : events) {
        if (type == TS_EVENT_CONTENT_BLOCK_DELTA) CHECK_FALSE(r.needs_json(type));
        r.observe(type, r.needs_json(type) ? json : "");
    }
    auto rec = r.finish("claude-opus");
    REQUIRE(rec);
    CHECK(rec->second.model == "claude-opus");
    CHECK(rec->second.reasoning.empty());
}

TEST_CASE("records survive their JSON form; garbage is a miss") {
    TurnRecord rec{"kimi-k2", "why \"quoted\"\n"};
    auto back = TurnRecord::from_json(rec.to_json());
    REQUIRE(back);
    CHECK(back->model == rec.model);
    CHECK(back->reasoning == rec.reasoning);
    CHECK_FALSE(TurnRecord::from_json("not json"));
    CHECK_FALSE(TurnRecord::from_json(R"({"model":1})"));
}

TEST_CASE("reasoning_content target: a tool turn without thinking gets it from the ledger") {
    std::map<std::string, TurnRecord> ledger = {{"turn:toolu_A", {"deepseek-reasoner", "my plan"}}};
    Lookup lookup = [&](const std::string& k) -> std::optional<TurnRecord> {
        auto it = ledger.find(k);
        return it == ledger.end() ? std::nullopt : std::optional<TurnRecord>(it->second);
    };
    const Json messages = Json::array({user("go"), tool_turn("toolu_A"), tool_result("toolu_A"),
                                       tool_turn("toolu_B"), tool_result("toolu_B")});
    MendOptions o;
    const MendResult r =
        mend_history(messages, ThinkingProtocol::reasoning_content, "deepseek-reasoner", lookup, o);
    CHECK(r.restored == 1);
    CHECK(r.placeholders == 1);  // toolu_B was never recorded (e.g. a restart)
    const Json mended = apply(messages, r);
    CHECK(mended[1]["content"][0] == Json{{"type", "thinking"}, {"thinking", "my plan"}});
    CHECK(mended[3]["content"][0]["thinking"] == o.placeholder);
    CHECK(mended[1]["content"].size() == 3);  // thinking, text, tool_use: nothing lost
    CHECK(provider_accepts(mended));
    CHECK_FALSE(provider_accepts(messages));
}

TEST_CASE("reasoning_content target: turns the client sent back with thinking stay as they are") {
    const Json own = {{"type", "thinking"}, {"thinking", "kept"}, {"signature", ""}};
    const Json messages = Json::array({user("go"),
                                       tool_turn("toolu_A", own),
                                       tool_result("toolu_A"),
                                       {{"role", "assistant"}, {"content", "plain text turn"}},
                                       user("next")});
    const MendResult r =
        mend_history(messages, ThinkingProtocol::reasoning_content, "ds", nullptr, MendOptions{});
    CHECK(r.changed.empty());
}

TEST_CASE("reasoning_content target: another model's reasoning is converted or dropped") {
    const Json signed_claude = {
        {"type", "thinking"}, {"thinking", "claude thought"}, {"signature", "EqQBCkgIAR"}};
    const Json messages =
        Json::array({user("go"), tool_turn("toolu_A", signed_claude), tool_result("toolu_A"),
                     tool_turn("toolu_B"), tool_result("toolu_B")});
    Lookup lookup = [](const std::string& k) -> std::optional<TurnRecord> {
        if (k == "turn:toolu_A") return TurnRecord{"claude-sonnet", "claude thought"};
        if (k == "turn:toolu_B") return TurnRecord{"claude-sonnet", "more claude"};
        return std::nullopt;
    };
    SECTION("convert: the text goes on, the signature never") {
        const MendResult r = mend_history(messages, ThinkingProtocol::reasoning_content,
                                          "deepseek-reasoner", lookup, MendOptions{});
        CHECK(r.converted == 2);
        const Json mended = apply(messages, r);
        CHECK(mended[1]["content"][0] ==
              Json{{"type", "thinking"}, {"thinking", "claude thought"}});
        CHECK(mended[3]["content"][0]["thinking"] == "more claude");
        CHECK(provider_accepts(mended));
    }
    SECTION("drop: the placeholder stands in") {
        MendOptions o;
        o.drop_foreign = true;
        const MendResult r = mend_history(messages, ThinkingProtocol::reasoning_content,
                                          "deepseek-reasoner", lookup, o);
        CHECK(r.dropped == 2);
        const Json mended = apply(messages, r);
        CHECK(mended[1]["content"][0]["thinking"] == o.placeholder);
        CHECK(mended[1]["content"][0].count("signature") == 0);
        CHECK(mended[3]["content"][0]["thinking"] == o.placeholder);
        CHECK(provider_accepts(mended));
    }
}

TEST_CASE("anthropic target: thinking it did not sign is removed") {
    const Json unsigned_thinking = {{"type", "thinking"}, {"thinking", "deepseek thought"}};
    const Json own = {{"type", "thinking"}, {"thinking", "mine"}, {"signature", "EqQB"}};
    const Json foreign_signed = {{"type", "thinking"}, {"thinking", "other"}, {"signature", "X"}};
    const Json messages =
        Json::array({user("go"), tool_turn("toolu_A", own), tool_result("toolu_A"),
                     tool_turn("toolu_B", foreign_signed), tool_result("toolu_B"),
                     tool_turn("toolu_C", unsigned_thinking), tool_result("toolu_C")});
    Lookup lookup = [](const std::string& k) -> std::optional<TurnRecord> {
        if (k == "turn:toolu_A") return TurnRecord{"claude-opus", ""};
        if (k == "turn:toolu_B") return TurnRecord{"other-model", "other"};
        return std::nullopt;
    };
    const MendResult r =
        mend_history(messages, ThinkingProtocol::anthropic, "claude-opus", lookup, MendOptions{});
    CHECK(r.dropped == 2);
    REQUIRE(r.changed.size() == 2);
    CHECK(r.changed[0].first == 3);
    CHECK(r.changed[1].first == 5);
    const Json mended = apply(messages, r);
    for (size_t i : {3u, 5u})
        for (const Json& b : mended[i]["content"]) CHECK(b["type"] != "thinking");
    CHECK(mended[1] == messages[1]);  // its own signed thinking stays
    CHECK(r.disable_thinking);        // the last assistant turn lost its thinking
}

TEST_CASE("other protocols leave the history alone") {
    const Json messages = Json::array({user("go"), tool_turn("toolu_A"), tool_result("toolu_A")});
    for (auto p : {ThinkingProtocol::none, ThinkingProtocol::unknown})
        CHECK(mend_history(messages, p, "m", nullptr, MendOptions{}).changed.empty());
}

TEST_CASE("the config's thinking table: exact name first, then the longest prefix") {
    const Json table = {{"deepseek-*", "reasoning_content"},
                        {"deepseek-chat", "none"},
                        {"deepseek-r*", "anthropic"},
                        {"claude-*", "anthropic"}};
    CHECK(protocol_for_model(table, "deepseek-chat") == ThinkingProtocol::none);
    CHECK(protocol_for_model(table, "deepseek-reasoner") == ThinkingProtocol::anthropic);
    CHECK(protocol_for_model(table, "deepseek-v4") == ThinkingProtocol::reasoning_content);
    CHECK_FALSE(protocol_for_model(table, "kimi-k2"));
    CHECK_FALSE(protocol_for_model(Json(), "x"));
}

TEST_CASE("a 20-turn tool loop with a restart and a model switch always satisfies the provider") {
    // The session store as the host keeps it; a restart of an in-memory store empties it.
    std::map<std::string, TurnRecord> store;
    Lookup lookup = [&](const std::string& k) -> std::optional<TurnRecord> {
        auto it = store.find(k);
        return it == store.end() ? std::nullopt : std::optional<TurnRecord>(it->second);
    };
    Json history = Json::array({user("fix the bug")});
    int restored = 0, placeholders = 0, converted = 0;
    for (int turn = 1; turn <= 20; ++turn) {
        if (turn == 11) store.clear();  // the gateway restarts
        const std::string model = turn < 15 ? "deepseek-reasoner" : "kimi-k2-thinking";
        const MendResult r = mend_history(history, ThinkingProtocol::reasoning_content, model,
                                          lookup, MendOptions{});
        restored += r.restored;
        placeholders += r.placeholders;
        converted += r.converted;
        const Json sent = apply(history, r);
        INFO("turn " << turn);
        REQUIRE(provider_accepts(sent));
        // The answer: recorded by the ledger, sent to the client, which keeps no thinking.
        const std::string id = "toolu_" + std::to_string(turn);
        const TurnRecorder rec = record(answer_events("reasoning " + std::to_string(turn), id));
        auto kept = rec.finish(model);
        REQUIRE(kept);
        store[kept->first] = kept->second;
        history.push_back(tool_turn(id));
        history.push_back(tool_result(id));
    }
    // Turn t sees t-1 earlier tool turns: 190 mended in all. Before the restart (turns 1-10)
    // all 45 come from the ledger; turns 11-20 miss the 10 turns from before the restart.
    CHECK(placeholders == 10 * 10);
    CHECK(restored + converted + placeholders == 190);
    CHECK(converted > 0);  // kimi is sent deepseek's reasoning after the switch
}
