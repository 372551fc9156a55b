// tool_repair through the real gateway: an OpenAI-compatible upstream that writes its tool calls
// as text (the fake upstream's text_tools mode), a chain with tool_repair in pre and post, and
// Anthropic clients. NEEDS the host's ABI 1.4 stream rewriting (event_json … stream_emit): on a
// host without it the plugin passes text through and these checks fail.
#include <catch2/catch.hpp>

#include "fake_upstream_process.hpp"
#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

const std::string kTools = R"([{"name":"Write","description":"Writes a file","input_schema":{
  "type":"object","properties":{"file_path":{"type":"string"},"content":{"type":"string"}},
  "required":["file_path","content"]}}])";

std::string request(const std::string& model, const std::string& text) {
    Json body = Json::parse(anthropic_body(model, text, true));
    body["tools"] = Json::parse(kTools);
    return body.dump();
}

struct Blocks {
    std::vector<Json> starts;       //!< content_block_start's content_block, in order
    std::vector<std::string> text;  //!< per block: text, or the tool input's JSON
    std::string stop_reason;
    std::vector<std::string> names;  //!< event names, pings left out
};

Blocks read_blocks(const std::vector<SseEvent>& events) {
    Blocks b;
    for (const auto& e : events) {
        Json j = e.json();
        std::string type = j.value("type", "");
        if (type == "ping") continue;
        b.names.push_back(type);
        if (type == "content_block_start") {
            b.starts.push_back(j["content_block"]);
            b.text.emplace_back();
        } else if (type == "content_block_delta") {
            const Json& d = j["delta"];
            b.text.back() += d.contains("text") ? d.value("text", "") : d.value("partial_json", "");
        } else if (type == "message_delta") {
            b.stop_reason = j["delta"].value("stop_reason", "");
        }
    }
    return b;
}

}  // namespace

TEST_CASE("tool_repair turns an upstream's text tool calls into tool_use blocks",
          "[integration][tool_repair]") {
    TempDir tmp("tool_repair");
    FakeUpstream up(source_dir() / "tests/integration/scenarios/tool_repair_text_tools.json",
                    tmp / "upstream.log");
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {"openai_compat", "tool_repair"});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    fs::create_directories(o.data_dir);
    const std::vector<std::string> dirs{"--data",        o.data_dir.string(),
                                        "--plugins-dir", o.plugins_dir.string(),
                                        "--scripts-dir", o.scripts_dir.string()};
    auto cli = [&](std::vector<std::string> args) {
        args.insert(args.end(), dirs.begin(), dirs.end());
        auto r = run_cli(args);
        INFO(r.out << r.err);
        REQUIRE(r.exit_code == 0);
    };
    cli({"channel", "add", "--name", "up", "--type", "openai_compat", "--base-url", up.base_url(),
         "--key", "sk-up", "--models", "up-model", "--map", "claude-*=up-model"});
    write_file(tmp / "chain.json",
               R"({"id":"repair","tiers":["*"],"models":["claude-repair"],)"
               R"("routing":{"mode":"passthrough"},"pre":[{"plugin":"tool_repair"}],)"
               R"("post":[{"plugin":"tool_repair"}]})");
    cli({"chain", "import", (tmp / "chain.json").string()});
    write_file(tmp / "reask.json",
               R"({"id":"reask","tiers":["*"],"models":["claude-reask"],)"
               R"("routing":{"mode":"passthrough"},"pre":[{"plugin":"tool_repair"}],)"
               R"("post":[{"plugin":"tool_repair","config":{"reask":true}}]})");
    cli({"chain", "import", (tmp / "reask.json").string()});

    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    const std::string key = *gw.demo_key();
    INFO(gw.log_text());

    SECTION("Hermes: text first, then the call; stop_reason tool_use") {
        int status = 0;
        auto b = read_blocks(stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                        request("claude-repair", "write hello.txt"), &status));
        REQUIRE(status == 200);
        REQUIRE(b.starts.size() == 2);
        CHECK(b.starts[0]["type"] == "text");
        CHECK(b.text[0] == "I'll write the file.\n\n");
        CHECK(b.starts[1]["type"] == "tool_use");
        CHECK(b.starts[1]["name"] == "Write");
        CHECK(Json::parse(b.text[1]) ==
              Json::parse(R"({"file_path":"/tmp/hello.txt","content":"hello, 'world'\n"})"));
        CHECK(b.stop_reason == "tool_use");
        CHECK(b.names.front() == "message_start");
        CHECK(b.names.back() == "message_stop");
    }

    SECTION("Kimi tokens") {
        auto b = read_blocks(stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                        request("claude-repair", "kimi, write k.txt")));
        REQUIRE(b.starts.size() == 2);
        CHECK(b.starts[1]["type"] == "tool_use");
        CHECK(Json::parse(b.text[1])["content"] == "from kimi");
        CHECK(b.stop_reason == "tool_use");
    }

    SECTION("arguments that fail the schema end the turn with a note, never {}") {
        auto b = read_blocks(stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                        request("claude-repair", "broken call")));
        REQUIRE(b.starts.size() == 1);
        CHECK(b.starts[0]["type"] == "text");
        CHECK_THAT(b.text[0], Contains("`Write` was not run") && Contains("file_path"));
        CHECK(b.stop_reason == "end_turn");
    }

    SECTION(
        "with reask, the same model is asked once and its corrected arguments become the call") {
        auto b = read_blocks(stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                        request("claude-reask", "mend me")));
        REQUIRE(b.starts.size() == 1);
        CHECK(b.starts[0]["type"] == "tool_use");
        CHECK(b.starts[0]["name"] == "Write");
        CHECK(Json::parse(b.text[0]) ==
              Json::parse(R"({"file_path":"/tmp/mended.txt","content":"mended"})"));
        CHECK(b.stop_reason == "tool_use");
        // The upstream saw exactly one re-ask, carrying the validation error and the arguments
        // as written.
        int reasks = 0;
        for (const auto& r : up.requests()) {
            const std::string body = r.dump();
            if (body.find("Reply with only the corrected arguments") == std::string::npos) continue;
            ++reasks;
            CHECK_THAT(body, Contains("file_path") && Contains("mended"));
        }
        CHECK(reasks == 1);
        // The decision is visible: counted per plugin, kind and model.
        auto metrics = http_request(gw.port(), "GET", "/metrics");
        REQUIRE(metrics.status == 200);
        CHECK_THAT(metrics.body, Contains("tool_call_reasked"));
    }

    SECTION("with reask, a re-ask that does not validate leaves the note, never {}") {
        auto b = read_blocks(stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                        request("claude-reask", "broken call")));
        REQUIRE(b.starts.size() == 1);
        CHECK(b.starts[0]["type"] == "text");
        CHECK_THAT(b.text[0], Contains("`Write` was not run"));
        CHECK(b.stop_reason == "end_turn");
    }

    SECTION("without the chain the call stays text (what tool_repair fixes)") {
        auto b = read_blocks(stream_all(gw.port(), "/v1/messages", anthropic_auth(key),
                                        request("claude-plain", "write hello.txt")));
        REQUIRE(b.starts.size() == 1);
        CHECK_THAT(b.text[0], Contains("<tool_call>"));
        CHECK(b.stop_reason == "end_turn");
    }
}
