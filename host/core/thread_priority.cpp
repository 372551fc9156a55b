#include "core/thread_priority.hpp"

#include <sched.h>

namespace tianshu::core {

bool set_this_thread_priority(ThreadPriority priority) {
    sched_param param{};
    param.sched_priority = 0;
    // pid 0: the calling thread (Linux schedules threads, and sched_setscheduler takes a tid).
    return ::sched_setscheduler(0, priority == ThreadPriority::idle ? SCHED_IDLE : SCHED_OTHER,
                                &param) == 0;
}

IdlePriorityScope::IdlePriorityScope(bool lower) {
    if (lower) lowered_ = set_this_thread_priority(ThreadPriority::idle);
}

void IdlePriorityScope::restore() {
    if (!lowered_) return;
    set_this_thread_priority(ThreadPriority::normal);
    lowered_ = false;
}

}  // namespace tianshu::core
