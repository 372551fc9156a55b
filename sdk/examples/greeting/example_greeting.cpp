// example_greeting: a complete Tianshu strategy plugin, built against the SDK alone.
//
// Config: {"sentence": "Always greet the user.", "uppercase": false}
//   - on_request appends `sentence` to the system prompt (on its own line);
//   - when `uppercase` is true, on_stream_event uppercases streamed answer text. When it is
//     false the hook still exists (the host calls it), so a plugin that never needs stream
//     events should simply not define the method: then it costs nothing per event.
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

namespace {

constexpr const char* kSchema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "sentence": {"type": "string", "minLength": 1},
    "uppercase": {"type": "boolean", "default": false}
  },
  "required": ["sentence"],
  "additionalProperties": false
})";

class Greeting {
  public:
    // The config already passed kSchema; throwing here refuses it with the message.
    Greeting(const tianshu::sdk::Host& host, std::string_view config_json) {
        auto config = nlohmann::json::parse(config_json);
        sentence_ = config.at("sentence").get<std::string>();
        uppercase_ = config.value("uppercase", false);
        if (sentence_.empty())
            throw std::invalid_argument("example_greeting: 'sentence' must not be empty");
        host.log(TS_LOG_DEBUG, "example_greeting ready");
    }

    // Runs before the model, on many threads at once: only reads member state.
    void on_request(tianshu::sdk::Request& request) {
        std::string system = request.system_text();
        if (!system.empty()) system += '\n';
        request.set_system_text(system + sentence_);
        if (auto tier = request.attribute("tier")) {  // ABI 1.1, probed
            request.log(TS_LOG_DEBUG, "greeting for tier " + std::string(*tier));
        }
    }

    void on_stream_event(tianshu::sdk::Request&, tianshu::sdk::Event& event) {
        if (!uppercase_ || event.type() != TS_EVENT_CONTENT_BLOCK_DELTA) return;
        std::string text(event.text());
        for (char& c : text)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        event.set_text(text);
    }

  private:
    std::string sentence_;
    bool uppercase_ = false;
};

}  // namespace

TIANSHU_PLUGIN(Greeting, "example_greeting", "1.0.0", TS_KIND_STRATEGY, kSchema,
               "Appends a sentence to the system prompt; optionally uppercases the answer.")
