#include "core/thread_priority.hpp"

#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

namespace tianshu::core {

namespace {

bool set_priority_of(pid_t tid, ThreadPriority priority) {
    sched_param param{};
    param.sched_priority = 0;
    // A tid: Linux schedules threads, and sched_setscheduler takes one (0: the caller).
    return ::sched_setscheduler(tid, priority == ThreadPriority::idle ? SCHED_IDLE : SCHED_OTHER,
                                &param) == 0;
}

//! Runs on a thread of the C library's timer (normal priority, so it runs even when the lowered
//! thread gets no CPU at all): the lowered thread goes back to normal.
void back_to_normal(sigval value) {
    (void)set_priority_of(static_cast<pid_t>(value.sival_int), ThreadPriority::normal);
}

}  // namespace

bool set_this_thread_priority(ThreadPriority priority) {
    return set_priority_of(0, priority);
}

IdlePriorityScope::IdlePriorityScope(bool lower, std::chrono::milliseconds at_most) {
    if (!lower) return;
    lowered_ = set_this_thread_priority(ThreadPriority::idle);
    if (!lowered_ || at_most.count() <= 0) return;
    sigevent event{};
    event.sigev_notify = SIGEV_THREAD;
    event.sigev_notify_function = back_to_normal;
    event.sigev_value.sival_int = static_cast<int>(::gettid());
    if (::timer_create(CLOCK_MONOTONIC, &event, &timer_) != 0) return;  // unbounded, as asked
    has_timer_ = true;
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(at_most.count() / 1000);
    when.it_value.tv_nsec = static_cast<long>(at_most.count() % 1000) * 1'000'000;
    (void)::timer_settime(timer_, 0, &when, nullptr);
}

void IdlePriorityScope::restore() {
    if (has_timer_) {
        ::timer_delete(timer_);
        has_timer_ = false;
    }
    if (!lowered_) return;
    set_this_thread_priority(ThreadPriority::normal);
    lowered_ = false;
}

}  // namespace tianshu::core
