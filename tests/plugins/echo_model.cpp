// A model: emits the last user text back in three pieces, then finishes with end_turn.
#include <string>
#include <string_view>

#include <tianshu/plugin.hpp>

class EchoModel {
  public:
    EchoModel(const tianshu::sdk::Host&, std::string_view) {}

    void generate(tianshu::sdk::Request& request) {
        std::string text = request.last_user_text();
        size_t third = text.size() / 3;
        std::string_view all(text);
        for (std::string_view piece :
             {all.substr(0, third), all.substr(third, third), all.substr(2 * third)}) {
            if (!request.emit(piece)) return;  // the client has gone
        }
        ts_usage usage{};
        usage.struct_size = sizeof usage;
        usage.input_tokens = 7;
        usage.output_tokens = 3;
        request.finish("end_turn", &usage);
    }
};

TIANSHU_PLUGIN(EchoModel, "echo_model", "1.0.0", TS_KIND_MODEL, nullptr,
               "Echoes the last user message (test).")
