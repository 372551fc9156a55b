// Uppercases the text of every text delta; at the end of the response, logs what it saw.
#include <string>
#include <string_view>

#include <tianshu/plugin.hpp>

class UpperStream {
  public:
    UpperStream(const tianshu::sdk::Host&, std::string_view) {}

    void on_stream_event(tianshu::sdk::Request&, tianshu::sdk::Event& event) {
        if (event.type() != TS_EVENT_CONTENT_BLOCK_DELTA) return;
        std::string text(event.text());
        for (char& c : text)
            if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
        event.set_text(text);
    }

    void on_response_end(tianshu::sdk::Request& request, const tianshu::sdk::Response& response) {
        ts_usage usage = response.usage();
        request.log(TS_LOG_INFO, "response_end text=" + response.text() +
                                     " output_tokens=" + std::to_string(usage.output_tokens));
    }
};

TIANSHU_PLUGIN(UpperStream, "upper_stream", "1.0.0", TS_KIND_STRATEGY, nullptr,
               "Uppercases streamed text (test).")
