// The cheapest possible pre-request hook: the benchmark's baseline.
#include <string_view>

#include <tianshu/plugin.hpp>

class NoopStrategy {
  public:
    NoopStrategy(const tianshu::sdk::Host&, std::string_view) {}
    void on_request(tianshu::sdk::Request&) {}
};

TIANSHU_PLUGIN(NoopStrategy, "noop_strategy", "1.0.0", TS_KIND_STRATEGY, nullptr,
               "Does nothing (bench).")
