#pragma once
// Fibers: requests run on their own small stacks, scheduled M:N over a few carrier threads, so
// that waiting for a socket parks the request instead of blocking a thread. A blocked thread
// costs a sleep and a wake-up per wait; on a machine shared by the gateway, its upstream and
// its clients that is most of what a proxy hop costs (see docs/ARCHITECTURE.md, "Threading").
//
// This header is the part every layer uses: wait_io() to wait for a socket, NoSuspend and
// BlockingRegion to mark code that must not park or that blocks its thread. The scheduler that
// owns the carriers and the epoll set lives in server/event_loop.
//
// Rules for code that may run on a fiber:
// - Between two statements a fiber may move to another thread when the code in between waits
//   (wait_io, hence the HTTP clients and socket writes). Keep no thread_local state across such
//   a wait; read thread_locals through out-of-line functions marked TIANSHU_THREAD_ACCESSOR
//   (their address must not be computed once for the whole function), and errno through
//   fresh_errno() wherever a wait can come between the call and the check (glibc declares
//   __errno_location const, so the compiler may keep the first thread's errno address).
// - Never hold a mutex across a wait: hold a NoSuspend with it, and the wait blocks instead.
// - Code that blocks its thread in a call that does not go through wait_io (Poco's TLS sessions,
//   Redis, the database) sits in a BlockingRegion, so the scheduler keeps another carrier free.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

//! For a function that returns a thread_local (or its address): never inlined, and never
//! assumed to give the same answer twice (the asm statement makes it impure to the optimiser),
//! so every call computes the address on the thread it runs on.
#define TIANSHU_THREAD_ACCESSOR [[gnu::noinline]]
#define TIANSHU_THREAD_ACCESSOR_BODY() asm volatile("" ::: "memory")

namespace tianshu::core {

//! errno of the thread running now (see the rules above).
int fresh_errno();

//! What a wait for a file descriptor came to. A `ready` may be spurious (a wake-up left over
//! from an earlier wait on the same descriptor): callers retry their read or write and wait
//! again on EAGAIN, as with poll().
enum class IoWait { ready, timed_out };

class Fiber;

//! The scheduler a fiber belongs to (server::EventLoop). It resumes a fiber, and when
//! resume() returns false arms the wait the fiber parked for (Fiber::wait()): after the switch,
//! so nobody can resume it before it has left its carrier.
class FiberScheduler {
  public:
    virtual ~FiberScheduler() = default;
    //! The current fiber's carrier is about to block (in a BlockingRegion, or a wait_io that
    //! cannot park): keep another carrier free to take events meanwhile.
    virtual void blocking_begin() = 0;
    virtual void blocking_end() = 0;
};

//! A stack and the context that runs one job at a time on it; reused for the next job.
//! Not thread-safe: one carrier at a time resumes it (the scheduler's claim() decides which).
class Fiber {
  public:
    //! What the fiber parked for; deadline_ms < 0: no deadline (steady clock, ms).
    struct Wait {
        int fd = -1;  //!< -1: no descriptor, only the deadline (a sleep)
        short events = 0;
        int64_t deadline_ms = -1;
    };

    Fiber(FiberScheduler& scheduler, size_t stack_bytes);
    //! Only while the fiber has no job (finished, or never started).
    ~Fiber();
    Fiber(const Fiber&) = delete;
    Fiber& operator=(const Fiber&) = delete;

    //! Gives the fiber its next job; it starts at the next resume().
    void assign(std::function<void()> job);
    //! Runs the fiber on this thread until it parks or its job ends; true when the job ended
    //! (an exception escaping the job is logged and ends it).
    bool resume();
    //! What it parked for (after resume() returned false).
    const Wait& wait() const { return wait_; }
    //! What its wait came to; read by the fiber when it continues.
    void set_result(IoWait result) { result_ = result; }

    FiberScheduler& scheduler() const { return scheduler_; }

    //! Scheduler bookkeeping: the fiber's slot, and its wait's generation with a parked bit
    //! (generation << 1 | parked). A wake-up names the generation it was armed for, so one
    //! left over from an earlier wait never resumes a later one.
    uint32_t slot = 0;
    std::atomic<uint64_t> state{0};
    //! Position in the scheduler's timer heap (-1: none); guarded by the scheduler.
    int timer_position = -1;

    //! Parks the calling fiber (which must be this one) until the scheduler resumes it.
    IoWait park(const Wait& wait);

    //! The fiber running on this thread, or null.
    static Fiber* current();

    //! fiber_local()'s slots for this fiber.
    std::vector<std::shared_ptr<void>>& locals() { return locals_; }

    struct Context;  //!< Boost.Context's fiber and the sanitizer's view of it (fiber.cpp)

  private:
    FiberScheduler& scheduler_;
    std::unique_ptr<Context> context_;
    std::function<void()> job_;
    bool finished_ = true;
    Wait wait_;
    IoWait result_ = IoWait::ready;
    std::vector<std::shared_ptr<void>> locals_;
};

//! Waits until `fd` is ready for `events` (POLLIN, POLLOUT) or `timeout` has passed; a
//! negative timeout waits without end. On a fiber that may park, the fiber parks and its
//! carrier runs other fibers meanwhile; elsewhere the thread waits in poll(). An error or hang-up
//! on the descriptor counts as ready: the caller's next read or write says what happened.
IoWait wait_io(int fd, short events, std::chrono::milliseconds timeout);

//! Per-fiber storage for state that must follow the code running on a fiber rather than stay
//! with a thread (a Lua VM, which a script may park inside): the object under `key` for the
//! running fiber, or for this thread when not on one. Empty at first; kept for the fiber's (or
//! thread's) life, across the jobs it runs. Keys come from new_fiber_local_key().
std::shared_ptr<void>& fiber_local(size_t key);
size_t new_fiber_local_key();

//! Sleeps for `duration`: on a fiber that may park, the fiber parks (its carrier runs other
//! fibers); elsewhere the thread sleeps.
void sleep(std::chrono::milliseconds duration);

//! While one is alive on a fiber, that fiber does not park: wait_io blocks its thread (and
//! tells the scheduler so). For per-thread state in use (a Lua VM), a mutex held, or a plugin
//! that has not declared it may be suspended and moved to another thread.
class NoSuspend {
  public:
    NoSuspend();
    ~NoSuspend();
    NoSuspend(const NoSuspend&) = delete;
    NoSuspend& operator=(const NoSuspend&) = delete;
};

//! True when code on this thread may park now (on a fiber, outside every NoSuspend).
bool may_suspend();

//! Marks a call that blocks its thread without going through wait_io (Poco's TLS sessions,
//! Redis, the database): on a fiber the scheduler keeps another carrier free meanwhile.
class BlockingRegion {
  public:
    BlockingRegion();
    ~BlockingRegion();
    BlockingRegion(const BlockingRegion&) = delete;
    BlockingRegion& operator=(const BlockingRegion&) = delete;

  private:
    FiberScheduler* scheduler_ = nullptr;
};

}  // namespace tianshu::core
