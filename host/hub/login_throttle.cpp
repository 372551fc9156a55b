#include "hub/login_throttle.hpp"

#include <algorithm>

namespace tianshu::hub {

namespace {
//! Longer names are counted by their first bytes: an entry's size stays bounded.
constexpr size_t kMaxKeyBytes = 256;

std::string key_of(std::string_view text) {
    return std::string(text.substr(0, kMaxKeyBytes));
}

core::Error refusal(std::string what, int count, std::chrono::seconds window, int wait) {
    core::Error e{core::ErrorKind::rate_limited,
                  "too many failed logins " + what + " (" + std::to_string(count) + " in " +
                      std::to_string(window.count()) + " s): try again in " + std::to_string(wait) +
                      " s",
                  {}};
    e.retry_after_seconds = wait;
    return e;
}
}  // namespace

LoginThrottle::LoginThrottle(LoginLimits limits) : limits_(limits) {
    limits_.max_tracked = std::max<size_t>(1, limits_.max_tracked);
    addresses_.limit = limits_.per_address;
    accounts_.limit = limits_.per_account;
}

core::Result<LoginThrottle::Attempt> LoginThrottle::begin(std::string_view address,
                                                          std::string_view account,
                                                          Clock::time_point now) {
    Attempt attempt{key_of(address), key_of(account), now};
    std::lock_guard lock(mutex_);
    if (int wait = wait_seconds(addresses_, attempt.address, now); wait > 0)
        return refusal("from address " + attempt.address, limits_.per_address, limits_.window,
                       wait);
    if (int wait = wait_seconds(accounts_, attempt.account, now); wait > 0)
        return refusal("for account '" + attempt.account + "'", limits_.per_account, limits_.window,
                       wait);
    count(addresses_, attempt.address, now);
    count(accounts_, attempt.account, now);
    return attempt;
}

void LoginThrottle::forgive(const Attempt& attempt) {
    std::lock_guard lock(mutex_);
    remove_one(addresses_, attempt.address, attempt.at);
    remove_one(accounts_, attempt.account, attempt.at);
}

size_t LoginThrottle::tracked_addresses() const {
    std::lock_guard lock(mutex_);
    return addresses_.failures.size();
}

size_t LoginThrottle::tracked_accounts() const {
    std::lock_guard lock(mutex_);
    return accounts_.failures.size();
}

int LoginThrottle::wait_seconds(Table& table, const std::string& key, Clock::time_point now) {
    if (table.limit <= 0) return 0;
    auto it = table.failures.find(key);
    if (it == table.failures.end()) return 0;
    auto& stamps = it->second;
    const auto horizon = now - limits_.window;
    stamps.erase(stamps.begin(), std::find_if(stamps.begin(), stamps.end(),
                                              [&](Clock::time_point t) { return t > horizon; }));
    if (stamps.empty()) {
        table.failures.erase(it);
        return 0;
    }
    if (stamps.size() < static_cast<size_t>(table.limit)) return 0;
    // Free again when the oldest failure leaves the window; whole seconds, rounded up.
    const auto left = stamps.front() + limits_.window - now;
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(left).count();
    return static_cast<int>(std::max<long long>(1, (ms + 999) / 1000));
}

void LoginThrottle::count(Table& table, const std::string& key, Clock::time_point now) {
    if (table.limit <= 0) return;
    auto it = table.failures.find(key);
    if (it == table.failures.end()) {
        if (table.failures.size() >= limits_.max_tracked) make_room(table, now);
        it = table.failures.emplace(key, std::vector<Clock::time_point>{}).first;
        it->second.reserve(static_cast<size_t>(table.limit));
    }
    auto& stamps = it->second;
    if (stamps.size() >= static_cast<size_t>(table.limit)) stamps.erase(stamps.begin());
    stamps.push_back(now);
}

void LoginThrottle::make_room(Table& table, Clock::time_point now) {
    const auto horizon = now - limits_.window;
    std::erase_if(table.failures, [&](const auto& entry) {
        return entry.second.empty() || entry.second.back() <= horizon;
    });
    if (table.failures.size() < limits_.max_tracked) return;
    auto oldest = std::min_element(
        table.failures.begin(), table.failures.end(),
        [](const auto& a, const auto& b) { return a.second.back() < b.second.back(); });
    table.failures.erase(oldest);
}

void LoginThrottle::remove_one(Table& table, const std::string& key, Clock::time_point at) {
    auto it = table.failures.find(key);
    if (it == table.failures.end()) return;
    auto& stamps = it->second;
    auto stamp = std::find(stamps.rbegin(), stamps.rend(), at);
    if (stamp != stamps.rend()) stamps.erase(std::next(stamp).base());
    if (stamps.empty()) table.failures.erase(it);
}

}  // namespace tianshu::hub
