#pragma once
// Redemption codes: prepaid credit a user redeems once. Only the SHA-256 of a code is
// stored; the plaintext is shown once when the batch is made. The store does not link
// hub/ (hub links the store), so the caller makes the random codes and their hashes
// (hub::credentials) and passes them in.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tianshu::store {

//! A stored code. `amount` is in micros; `redeemed_at` (seconds) is set once redeemed.
struct RedemptionCode {
    long long id = 0;
    std::string code_hash;    //!< SHA-256 hex of the plaintext code
    std::string code_prefix;  //!< the first characters of the code, to tell codes apart
    long long amount = 0;
    std::string batch;
    long long created_at = 0;
    std::optional<long long> redeemed_by;
    std::optional<long long> redeemed_at;
};

//! One code of a batch to store: its hash and display prefix (the plaintext stays with the
//! caller).
struct NewRedemptionCode {
    std::string code_hash;
    std::string code_prefix;
};

//! Totals of one batch of codes.
struct RedemptionBatch {
    std::string batch;
    long long codes = 0;
    long long redeemed = 0;
    long long amount = 0;           //!< micros the whole batch is worth
    long long redeemed_amount = 0;  //!< micros already redeemed
    long long created_at = 0;       //!< when its first code was made (seconds)
};

//! What a redemption credited.
struct Redemption {
    long long amount = 0;
    long long balance = 0;  //!< the user's balance afterwards
};

namespace redemption_codes {

//! Stores `codes` as one batch, each worth `amount` (> 0) micros, in one transaction; a hash
//! already stored is an invalid_request error (make new codes).
core::Result<std::vector<RedemptionCode>> generate(Database& db, std::string_view batch,
                                                   long long amount,
                                                   const std::vector<NewRedemptionCode>& codes);
//! Credits the code's amount to the user exactly once, even when many redeem it at the same
//! time: an unknown code is not_found, a redeemed one invalid_request. The ledger row
//! ('redemption', ref "redeem:<code id>") and the balance change share one transaction.
core::Result<Redemption> redeem(Database& db, std::string_view code_hash, long long user_id);
//! Every batch with its totals, by name.
core::Result<std::vector<RedemptionBatch>> list_batches(Database& db);
//! The codes of one batch, by id.
core::Result<std::vector<RedemptionCode>> list(Database& db, std::string_view batch);

}  // namespace redemption_codes
}  // namespace tianshu::store
