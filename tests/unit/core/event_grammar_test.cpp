#include <catch2/catch.hpp>

#include "core/event_grammar.hpp"

using namespace tianshu::core;
using T = StreamEvent::Type;

namespace {
StreamEvent ev(T type, int index = 0) {
    StreamEvent e;
    e.type = type;
    e.index = index;
    return e;
}
StreamEvent start(int index, ContentBlock::Type type = ContentBlock::Type::text) {
    StreamEvent e = ev(T::content_block_start, index);
    e.block.type = type;
    return e;
}
StreamEvent delta(int index, StreamEvent::DeltaKind kind = StreamEvent::DeltaKind::text) {
    StreamEvent e = StreamEvent::text_delta(index, "x");
    e.delta_kind = kind;
    return e;
}
// The first problem in `events`, or "" (then finish()'s verdict).
std::string problem(const std::vector<StreamEvent>& events) {
    EventGrammar g;
    for (const auto& e : events)
        if (auto p = g.accept(e); !p.empty()) return p;
    return g.finish();
}
}  // namespace

TEST_CASE("event grammar: a well-formed stream passes") {
    CHECK(problem({ev(T::message_start), ev(T::ping), start(0), delta(0), delta(0),
                   ev(T::content_block_stop, 0), start(1, ContentBlock::Type::tool_use),
                   delta(1, StreamEvent::DeltaKind::input_json), ev(T::content_block_stop, 1),
                   ev(T::message_delta), ev(T::message_stop)}) == "");
    CHECK(problem({ev(T::message_start), ev(T::message_delta), ev(T::message_stop)}) == "");
    // An error event may end the stream anywhere.
    CHECK(problem({ev(T::message_start), start(0), delta(0), ev(T::error)}) == "");
    CHECK(problem({ev(T::error)}) == "");
}

TEST_CASE("event grammar: each rule is enforced and named") {
    using Catch::Contains;
    CHECK_THAT(problem({start(0)}), Contains("before message_start"));
    CHECK_THAT(problem({ev(T::ping)}), Contains("before message_start"));
    CHECK_THAT(problem({ev(T::message_start), ev(T::message_start)}),
               Contains("second message_start"));
    CHECK_THAT(problem({ev(T::message_start), start(1)}), Contains("next block's index is 0"));
    CHECK_THAT(problem({ev(T::message_start), start(0), start(1)}),
               Contains("block 0 is still open"));
    CHECK_THAT(problem({ev(T::message_start), start(0), ev(T::content_block_stop, 0), start(0)}),
               Contains("next block's index is 1"));
    CHECK_THAT(problem({ev(T::message_start), delta(0)}), Contains("not open"));
    CHECK_THAT(problem({ev(T::message_start), start(0), delta(1)}), Contains("not open"));
    CHECK_THAT(
        problem({ev(T::message_start), start(0), delta(0, StreamEvent::DeltaKind::input_json)}),
        Contains("wrong kind"));
    CHECK_THAT(problem({ev(T::message_start), ev(T::content_block_stop, 0)}), Contains("not open"));
    CHECK_THAT(problem({ev(T::message_start), start(0), ev(T::message_delta)}),
               Contains("still open"));
    CHECK_THAT(problem({ev(T::message_start), ev(T::message_delta), ev(T::message_delta)}),
               Contains("second message_delta"));
    CHECK_THAT(problem({ev(T::message_start), ev(T::message_delta), start(0)}),
               Contains("after message_delta"));
    CHECK_THAT(problem({ev(T::message_start), ev(T::message_stop)}),
               Contains("without a message_delta"));
    CHECK_THAT(
        problem({ev(T::message_start), ev(T::message_delta), ev(T::message_stop), ev(T::ping)}),
        Contains("after the end"));
    CHECK_THAT(problem({ev(T::message_start), ev(T::error), ev(T::message_stop)}),
               Contains("after the end"));
    CHECK_THAT(problem({ev(T::message_start), start(0), delta(0)}),
               Contains("without message_stop"));
    CHECK_THAT(problem({}), Contains("before message_start"));
}

TEST_CASE("event grammar: a refused event leaves the state unchanged") {
    EventGrammar g;
    REQUIRE(g.accept(ev(T::message_start)).empty());
    REQUIRE(g.accept(start(0)).empty());
    CHECK_FALSE(g.accept(start(1)).empty());
    CHECK(g.accept(delta(0)).empty());
    CHECK(g.accept(ev(T::content_block_stop, 0)).empty());
    CHECK(g.accept(start(1)).empty());
}
