// The non-streaming Anthropic answer is written directly (no JSON tree for text blocks); it must
// be byte-for-byte what the JSON-tree encoder produced, for every kind of block and field.
#include <catch2/catch.hpp>

#include "core/request_json.hpp"
#include "protocol/client_codec.hpp"
#include "protocol/json_text.hpp"

using namespace tianshu;
using core::ContentBlock;

namespace {
ContentBlock text_block(std::string text) {
    ContentBlock b;
    b.type = ContentBlock::Type::text;
    b.text = std::move(text);
    return b;
}
}  // namespace

TEST_CASE("the direct Anthropic response writer equals the JSON tree's output",
          "[unit][protocol][anthropic]") {
    const auto& codec = protocol::codec_for(protocol::ClientProtocol::anthropic_messages);

    core::Response plain;
    plain.id = "msg_1";
    plain.model = "up-model";
    plain.content.push_back(text_block("Hello \"world\"\\\n\t\x01 — 你好 😀"));
    plain.stop_reason = core::StopReason::end_turn;
    plain.usage.input_tokens = 12;
    plain.usage.output_tokens = 34;
    plain.usage.cache_read_tokens = 5;
    plain.usage.cache_write_tokens = 6;

    core::Response empty;  // no content, no stop reason, null stop_sequence, zero usage

    core::Response tools = plain;
    tools.stop_reason = core::StopReason::tool_use;
    ContentBlock thinking;
    thinking.type = ContentBlock::Type::thinking;
    thinking.text = "let me think";
    thinking.signature = "sig";
    ContentBlock call;
    call.type = ContentBlock::Type::tool_use;
    call.id = "toolu_1";
    call.name = "Write";
    call.input = core::Json{{"path", "/tmp/x"}, {"content", "a\nb"}};
    ContentBlock cached = text_block("cached");
    cached.cache_control = core::Json{{"type", "ephemeral"}};
    tools.content = {thinking, text_block(""), call, cached};

    core::Response stopped = plain;
    stopped.stop_reason = core::StopReason::stop_sequence;
    stopped.stop_sequence = "END\"";

    core::Response broken_utf8 = plain;
    broken_utf8.content = {text_block(std::string("bad \xff\xfe bytes"))};

    for (const auto* r : {&plain, &empty, &tools, &stopped, &broken_utf8}) {
        const std::string direct = codec.encode_response(*r);
        INFO(direct);
        CHECK(direct == protocol::dump_json(core::to_json(*r)));
        CHECK(core::Json::parse(direct).is_object());
    }
}
