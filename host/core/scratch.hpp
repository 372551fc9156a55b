#pragma once
// Per-thread reuse of the buffers a request needs for a moment (a vector of events, a parser's
// buffers): taking one from this thread's pool costs no allocation once the pool has warmed up,
// where a fresh one of several KiB goes through malloc's slow path on every request.
//
// Nesting-safe: each acquire() takes its own object (a strategy that calls a model while an
// upstream answer is being decoded gets a second one), and an object is given back when its
// handle dies, on whatever thread that is.

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#include "core/fiber.hpp"

namespace tianshu::core {

//! A pool of `T` per thread. `reset(T&)` readies an object for its next user (e.g. clear()),
//! and returns false when the object should not be kept (it grew too big to pin to a thread).
template <class T, bool (*reset)(T&), size_t kMaxPooled = 4>
class Scratch {
  public:
    struct Release {
        void operator()(T* object) const {
            if (!object) return;
            auto& pool = free_list();
            if (pool.size() < kMaxPooled && reset(*object))
                pool.emplace_back(object);
            else
                delete object;
        }
    };
    using Handle = std::unique_ptr<T, Release>;

    //! One object for the caller alone until the handle dies.
    static Handle acquire() {
        auto& pool = free_list();
        if (pool.empty()) return Handle(new T());
        Handle h(pool.back().release());
        pool.pop_back();
        return h;
    }

  private:
    // Not inlined: a fiber may give its object back on another thread than it took it on
    // (core/fiber.hpp), and an inlined thread_local address could be the first thread's.
    TIANSHU_THREAD_ACCESSOR static std::vector<std::unique_ptr<T>>& free_list() {
        TIANSHU_THREAD_ACCESSOR_BODY();
        thread_local std::vector<std::unique_ptr<T>> pool;
        return pool;
    }
};

}  // namespace tianshu::core
