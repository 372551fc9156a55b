#include "core/slow_work_pool.hpp"

#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <exception>

#include "core/fiber.hpp"
#include "core/log.hpp"
#include "core/thread_priority.hpp"

namespace tianshu::core {

//! One call waiting for its job; lives on the caller's stack until the pool signals `done_fd`.
struct SlowWorkPool::Job {
    const std::function<void()>* work = nullptr;
    int done_fd = -1;
    std::string failure;  //!< what the job threw, if it did
};

namespace {

//! The calling thread at the lowest CPU priority: nice 19, and SCHED_IDLE, which runs only when
//! no ordinary thread wants the core (a waking carrier preempts it at once).
void lower_priority() {
    if (::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19) != 0)
        log(LogLevel::warn, "slow work: cannot lower the thread's nice value",
            {{"error", std::strerror(errno)}});
    if (!set_this_thread_priority(ThreadPriority::idle))
        log(LogLevel::warn, "slow work: cannot move the thread to SCHED_IDLE",
            {{"error", std::strerror(fresh_errno())}});
}

//! Waits until the pool has signalled `fd`: parks a fiber, blocks any other thread.
void wait_done(int fd) {
    for (;;) {
        uint64_t count = 0;
        if (::read(fd, &count, sizeof count) == static_cast<ssize_t>(sizeof count)) return;
        const int err = fresh_errno();
        if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR) return;  // cannot happen
        (void)wait_io(fd, POLLIN, std::chrono::milliseconds(-1));
    }
}

}  // namespace

SlowWorkPool::SlowWorkPool(Options options) : options_(options) {
    options_.threads = std::max(1, options_.threads);
    threads_.reserve(static_cast<size_t>(options_.threads));
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { work(); });
}

SlowWorkPool::~SlowWorkPool() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
}

Result<void> SlowWorkPool::run(std::string_view what, const std::function<void()>& job) {
    Job entry;
    entry.work = &job;
    {
        std::lock_guard lock(mutex_);
        // Jobs a free thread is about to take do not count as waiting.
        if (queue_.size() >= options_.queue_limit + idle_threads_ || stopping_) {
            ++refused_;
            const int retry = retry_after_seconds(queue_.size());
            Error e{ErrorKind::unavailable,
                    "the server is busy with " + std::string(what) + " (" +
                        std::to_string(queue_.size()) + " waiting, at most " +
                        std::to_string(options_.queue_limit) + "): try again in " +
                        std::to_string(retry) + " s",
                    {}};
            e.retry_after_seconds = retry;
            return e;
        }
        entry.done_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (entry.done_fd < 0)
            return Error::internal_error(std::string("slow work: eventfd failed: ") +
                                         std::strerror(errno));
        queue_.push_back(&entry);
    }
    wake_.notify_one();
    wait_done(entry.done_fd);
    ::close(entry.done_fd);
    if (!entry.failure.empty())
        return Error::internal_error(std::string(what) + " failed: " + entry.failure);
    return {};
}

size_t SlowWorkPool::waiting() const {
    std::lock_guard lock(mutex_);
    return queue_.size();
}

uint64_t SlowWorkPool::refused() const {
    std::lock_guard lock(mutex_);
    return refused_;
}

int SlowWorkPool::retry_after_seconds(size_t waiting) const {
    const double ms = mean_job_ms_ * static_cast<double>(waiting + 1) / options_.threads;
    return static_cast<int>(std::clamp(std::ceil(ms / 1000.0), 1.0, 60.0));
}

void SlowWorkPool::work() {
    pthread_setname_np(pthread_self(), "slow-work");
    if (options_.low_priority) lower_priority();
    std::unique_lock lock(mutex_);
    ++idle_threads_;
    for (;;) {
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) {  // stopping, and nothing left to run
            --idle_threads_;
            return;
        }
        Job* job = queue_.front();
        queue_.pop_front();
        --idle_threads_;
        lock.unlock();
        const auto started = std::chrono::steady_clock::now();
        try {
            (*job->work)();
        } catch (const std::exception& e) {
            job->failure = e.what();
        } catch (...) {
            job->failure = "unknown exception";
        }
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
                .count();
        lock.lock();
        mean_job_ms_ = mean_job_ms_ == 0 ? ms : 0.8 * mean_job_ms_ + 0.2 * ms;
        // Free again before the caller hears of it: a call it makes next finds this thread.
        ++idle_threads_;
        // The last touch of the job: its caller may return (and free it) as soon as this lands.
        const int fd = job->done_fd;
        const uint64_t one = 1;
        while (::write(fd, &one, sizeof one) < 0 && errno == EINTR) {
        }
    }
}

}  // namespace tianshu::core
