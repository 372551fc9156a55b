// Declares TS_FLAG_SINGLE_THREADED and fails if the host ever overlaps two calls.
#include <atomic>
#include <stdexcept>
#include <string>
#include <string_view>

#include <tianshu/plugin.hpp>

class SingleThreaded {
  public:
    static constexpr uint32_t flags = TS_FLAG_SINGLE_THREADED;
    SingleThreaded(const tianshu::sdk::Host&, std::string_view) {}

    void on_request(tianshu::sdk::Request& request) {
        if (inside_.fetch_add(1) != 0) {
            inside_.fetch_sub(1);
            throw std::runtime_error("two threads inside a single-threaded instance");
        }
        ++calls_;  // unsynchronised on purpose: the host's mutex protects it
        request.set_system_text("call " + std::to_string(calls_));
        inside_.fetch_sub(1);
    }

  private:
    std::atomic<int> inside_{0};
    long calls_ = 0;
};

TIANSHU_PLUGIN(SingleThreaded, "single_threaded", "1.0.0", TS_KIND_STRATEGY, nullptr,
               "Serial (test).")
