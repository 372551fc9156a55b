#pragma once
// Elapsed wall time on the monotonic clock, as request timings and block traces report it.

#include <chrono>

namespace tianshu::core {

//! Milliseconds (fractional) since `start` on std::chrono::steady_clock.
inline double ms_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
        .count();
}

}  // namespace tianshu::core
