// server::EventLoop and core/fiber: fibers park on sockets and timers instead of blocking their
// carrier, wake-ups never resume the wrong wait, and code that blocks gets another carrier.
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/fiber.hpp"
#include "core/slow_work_pool.hpp"
#include "server/event_loop.hpp"

using namespace tianshu;
using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

namespace {

//! A started loop with `carriers` carriers; stopped at the end of the test.
struct Loop {
    server::EventLoop loop;
    explicit Loop(int carriers, int stall_ms = 50, int spin_us = 50)
        : loop(server::EventLoop::Options{carriers, 64, 256 * 1024, 1000, stall_ms, spin_us},
               [](void*) {}) {
        REQUIRE(loop.open().ok());
        loop.start();
    }
    ~Loop() { loop.stop(); }
};

//! A connected pair of non-blocking stream sockets.
struct Pair {
    int a = -1, b = -1;
    Pair() {
        int fds[2];
        REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
        a = fds[0];
        b = fds[1];
    }
    ~Pair() {
        ::close(a);
        ::close(b);
    }
};

//! `n` pairs, at stable addresses.
std::vector<std::unique_ptr<Pair>> make_pairs(int n) {
    std::vector<std::unique_ptr<Pair>> pairs;
    for (int i = 0; i < n; ++i) pairs.push_back(std::make_unique<Pair>());
    return pairs;
}

//! Counts down; wait() returns false when `timeout` passes first.
struct Latch {
    std::mutex m;
    std::condition_variable cv;
    int left;
    explicit Latch(int n) : left(n) {}
    void done() {
        std::lock_guard lock(m);
        if (--left == 0) cv.notify_all();
    }
    bool wait(milliseconds timeout) {
        std::unique_lock lock(m);
        return cv.wait_for(lock, timeout, [&] { return left == 0; });
    }
};

//! The id of the thread running now, asked anew each time: std::this_thread::get_id() is
//! pthread_self(), which glibc declares const, so two calls in one function may be folded
//! into one even when a wait in between moved the fiber.
TIANSHU_THREAD_ACCESSOR std::thread::id thread_now() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    return std::this_thread::get_id();
}

//! Reads one byte on a fiber, parking until it comes.
char read_byte(int fd) {
    char c = 0;
    for (;;) {
        if (::recv(fd, &c, 1, 0) == 1) return c;
        core::wait_io(fd, POLLIN, milliseconds(-1));
    }
}

//! CPU time this process has used (all threads).
std::chrono::microseconds cpu_used() {
    rusage u{};
    ::getrusage(RUSAGE_SELF, &u);
    return std::chrono::seconds(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           std::chrono::microseconds(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

//! `rounds` round trips: this thread sends a byte, a fiber answers it; what the loop's
//! carriers took while polling meanwhile.
int64_t ping_pong(server::EventLoop& loop, int rounds) {
    Pair p;
    Latch done(1);
    std::atomic<bool> answered{true};
    const int64_t before = loop.events_taken_polling();
    loop.post([&] {
        for (int i = 0; i < rounds; ++i) {
            read_byte(p.a);
            if (::send(p.a, "y", 1, 0) != 1) answered = false;
        }
        done.done();
    });
    for (int i = 0; i < rounds; ++i) {
        REQUIRE(::send(p.b, "x", 1, 0) == 1);
        // Awake for the answer (as a busy client is), so the next byte follows it at once.
        const auto give_up = Clock::now() + std::chrono::seconds(5);
        char c;
        while (::recv(p.b, &c, 1, 0) != 1)
            if (Clock::now() > give_up) FAIL("no answer within 5 s");
    }
    REQUIRE(done.wait(milliseconds(5000)));
    CHECK(answered);
    return loop.events_taken_polling() - before;
}

}  // namespace

TEST_CASE("event loop: at light load a carrier takes the next event awake; under load none polls",
          "[server][event_loop]") {
    SECTION("one request at a time: the answers are taken while polling") {
        // One carrier: with two, a sleeping one woken by the kernel may take the event first
        // on a busy machine. A window wide enough for a sanitizer build on a busy machine.
        Loop l(1, 50, 20000);
        const int64_t taken = ping_pong(l.loop, 300);
        INFO("events taken while polling: " << taken << " of 300 round trips");
        // This thread answers within microseconds: most round trips, on a busy machine some.
        CHECK(taken > 0);
    }
    SECTION("polling switched off") {
        Loop l(2, 50, 0);
        CHECK(ping_pong(l.loop, 100) == 0);
    }
    SECTION("more requests running than one: no carrier polls") {
        Loop l(2, 50, 2000);
        const auto parked = make_pairs(3);
        Latch waiting(3), finished(3);
        for (auto& p : parked)
            l.loop.post([&, fd = p->a] {
                waiting.done();
                read_byte(fd);
                finished.done();
            });
        REQUIRE(waiting.wait(milliseconds(5000)));
        CHECK(l.loop.busy_fibers() == 3);
        // A poll begun before the three started has stopped (it stops once more than one request
        // runs, or after its window at the latest).
        std::this_thread::sleep_for(milliseconds(10));
        CHECK(ping_pong(l.loop, 100) == 0);
        for (auto& p : parked) REQUIRE(::send(p->b, "x", 1, 0) == 1);
        REQUIRE(finished.wait(milliseconds(5000)));
    }
}

TEST_CASE("event loop: an idle loop sleeps; the poll after an event is brief",
          "[server][event_loop]") {
    Loop l(2, 50, 50);
    CHECK(ping_pong(l.loop, 20) >= 0);  // the carriers have just had events: each may poll once
    const auto before = cpu_used();
    std::this_thread::sleep_for(milliseconds(400));
    const auto used = cpu_used() - before;
    INFO("CPU used by the whole test process in 400 ms idle: " << used.count() << " us");
    // A carrier that kept polling would use the 400 ms; the polls' 50 us each are nothing.
    CHECK(used < milliseconds(100));
}

TEST_CASE("event loop: hundreds of fibers wait on sockets at once on two carriers",
          "[server][event_loop]") {
    Loop l(2);
    constexpr int kFibers = 300;
    const auto pairs = make_pairs(kFibers);
    Latch parked(kFibers), finished(kFibers);
    std::atomic<int> got{0};
    for (int i = 0; i < kFibers; ++i)
        l.loop.post([&, fd = pairs[i]->a] {
            CHECK(core::may_suspend());
            parked.done();
            if (read_byte(fd) == 'x') ++got;
            finished.done();
        });
    REQUIRE(parked.wait(milliseconds(5000)));
    // Every fiber is waiting, none holds a thread: still two carriers.
    CHECK(l.loop.carriers() == 2);
    for (auto& p : pairs) REQUIRE(::send(p->b, "x", 1, 0) == 1);
    REQUIRE(finished.wait(milliseconds(5000)));
    CHECK(got == kFibers);
    CHECK(l.loop.fibers() >= static_cast<size_t>(kFibers));
}

TEST_CASE("event loop: a wait times out at its deadline, and the fiber goes on",
          "[server][event_loop]") {
    Loop l(2);
    Pair p;
    Latch done(1);
    core::IoWait result = core::IoWait::ready;
    Clock::duration took{};
    l.loop.post([&] {
        const auto at = Clock::now();
        result = core::wait_io(p.a, POLLIN, milliseconds(80));
        took = Clock::now() - at;
        done.done();
    });
    REQUIRE(done.wait(milliseconds(5000)));
    CHECK(result == core::IoWait::timed_out);
    CHECK(took >= milliseconds(75));
    CHECK(took < milliseconds(600));
}

TEST_CASE("event loop: sleeping fibers do not hold their carriers", "[server][event_loop]") {
    Loop l(2);
    constexpr int kFibers = 100;
    Latch done(kFibers);
    const auto at = Clock::now();
    for (int i = 0; i < kFibers; ++i)
        l.loop.post([&] {
            core::sleep(milliseconds(150));
            done.done();
        });
    REQUIRE(done.wait(milliseconds(5000)));
    // One after another on two threads this would take 7.5 s.
    CHECK(Clock::now() - at < milliseconds(2000));
    CHECK(l.loop.carriers() == 2);
}

TEST_CASE("event loop: timeouts racing readiness resume every wait exactly once",
          "[server][event_loop]") {
    Loop l(2);
    constexpr int kFibers = 64, kRounds = 40;
    const auto pairs = make_pairs(kFibers);
    Latch done(kFibers);
    std::atomic<int> bytes{0}, timeouts{0}, waits{0};
    for (int i = 0; i < kFibers; ++i)
        l.loop.post([&, fd = pairs[i]->a] {
            for (int round = 0; round < kRounds; ++round) {
                // Deadlines of 1-3 ms while bytes arrive about that often: both ways win.
                ++waits;
                if (core::wait_io(fd, POLLIN, milliseconds(1 + round % 3)) ==
                    core::IoWait::timed_out)
                    ++timeouts;
                char buf[64];
                for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
                    bytes += static_cast<int>(n);
            }
            done.done();
        });
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        while (!stop) {
            for (auto& p : pairs) [[maybe_unused]] auto n = ::send(p->b, "y", 1, MSG_NOSIGNAL);
            std::this_thread::sleep_for(milliseconds(2));
        }
    });
    const bool finished = done.wait(milliseconds(20000));
    stop = true;
    writer.join();
    REQUIRE(finished);
    CHECK(waits == kFibers * kRounds);
    CHECK(timeouts > 0);  // both outcomes happened
    CHECK(bytes > 0);
}

TEST_CASE("event loop: a fiber moved between carriers keeps its own stack and state",
          "[server][event_loop]") {
    Loop l(3);
    constexpr int kFibers = 30, kWaits = 50;
    const auto pairs = make_pairs(kFibers);
    Latch done(kFibers);
    std::atomic<int> correct{0};
    for (int i = 0; i < kFibers; ++i)
        l.loop.post([&, i, fd = pairs[i]->a] {
            int sum = 0;  // on the fiber's stack, across every wait
            for (int k = 0; k < kWaits; ++k) {
                sum += read_byte(fd) - '0';
            }
            if (sum == kWaits * (i % 10)) ++correct;
            done.done();
        });
    std::thread writer([&] {
        for (int k = 0; k < kWaits; ++k)
            for (int i = 0; i < kFibers; ++i) {
                const char c = static_cast<char>('0' + i % 10);
                while (::send(pairs[i]->b, &c, 1, MSG_NOSIGNAL) != 1)
                    std::this_thread::sleep_for(milliseconds(1));
            }
    });
    writer.join();
    REQUIRE(done.wait(milliseconds(10000)));
    CHECK(correct == kFibers);
}

TEST_CASE("event loop: a fiber resumes on another carrier when its own is busy",
          "[server][event_loop]") {
    Loop l(2, 30);
    Pair p;
    Latch parked(1), resumed(1), busy(2);
    std::atomic<bool> release{false};
    std::thread::id before, after;
    std::string state;
    l.loop.post([&] {
        std::string local = "kept on the fiber's stack";
        before = thread_now();
        parked.done();
        read_byte(p.a);
        after = thread_now();
        state = local;
        resumed.done();
    });
    REQUIRE(parked.wait(milliseconds(5000)));
    // Both carriers, the fiber's own among them, are kept busy by jobs that block without
    // saying so: the fiber can only go on on a third carrier, which the monitor starts.
    for (int i = 0; i < 2; ++i)
        l.loop.post([&] {
            busy.done();
            while (!release) std::this_thread::sleep_for(milliseconds(2));
        });
    REQUIRE(busy.wait(milliseconds(5000)));
    REQUIRE(::send(p.b, "m", 1, 0) == 1);
    const bool ok = resumed.wait(milliseconds(5000));
    release = true;
    REQUIRE(ok);
    CHECK(after != before);
    CHECK(state == "kept on the fiber's stack");
}

TEST_CASE("event loop: code that blocks gets another carrier, whether it says so or not",
          "[server][event_loop]") {
    SECTION("a BlockingRegion, and a wait inside NoSuspend") {
        Loop l(2);
        Latch blocked(2), quick(1), released(2);
        std::atomic<bool> go{false};
        Pair p;
        l.loop.post([&] {
            core::BlockingRegion region;
            blocked.done();
            while (!go) std::this_thread::sleep_for(milliseconds(5));
            released.done();
        });
        l.loop.post([&] {
            core::NoSuspend pinned;
            CHECK_FALSE(core::may_suspend());
            blocked.done();
            // Cannot park: blocks its carrier in poll() until the byte comes.
            CHECK(core::wait_io(p.a, POLLIN, milliseconds(5000)) == core::IoWait::ready);
            released.done();
        });
        REQUIRE(blocked.wait(milliseconds(5000)));
        // Both carriers block, yet a third one runs new work.
        l.loop.post([&] { quick.done(); });
        CHECK(quick.wait(milliseconds(3000)));
        CHECK(l.loop.carriers() >= 3);
        go = true;
        REQUIRE(::send(p.b, "z", 1, 0) == 1);
        CHECK(released.wait(milliseconds(5000)));
    }
    SECTION("a plain blocking call: the monitor sees the carriers stall") {
        Loop l(2, 40);
        Latch blocked(2), quick(1);
        std::atomic<bool> go{false};
        for (int i = 0; i < 2; ++i)
            l.loop.post([&] {
                blocked.done();
                while (!go) std::this_thread::sleep_for(milliseconds(5));  // says nothing
            });
        REQUIRE(blocked.wait(milliseconds(5000)));
        l.loop.post([&] { quick.done(); });
        CHECK(quick.wait(milliseconds(3000)));
        go = true;
    }
}

TEST_CASE("fiber waits off the loop fall back to poll()", "[server][event_loop]") {
    Pair p;
    CHECK_FALSE(core::may_suspend());
    CHECK(core::wait_io(p.a, POLLIN, milliseconds(30)) == core::IoWait::timed_out);
    REQUIRE(::send(p.b, "w", 1, 0) == 1);
    CHECK(core::wait_io(p.a, POLLIN, milliseconds(1000)) == core::IoWait::ready);
    const auto at = Clock::now();
    core::sleep(milliseconds(20));
    CHECK(Clock::now() - at >= milliseconds(19));
}

TEST_CASE("event loop: a fiber waiting for the slow-work pool does not hold its carrier",
          "[server][event_loop]") {
    // One carrier and no more may start: if the waiting fiber blocked it, the second fiber
    // could never run, and the job would see no sign of it before its 5 s bound.
    server::EventLoop loop(server::EventLoop::Options{1, 1, 256 * 1024, 1000, 50, 0}, [](void*) {});
    REQUIRE(loop.open().ok());
    loop.start();
    core::SlowWorkPool pool(core::SlowWorkPool::Options{1, 4, true});
    std::atomic<bool> second_ran{false}, seen{false}, on_fiber{false}, ok{false};
    Latch waiting(1), finished(1);
    loop.post([&] {
        on_fiber = core::may_suspend();
        waiting.done();
        auto ran = pool.run("a test job", [&] {
            const auto until = Clock::now() + milliseconds(5000);
            while (!second_ran && Clock::now() < until)
                std::this_thread::sleep_for(milliseconds(1));
            seen = second_ran.load();
        });
        ok = ran.ok();
        finished.done();
    });
    REQUIRE(waiting.wait(milliseconds(5000)));
    loop.post([&] { second_ran = true; });
    REQUIRE(finished.wait(milliseconds(10000)));
    CHECK(on_fiber);
    CHECK(ok);
    CHECK(seen);
    CHECK(loop.carriers() == 1);
    loop.stop();
}
