// The stream heartbeat: pings a silent stream while it is registered, and lets go of it (no
// more pings, no reference kept) when the registration ends, however it ends.
#include <atomic>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>

#include "server/stream_heartbeat.hpp"

using namespace tianshu::server;
using namespace std::chrono_literals;

namespace {
//! Counts what reaches the client.
class CountingWriter : public ResponseWriter {
  public:
    void set_header(std::string_view, std::string_view) override {}
    void send(int, std::string_view, std::string_view) override {}
    bool begin_stream() override { return true; }
    bool write(std::string_view) override {
        ++writes;
        return true;
    }
    std::atomic<int> writes{0};
};
}  // namespace

TEST_CASE("a silent stream is pinged while registered, and never after its registration ends",
          "[server][heartbeat]") {
    StreamHeartbeat heartbeat(10ms);
    CountingWriter out;
    auto stream = std::make_shared<HeartbeatStream>(out, "event: ping\n\n");

    SECTION("the registration is reset by assignment (the gateway's `beat = {}`)") {
        auto beat = heartbeat.watch(stream);
        std::this_thread::sleep_for(80ms);
        REQUIRE(out.writes.load() > 0);
        beat = {};
        const int pinged = out.writes.load();
        std::this_thread::sleep_for(80ms);
        CHECK(out.writes.load() == pinged);
        CHECK(stream.use_count() == 1);  // the heartbeat let go of it
    }
    SECTION("the registration leaves scope") {
        {
            auto beat = heartbeat.watch(stream);
            std::this_thread::sleep_for(80ms);
            REQUIRE(out.writes.load() > 0);
        }
        const int pinged = out.writes.load();
        std::this_thread::sleep_for(80ms);
        CHECK(out.writes.load() == pinged);
        CHECK(stream.use_count() == 1);
    }
    SECTION("a registration moved onto another ends the one it replaces") {
        auto other = std::make_shared<HeartbeatStream>(out, "event: ping\n\n");
        auto beat = heartbeat.watch(stream);
        beat = heartbeat.watch(other);
        CHECK(stream.use_count() == 1);
        CHECK(other.use_count() == 3);  // here, the heartbeat, the registration
    }
}
