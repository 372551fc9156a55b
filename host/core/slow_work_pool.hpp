#pragma once
// A small bounded pool for slow CPU-bound work that is not the model path: password hashing
// today, and anything like it later (reports, exports, large imports). Such work on the
// carriers (core/fiber.hpp) would take the cores from the requests: a BlockingRegion keeps the
// fibers moving by starting more carriers, so a hundred concurrent logins became a hundred
// threads hashing at once on two cores, and a model request waited seconds behind them.
//
// Here the work runs on a fixed few threads (default 1) at the lowest CPU priority (SCHED_IDLE,
// nice 19): the scheduler gives a core to a carrier the moment one wants it. The caller waits
// for its job without holding a carrier: on a fiber it parks on an eventfd (wait_io), elsewhere
// its thread waits in poll(). At most `queue_limit` jobs wait; beyond that a call is refused at
// once with an `unavailable` error that says when to try again, which the caller sends in its
// own protocol's shape. Two cores cannot hash hundreds of passwords a second: the queue bound
// turns a flood into quick refusals instead of an ever longer wait.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/error.hpp"

namespace tianshu::core {

//! Runs slow CPU-bound jobs on a few low-priority threads; callers wait without holding a
//! carrier. Thread-safe.
class SlowWorkPool {
  public:
    struct Options {
        int threads = 1;  //!< fixed; at least 1
        //! Jobs that may wait for a busy thread (running ones not counted; 0: a job is taken
        //! only when a thread is free).
        size_t queue_limit = 16;
        //! SCHED_IDLE and nice 19 for the pool's threads; false only for tests that compare.
        bool low_priority = true;
    };

    explicit SlowWorkPool(Options options);
    //! Runs every job already queued (their callers wait for them), then joins the threads.
    ~SlowWorkPool();
    SlowWorkPool(const SlowWorkPool&) = delete;
    SlowWorkPool& operator=(const SlowWorkPool&) = delete;

    //! Runs `job` on a pool thread and returns when it has run. `what` names the work for the
    //! refusal ("password checks"). Errors: `unavailable` with retry_after_seconds when
    //! queue_limit jobs already wait (the job is not run; the caller answers 503 or 429 with
    //! Retry-After), `internal` when the job threw (its message is kept). Must not be called
    //! from a pool thread (the job would wait for itself when the pool has one thread).
    Result<void> run(std::string_view what, const std::function<void()>& job);

    const Options& options() const { return options_; }
    //! Jobs waiting for a thread now, and refused so far (for tests and metrics).
    size_t waiting() const;
    uint64_t refused() const;

  private:
    struct Job;
    void work();
    //! Seconds until a thread is likely free for a job queued behind `waiting` others.
    int retry_after_seconds(size_t waiting) const;  // mutex_ held

    Options options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Job*> queue_;
    bool stopping_ = false;
    size_t idle_threads_ = 0;  //!< threads waiting for a job
    uint64_t refused_ = 0;
    //! Mean run time of recent jobs (exponential average), for Retry-After.
    double mean_job_ms_ = 0;
    std::vector<std::thread> threads_;
};

}  // namespace tianshu::core
