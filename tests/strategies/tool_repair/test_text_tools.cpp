#include <catch2/catch.hpp>

#include "golden_replay.hpp"
#include "text_call_recognizer.hpp"
#include "text_tools.hpp"

using namespace tianshu::tool_repair;
using nlohmann::json;

namespace {

const json kTools = json::parse(R"([{"name":"Read","description":"Reads a file",
  "input_schema":{"type":"object","properties":{"file_path":{"type":"string"}},"required":["file_path"]}},
  {"name":"Bash","input_schema":{"type":"object","properties":{"command":{"type":"string"}}}}])");

}  // namespace

TEST_CASE("the tools prompt names every tool with its schema and the call format",
          "[tool_repair][text_tools]") {
    std::string prompt = tools_prompt(kTools);
    CHECK(prompt.find(R"({"description":"Reads a file","name":"Read","parameters":{)") !=
          std::string::npos);
    CHECK(prompt.find(R"("name":"Bash")") != std::string::npos);
    CHECK(prompt.find("<tool_call>\n{\"name\": \"TOOL_NAME\"") != std::string::npos);
    CHECK(prompt.find("<tool_response>") != std::string::npos);
}

TEST_CASE("a call written as the prompt documents is read back by the recogniser",
          "[tool_repair][text_tools]") {
    // The documented format, filled in the way the prompt says.
    std::string answer =
        "I'll look.\n<tool_call>\n{\"name\": \"Read\", \"arguments\": "
        "{\"file_path\": \"/a\"}}\n</tool_call>";
    ToolCatalog tools = ToolCatalog::from_request_tools(kTools);
    TextCallRecognizer r(tools, RecognizerOptions{});
    std::vector<Piece> out;
    for (const auto& c : tianshu::tool_repair::test::per_character(answer)) r.feed(c, out);
    r.finish(out);
    REQUIRE(out.size() == 2);
    CHECK(out[1].kind == Piece::Kind::call);
    CHECK(out[1].arguments == json::parse(R"({"file_path":"/a"})"));
}

TEST_CASE("the history's tool blocks become the same text format", "[tool_repair][text_tools]") {
    json messages = json::parse(R"([
      {"role":"user","content":"read a"},
      {"role":"assistant","content":[{"type":"text","text":"ok"},
        {"type":"tool_use","id":"t1","name":"Read","input":{"file_path":"/a"}}]},
      {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","is_error":true,
        "content":[{"type":"text","text":"no such file"},{"type":"image","source":{}}]}]}])");
    CHECK(history_as_text(messages) == 2);
    CHECK(
        messages[1]["content"][1] ==
        json::parse(
            R"({"type":"text","text":"<tool_call>\n{\"arguments\":{\"file_path\":\"/a\"},\"name\":\"Read\"}\n</tool_call>"})"));
    CHECK(messages[2]["content"][0]["text"] ==
          "<tool_response>\n{\"is_error\":true,\"name\":\"Read\"}\nno such file\n[image "
          "omitted]\n</tool_response>");
    json plain = json::parse(R"([{"role":"user","content":"hi"}])");
    CHECK(history_as_text(plain) == 0);
}
