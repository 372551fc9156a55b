// plugin.hpp must compile as strict C++17 (third parties are not forced to C++20).
#include <tianshu/plugin.hpp>

namespace {
class Probe {
  public:
    Probe(const tianshu::sdk::Host&, std::string_view) {}
    tianshu::sdk::Outcome on_request(tianshu::sdk::Request& r) {
        return r.model().empty() ? tianshu::sdk::Outcome::answered : tianshu::sdk::Outcome::proceed;
    }
    void generate(tianshu::sdk::Request& r) { r.emit("x"); }
};
}  // namespace

TIANSHU_PLUGIN(Probe, "probe", "1.0.0", TS_KIND_MODEL, nullptr, "probe")
