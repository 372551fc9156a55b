#include <catch2/catch.hpp>

#include <sched.h>

#include <chrono>
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

TEST_CASE("idle priority: a bounded scope is put back to normal once its time is up",
          "[core][thread_priority]") {
    std::thread([] {
        IdlePriorityScope low(true, std::chrono::milliseconds(50));
        REQUIRE(low.lowered());
        REQUIRE(::sched_getscheduler(0) == SCHED_IDLE);
        // The timer's thread raises this one, whether or not it gets a CPU meanwhile; the loop
        // only bounds the test if it never does.
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (::sched_getscheduler(0) == SCHED_IDLE && std::chrono::steady_clock::now() < give_up)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        CHECK(::sched_getscheduler(0) == SCHED_OTHER);
    }).join();
    std::thread([] {
        // Restored before its time: the timer is gone and nothing raises a later scope early.
        { IdlePriorityScope brief(true, std::chrono::milliseconds(100)); }
        IdlePriorityScope unbounded(true);
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        CHECK(::sched_getscheduler(0) == SCHED_IDLE);
    }).join();
}
