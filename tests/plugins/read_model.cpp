// Reads the model through the host table on every call (bench: one host call per hook).
#include <stdexcept>
#include <string_view>

#include <tianshu/plugin.hpp>

class ReadModel {
  public:
    ReadModel(const tianshu::sdk::Host&, std::string_view) {}
    tianshu::sdk::Outcome on_request(tianshu::sdk::Request& request) {
        if (request.model().empty()) throw std::runtime_error("no model");
        return tianshu::sdk::Outcome::proceed;
    }
};

TIANSHU_PLUGIN(ReadModel, "read_model", "1.0.0", TS_KIND_STRATEGY, nullptr,
               "Reads the model (bench).")
