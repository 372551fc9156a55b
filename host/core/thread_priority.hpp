#pragma once
// The CPU priority of the calling thread, for background work that must never delay a request.
//
// Why: on a machine with few cores the carriers, the client and the upstream take turns on the
// CPUs. A background thread at normal priority that wakes up for a few milliseconds of work (the
// usage journal writing a batch to the database) is not preempted when a carrier wakes: the
// carrier waits for the rest of the background thread's time slice, and one request in a few
// hundred pays that (tests/bench/README.md, "Where the tail came from"). At idle priority
// (SCHED_IDLE) the background thread runs only on a CPU no other thread wants, and any thread
// that wakes takes the CPU from it at once.
//
// Idle priority starves under a CPU that is busy all the time, so a lowered scope is bounded in
// time: past `at_most` a timer's thread (normal priority) puts the thread back to normal, CPU or
// not. And whoever lowers itself must not hold a lock a request waits for while it is low (a
// request would then wait for the idle thread to be scheduled).

#include <time.h>

#include <chrono>

namespace tianshu::core {

enum class ThreadPriority {
    normal,  //!< SCHED_OTHER at the process's nice value: what every thread starts with
    idle,    //!< SCHED_IDLE: only CPU time nothing else wants
};

//! Sets the calling thread's priority. False when the kernel refused (the thread keeps its
//! priority; callers go on, since priority only shapes latency, never correctness).
bool set_this_thread_priority(ThreadPriority priority);

//! Lowers the calling thread to idle priority for its lifetime (when `lower` is true), and puts
//! it back to normal when destroyed, when `restore()` is called first, or — when `at_most` > 0 —
//! once `at_most` has passed, whether or not the thread got a CPU meanwhile.
class IdlePriorityScope {
  public:
    explicit IdlePriorityScope(bool lower = true,
                               std::chrono::milliseconds at_most = std::chrono::milliseconds(0));
    ~IdlePriorityScope() { restore(); }
    IdlePriorityScope(const IdlePriorityScope&) = delete;
    IdlePriorityScope& operator=(const IdlePriorityScope&) = delete;
    //! Back to normal priority now (idempotent).
    void restore();
    //! Lowered by this scope and not restored by it (the timer may have raised it meanwhile).
    bool lowered() const { return lowered_; }

  private:
    bool lowered_ = false;
    timer_t timer_{};
    bool has_timer_ = false;
};

}  // namespace tianshu::core
