#pragma once
// Quota reservation and settlement: what keeps a user's balance (and an API key's remaining
// quota) from ever going below zero while many requests run at once.
//
// A request reserves its worst-case cost before the upstream call, then settles the real cost
// when the answer ends (or releases everything when it failed before any token). The book holds
// live balances; the database stays the record of truth and seeds accounts with load().
//
// Accounts are string ids: "u:<user_id>" for a user's balance, "k:<key_id>" for an API key's
// remaining quota (unlimited keys have no account). Amounts are Micros (1 unit = 1,000,000).

#include "core/error.hpp"
#include "hub/money.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace tianshu::hub {

//! The account id of a user's balance: "u:<user_id>".
std::string user_account(std::int64_t user_id);
//! The account id of an API key's remaining quota: "k:<key_id>".
std::string key_account(std::int64_t key_id);

//! A hold on quota, taken by QuotaBook::reserve() and closed by settle() or release().
//! Move-only, so a reservation has exactly one handle: settling it marks it closed, and a
//! second settle or release of the same handle changes nothing. A moved-from handle is closed.
//! Thread rule: one thread at a time uses a handle.
class QuotaReservation {
  public:
    //! The most accounts one reservation covers: a user's balance and one key's quota.
    static constexpr std::size_t max_accounts = 2;

    QuotaReservation(const QuotaReservation&) = delete;
    QuotaReservation& operator=(const QuotaReservation&) = delete;
    QuotaReservation(QuotaReservation&& other) noexcept;
    QuotaReservation& operator=(QuotaReservation&& other) noexcept;
    ~QuotaReservation() = default;

    //! The caller's id for this reservation (the request id): unique per reservation.
    const std::string& id() const { return id_; }
    //! The accounts held, in the order given to reserve().
    std::span<const std::string> accounts() const { return {accounts_.data(), account_count_}; }
    //! What was taken from EACH account.
    Micros amount() const { return amount_; }
    //! True until settle() or release() closed it.
    bool open() const { return open_; }

  private:
    friend class QuotaBook;
    QuotaReservation(std::string id, std::span<const std::string_view> accounts, Micros amount);

    std::string id_;
    std::array<std::string, max_accounts> accounts_;
    std::size_t account_count_ = 0;
    Micros amount_ = 0;
    bool open_ = false;
};

//! What settle() did. When the real cost exceeded the reservation, the extra is taken only as
//! far as each account has it: an account never goes below zero, and what could not be taken
//! is reported here so the caller can log it (the ledger still records the full cost).
struct QuotaSettlement {
    //! False when the reservation was already closed (settled, released, or, in Redis, expired):
    //! nothing changed.
    bool applied = false;
    //! Per account, aligned with QuotaReservation::accounts(): the extra that could not be taken.
    std::array<Micros, QuotaReservation::max_accounts> shortfall{};

    //! The largest shortfall of any account; 0 when the whole cost was covered.
    Micros max_shortfall() const;
};

//! Live balances that requests reserve from and settle to, atomically across the 1 or 2
//! accounts of a request. Implementations: MemoryQuotaBook (one gateway) and RedisQuotaBook
//! (several gateways sharing one Redis).
//! Thread rule: every member function may be called from any number of threads at once.
class QuotaBook {
  public:
    virtual ~QuotaBook() = default;

    //! Atomically checks that EVERY account has at least `amount` available and takes it from
    //! all of them; or takes nothing and fails with ErrorKind::insufficient_quota naming the
    //! account that is short, its balance and the amount asked (the client should top up or use a
    //! key with more quota). Fails with kind internal (a bug in the caller) for 0 or more than 2
    //! accounts, the same account twice, an empty account or id, or a negative amount; with kind
    //! unavailable, recognised by is_unloaded_account(), when an account is not loaded (the
    //! caller load()s it from the database and tries again). RedisQuotaBook: reserving an id
    //! that is already reserved succeeds without taking again (a retry after a lost reply).
    virtual core::Result<QuotaReservation> reserve(std::span<const std::string_view> accounts,
                                                   Micros amount,
                                                   std::string_view reservation_id) = 0;

    //! Closes `reservation` at its real cost `actual` (>= 0): gives back amount - actual, or
    //! takes the extra, never below zero (see QuotaSettlement). Settling a closed handle does
    //! nothing and returns applied = false. Errors: internal for a negative actual;
    //! unavailable when the backing store fails (the handle then stays open, to be retried).
    virtual core::Result<QuotaSettlement> settle(QuotaReservation& reservation, Micros actual) = 0;

    //! Gives everything back: the request failed before any token was produced. Returns false
    //! when the handle was already closed (nothing changed).
    virtual core::Result<bool> release(QuotaReservation& reservation) = 0;

    //! Adds `amount` (> 0: a top-up or a redeemed code) to a loaded account and returns true.
    //! Returns false, changing nothing, when the account is not loaded: the caller has already
    //! written the database, which the next load() reads.
    virtual core::Result<bool> credit(std::string_view account, Micros amount) = 0;

    //! Seeds `account` with `balance` from the database unless it is already live (SETNX): a
    //! live value reflects reservations the database does not know yet and is never
    //! overwritten. Returns true when it seeded the account.
    virtual core::Result<bool> load(std::string_view account, Micros balance) = 0;

    //! The account's live balance, or nullopt when it is not loaded.
    virtual core::Result<std::optional<Micros>> available(std::string_view account) = 0;

    //! How money reaches a live account from the database, exactly once on every instance.
    //! `credits` is the account's credit side in the database — for a user, the sum of every
    //! ledger entry that is not a charge (top-ups, codes, rebates, refunds, adjustments); for a
    //! key, its quota limit — and `version` a number that grows with it (the user's last such
    //! ledger id; the config revision for keys). Charges only ever come from gateways, through
    //! this book, so the live balance is the seed plus credit changes minus what was spent.
    //!
    //! seed(): like load(), sets `available` unless the account is live, and remembers
    //! (credits, version). Returns true when it seeded.
    virtual core::Result<bool> seed(std::string_view account, Micros available, Micros credits,
                                    std::int64_t version) = 0;
    //! sync(): when `version` is newer than the remembered one, adds credits - remembered
    //! credits to the live balance (negative for a lowered limit) and remembers the new pair.
    //! An older or equal version changes nothing, so instances reading the database at
    //! different moments never apply a change twice nor undo a newer one. Returns true when
    //! it applied; false when the account is not live (the next seed reads the database).
    virtual core::Result<bool> sync(std::string_view account, Micros credits,
                                    std::int64_t version) = 0;

  protected:
    //! For implementations: a new open handle.
    static QuotaReservation open_reservation(std::string_view id,
                                             std::span<const std::string_view> accounts,
                                             Micros amount) {
        return QuotaReservation(std::string(id), accounts, amount);
    }
    //! For implementations: marks a handle closed once its effect is applied.
    static void close_reservation(QuotaReservation& reservation) { reservation.open_ = false; }
    //! The checks every reserve() makes before touching balances (see reserve()).
    static core::Result<void> check_reserve_arguments(std::span<const std::string_view> accounts,
                                                      Micros amount,
                                                      std::string_view reservation_id);
    //! The error reserve() returns when `account` is not loaded.
    static core::Error unloaded_account_error(std::string_view account);
    //! The error reserve() returns when `account` holds `balance` < `amount`.
    static core::Error insufficient_error(std::string_view account, Micros balance, Micros amount);
};

//! True when `error` came from reserve() because an account is not loaded: load it and retry.
bool is_unloaded_account(const core::Error& error);

//! A QuotaBook in this process's memory, for a single gateway. Accounts live in 64 shards, each
//! a mutex and a hash map; a request locks the (at most two) shards of its accounts in shard
//! order, so requests of different users rarely contend. Nothing is allocated per reserve once
//! an account is loaded. Accounts are never evicted.
class MemoryQuotaBook final : public QuotaBook {
  public:
    MemoryQuotaBook();
    ~MemoryQuotaBook() override;

    // QuotaBook
    core::Result<QuotaReservation> reserve(std::span<const std::string_view> accounts,
                                           Micros amount, std::string_view reservation_id) override;
    core::Result<QuotaSettlement> settle(QuotaReservation& reservation, Micros actual) override;
    core::Result<bool> release(QuotaReservation& reservation) override;
    core::Result<bool> credit(std::string_view account, Micros amount) override;
    core::Result<bool> load(std::string_view account, Micros balance) override;
    core::Result<std::optional<Micros>> available(std::string_view account) override;
    core::Result<bool> seed(std::string_view account, Micros available, Micros credits,
                            std::int64_t version) override;
    core::Result<bool> sync(std::string_view account, Micros credits,
                            std::int64_t version) override;

  private:
    struct Shard;
    class ShardLocks;

    Shard& shard_for(std::string_view account);

    std::unique_ptr<Shard[]> shards_;
};

}  // namespace tianshu::hub
