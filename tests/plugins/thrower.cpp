// Throws from on_request: std::runtime_error for "boom", a non-std exception for "int";
// returns normally otherwise. Refuses a config with {"refuse": true} from its constructor.
#include <stdexcept>
#include <string>
#include <string_view>

#include <tianshu/plugin.hpp>

class Thrower {
  public:
    Thrower(const tianshu::sdk::Host&, std::string_view config) {
        if (config.find("\"refuse\":true") != std::string_view::npos)
            throw std::invalid_argument("thrower: this config is refused on purpose");
    }
    void on_request(tianshu::sdk::Request& request) {
        std::string text = request.last_user_text();
        if (text.find("boom") != std::string::npos)
            throw std::runtime_error("boom: the plugin blew up");
        if (text.find("int") != std::string::npos) throw 42;
        if (text.find("long") != std::string::npos)
            throw std::runtime_error(std::string(2000, 'x'));
    }
};

TIANSHU_PLUGIN(Thrower, "thrower", "1.0.0", TS_KIND_STRATEGY, nullptr, "Throws on demand (test).")
