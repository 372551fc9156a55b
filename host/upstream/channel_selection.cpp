#include "upstream/channel_selection.hpp"

#include <algorithm>
#include <random>

namespace tianshu::upstream {

RandomSource thread_random() {
    return [] {
        thread_local std::mt19937_64 engine{std::random_device{}()};
        return engine();
    };
}

void sort_by_priority(std::vector<ChannelRoute>& routes) {
    std::stable_sort(routes.begin(), routes.end(), [](const auto& a, const auto& b) {
        if (a.priority != b.priority) return a.priority > b.priority;
        return a.channel < b.channel;
    });
}

ChannelSelection::ChannelSelection(const std::vector<ChannelRoute>& routes, RandomSource random)
    : routes_(routes), random_(random ? std::move(random) : thread_random()) {
    size_t slots = 0;
    offsets_.reserve(routes_.size());
    for (const auto& r : routes_) {
        offsets_.push_back(slots);
        slots += r.keys.size();
    }
    tried_.assign(slots, 0);
    excluded_.assign(slots, 0);
    failed_.assign(slots, 0);
    min_wait_.assign(slots, std::chrono::milliseconds(0));
}

bool ChannelSelection::usable(size_t route, size_t key) const {
    const size_t s = slot(route, key);
    if (excluded_[s] || tried_[s]) return false;
    const auto& k = routes_[route].keys[key];
    if (k.disabled && k.disabled->load(std::memory_order_relaxed)) return false;
    return !k.breaker || k.breaker->available();
}

std::optional<ChannelSelection::Pick> ChannelSelection::next() {
    if (auto pick = pick_untried()) return pick;
    // Every candidate had its turn: start another round with those not excluded, so a single
    // channel is retried and a failed higher priority is preferred again over a lower one.
    std::fill(tried_.begin(), tried_.end(), 0);
    return pick_untried();
}

std::optional<ChannelSelection::Pick> ChannelSelection::pick_untried() {
    // Routes are sorted by priority: walk the groups from the highest; a lower group is only
    // reached when no key of a higher one is usable.
    for (size_t begin = 0; begin < routes_.size();) {
        size_t end = begin;
        while (end < routes_.size() && routes_[end].priority == routes_[begin].priority) ++end;
        if (auto pick = pick_in_group(begin, end)) return pick;
        begin = end;
    }
    return std::nullopt;
}

std::optional<ChannelSelection::Pick> ChannelSelection::pick_in_group(size_t begin, size_t end) {
    std::vector<size_t> eligible;
    for (size_t r = begin; r < end; ++r)
        for (size_t k = 0; k < routes_[r].keys.size(); ++k)
            if (usable(r, k)) {
                eligible.push_back(r);
                break;
            }
    while (!eligible.empty()) {
        uint64_t total = 0;
        for (size_t r : eligible) total += static_cast<uint64_t>(std::max(routes_[r].weight, 1));
        uint64_t ticket = random_() % total;
        size_t chosen = 0;
        for (; chosen + 1 < eligible.size(); ++chosen) {
            const auto w = static_cast<uint64_t>(std::max(routes_[eligible[chosen]].weight, 1));
            if (ticket < w) break;
            ticket -= w;
        }
        if (auto pick = pick_key(eligible[chosen])) return pick;
        eligible.erase(eligible.begin() + static_cast<std::ptrdiff_t>(chosen));
    }
    return std::nullopt;
}

std::optional<ChannelSelection::Pick> ChannelSelection::pick_key(size_t route) {
    const auto& r = routes_[route];
    const size_t n = r.keys.size();
    if (n == 0) return std::nullopt;
    const size_t start = r.next_key ? r.next_key->fetch_add(1, std::memory_order_relaxed) % n : 0;
    for (size_t i = 0; i < n; ++i) {
        const size_t k = (start + i) % n;
        if (!usable(route, k)) continue;
        tried_[slot(route, k)] = 1;
        const auto& breaker = r.keys[k].breaker;
        const Admission admission = breaker ? breaker->admit() : Admission::admitted;
        if (admission != Admission::refused) return Pick{route, k, admission};
    }
    return std::nullopt;
}

void ChannelSelection::exclude(const Pick& pick) {
    excluded_[slot(pick.route, pick.key)] = 1;
}

void ChannelSelection::set_min_wait(const Pick& pick, std::chrono::milliseconds wait) {
    min_wait_[slot(pick.route, pick.key)] = wait;
}

std::chrono::milliseconds ChannelSelection::min_wait(const Pick& pick) const {
    return min_wait_[slot(pick.route, pick.key)];
}

bool ChannelSelection::first_failure(const Pick& pick) {
    char& failed = failed_[slot(pick.route, pick.key)];
    const bool first = !failed;
    failed = 1;
    return first;
}

}  // namespace tianshu::upstream
