// A stream-rewriting strategy for tests (advisory: TS_FLAG_ADVISORY). Config:
//   "mode": "chaos"    holds, releases, discards, drops, inserts and rewrites events at random
//                      (seeded by "seed"), sometimes with events that break the grammar, and
//                      throws with probability "throw_permille"/1000;
//           "lossless" holds and releases at random, never changes or loses an event;
//           "pass"     passes every event on (reads its type, as a real strategy would);
//           "hold_then_throw" holds the first two content deltas, throws at the third.
//   "pre": "mutate_then_throw" (on_request changes the model, system and messages, then throws) or
//          "sleep" (on_request sleeps "sleep_ms" ms, blocking its thread).
#include <chrono>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

class StreamChaos {
  public:
    static constexpr uint32_t flags = TS_FLAG_ADVISORY;

    StreamChaos(const tianshu::sdk::Host&, std::string_view config) {
        auto c = nlohmann::json::parse(config);
        mode_ = c.value("mode", "pass");
        pre_ = c.value("pre", "");
        sleep_ms_ = c.value("sleep_ms", 0);
        throw_permille_ = c.value("throw_permille", 0);
        rng_.seed(c.value("seed", 1u));
    }

    void on_request(tianshu::sdk::Request& request) {
        if (pre_ == "mutate_then_throw") {
            request.set_model("no-such-model");
            request.set_system_text("changed by a stage that then failed");
            request.set_json(
                "/messages",
                R"([{"role":"user","content":"changed by a stage that then failed"}])");
            throw std::runtime_error("stream_chaos: failing after changing the request");
        }
        if (pre_ == "sleep") std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms_));
    }

    void on_stream_event(tianshu::sdk::Request& request, tianshu::sdk::Event& event) {
        if (mode_ == "pass") {
            if (event.type() == TS_EVENT_ERROR) request.log(TS_LOG_DEBUG, "error event");
            return;
        }
        if (mode_ == "hold_then_throw") {
            if (event.type() != TS_EVENT_CONTENT_BLOCK_DELTA) return;
            if (request.held_count() < 2) {
                event.hold();
                return;
            }
            throw std::runtime_error("stream_chaos: failing while holding two events");
        }
        std::lock_guard lock(mutex_);
        if (mode_ == "lossless") {
            // Holding keeps order only while everything after is held too: hold, or release
            // what is held and let the current event follow.
            if (pick(10) < 5)
                event.hold();
            else
                request.release_held();
            return;
        }
        chaos(request, event);
    }

  private:
    int pick(int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng_); }

    // A random event: mostly plausible, sometimes out of place or malformed.
    std::string random_event() {
        const int index = pick(4);
        switch (pick(9)) {
            case 0:
                return R"({"type":"ping"})";
            case 1:
                return R"({"type":"content_block_start","index":)" + std::to_string(index) +
                       R"(,"content_block":{"type":"text","text":""}})";
            case 2:
                return R"({"type":"content_block_delta","index":)" + std::to_string(index) +
                       R"(,"delta":{"type":"text_delta","text":"inserted"}})";
            case 3:
                return R"({"type":"content_block_stop","index":)" + std::to_string(index) + "}";
            case 4:
                return R"({"type":"message_delta","delta":{"stop_reason":"tool_use"},)"
                       R"("usage":{"output_tokens":3}})";
            case 5:
                return R"({"type":"message_stop"})";
            case 6:
                return R"({"type":"content_block_start","index":)" + std::to_string(index) +
                       R"(,"content_block":{"type":"tool_use","id":"toolu_x","name":"write",)"
                       R"("input":{}}})";
            case 7:
                return R"({"type":"content_block_delta","index":)" + std::to_string(index) +
                       R"(,"delta":{"type":"input_json_delta","partial_json":"{\"a\":1}"}})";
            default:
                return R"({"type":"no_such_event"})";  // refused: TS_ERR_INVALID
        }
    }

    void chaos(tianshu::sdk::Request& request, tianshu::sdk::Event& event) {
        if (throw_permille_ > 0 && pick(1000) < throw_permille_)
            throw std::runtime_error("stream_chaos: a random failure");
        switch (pick(60)) {  // 0..8 act, the rest pass
            case 0:
                event.drop();
                break;
            case 1:
            case 2:
                event.hold();
                break;
            case 3:
                request.release_held();
                break;
            case 4:
                request.discard_held();
                break;
            case 5:
                try {
                    request.emit_event(random_event());
                } catch (const std::runtime_error&) {
                    // a malformed event is refused; nothing changed
                }
                break;
            case 6:
                event.set_json(random_event());
                break;
            case 7:
                event.set_text("rewritten");
                break;
            case 8: {
                // Replace what is held by its JSON, re-emitted (a faithful rewrite).
                for (uint32_t i = 0; i < request.held_count(); ++i)
                    if (auto json = request.held_event_json(i)) request.emit_event(*json);
                request.discard_held();
                break;
            }
            default:
                break;  // pass
        }
    }

    std::string mode_, pre_;
    int sleep_ms_ = 0;
    int throw_permille_ = 0;
    std::mutex mutex_;
    std::mt19937 rng_;
};

TIANSHU_PLUGIN(StreamChaos, "stream_chaos", "1.0.0", TS_KIND_STRATEGY, nullptr,
               "Rewrites streams at random, holds and releases, or fails on purpose (test).")
