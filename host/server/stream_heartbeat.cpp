#include "server/stream_heartbeat.hpp"

#include <algorithm>

#include "core/fiber.hpp"

namespace tianshu::server {

bool HeartbeatStream::write(std::string_view frames) {
    // The lock keeps pings out of the middle of a frame: a fiber holding it must not park (a
    // slow client's full window blocks this carrier, and the loop starts another).
    core::NoSuspend pinned;
    std::lock_guard lock(mutex_);
    if (gone_) return false;
    if (!out_.write(frames)) gone_ = true;
    last_write_ = now_ticks();
    return !gone_;
}

void HeartbeatStream::ping_if_silent(std::chrono::steady_clock::duration interval) {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock() || closed_ || gone_) return;
    if (now_ticks() - last_write_ < interval.count()) return;
    if (!out_.write(ping_frame_)) gone_ = true;
    last_write_ = now_ticks();
    ++pings_;
}

bool HeartbeatStream::client_closed() {
    core::NoSuspend pinned;  // a poll without waiting: nothing parks under the lock
    std::lock_guard lock(mutex_);
    if (out_.client_closed()) gone_ = true;
    return gone_;
}

void HeartbeatStream::close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
}

StreamHeartbeat::StreamHeartbeat(std::chrono::milliseconds interval) : interval_(interval) {
    if (interval_.count() > 0) thread_ = std::thread([this] { run(); });
}

StreamHeartbeat::~StreamHeartbeat() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

StreamHeartbeat::Registration StreamHeartbeat::watch(std::shared_ptr<HeartbeatStream> stream) {
    if (interval_.count() <= 0) return Registration(nullptr, std::move(stream));
    {
        std::lock_guard lock(mutex_);
        streams_.push_back(stream);
    }
    return Registration(this, std::move(stream));
}

StreamHeartbeat::Registration::~Registration() {
    if (!stream_) return;
    stream_->close();
    if (owner_) owner_->forget(stream_.get());
}

void StreamHeartbeat::forget(const HeartbeatStream* stream) {
    std::lock_guard lock(mutex_);
    auto it = std::find_if(streams_.begin(), streams_.end(),
                           [&](const auto& s) { return s.get() == stream; });
    if (it != streams_.end()) {
        std::swap(*it, streams_.back());
        streams_.pop_back();
    }
}

void StreamHeartbeat::run() {
    // Waking four times per interval bounds a ping's lateness to a quarter interval.
    const auto tick = std::max(std::chrono::milliseconds(5), interval_ / 4);
    std::vector<std::shared_ptr<HeartbeatStream>> due;
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, tick, [&] { return stopping_; });
        if (stopping_) break;
        due = streams_;
        lock.unlock();
        // Pings are written outside the registry lock: a slow client delays only the pings
        // after it in this round, never a request registering or finishing.
        for (const auto& s : due) s->ping_if_silent(interval_);
        due.clear();
        lock.lock();
    }
}

}  // namespace tianshu::server
