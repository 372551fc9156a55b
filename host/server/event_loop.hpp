#pragma once
// The fiber scheduler: a few carrier threads over one epoll set (core/fiber.hpp).
//
// Carriers wait in epoll_wait for one event each. An event is either a descriptor the owner
// registered (the listener, a connection with a new request: handed to the owner's handler,
// which starts a fiber for it with run_on_fiber), a fiber's wait coming true, or the timer of
// the earliest deadline. A carrier runs a fiber until it parks or ends, then takes the next
// event: with as many carriers as cores, a busy server goes from request to request without
// sleeping, where a thread per request slept and woke twice per request.
//
// Carriers: `carriers` run always (default: one per core, at least 2). When one is about to
// block (a BlockingRegion, a wait that cannot park) and none waits for events, another starts,
// up to `max_carriers`; a monitor starts one too when every carrier has been inside the same
// fiber for `stall_ms` (a plugin blocking without saying so). Extra carriers retire after
// `idle_retire_ms` without an event.
//
// Light load: while at most one request runs, one carrier with nothing to do polls for up to
// `spin_us` before it sleeps, yielding between polls. The event it waits for (the upstream's
// answer, the client's next request) usually comes sooner, and taking it awake saves the
// wake-up of a sleeping thread (tens of microseconds on a virtual machine) twice per request.
// Under load a poll would only take the CPU from the threads that make the events: none polls.
//
// A wait is armed after its fiber has switched out, with a generation number in the epoll
// data, so a wake-up left over from an earlier wait (a timeout raced an event) never resumes a
// later one; fibers are never freed while the loop runs, so such a wake-up always finds one.

#include <sys/epoll.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/error.hpp"
#include "core/fiber.hpp"

namespace tianshu::server {

class EventLoop final : public core::FiberScheduler {
  public:
    struct Options {
        int carriers = 0;         //!< always running; 0: one per core, at least 2
        int max_carriers = 4096;  //!< with the extra ones started while others block
        size_t stack_bytes = 256 * 1024;
        int idle_retire_ms = 1000;
        int stall_ms = 50;
        int spin_us = 50;  //!< 0: never poll before sleeping
    };
    //! Gets the data.ptr of an event on a descriptor the owner registered (always an even
    //! pointer: odd values are the loop's own). Runs on a carrier.
    using Handler = std::function<void(void* tag)>;

    EventLoop(Options options, Handler handler);
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    //! The epoll set, the wake-up and the timer; the error says what failed.
    core::Result<void> open();
    int epoll_fd() const { return epoll_fd_; }
    //! Starts the carriers and the monitor.
    void start();
    //! Carriers stop after what they are running; returns when all have. Fibers still parked
    //! then are abandoned (their count is logged).
    void stop();

    //! On a carrier (from the handler, or a fiber's job): runs `job` on a fiber, now, on this
    //! thread; returns when the job has ended or parked. With kMaxFibers fibers busy, the job
    //! runs on the carrier itself (its waits then block it, and another carrier starts).
    void run_on_fiber(std::function<void()> job);

    //! From any thread: runs `job` on a fiber on some carrier, soon.
    void post(std::function<void()> job);

    //! Carriers running now, and fibers made so far (for tests and metrics).
    int carriers() const { return carriers_.load(); }
    //! Fibers running a job now (parked ones included).
    int busy_fibers() const { return busy_fibers_.load(); }
    //! Events a carrier took while polling before it would have slept (light load).
    int64_t events_taken_polling() const { return events_taken_polling_.load(); }
    size_t fibers() const;

    // core::FiberScheduler
    void blocking_begin() override;
    void blocking_end() override;

  private:
    struct Timer {
        int64_t deadline_ms;
        core::Fiber* fiber;
        uint64_t generation;
    };

    void spawn_carrier();
    void carrier();
    //! Light load only: polls for an event for up to spin_us; 0 when none came (or no poll).
    int poll_briefly(epoll_event& ev);
    void monitor();
    void dispatch(uint64_t data);
    //! Runs `fiber` on this thread until it parks (then arms its wait) or ends (then recycles
    //! it); a wait that can be answered at once is answered and the fiber run again.
    void run(core::Fiber* fiber);
    //! Arms the wait `fiber` parked for; true when it could be answered at once (then the
    //! fiber is claimed and must be run again).
    bool arm(core::Fiber& fiber);
    bool claim(core::Fiber& fiber, uint64_t generation);
    core::Fiber* take_fiber();
    void expire_timers();
    void run_posted();
    void push_timer(const Timer& t);  // timers_mutex_ held
    void remove_timer(core::Fiber& fiber);
    void sift_up(size_t i);
    void sift_down(size_t i);
    void place(size_t i, const Timer& t);
    void set_timer_fd(int64_t deadline_ms);  // timers_mutex_ held

    Options options_;
    Handler handler_;
    int epoll_fd_ = -1;
    int wake_fd_ = -1;
    int timer_fd_ = -1;
    int post_fd_ = -1;
    std::mutex posted_mutex_;
    std::deque<std::function<void()>> posted_;

    //! Fibers by slot, read without a lock by every wake-up; never freed while running.
    static constexpr size_t kMaxFibers = 1 << 16;
    std::unique_ptr<std::atomic<core::Fiber*>[]> slots_;
    mutable std::mutex fibers_mutex_;
    std::vector<std::unique_ptr<core::Fiber>> fibers_;  //!< owns them (guarded)
    std::vector<core::Fiber*> idle_fibers_;

    std::mutex timers_mutex_;
    std::vector<Timer> timers_;       //!< a binary min-heap by deadline
    int64_t timer_fd_deadline_ = -1;  //!< what timer_fd_ is set to (-1: disarmed)

    std::atomic<bool> stopping_{false};
    std::atomic<int> carriers_{0};
    std::atomic<int> idle_{0};  //!< carriers in epoll_wait
    std::atomic<int> busy_fibers_{0};
    std::atomic<int64_t> events_taken_polling_{0};
    std::atomic<bool> spinning_{false};  //!< a carrier polls before sleeping (one at a time)
    std::atomic<int> blocking_{0};       //!< fibers' carriers blocked in a BlockingRegion or a poll
    int base_carriers_ = 2;
    //! Per carrier: when its current slice (one fiber run) began, 0 while it waits.
    std::unique_ptr<std::atomic<int64_t>[]> slice_started_;
    std::atomic<int> next_carrier_index_{0};
    std::mutex carriers_mutex_;
    std::condition_variable carriers_done_;
    std::thread monitor_;
    std::mutex monitor_mutex_;
    std::condition_variable monitor_wake_;
};

}  // namespace tianshu::server
