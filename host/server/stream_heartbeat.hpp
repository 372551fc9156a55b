#pragma once
// Keeps open SSE streams alive while the upstream is silent: after `interval` without a frame,
// a ping frame goes to the client (Anthropic `event: ping`, an SSE comment for OpenAI clients),
// so proxies and client read timeouts do not cut a stream whose model is merely thinking.

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "server/gateway.hpp"

namespace tianshu::server {

//! One open stream as the heartbeat sees it. Every write to the client goes through write(),
//! so the request thread's frames and the heartbeat's pings never interleave mid-frame.
class HeartbeatStream {
  public:
    HeartbeatStream(ResponseWriter& out, std::string ping_frame)
        : out_(out), ping_frame_(std::move(ping_frame)), last_write_(now_ticks()) {}

    //! Writes frames for the request thread; false when the client is gone.
    bool write(std::string_view frames);
    //! Sends a ping when nothing was written for `interval`; called by the heartbeat thread.
    //! Skips a stream whose request thread is writing right now (it is not silent).
    void ping_if_silent(std::chrono::steady_clock::duration interval);
    //! ResponseWriter::client_closed(), kept out of the middle of a ping.
    bool client_closed();
    //! After close() the heartbeat never touches the writer again (the request is ending).
    void close();
    int pings_sent() const { return pings_; }

  private:
    static int64_t now_ticks() {
        return std::chrono::steady_clock::now().time_since_epoch().count();
    }
    ResponseWriter& out_;
    const std::string ping_frame_;
    std::mutex mutex_;
    bool closed_ = false;
    bool gone_ = false;
    int pings_ = 0;
    int64_t last_write_;
};

//! One thread for every open stream of the server: wakes a few times per interval and pings
//! the silent ones. Streams register for their lifetime (StreamHeartbeat::Registration).
class StreamHeartbeat {
  public:
    //! interval 0 disables pings (register() then returns an inert registration).
    explicit StreamHeartbeat(std::chrono::milliseconds interval);
    ~StreamHeartbeat();
    StreamHeartbeat(const StreamHeartbeat&) = delete;
    StreamHeartbeat& operator=(const StreamHeartbeat&) = delete;

    //! Unregisters and closes the stream when it goes out of scope.
    class Registration {
      public:
        Registration() = default;
        Registration(StreamHeartbeat* owner, std::shared_ptr<HeartbeatStream> stream)
            : owner_(owner), stream_(std::move(stream)) {}
        Registration(Registration&&) noexcept = default;
        //! Ends the registration held so far (as its destructor would), then takes `other`'s.
        Registration& operator=(Registration&& other) noexcept {
            if (this != &other) {
                Registration ended(std::move(*this));
                owner_ = std::exchange(other.owner_, nullptr);
                stream_ = std::move(other.stream_);
            }
            return *this;
        }
        ~Registration();

      private:
        StreamHeartbeat* owner_ = nullptr;
        std::shared_ptr<HeartbeatStream> stream_;
    };

    Registration watch(std::shared_ptr<HeartbeatStream> stream);
    std::chrono::milliseconds interval() const { return interval_; }

  private:
    void run();
    void forget(const HeartbeatStream* stream);

    const std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::vector<std::shared_ptr<HeartbeatStream>> streams_;
    std::thread thread_;
};

}  // namespace tianshu::server
