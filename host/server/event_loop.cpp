#include "server/event_loop.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/log.hpp"

namespace tianshu::server {

namespace {

int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

// epoll data: the owner's registrations are pointers (even); the loop's own values are odd.
constexpr uint64_t kWake = 1;
constexpr uint64_t kTimer = 3;
constexpr uint64_t kPost = 5;
//! A fiber's wait: generation (32 bits) | slot (31 bits) | 1.
uint64_t ticket(uint32_t slot, uint64_t generation) {
    return (generation << 32) | (static_cast<uint64_t>(slot) << 1) | 1u;
}
bool is_ticket(uint64_t data) {
    return (data & 1u) && (data >> 32) != 0;  // the loop's own values have no generation
}

uint32_t epoll_events_for(short poll_events) {
    uint32_t e = EPOLLONESHOT;
    if (poll_events & POLLIN) e |= EPOLLIN | EPOLLRDHUP;
    if (poll_events & POLLOUT) e |= EPOLLOUT;
    return e;
}

}  // namespace

EventLoop::EventLoop(Options options, Handler handler)
    : options_(options), handler_(std::move(handler)) {
    const int cores = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
    base_carriers_ = options_.carriers > 0 ? options_.carriers : cores;
    options_.max_carriers = std::max(options_.max_carriers, base_carriers_);
    slice_started_ =
        std::make_unique<std::atomic<int64_t>[]>(static_cast<size_t>(options_.max_carriers));
    for (int i = 0; i < options_.max_carriers; ++i) slice_started_[i] = 0;
    slots_ = std::make_unique<std::atomic<core::Fiber*>[]>(kMaxFibers);
    for (size_t i = 0; i < kMaxFibers; ++i) slots_[i] = nullptr;
}

EventLoop::~EventLoop() {
    stop();
    if (wake_fd_ >= 0) ::close(wake_fd_);
    if (timer_fd_ >= 0) ::close(timer_fd_);
    if (post_fd_ >= 0) ::close(post_fd_);
    if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

core::Result<void> EventLoop::open() {
    epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    timer_fd_ = ::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    post_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_fd_ < 0 || wake_fd_ < 0 || timer_fd_ < 0 || post_fd_ < 0)
        return core::Error{core::ErrorKind::unavailable,
                           std::string("cannot create the event loop: ") + std::strerror(errno),
                           {}};
    // Level-triggered and never read: once written, every carrier wakes and sees stopping_.
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = kWake;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = kTimer;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, timer_fd_, &ev);
    ev.data.u64 = kPost;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, post_fd_, &ev);
    return {};
}

void EventLoop::start() {
    for (int i = 0; i < base_carriers_; ++i) spawn_carrier();
    monitor_ = std::thread([this] { monitor(); });
}

size_t EventLoop::fibers() const {
    std::lock_guard lock(fibers_mutex_);
    return fibers_.size();
}

// ---- carriers -------------------------------------------------------------------------------

void EventLoop::spawn_carrier() {
    int n = carriers_.load();
    do {
        if (n >= options_.max_carriers || stopping_.load()) return;
    } while (!carriers_.compare_exchange_weak(n, n + 1));
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    // The carrier's own stack only dispatches; requests run on their fibers' stacks.
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t id;
    const int rc = pthread_create(
        &id, &attr,
        [](void* self) -> void* {
            static_cast<EventLoop*>(self)->carrier();
            return nullptr;
        },
        this);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        std::lock_guard lock(carriers_mutex_);
        --carriers_;
        carriers_done_.notify_all();
        core::log(core::LogLevel::warn, "cannot start another carrier thread",
                  {{"error", std::strerror(rc)}, {"carriers", carriers_.load()}});
    }
}

void EventLoop::carrier() {
    const int index = next_carrier_index_.fetch_add(1) % options_.max_carriers;
    std::atomic<int64_t>& slice = slice_started_[index];
    int64_t idle_since = now_ms();
    for (;;) {
        epoll_event ev{};
        slice = 0;
        idle_.fetch_add(1);
        int n = poll_briefly(ev);
        if (n == 0) n = ::epoll_wait(epoll_fd_, &ev, 1, options_.idle_retire_ms);
        idle_.fetch_sub(1);
        if (stopping_.load()) break;
        if (n <= 0) {
            if (now_ms() - idle_since < options_.idle_retire_ms) continue;
            int c = carriers_.load();
            if (c > base_carriers_ && carriers_.compare_exchange_strong(c, c - 1)) {
                std::lock_guard lock(carriers_mutex_);
                carriers_done_.notify_all();
                return;
            }
            continue;
        }
        slice = now_ms();
        dispatch(ev.data.u64);
        idle_since = now_ms();
    }
    std::lock_guard lock(carriers_mutex_);
    --carriers_;
    carriers_done_.notify_all();
}

int EventLoop::poll_briefly(epoll_event& ev) {
    const auto light_load = [&] { return busy_fibers_.load(std::memory_order_relaxed) <= 1; };
    if (options_.spin_us <= 0 || !light_load() || spinning_.exchange(true)) return 0;
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::microseconds(options_.spin_us);
    int n = 0;
    while ((n = ::epoll_wait(epoll_fd_, &ev, 1, 0)) == 0 &&
           std::chrono::steady_clock::now() < until && light_load()) {
        // A thread waiting for this CPU (often the one about to make the event) goes first.
        sched_yield();
    }
    spinning_.store(false);
    if (n > 0) events_taken_polling_.fetch_add(1, std::memory_order_relaxed);
    return n;
}

void EventLoop::monitor() {
    const auto period = std::chrono::milliseconds(std::max(5, options_.stall_ms / 2));
    std::unique_lock lock(monitor_mutex_);
    while (!stopping_.load()) {
        monitor_wake_.wait_for(lock, period);
        if (stopping_.load()) break;
        if (idle_.load() > 0) continue;
        // Every carrier inside one fiber for stall_ms: something blocks without saying so.
        const int64_t now = now_ms();
        const int used = std::min(next_carrier_index_.load(), options_.max_carriers);
        bool stalled = used > 0;
        for (int i = 0; i < used && stalled; ++i) {
            const int64_t started = slice_started_[i].load();
            if (started != 0 && now - started < options_.stall_ms) stalled = false;
        }
        if (stalled) spawn_carrier();
    }
}

void EventLoop::blocking_begin() {
    blocking_.fetch_add(1);
    if (idle_.load() == 0) spawn_carrier();
}

void EventLoop::blocking_end() {
    blocking_.fetch_sub(1);
}

void EventLoop::stop() {
    if (stopping_.exchange(true)) return;
    if (wake_fd_ >= 0) {
        uint64_t one = 1;
        [[maybe_unused]] auto w = ::write(wake_fd_, &one, sizeof one);
    }
    {
        std::unique_lock lock(carriers_mutex_);
        carriers_done_.wait(lock, [&] { return carriers_.load() == 0; });
    }
    {
        std::lock_guard lock(monitor_mutex_);
        monitor_wake_.notify_all();
    }
    if (monitor_.joinable()) monitor_.join();
    std::lock_guard lock(fibers_mutex_);
    const size_t parked = fibers_.size() - idle_fibers_.size();
    if (parked > 0)
        core::log(core::LogLevel::warn, "stopped with requests still waiting",
                  {{"fibers", static_cast<int64_t>(parked)}});
    for (size_t i = 0; i < fibers_.size(); ++i) slots_[i] = nullptr;
    fibers_.clear();  // idle ones end; parked ones are left as they are (Fiber::~Fiber)
    idle_fibers_.clear();
}

// ---- fibers ---------------------------------------------------------------------------------

core::Fiber* EventLoop::take_fiber() {
    std::lock_guard lock(fibers_mutex_);
    if (!idle_fibers_.empty()) {
        core::Fiber* f = idle_fibers_.back();
        idle_fibers_.pop_back();
        return f;
    }
    if (fibers_.size() >= kMaxFibers) return nullptr;
    fibers_.push_back(std::make_unique<core::Fiber>(*this, options_.stack_bytes));
    core::Fiber* f = fibers_.back().get();
    f->slot = static_cast<uint32_t>(fibers_.size() - 1);
    slots_[f->slot].store(f, std::memory_order_release);
    return f;
}

void EventLoop::run_on_fiber(std::function<void()> job) {
    core::Fiber* f = take_fiber();
    if (!f) {
        core::BlockingRegion blocks;  // on the carrier itself: its waits block
        job();
        return;
    }
    f->assign(std::move(job));
    busy_fibers_.fetch_add(1, std::memory_order_relaxed);
    run(f);
}

void EventLoop::run(core::Fiber* f) {
    for (;;) {
        if (f->resume()) {
            busy_fibers_.fetch_sub(1, std::memory_order_relaxed);
            std::lock_guard lock(fibers_mutex_);
            idle_fibers_.push_back(f);
            return;
        }
        if (!arm(*f)) return;
    }
}

bool EventLoop::claim(core::Fiber& f, uint64_t generation) {
    uint64_t expected = (generation << 1) | 1u;
    return f.state.compare_exchange_strong(expected, generation << 1);
}

bool EventLoop::arm(core::Fiber& f) {
    const core::Fiber::Wait& w = f.wait();
    // A new generation, parked: from here on a wake-up for it may resume the fiber.
    const uint64_t generation = ((f.state.load() >> 1) + 1) & 0xffffffffu;
    const uint64_t gen = generation == 0 ? 1 : generation;  // 0 never names a wait
    f.state.store((gen << 1) | 1u);
    if (w.deadline_ms >= 0) {
        std::lock_guard lock(timers_mutex_);
        push_timer(Timer{w.deadline_ms, &f, gen});
    }
    if (w.fd < 0) return false;  // a sleep: only the timer wakes it
    epoll_event ev{};
    ev.events = epoll_events_for(w.events);
    ev.data.u64 = ticket(f.slot, gen);
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, w.fd, &ev) == 0) return false;
    if (errno == ENOENT && ::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, w.fd, &ev) == 0) return false;
    // Not a descriptor epoll can watch (closed, or a regular file): answer at once, and let
    // the caller's next read or write say what it is.
    if (!claim(f, gen)) return false;  // a timer already took it
    remove_timer(f);
    f.set_result(core::IoWait::ready);
    return true;
}

void EventLoop::dispatch(uint64_t data) {
    if (data == kWake) return;
    if (data == kTimer) return expire_timers();
    if (data == kPost) return run_posted();
    if (!is_ticket(data)) return handler_(reinterpret_cast<void*>(data));
    const uint32_t slot = static_cast<uint32_t>((data & 0xffffffffu) >> 1);
    const uint64_t generation = data >> 32;
    core::Fiber* f = slot < kMaxFibers ? slots_[slot].load(std::memory_order_acquire) : nullptr;
    if (!f || !claim(*f, generation)) return;  // left over from an earlier wait
    remove_timer(*f);
    f->set_result(core::IoWait::ready);
    run(f);
}

void EventLoop::post(std::function<void()> job) {
    {
        std::lock_guard lock(posted_mutex_);
        posted_.push_back(std::move(job));
    }
    uint64_t one = 1;
    [[maybe_unused]] auto w = ::write(post_fd_, &one, sizeof one);
}

void EventLoop::run_posted() {
    // One job per wake-up: a job that blocks its carrier must not hold the others back.
    uint64_t count;
    [[maybe_unused]] auto r = ::read(post_fd_, &count, sizeof count);
    std::function<void()> job;
    bool more = false;
    {
        std::lock_guard lock(posted_mutex_);
        if (!posted_.empty()) {
            job = std::move(posted_.front());
            posted_.erase(posted_.begin());
        }
        more = !posted_.empty();
    }
    if (more) {
        uint64_t one = 1;
        [[maybe_unused]] auto w = ::write(post_fd_, &one, sizeof one);
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = kPost;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, post_fd_, &ev);  // the next post wakes a carrier
    if (job) run_on_fiber(std::move(job));
}

// ---- timers ---------------------------------------------------------------------------------

void EventLoop::place(size_t i, const Timer& t) {
    timers_[i] = t;
    t.fiber->timer_position = static_cast<int>(i);
}

void EventLoop::sift_up(size_t i) {
    Timer t = timers_[i];
    while (i > 0) {
        const size_t parent = (i - 1) / 2;
        if (timers_[parent].deadline_ms <= t.deadline_ms) break;
        place(i, timers_[parent]);
        i = parent;
    }
    place(i, t);
}

void EventLoop::sift_down(size_t i) {
    Timer t = timers_[i];
    const size_t n = timers_.size();
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && timers_[child + 1].deadline_ms < timers_[child].deadline_ms) ++child;
        if (timers_[child].deadline_ms >= t.deadline_ms) break;
        place(i, timers_[child]);
        i = child;
    }
    place(i, t);
}

void EventLoop::push_timer(const Timer& t) {
    timers_.push_back(t);
    sift_up(timers_.size() - 1);
    if (timers_.front().fiber == t.fiber) set_timer_fd(t.deadline_ms);
}

void EventLoop::remove_timer(core::Fiber& f) {
    std::lock_guard lock(timers_mutex_);
    const int pos = f.timer_position;
    if (pos < 0) return;
    f.timer_position = -1;
    const size_t i = static_cast<size_t>(pos);
    const Timer last = timers_.back();
    timers_.pop_back();
    if (i == timers_.size()) return;  // it was the last one
    place(i, last);
    sift_down(i);
    sift_up(static_cast<size_t>(last.fiber->timer_position));
    // The timer fd may now fire early: expire_timers() finds nothing due and sets it again.
}

void EventLoop::set_timer_fd(int64_t deadline_ms) {
    if (deadline_ms == timer_fd_deadline_) return;
    timer_fd_deadline_ = deadline_ms;
    itimerspec spec{};
    if (deadline_ms >= 0) {
        // CLOCK_MONOTONIC is the steady clock's; 0 would disarm, so at least 1 ns.
        spec.it_value.tv_sec = deadline_ms / 1000;
        spec.it_value.tv_nsec = (deadline_ms % 1000) * 1000000 + 1;
    }
    ::timerfd_settime(timer_fd_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void EventLoop::expire_timers() {
    uint64_t expirations;
    [[maybe_unused]] auto r = ::read(timer_fd_, &expirations, sizeof expirations);
    std::vector<Timer> due;
    {
        std::lock_guard lock(timers_mutex_);
        const int64_t now = now_ms();
        while (!timers_.empty() && timers_.front().deadline_ms <= now) {
            Timer t = timers_.front();
            t.fiber->timer_position = -1;
            const Timer last = timers_.back();
            timers_.pop_back();
            if (!timers_.empty()) {
                place(0, last);
                sift_down(0);
            }
            due.push_back(t);
        }
        timer_fd_deadline_ = -2;  // force the next set: the fd fired and is disarmed
        set_timer_fd(timers_.empty() ? -1 : timers_.front().deadline_ms);
    }
    // Re-arm the timer's registration (one-shot) before running anything that may take long.
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.u64 = kTimer;
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, timer_fd_, &ev);
    for (const Timer& t : due) {
        if (!claim(*t.fiber, t.generation)) continue;  // its descriptor was ready first
        const int fd = t.fiber->wait().fd;
        if (fd >= 0) {
            // Disarm its descriptor: a later event for this wait is stale (and ignored).
            epoll_event off{};
            off.events = EPOLLONESHOT;
            off.data.u64 = ticket(t.fiber->slot, t.generation);
            ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &off);
        }
        t.fiber->set_result(core::IoWait::timed_out);
        run(t.fiber);
    }
}

}  // namespace tianshu::server
