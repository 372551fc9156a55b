#include <catch2/catch.hpp>

#include "core/stream_event.hpp"

using namespace tianshu::core;

TEST_CASE("a response survives the round trip through stream events") {
    Response r;
    r.id = "msg_1";
    r.model = "m";
    r.content.push_back(ContentBlock::make_text("hello"));
    ContentBlock tool;
    tool.type = ContentBlock::Type::tool_use;
    tool.id = "toolu_1";
    tool.name = "write";
    tool.input = Json{{"path", "a.txt"}};
    r.content.push_back(tool);
    r.stop_reason = StopReason::tool_use;
    r.usage.input_tokens = 12;
    r.usage.output_tokens = 7;

    ResponseAssembler assembler;
    for (const auto& e : events_for(r)) REQUIRE(assembler.add(e).ok());
    REQUIRE(assembler.finished());
    const auto& back = assembler.response();
    CHECK(back.id == "msg_1");
    CHECK(back.text() == "hello");
    REQUIRE(back.content.size() == 2);
    CHECK(back.content[1].input == Json{{"path", "a.txt"}});
    CHECK(back.stop_reason == StopReason::tool_use);
    CHECK(back.usage.input_tokens == 12);
    CHECK(back.usage.output_tokens == 7);
}

TEST_CASE("an error event ends assembly with that error") {
    ResponseAssembler assembler;
    StreamEvent e;
    e.type = StreamEvent::Type::error;
    e.error = Error{ErrorKind::upstream, "upstream closed the connection", {}};
    auto r = assembler.add(e);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::upstream);
}

TEST_CASE("a delta for a block never started is refused, not a crash") {
    ResponseAssembler assembler;
    CHECK_FALSE(assembler.add(StreamEvent::text_delta(3, "x")).ok());
}
