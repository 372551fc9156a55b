#include "core/fiber.hpp"

#include <poll.h>

#include <boost/context/fiber.hpp>
#include <boost/context/protected_fixedsize_stack.hpp>
#include <cerrno>
#include <exception>
#include <thread>
#include <utility>

#include "core/log.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define TIANSHU_FIBER_ASAN 1
#endif

namespace tianshu::core {

namespace ctx = boost::context;

namespace {

// Thread-locals are read through functions the compiler does not inline: a fiber may continue
// on another thread after a wait, and an address computed before the wait would be stale.
TIANSHU_THREAD_ACCESSOR Fiber*& current_fiber_slot() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    thread_local Fiber* fiber = nullptr;
    return fiber;
}
TIANSHU_THREAD_ACCESSOR int& no_suspend_depth() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    thread_local int depth = 0;
    return depth;
}

int64_t steady_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

//! poll() for `fd` until ready or `timeout` (negative: none), through EINTR.
IoWait poll_wait(int fd, short events, std::chrono::milliseconds timeout) {
    const int64_t deadline = timeout.count() < 0 ? -1 : steady_ms() + timeout.count();
    for (;;) {
        int wait_ms = -1;
        if (deadline >= 0) {
            const int64_t left = deadline - steady_ms();
            if (left <= 0 && timeout.count() > 0) return IoWait::timed_out;
            wait_ms = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(left, INT32_MAX)));
        }
        if (fd < 0) {  // a plain sleep
            if (wait_ms < 0) wait_ms = INT32_MAX;
            std::this_thread::sleep_for(std::chrono::milliseconds(wait_ms));
            return IoWait::timed_out;
        }
        pollfd p{fd, events, 0};
        const int n = ::poll(&p, 1, wait_ms);
        if (n > 0) return IoWait::ready;
        if (n == 0) return IoWait::timed_out;
        if (errno != EINTR) return IoWait::ready;  // let the caller's next call say what it is
    }
}

}  // namespace

// ---- the context --------------------------------------------------------------------------

//! The Boost.Context fiber and, under AddressSanitizer, the stack bounds it needs to follow
//! switches between stacks.
struct Fiber::Context {
    ctx::fiber fiber;            //!< the fiber while it does not run
    ctx::fiber* back = nullptr;  //!< the carrier's context while it runs (on the fiber's stack)
    bool destroying = false;
#ifdef TIANSHU_FIBER_ASAN
    const void* stack_bottom = nullptr;  //!< the fiber's own stack
    size_t stack_size = 0;
    const void* carrier_bottom = nullptr;  //!< the carrier it came from (changes as it moves)
    size_t carrier_size = 0;
    void* carrier_fake = nullptr;
    void* fiber_fake = nullptr;
#endif

    // Carrier -> fiber.
    void enter() {
#ifdef TIANSHU_FIBER_ASAN
        __sanitizer_start_switch_fiber(&carrier_fake, stack_bottom, stack_size);
#endif
        fiber = std::move(fiber).resume();
#ifdef TIANSHU_FIBER_ASAN
        __sanitizer_finish_switch_fiber(carrier_fake, nullptr, nullptr);
#endif
    }
    // Fiber -> carrier, and back when resumed (maybe by another carrier).
    void leave() {
#ifdef TIANSHU_FIBER_ASAN
        __sanitizer_start_switch_fiber(&fiber_fake, carrier_bottom, carrier_size);
#endif
        *back = std::move(*back).resume();
        arrived();
    }
    // On the fiber, just after a switch to it.
    void arrived() {
#ifdef TIANSHU_FIBER_ASAN
        __sanitizer_finish_switch_fiber(fiber_fake, &carrier_bottom, &carrier_size);
#endif
    }
    // The fiber's last switch: its stack is about to go.
    void leave_for_good() {
#ifdef TIANSHU_FIBER_ASAN
        __sanitizer_start_switch_fiber(nullptr, carrier_bottom, carrier_size);
#endif
    }
};

namespace {
//! Boost's guarded stack, remembering where it is for the sanitizer.
struct RecordingStack {
    ctx::protected_fixedsize_stack inner;
    Fiber::Context* owner;
    ctx::stack_context allocate() {
        ctx::stack_context sc = inner.allocate();
#ifdef TIANSHU_FIBER_ASAN
        owner->stack_bottom = static_cast<char*>(sc.sp) - sc.size;
        owner->stack_size = sc.size;
#endif
        return sc;
    }
    void deallocate(ctx::stack_context& sc) noexcept {
        inner.deallocate(sc);
    }
};
}  // namespace

Fiber::Fiber(FiberScheduler& scheduler, size_t stack_bytes)
    : scheduler_(scheduler), context_(std::make_unique<Context>()) {
    Context* c = context_.get();
    c->fiber = ctx::fiber(
        std::allocator_arg, RecordingStack{ctx::protected_fixedsize_stack(stack_bytes), c},
        [this, c](ctx::fiber&& back) {
            c->back = &back;
            c->arrived();
            while (!c->destroying) {
                if (job_) {
                    try {
                        job_();
                    } catch (const std::exception& e) {
                        log(LogLevel::error, "a fiber's job failed", {{"error", e.what()}});
                    } catch (...) {
                        log(LogLevel::error, "a fiber's job failed",
                            {{"error", "unknown exception"}});
                    }
                }
                job_ = nullptr;
                finished_ = true;
                c->leave();  // until the next job (or destruction)
            }
            c->leave_for_good();
            return std::move(back);
        });
}

Fiber::~Fiber() {
    if (!context_ || !context_->fiber) return;
    if (!finished_) {
        // Parked mid-job (a server stopped with requests still waiting): unwinding its stack
        // would run code that expects its request to go on. Left as it is; the process is
        // ending.
        (void)new ctx::fiber(std::move(context_->fiber));
        return;
    }
    context_->destroying = true;
    context_->enter();  // leaves its loop and ends
}

void Fiber::assign(std::function<void()> job) {
    job_ = std::move(job);
}

bool Fiber::resume() {
    Fiber*& current = current_fiber_slot();
    Fiber* outer = current;
    current = this;
    finished_ = false;
    context_->enter();
    current_fiber_slot() = outer;  // re-read: the slot is this thread's
    return finished_;
}

IoWait Fiber::park(const Wait& wait) {
    wait_ = wait;
    result_ = IoWait::ready;
    context_->leave();
    return result_;
}

Fiber* Fiber::current() {
    return current_fiber_slot();
}

// ---- fiber-local storage --------------------------------------------------------------------

namespace {
TIANSHU_THREAD_ACCESSOR std::vector<std::shared_ptr<void>>& thread_locals() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    thread_local std::vector<std::shared_ptr<void>> locals;
    return locals;
}
std::atomic<size_t> g_next_local_key{0};
}  // namespace

size_t new_fiber_local_key() {
    return g_next_local_key.fetch_add(1);
}

std::shared_ptr<void>& fiber_local(size_t key) {
    Fiber* fiber = Fiber::current();
    auto& slots = fiber ? fiber->locals() : thread_locals();
    if (slots.size() <= key) slots.resize(key + 1);
    return slots[key];
}

// ---- waiting --------------------------------------------------------------------------------

TIANSHU_THREAD_ACCESSOR int fresh_errno() {
    TIANSHU_THREAD_ACCESSOR_BODY();
    return errno;
}

IoWait wait_io(int fd, short events, std::chrono::milliseconds timeout) {
    Fiber* fiber = Fiber::current();
    if (timeout.count() == 0) return poll_wait(fd, events, timeout);  // a look, not a wait
    if (fiber && no_suspend_depth() == 0) {
        Fiber::Wait w;
        w.fd = fd;
        w.events = events;
        w.deadline_ms = timeout.count() < 0 ? -1 : steady_ms() + timeout.count();
        return fiber->park(w);
    }
    if (!fiber) return poll_wait(fd, events, timeout);
    FiberScheduler& scheduler = fiber->scheduler();
    scheduler.blocking_begin();
    const IoWait r = poll_wait(fd, events, timeout);
    scheduler.blocking_end();
    return r;
}

void sleep(std::chrono::milliseconds duration) {
    if (duration.count() <= 0) return;
    Fiber* fiber = Fiber::current();
    if (fiber && no_suspend_depth() == 0) {
        Fiber::Wait w;
        w.deadline_ms = steady_ms() + duration.count();
        fiber->park(w);
        return;
    }
    if (fiber) fiber->scheduler().blocking_begin();
    std::this_thread::sleep_for(duration);
    if (fiber) fiber->scheduler().blocking_end();
}

NoSuspend::NoSuspend() {
    ++no_suspend_depth();
}

NoSuspend::~NoSuspend() {
    --no_suspend_depth();
}

bool may_suspend() {
    return Fiber::current() != nullptr && no_suspend_depth() == 0;
}

BlockingRegion::BlockingRegion() {
    if (Fiber* fiber = Fiber::current()) {
        scheduler_ = &fiber->scheduler();
        scheduler_->blocking_begin();
    }
}

BlockingRegion::~BlockingRegion() {
    if (scheduler_) scheduler_->blocking_end();
}

}  // namespace tianshu::core
