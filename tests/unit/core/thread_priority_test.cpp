#include <catch2/catch.hpp>

#include <sched.h>

#include <thread>

#include "core/thread_priority.hpp"

using tianshu::core::IdlePriorityScope;

TEST_CASE("idle priority: a scope lowers the thread to SCHED_IDLE and puts it back",
          "[core][thread_priority]") {
    // A thread of its own, so that a failure cannot leave the test runner's thread lowered.
    std::thread([] {
        REQUIRE(::sched_getscheduler(0) == SCHED_OTHER);
        {
            IdlePriorityScope low;
            REQUIRE(low.lowered());
            CHECK(::sched_getscheduler(0) == SCHED_IDLE);
            low.restore();
            CHECK(::sched_getscheduler(0) == SCHED_OTHER);
            low.restore();  // idempotent
            CHECK(::sched_getscheduler(0) == SCHED_OTHER);
        }
        {
            IdlePriorityScope low;
            CHECK(::sched_getscheduler(0) == SCHED_IDLE);
        }  // the destructor restores
        CHECK(::sched_getscheduler(0) == SCHED_OTHER);
        {
            IdlePriorityScope not_lowered(false);
            CHECK_FALSE(not_lowered.lowered());
            CHECK(::sched_getscheduler(0) == SCHED_OTHER);
        }
    }).join();
}
