// Rewrites the request: sets the model from config, prefixes the system text with the tier
// (a 1.1 attribute, probed), and applies any JSON-pointer edits listed in config "set".
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

class RewriteRequest {
  public:
    RewriteRequest(const tianshu::sdk::Host&, std::string_view config_json) {
        auto config = nlohmann::json::parse(config_json);
        model_ = config.value("model", std::string("small-model"));
        if (config.contains("set")) set_ = config["set"];
    }

    void on_request(tianshu::sdk::Request& request) {
        std::string tier(request.attribute("tier").value_or("?"));
        std::string system = request.system_text();
        request.set_system_text("[" + tier + "] " + system);
        if (!request.set_model(model_)) throw std::runtime_error("set_model refused " + model_);
        for (auto it = set_.begin(); it != set_.end(); ++it) {
            if (!request.set_json(it.key(), it.value().dump()))
                throw std::runtime_error("set_json refused " + it.key());
        }
    }

  private:
    std::string model_;
    nlohmann::json set_ = nlohmann::json::object();
};

TIANSHU_PLUGIN(RewriteRequest, "rewrite_request", "1.0.0", TS_KIND_STRATEGY, nullptr,
               "Rewrites requests (test).")
