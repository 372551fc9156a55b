#pragma once
// The ledger: every change of a user's balance, one signed row each. For every user,
// SUM(ledger.amount) == users.balance: whatever changes a balance writes its ledger row in
// the same transaction (post_to_ledger). Ledger writes do not bump the configuration
// revision: balances change per request, far too often to reload the configuration.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! One ledger row. `amount` is in micros: positive credits, negative debits. `kind` is one of
//! topup, redemption, charge, refund, invite_rebate, adjust. `ref`, when set, is unique: the
//! idempotency key of the operation ("req:<request_id>" for a charge).
struct LedgerEntry {
    long long id = 0;
    long long user_id = 0;
    long long amount = 0;
    std::string kind;
    std::optional<std::string> ref;
    std::string note;
    long long created_at = 0;  //!< seconds
};

//! What a top-up or adjustment did. `applied` is false when an entry with the same ref was
//! already there (the operation had been done before; nothing changed this time).
struct BalanceChange {
    bool applied = false;
    long long balance = 0;             //!< the user's balance afterwards
    long long rebate = 0;              //!< micros credited to the inviter (topup only)
    std::optional<long long> inviter;  //!< who got the rebate
};

namespace ledger {

//! A user's entries, newest first: at most `limit` (1..1000) rows with id < `before_id`
//! when given (the last id of the previous page).
core::Result<std::vector<LedgerEntry>> list_by_user(Database& db, long long user_id, int limit,
                                                    std::optional<long long> before_id = {});
//! SUM(amount) of a user's entries (0 when none).
core::Result<long long> sum_by_user(Database& db, long long user_id);

//! Credits `amount` (> 0) to a user as a 'topup' and, when the user was invited, credits the
//! inviter amount * rebate_ppm / 1e6 (rounded down) as an 'invite_rebate', all in one
//! transaction. With a `ref` the top-up happens once: a repeat returns applied = false.
core::Result<BalanceChange> topup(Database& db, long long user_id, long long amount,
                                  std::optional<std::string> ref, std::string_view note,
                                  long long rebate_ppm = 0);
//! Corrects a balance by a signed, non-zero `amount` ('adjust'); refuses to take the balance
//! below zero. Idempotent by `ref` like topup.
core::Result<BalanceChange> adjust(Database& db, long long user_id, long long amount,
                                   std::optional<std::string> ref, std::string_view note);

//! A user's credit side, read in one transaction, for seeding the gateways' quota book:
//! the balance, the sum of every entry that is not a charge (credits) and the id of the last
//! such entry (version; 0 when none). Charges come only from gateways, so credits - balance
//! is what the user has spent.
struct CreditState {
    long long balance = 0;
    long long credits = 0;
    long long version = 0;
};
core::Result<CreditState> credit_state(Database& db, long long user_id);

//! Users who got a non-charge entry with an id above `after_id`, each with the id of their
//! newest such entry, and the highest ledger id (after_id when none): what a gateway polls to
//! pass top-ups on to its quota book. Charges are not read.
struct CreditChanges {
    std::vector<std::pair<long long, long long>> users;  //!< (user id, newest credit id)
    long long last_id = 0;
};
core::Result<CreditChanges> credit_changes(Database& db, long long after_id);
//! The highest ledger id (0 when the ledger is empty).
core::Result<long long> last_id(Database& db);

}  // namespace ledger

//! Inside a transaction: adds `amount` to the user's balance and writes the matching ledger
//! row. Throws StoreFailure(not_found) for an unknown user; a taken `ref` surfaces as the
//! driver's unique violation (is_unique_violation), which rolls the transaction back.
void post_to_ledger(soci::session& session, long long user_id, long long amount,
                    std::string_view kind, const std::optional<std::string>& ref,
                    std::string_view note);

//! Checks a ledger ref (1 to 120 characters, so derived refs such as "<ref>:rebate" fit).
core::Result<void> validate_ledger_ref(const std::optional<std::string>& ref);

}  // namespace tianshu::store
