#include "store/ledger.hpp"

#include "store/users.hpp"

#include <soci/soci.h>

#include <algorithm>

namespace tianshu::store {
namespace {

long long balance_of(soci::session& s, long long user_id) {
    long long balance = 0;
    s << "SELECT balance FROM users WHERE id = :id", soci::use(user_id), soci::into(balance);
    if (!s.got_data())
        throw StoreFailure({core::ErrorKind::not_found,
                            "there is no user with id " + std::to_string(user_id) +
                                ": list the users to find the right id",
                            {}});
    return balance;
}

bool ref_taken(soci::session& s, const std::optional<std::string>& ref) {
    if (!ref) return false;
    int found = 0;
    s << "SELECT COUNT(*) FROM ledger WHERE ref = :ref", soci::use(*ref), soci::into(found);
    return found > 0;
}

//! Runs a balance change whose `ref` makes it happen at most once.
template <class Body>
core::Result<BalanceChange> once(Database& db, const std::string& operation, long long user_id,
                                 const std::optional<std::string>& ref, Body body) {
    bool raced = false;
    auto done = db.with_transaction(operation, [&](soci::session& s) {
        BalanceChange change;
        if (ref_taken(s, ref)) {
            change.balance = balance_of(s, user_id);
            return change;
        }
        try {
            body(s, change);
        } catch (const soci::soci_error& e) {
            if (ref && is_unique_violation(e)) {
                // Rolls the transaction back; the caller then reports "not applied".
                raced = true;
                throw StoreFailure(core::Error::internal_error("ledger ref taken concurrently"));
            }
            throw;
        }
        change.applied = true;
        change.balance = balance_of(s, user_id);
        return change;
    });
    if (done.ok() || !raced) return done;
    // Another writer applied the same ref between our check and our insert.
    auto balance =
        db.with_session(operation, [&](soci::session& s) { return balance_of(s, user_id); });
    if (!balance) return balance.take_error();
    BalanceChange change;
    change.balance = balance.value();
    return change;
}

}  // namespace

core::Result<void> validate_ledger_ref(const std::optional<std::string>& ref) {
    if (ref && (ref->empty() || ref->size() > 120))
        return core::Error::invalid("ledger ref '" + ref->substr(0, 40) +
                                    "' must be 1 to 120 characters, or left out");
    return {};
}

void post_to_ledger(soci::session& s, long long user_id, long long amount, std::string_view kind,
                    const std::optional<std::string>& ref, std::string_view note) {
    soci::statement update =
        (s.prepare << "UPDATE users SET balance = balance + :amount WHERE id = :id",
         soci::use(amount), soci::use(user_id));
    update.execute(true);
    if (update.get_affected_rows() == 0)
        throw StoreFailure({core::ErrorKind::not_found,
                            "there is no user with id " + std::to_string(user_id) +
                                ": list the users to find the right id",
                            {}});
    std::string k(kind), text(note), ref_text = ref.value_or("");
    soci::indicator ref_ind = ref ? soci::i_ok : soci::i_null;
    long long at = now_seconds();
    s << "INSERT INTO ledger (user_id, amount, kind, ref, note, created_at) "
         "VALUES (:user, :amount, :kind, :ref, :note, :at)",
        soci::use(user_id), soci::use(amount), soci::use(k), soci::use(ref_text, ref_ind),
        soci::use(text), soci::use(at);
}

namespace ledger {

core::Result<std::vector<LedgerEntry>> list_by_user(Database& db, long long user_id, int limit,
                                                    std::optional<long long> before_id) {
    if (limit < 1 || limit > 1000)
        return core::Error::invalid("page size " + std::to_string(limit) +
                                    " must be between 1 and 1000");
    return db.with_session(
        "list the ledger of user " + std::to_string(user_id), [&](soci::session& s) {
            LedgerEntry e;
            std::string ref;
            soci::indicator ref_ind = soci::i_null;
            long long before = before_id.value_or(0);
            std::vector<LedgerEntry> out;
            soci::statement st(s);
            st.exchange(soci::into(e.id));
            st.exchange(soci::into(e.user_id));
            st.exchange(soci::into(e.amount));
            st.exchange(soci::into(e.kind));
            st.exchange(soci::into(ref, ref_ind));
            st.exchange(soci::into(e.note));
            st.exchange(soci::into(e.created_at));
            st.exchange(soci::use(user_id));
            if (before_id) st.exchange(soci::use(before));
            st.alloc();
            st.prepare(std::string("SELECT id, user_id, amount, kind, ref, "
                                   "note, created_at FROM ledger WHERE "
                                   "user_id = :user") +
                       (before_id ? " AND id < :before" : "") + " ORDER BY id DESC LIMIT " +
                       std::to_string(limit));
            st.define_and_bind();
            st.execute(false);
            while (st.fetch()) {
                LedgerEntry row = e;
                row.ref = ref_ind == soci::i_null ? std::nullopt : std::optional<std::string>(ref);
                out.push_back(std::move(row));
            }
            return out;
        });
}

core::Result<long long> sum_by_user(Database& db, long long user_id) {
    return db.with_session("sum the ledger of user " + std::to_string(user_id),
                           [&](soci::session& s) {
                               long long sum = 0;
                               soci::indicator ind = soci::i_null;
                               s << "SELECT SUM(amount) FROM ledger WHERE user_id = :user",
                                   soci::use(user_id), soci::into(sum, ind);
                               return ind == soci::i_null ? 0LL : sum;
                           });
}

core::Result<BalanceChange> topup(Database& db, long long user_id, long long amount,
                                  std::optional<std::string> ref, std::string_view note,
                                  long long rebate_ppm) {
    if (amount <= 0)
        return core::Error::invalid("top-up amount " + std::to_string(amount) +
                                    " must be a positive number of micros");
    if (rebate_ppm < 0 || rebate_ppm > 1'000'000)
        return core::Error::invalid("invite rebate " + std::to_string(rebate_ppm) +
                                    " ppm must be between 0 and 1000000");
    if (auto ok = validate_ledger_ref(ref); !ok) return ok.take_error();
    // amount * ppm / 1e6 without overflowing: whole millions and the remainder apart.
    long long rebate =
        amount / 1'000'000 * rebate_ppm + amount % 1'000'000 * rebate_ppm / 1'000'000;
    return once(
        db, "top up user " + std::to_string(user_id), user_id, ref,
        [&](soci::session& s, BalanceChange& change) {
            long long inviter = 0;
            soci::indicator inviter_ind = soci::i_null;
            s << "SELECT invited_by FROM users WHERE id = :id", soci::use(user_id),
                soci::into(inviter, inviter_ind);
            if (!s.got_data()) (void)balance_of(s, user_id);  // throws not_found
            bool rebated = inviter_ind != soci::i_null && rebate > 0 && inviter != user_id;
            std::optional<std::string> rebate_ref;
            if (ref) rebate_ref = *ref + ":rebate";
            std::string rebate_note = "invite rebate for user " + std::to_string(user_id);
            // Balances are locked in ascending user id, as record_usage does.
            if (rebated && inviter < user_id)
                post_to_ledger(s, inviter, rebate, "invite_rebate", rebate_ref, rebate_note);
            post_to_ledger(s, user_id, amount, "topup", ref, note);
            if (rebated && inviter > user_id)
                post_to_ledger(s, inviter, rebate, "invite_rebate", rebate_ref, rebate_note);
            if (rebated) {
                change.rebate = rebate;
                change.inviter = inviter;
            }
        });
}

core::Result<BalanceChange> adjust(Database& db, long long user_id, long long amount,
                                   std::optional<std::string> ref, std::string_view note) {
    if (amount == 0)
        return core::Error::invalid("an adjustment of 0 changes nothing: give an amount");
    if (auto ok = validate_ledger_ref(ref); !ok) return ok.take_error();
    return once(
        db, "adjust the balance of user " + std::to_string(user_id), user_id, ref,
        [&](soci::session& s, BalanceChange&) {
            post_to_ledger(s, user_id, amount, "adjust", ref, note);
            long long after = balance_of(s, user_id);
            if (after < 0)
                throw StoreFailure(core::Error::invalid(
                    "adjusting user " + std::to_string(user_id) + " by " + std::to_string(amount) +
                    " would leave a balance of " + std::to_string(after) +
                    ": the balance is only " + std::to_string(after - amount)));
        });
}

core::Result<CreditState> credit_state(Database& db, long long user_id) {
    return db.with_session(
        "read the credits of user " + std::to_string(user_id), [&](soci::session& s) {
            soci::transaction tx(s);
            CreditState state;
            soci::indicator found = soci::i_null;
            s << "SELECT balance FROM users WHERE id = :id", soci::use(user_id),
                soci::into(state.balance, found);
            if (!s.got_data())
                throw StoreFailure(core::Error{
                    core::ErrorKind::not_found, "no user with id " + std::to_string(user_id), {}});
            soci::indicator sum_ind = soci::i_null, max_ind = soci::i_null;
            s << "SELECT SUM(amount), MAX(id) FROM ledger WHERE user_id = :id AND kind <> "
                 "'charge'",
                soci::use(user_id), soci::into(state.credits, sum_ind),
                soci::into(state.version, max_ind);
            if (sum_ind == soci::i_null) state.credits = 0;
            if (max_ind == soci::i_null) state.version = 0;
            tx.commit();
            return state;
        });
}

core::Result<long long> last_id(Database& db) {
    return db.with_session("read the last ledger id", [&](soci::session& s) {
        long long id = 0;
        soci::indicator ind = soci::i_null;
        s << "SELECT MAX(id) FROM ledger", soci::into(id, ind);
        return ind == soci::i_null ? 0LL : id;
    });
}

core::Result<CreditChanges> credit_changes(Database& db, long long after_id) {
    return db.with_session("read new ledger credits", [&](soci::session& s) {
        CreditChanges changes;
        long long user = 0, newest = 0;
        soci::statement st =
            (s.prepare << "SELECT user_id, MAX(id) FROM ledger WHERE id > :after AND kind <> "
                          "'charge' GROUP BY user_id",
             soci::use(after_id), soci::into(user), soci::into(newest));
        st.execute();
        while (st.fetch()) changes.users.emplace_back(user, newest);
        long long last = 0;
        soci::indicator ind = soci::i_null;
        s << "SELECT MAX(id) FROM ledger", soci::into(last, ind);
        changes.last_id = ind == soci::i_null ? after_id : std::max(after_id, last);
        return changes;
    });
}

}  // namespace ledger
}  // namespace tianshu::store
