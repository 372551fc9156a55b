#include "store/redemption_codes.hpp"

#include "store/ledger.hpp"
#include "store/users.hpp"

#include <soci/soci.h>

namespace tianshu::store::redemption_codes {

core::Result<std::vector<RedemptionCode>> generate(Database& db, std::string_view batch,
                                                   long long amount,
                                                   const std::vector<NewRedemptionCode>& codes) {
    std::string name(batch);
    if (name.empty() || name.size() > 64)
        return core::Error::invalid("batch name '" + name + "' must be 1 to 64 characters");
    if (amount <= 0)
        return core::Error::invalid("code amount " + std::to_string(amount) +
                                    " must be a positive number of micros");
    if (codes.empty()) return core::Error::invalid("a batch needs at least one code");
    for (const auto& c : codes) {
        if (c.code_hash.size() != 64)
            return core::Error::invalid("code hash '" + c.code_hash.substr(0, 16) +
                                        "' is not a SHA-256 hex digest (64 characters)");
        if (c.code_prefix.size() > 16)
            return core::Error::invalid("code prefix '" + c.code_prefix +
                                        "' is longer than 16 characters");
    }
    return db.with_transaction(
        "make " + std::to_string(codes.size()) + " codes in batch '" + name + "'",
        [&](soci::session& s) {
            RedemptionCode row;
            row.amount = amount;
            row.batch = name;
            row.created_at = now_seconds();
            std::vector<RedemptionCode> out;
            soci::statement insert =
                (s.prepare << "INSERT INTO redemption_codes (code_hash, code_prefix, amount, "
                              "batch, created_at) VALUES (:hash, :prefix, :amount, :batch, :at)",
                 soci::use(row.code_hash), soci::use(row.code_prefix), soci::use(row.amount),
                 soci::use(row.batch), soci::use(row.created_at));
            for (const auto& c : codes) {
                row.code_hash = c.code_hash;
                row.code_prefix = c.code_prefix;
                try {
                    insert.execute(true);
                } catch (const soci::soci_error& e) {
                    if (is_unique_violation(e))
                        throw StoreFailure(core::Error::invalid(
                            "code " + c.code_prefix +
                            "... is already stored: generate a new batch of codes"));
                    throw;
                }
                s.get_last_insert_id("redemption_codes", row.id);
                out.push_back(row);
            }
            return out;
        });
}

core::Result<Redemption> redeem(Database& db, std::string_view code_hash, long long user_id) {
    std::string hash(code_hash);
    return db.with_transaction(
        "redeem a code for user " + std::to_string(user_id), [&](soci::session& s) {
            require_user(s, user_id);
            long long at = now_seconds();
            // The conditional UPDATE is the one place a code changes hands: of racing
            // redeemers, exactly one sees an affected row.
            soci::statement claim =
                (s.prepare << "UPDATE redemption_codes SET redeemed_by = :user, redeemed_at = :at "
                              "WHERE code_hash = :hash AND redeemed_at IS NULL",
                 soci::use(user_id), soci::use(at), soci::use(hash));
            claim.execute(true);
            // Read now: MySQL reports the affected rows of the connection's latest statement.
            const bool claimed = claim.get_affected_rows() > 0;
            long long id = 0, amount = 0;
            std::string prefix;
            soci::indicator redeemed_ind = soci::i_null;
            long long redeemed_at = 0;
            s << "SELECT id, amount, code_prefix, redeemed_at FROM redemption_codes WHERE "
                 "code_hash = :hash",
                soci::use(hash), soci::into(id), soci::into(amount), soci::into(prefix),
                soci::into(redeemed_at, redeemed_ind);
            if (!s.got_data())
                throw StoreFailure({core::ErrorKind::not_found,
                                    "this redemption code does not exist: check it was typed "
                                    "exactly as given",
                                    {}});
            if (!claimed)
                throw StoreFailure(core::Error::invalid("redemption code " + prefix +
                                                        "... has already been redeemed"));
            post_to_ledger(s, user_id, amount, "redemption", "redeem:" + std::to_string(id),
                           "code " + prefix + "...");
            Redemption r;
            r.amount = amount;
            s << "SELECT balance FROM users WHERE id = :id", soci::use(user_id),
                soci::into(r.balance);
            return r;
        });
}

core::Result<std::vector<RedemptionBatch>> list_batches(Database& db) {
    return db.with_session("list redemption batches", [&](soci::session& s) {
        RedemptionBatch b;
        std::vector<RedemptionBatch> out;
        soci::statement st =
            (s.prepare << "SELECT batch, COUNT(*), "
                          "SUM(CASE WHEN redeemed_at IS NULL THEN 0 ELSE 1 END), SUM(amount), "
                          "SUM(CASE WHEN redeemed_at IS NULL THEN 0 ELSE amount END), "
                          "MIN(created_at) FROM redemption_codes GROUP BY batch ORDER BY batch",
             soci::into(b.batch), soci::into(b.codes), soci::into(b.redeemed), soci::into(b.amount),
             soci::into(b.redeemed_amount), soci::into(b.created_at));
        st.execute(false);
        while (st.fetch()) out.push_back(b);
        return out;
    });
}

core::Result<std::vector<RedemptionCode>> list(Database& db, std::string_view batch) {
    std::string name(batch);
    return db.with_session("list the codes of batch '" + name + "'", [&](soci::session& s) {
        RedemptionCode c;
        long long by = 0, at = 0;
        soci::indicator by_ind = soci::i_null, at_ind = soci::i_null;
        std::vector<RedemptionCode> out;
        soci::statement st =
            (s.prepare << "SELECT id, code_hash, code_prefix, amount, batch, created_at, "
                          "redeemed_by, redeemed_at FROM redemption_codes WHERE batch = :batch "
                          "ORDER BY id",
             soci::into(c.id), soci::into(c.code_hash), soci::into(c.code_prefix),
             soci::into(c.amount), soci::into(c.batch), soci::into(c.created_at),
             soci::into(by, by_ind), soci::into(at, at_ind), soci::use(name));
        st.execute(false);
        while (st.fetch()) {
            RedemptionCode row = c;
            if (by_ind != soci::i_null) row.redeemed_by = by;
            if (at_ind != soci::i_null) row.redeemed_at = at;
            out.push_back(std::move(row));
        }
        return out;
    });
}

}  // namespace tianshu::store::redemption_codes
