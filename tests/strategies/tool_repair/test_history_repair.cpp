#include <catch2/catch.hpp>

#include "history_repair.hpp"

using namespace tianshu::tool_repair;
using nlohmann::json;

TEST_CASE("an orphaned tool_use gets a placeholder result at the front of the next user turn",
          "[tool_repair][history]") {
    json messages = json::parse(R"([
      {"role":"user","content":"list files"},
      {"role":"assistant","content":[{"type":"text","text":"ok"},
        {"type":"tool_use","id":"t1","name":"Bash","input":{"command":"ls"}},
        {"type":"tool_use","id":"t2","name":"Bash","input":{"command":"pwd"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"a b"},
        {"type":"text","text":"go on"}]},
      {"role":"assistant","content":[{"type":"tool_use","id":"t3","name":"Read","input":{}}]},
      {"role":"user","content":"never mind"},
      {"role":"assistant","content":[{"type":"tool_use","id":"t4","name":"Read","input":{}}]},
      {"role":"assistant","content":[{"type":"text","text":"hm"}]},
      {"role":"assistant","content":[{"type":"tool_use","id":"t5","name":"Read","input":{}}]}
    ])");
    size_t added = add_missing_tool_results(messages, "none");
    CHECK(added == 3);
    // t2 after the existing t1 result, before the text.
    CHECK(messages[2]["content"][1]["tool_use_id"] == "t2");
    CHECK(messages[2]["content"][1]["is_error"] == true);
    CHECK(messages[2]["content"][2]["type"] == "text");
    // string content becomes blocks, the result first.
    CHECK(messages[4]["content"][0]["tool_use_id"] == "t3");
    CHECK(messages[4]["content"][1] == json::parse(R"({"type":"text","text":"never mind"})"));
    // an assistant followed by an assistant: a user turn is inserted.
    CHECK(messages[6]["role"] == "user");
    CHECK(messages[6]["content"][0]["tool_use_id"] == "t4");
    // the last message's tool_use is left alone.
    CHECK(messages.size() == 9);
    CHECK(messages[8]["content"][0]["id"] == "t5");
}

TEST_CASE("a complete history is left unchanged", "[tool_repair][history]") {
    json messages = json::parse(R"([
      {"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"Bash","input":{}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"ok"}]}])");
    json before = messages;
    CHECK(add_missing_tool_results(messages, "none") == 0);
    CHECK(messages == before);
}
