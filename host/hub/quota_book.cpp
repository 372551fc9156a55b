#include "hub/quota_book.hpp"

#include <algorithm>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace tianshu::hub {
namespace {

constexpr std::size_t shard_count = 64;
// Marks the errors of accounts that are not loaded, so callers need not match message text.
constexpr std::string_view unloaded_source = "quota_book:unloaded_account";

//! Hashes std::string and std::string_view alike, so lookups by string_view allocate nothing.
struct AccountHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

}  // namespace

std::string user_account(std::int64_t user_id) {
    return "u:" + std::to_string(user_id);
}

std::string key_account(std::int64_t key_id) {
    return "k:" + std::to_string(key_id);
}

QuotaReservation::QuotaReservation(std::string id, std::span<const std::string_view> accounts,
                                   Micros amount)
    : id_(std::move(id)), account_count_(accounts.size()), amount_(amount), open_(true) {
    for (std::size_t i = 0; i < accounts.size(); ++i) accounts_[i] = std::string(accounts[i]);
}

QuotaReservation::QuotaReservation(QuotaReservation&& other) noexcept
    : id_(std::move(other.id_)),
      accounts_(std::move(other.accounts_)),
      account_count_(other.account_count_),
      amount_(other.amount_),
      open_(std::exchange(other.open_, false)) {}

QuotaReservation& QuotaReservation::operator=(QuotaReservation&& other) noexcept {
    if (this != &other) {
        id_ = std::move(other.id_);
        accounts_ = std::move(other.accounts_);
        account_count_ = other.account_count_;
        amount_ = other.amount_;
        open_ = std::exchange(other.open_, false);
    }
    return *this;
}

Micros QuotaSettlement::max_shortfall() const {
    return *std::max_element(shortfall.begin(), shortfall.end());
}

core::Result<void> QuotaBook::check_reserve_arguments(std::span<const std::string_view> accounts,
                                                      Micros amount,
                                                      std::string_view reservation_id) {
    if (accounts.empty() || accounts.size() > QuotaReservation::max_accounts) {
        return core::Error::internal_error(
            "quota reserve: got " + std::to_string(accounts.size()) +
            " accounts; pass 1 (the user's balance) or 2 (the user's balance and the key's quota)");
    }
    for (std::size_t i = 0; i < accounts.size(); ++i) {
        if (accounts[i].empty()) {
            return core::Error::internal_error(
                "quota reserve: account " + std::to_string(i) +
                " is empty; pass an id such as \"u:<user_id>\" or \"k:<key_id>\"");
        }
    }
    if (accounts.size() == 2 && accounts[0] == accounts[1]) {
        return core::Error::internal_error("quota reserve: account \"" + std::string(accounts[0]) +
                                           "\" is given twice; pass each account once");
    }
    if (amount < 0) {
        return core::Error::internal_error("quota reserve: amount " + std::to_string(amount) +
                                           " is negative; reserve the worst-case cost (>= 0)");
    }
    if (reservation_id.empty()) {
        return core::Error::internal_error(
            "quota reserve: the reservation id is empty; pass the request id");
    }
    return {};
}

core::Error QuotaBook::unloaded_account_error(std::string_view account) {
    core::Error error{core::ErrorKind::unavailable,
                      "quota account \"" + std::string(account) +
                          "\" is not loaded; load its balance from the database "
                          "(QuotaBook::load) and reserve again",
                      std::string(unloaded_source)};
    return error;
}

core::Error QuotaBook::insufficient_error(std::string_view account, Micros balance, Micros amount) {
    const bool is_key = account.starts_with("k:");
    std::string message = is_key ? "the API key's remaining quota" : "the account balance";
    message += " (" + std::string(account) + ": " + std::to_string(balance) +
               " micros) is less than this request's worst-case cost (" + std::to_string(amount) +
               " micros); ";
    message += is_key ? "raise the key's quota or use another key"
                      : "top up the balance or lower max_tokens";
    return {core::ErrorKind::insufficient_quota, std::move(message), {}};
}

bool is_unloaded_account(const core::Error& error) {
    return error.kind == core::ErrorKind::unavailable && error.source == unloaded_source;
}

// ---------------------------------------------------------------------------------------------
// MemoryQuotaBook

struct MemoryQuotaBook::Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Micros, AccountHash, std::equal_to<>> balances;
    //! The credit side each account was last seeded or synced with, and its version.
    struct Credits {
        Micros credits = 0;
        std::int64_t version = 0;
    };
    std::unordered_map<std::string, Credits, AccountHash, std::equal_to<>> credits;
};

//! Locks the shards of up to two accounts in shard order (so two requests locking the same
//! pair never deadlock), once when both accounts share a shard.
class MemoryQuotaBook::ShardLocks {
  public:
    ShardLocks(MemoryQuotaBook& book, std::span<const std::string> accounts) {
        for (std::size_t i = 0; i < accounts.size(); ++i) shards_[i] = &book.shard_for(accounts[i]);
        lock(accounts.size());
    }
    ShardLocks(MemoryQuotaBook& book, std::span<const std::string_view> accounts) {
        for (std::size_t i = 0; i < accounts.size(); ++i) shards_[i] = &book.shard_for(accounts[i]);
        lock(accounts.size());
    }
    ShardLocks(const ShardLocks&) = delete;
    ShardLocks& operator=(const ShardLocks&) = delete;
    ~ShardLocks() {
        for (std::size_t i = count_; i > 0; --i) locked_[i - 1]->mutex.unlock();
    }

    Shard& shard(std::size_t account_index) { return *shards_[account_index]; }

  private:
    void lock(std::size_t n) {
        std::array<Shard*, QuotaReservation::max_accounts> order = shards_;
        static_assert(QuotaReservation::max_accounts == 2, "ordering below is for two shards");
        if (n == 2 && std::less<Shard*>{}(order[1], order[0])) std::swap(order[0], order[1]);
        for (std::size_t i = 0; i < n; ++i) {
            if (i > 0 && order[i] == order[i - 1]) continue;
            order[i]->mutex.lock();
            locked_[count_++] = order[i];
        }
    }

    std::array<Shard*, QuotaReservation::max_accounts> shards_{};
    std::array<Shard*, QuotaReservation::max_accounts> locked_{};
    std::size_t count_ = 0;
};

MemoryQuotaBook::MemoryQuotaBook() : shards_(std::make_unique<Shard[]>(shard_count)) {}

MemoryQuotaBook::~MemoryQuotaBook() = default;

MemoryQuotaBook::Shard& MemoryQuotaBook::shard_for(std::string_view account) {
    return shards_[std::hash<std::string_view>{}(account) % shard_count];
}

core::Result<QuotaReservation> MemoryQuotaBook::reserve(std::span<const std::string_view> accounts,
                                                        Micros amount,
                                                        std::string_view reservation_id) {
    if (auto checked = check_reserve_arguments(accounts, amount, reservation_id); !checked) {
        return checked.take_error();
    }
    std::array<Micros*, QuotaReservation::max_accounts> balances{};
    {
        ShardLocks locks(*this, accounts);
        for (std::size_t i = 0; i < accounts.size(); ++i) {
            auto& map = locks.shard(i).balances;
            auto it = map.find(accounts[i]);
            if (it == map.end()) return unloaded_account_error(accounts[i]);
            if (it->second < amount) return insufficient_error(accounts[i], it->second, amount);
            balances[i] = &it->second;
        }
        for (std::size_t i = 0; i < accounts.size(); ++i) *balances[i] -= amount;
    }
    return open_reservation(reservation_id, accounts, amount);
}

core::Result<QuotaSettlement> MemoryQuotaBook::settle(QuotaReservation& reservation,
                                                      Micros actual) {
    if (actual < 0) {
        return core::Error::internal_error("quota settle of \"" + reservation.id() +
                                           "\": actual cost " + std::to_string(actual) +
                                           " is negative; pass the metered cost (>= 0)");
    }
    QuotaSettlement settlement;
    if (!reservation.open()) return settlement;
    auto accounts = reservation.accounts();
    {
        ShardLocks locks(*this, accounts);
        const Micros refund = reservation.amount() - actual;  // negative: an extra to take
        for (std::size_t i = 0; i < accounts.size(); ++i) {
            auto& map = locks.shard(i).balances;
            auto it = map.find(accounts[i]);
            if (it == map.end()) continue;  // never happens: memory accounts are not evicted
            if (refund >= 0) {
                it->second += refund;
            } else {
                const Micros extra = -refund;
                const Micros taken = std::clamp<Micros>(it->second, 0, extra);
                it->second -= taken;
                settlement.shortfall[i] = extra - taken;
            }
        }
    }
    settlement.applied = true;
    close_reservation(reservation);
    return settlement;
}

core::Result<bool> MemoryQuotaBook::release(QuotaReservation& reservation) {
    if (!reservation.open()) return false;
    auto accounts = reservation.accounts();
    {
        ShardLocks locks(*this, accounts);
        for (std::size_t i = 0; i < accounts.size(); ++i) {
            auto& map = locks.shard(i).balances;
            if (auto it = map.find(accounts[i]); it != map.end())
                it->second += reservation.amount();
        }
    }
    close_reservation(reservation);
    return true;
}

core::Result<bool> MemoryQuotaBook::credit(std::string_view account, Micros amount) {
    if (amount <= 0) {
        return core::Error::internal_error("quota credit of \"" + std::string(account) +
                                           "\": amount " + std::to_string(amount) +
                                           " must be positive");
    }
    Shard& shard = shard_for(account);
    std::lock_guard lock(shard.mutex);
    auto it = shard.balances.find(account);
    if (it == shard.balances.end()) return false;
    it->second += amount;
    return true;
}

core::Result<bool> MemoryQuotaBook::load(std::string_view account, Micros balance) {
    if (account.empty()) {
        return core::Error::internal_error(
            "quota load: the account is empty; pass an id such as \"u:<user_id>\"");
    }
    Shard& shard = shard_for(account);
    std::lock_guard lock(shard.mutex);
    if (shard.balances.find(account) != shard.balances.end()) return false;
    shard.balances.emplace(std::string(account), balance);
    return true;
}

core::Result<std::optional<Micros>> MemoryQuotaBook::available(std::string_view account) {
    Shard& shard = shard_for(account);
    std::lock_guard lock(shard.mutex);
    auto it = shard.balances.find(account);
    if (it == shard.balances.end()) return std::optional<Micros>{};
    return std::optional<Micros>{it->second};
}

core::Result<bool> MemoryQuotaBook::seed(std::string_view account, Micros available, Micros credits,
                                         std::int64_t version) {
    if (account.empty()) {
        return core::Error::internal_error(
            "quota seed: the account is empty; pass an id such as \"u:<user_id>\"");
    }
    Shard& shard = shard_for(account);
    std::lock_guard lock(shard.mutex);
    if (shard.balances.find(account) != shard.balances.end()) return false;
    shard.balances.emplace(std::string(account), available);
    shard.credits.insert_or_assign(std::string(account), Shard::Credits{credits, version});
    return true;
}

core::Result<bool> MemoryQuotaBook::sync(std::string_view account, Micros credits,
                                         std::int64_t version) {
    Shard& shard = shard_for(account);
    std::lock_guard lock(shard.mutex);
    auto live = shard.balances.find(account);
    if (live == shard.balances.end()) return false;
    auto known = shard.credits.find(account);
    if (known == shard.credits.end())
        known = shard.credits.emplace(std::string(account), Shard::Credits{credits, version}).first;
    else if (version <= known->second.version)
        return false;
    live->second += credits - known->second.credits;
    known->second = Shard::Credits{credits, version};
    return true;
}

}  // namespace tianshu::hub
