// core::SlowWorkPool: jobs run on its own low-priority threads, a full queue refuses at once
// with a Retry-After, a job's exception comes back as an error.
#include "core/slow_work_pool.hpp"

#include <catch2/catch.hpp>

#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace tianshu;
using std::chrono::milliseconds;

namespace {

//! A gate a job waits at until the test opens it.
struct Gate {
    std::mutex m;
    std::condition_variable cv;
    bool open = false, entered = false;
    void wait_inside() {
        std::unique_lock lock(m);
        entered = true;
        cv.notify_all();
        cv.wait(lock, [&] { return open; });
    }
    bool wait_entered() {
        std::unique_lock lock(m);
        return cv.wait_for(lock, std::chrono::seconds(5), [&] { return entered; });
    }
    void release() {
        std::lock_guard lock(m);
        open = true;
        cv.notify_all();
    }
};

bool eventually(const std::function<bool()>& pred) {
    for (int i = 0; i < 500; ++i) {
        if (pred()) return true;
        std::this_thread::sleep_for(milliseconds(10));
    }
    return pred();
}

}  // namespace

TEST_CASE("slow work: a job runs on a pool thread and the caller waits for it", "[core]") {
    core::SlowWorkPool pool(core::SlowWorkPool::Options{});
    std::thread::id ran_on;
    int value = 0;
    auto done = pool.run("a test job", [&] {
        ran_on = std::this_thread::get_id();
        std::this_thread::sleep_for(milliseconds(20));
        value = 42;
    });
    REQUIRE(done.ok());
    CHECK(value == 42);  // written before run() returned
    CHECK(ran_on != std::this_thread::get_id());
}

TEST_CASE("slow work: the pool's threads run at the lowest priority", "[core]") {
    auto policy_and_nice = [](bool low) {
        core::SlowWorkPool pool(core::SlowWorkPool::Options{1, 4, low});
        int policy = -1, nice = -100;
        REQUIRE(pool.run("a test job",
                         [&] {
                             policy = sched_getscheduler(0);
                             errno = 0;
                             nice = getpriority(PRIO_PROCESS, static_cast<id_t>(gettid()));
                         })
                    .ok());
        return std::pair{policy, nice};
    };
    auto [policy, nice] = policy_and_nice(true);
    CHECK(policy == SCHED_IDLE);
    CHECK(nice == 19);
    // The caller's own thread is untouched, and a pool asked not to lower keeps the default.
    CHECK(sched_getscheduler(0) == SCHED_OTHER);
    auto [plain_policy, plain_nice] = policy_and_nice(false);
    CHECK(plain_policy == SCHED_OTHER);
    CHECK(plain_nice == getpriority(PRIO_PROCESS, static_cast<id_t>(gettid())));
}

TEST_CASE("slow work: a full queue refuses at once with a Retry-After, and runs nothing",
          "[core]") {
    core::SlowWorkPool pool(core::SlowWorkPool::Options{1, 1, true});
    Gate gate;
    std::atomic<int> ran{0};
    // The one thread is busy with the first job; the second waits in the queue (its limit).
    std::atomic<bool> first_ok{false}, second_ok{false};
    std::thread first([&] { first_ok = pool.run("a test job", [&] { gate.wait_inside(); }).ok(); });
    REQUIRE(gate.wait_entered());
    std::thread second([&] { second_ok = pool.run("a test job", [&] { ++ran; }).ok(); });
    REQUIRE(eventually([&] { return pool.waiting() == 1; }));

    const auto asked = std::chrono::steady_clock::now();
    auto refused = pool.run("password checks", [&] { ran += 100; });
    CHECK(std::chrono::steady_clock::now() - asked < std::chrono::seconds(5));  // not queued
    REQUIRE_FALSE(refused.ok());
    CHECK(refused.error().kind == core::ErrorKind::unavailable);
    CHECK(refused.error().retry_after_seconds >= 1);
    CHECK(refused.error().message.find("busy with password checks") != std::string::npos);
    CHECK(refused.error().message.find("try again in ") != std::string::npos);
    CHECK(pool.refused() == 1);

    gate.release();
    first.join();
    second.join();
    CHECK(first_ok);
    CHECK(second_ok);
    CHECK(ran == 1);  // the queued job ran; the refused one never did
    CHECK(pool.waiting() == 0);
    // With room again, a call is taken.
    CHECK(pool.run("a test job", [&] { ++ran; }).ok());
    CHECK(ran == 2);
}

TEST_CASE("slow work: a queue limit of 0 takes a job only when a thread is free", "[core]") {
    core::SlowWorkPool pool(core::SlowWorkPool::Options{1, 0, true});
    REQUIRE(eventually([&] { return pool.run("a test job", [] {}).ok(); }));  // the thread is up
    // Free again as soon as a job is done: calls one after another are all taken.
    for (int i = 0; i < 100; ++i) REQUIRE(pool.run("a test job", [] {}).ok());
    Gate gate;
    std::atomic<bool> busy_ok{false};
    std::thread busy([&] { busy_ok = pool.run("a test job", [&] { gate.wait_inside(); }).ok(); });
    REQUIRE(gate.wait_entered());
    auto refused = pool.run("a test job", [] {});
    CHECK_FALSE(refused.ok());
    gate.release();
    busy.join();
    CHECK(busy_ok);
    CHECK(pool.run("a test job", [] {}).ok());
}

TEST_CASE("slow work: a job that throws comes back as an internal error", "[core]") {
    core::SlowWorkPool pool(core::SlowWorkPool::Options{});
    auto failed = pool.run("a test job", [] { throw std::runtime_error("boom"); });
    REQUIRE_FALSE(failed.ok());
    CHECK(failed.error().kind == core::ErrorKind::internal);
    CHECK(failed.error().message.find("boom") != std::string::npos);
    CHECK(pool.run("a test job", [] {}).ok());  // the thread goes on
}
