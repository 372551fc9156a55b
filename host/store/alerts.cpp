#include "store/alerts.hpp"

#include <soci/soci.h>

namespace tianshu::store::alerts {
namespace {

constexpr const char* kColumns =
    "id, created_at, last_seen_at, count, kind, severity, subject, message, state, dedup_key, "
    "resolved_at, delivered_at";

//! At most `max` bytes of `s`, cut on a UTF-8 character boundary (the column's width).
std::string cut(const std::string& s, std::size_t max) {
    if (s.size() <= max) return s;
    std::size_t at = max;
    while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
    return s.substr(0, at);
}

//! A row of kColumns, read into `a` with the indicators of its two nullable columns.
struct RowBinding {
    Alert a;
    long long resolved = 0, delivered = 0;
    soci::indicator resolved_ind = soci::i_null, delivered_ind = soci::i_null;

    void bind(soci::statement& st) {
        st.exchange(soci::into(a.id));
        st.exchange(soci::into(a.created_at));
        st.exchange(soci::into(a.last_seen_at));
        st.exchange(soci::into(a.count));
        st.exchange(soci::into(a.kind));
        st.exchange(soci::into(a.severity));
        st.exchange(soci::into(a.subject));
        st.exchange(soci::into(a.message));
        st.exchange(soci::into(a.state));
        st.exchange(soci::into(a.dedup_key));
        st.exchange(soci::into(resolved, resolved_ind));
        st.exchange(soci::into(delivered, delivered_ind));
    }
    Alert row() const {
        Alert out = a;
        if (resolved_ind != soci::i_null) out.resolved_at = resolved;
        if (delivered_ind != soci::i_null) out.delivered_at = delivered;
        return out;
    }
};

std::optional<Alert> select_one(soci::session& s, const std::string& where, long long id,
                                const std::string& key) {
    RowBinding r;
    soci::statement st(s);
    r.bind(st);
    if (where == "id")
        st.exchange(soci::use(id));
    else
        st.exchange(soci::use(key));
    st.alloc();
    st.prepare(std::string("SELECT ") + kColumns + " FROM alerts WHERE " +
               (where == "id" ? "id = :id" : "open_key = :k"));
    st.define_and_bind();
    if (!st.execute(true)) return std::nullopt;
    return r.row();
}

}  // namespace

core::Result<Alert> raise(Database& db, const AlertRaise& given, long long now, bool* created) {
    if (given.dedup_key.empty())
        return core::Error::invalid("alert dedup key is empty: name what the alert is about");
    AlertRaise a = given;
    a.kind = cut(a.kind, 64);
    a.subject = cut(a.subject, 255);
    a.message = cut(a.message, 1024);
    a.dedup_key = cut(a.dedup_key, 255);
    auto bump = [&](soci::session& s) {
        soci::statement st =
            (s.prepare << "UPDATE alerts SET count = count + 1, last_seen_at = :now, message = "
                          ":m, severity = :sev WHERE open_key = :k",
             soci::use(now), soci::use(a.message), soci::use(a.severity), soci::use(a.dedup_key));
        st.execute(true);
        return st.get_affected_rows() > 0;
    };
    bool made = false;
    auto done = db.with_transaction("raise an alert", [&](soci::session& s) {
        made = false;
        if (!bump(s)) {
            try {
                s << "INSERT INTO alerts (created_at, last_seen_at, count, kind, severity, "
                     "subject, message, state, dedup_key, open_key) VALUES (:at, :at2, 1, "
                     ":kind, :sev, :sub, :m, 'open', :k, :k2)",
                    soci::use(now), soci::use(now), soci::use(a.kind), soci::use(a.severity),
                    soci::use(a.subject), soci::use(a.message), soci::use(a.dedup_key),
                    soci::use(a.dedup_key);
                made = true;
            } catch (const std::exception& e) {
                // Another gateway opened the same key after our UPDATE: bump theirs.
                if (!is_unique_violation(e) || !bump(s)) throw;
            }
        }
        auto row = select_one(s, "open_key", 0, a.dedup_key);
        if (!row)
            throw StoreFailure(core::Error::internal_error("alert '" + a.dedup_key +
                                                           "' is not open after raising it"));
        return *row;
    });
    if (done && created) *created = made;
    return done;
}

core::Result<Alert> resolve(Database& db, long long id, long long now) {
    return db.with_transaction("resolve an alert", [&](soci::session& s) {
        s << "UPDATE alerts SET state = 'resolved', resolved_at = :now, open_key = NULL "
             "WHERE id = :id AND state = 'open'",
            soci::use(now), soci::use(id);
        auto row = select_one(s, "id", id, {});
        if (!row)
            throw StoreFailure(core::Error{
                core::ErrorKind::not_found,
                "no alert with id " + std::to_string(id) + ": list them with `tianshu alerts list`",
                {}});
        return *row;
    });
}

core::Result<std::vector<Alert>> list(Database& db, const std::string& state, int limit) {
    if (limit < 1 || limit > 1000)
        return core::Error::invalid("limit " + std::to_string(limit) + " must be from 1 to 1000");
    if (!state.empty() && state != "open" && state != "resolved")
        return core::Error::invalid("state '" + state + "' must be open or resolved");
    return db.with_session("list alerts", [&](soci::session& s) {
        std::vector<Alert> out;
        RowBinding r;
        std::string st_value = state;
        soci::statement st(s);
        r.bind(st);
        if (!state.empty()) st.exchange(soci::use(st_value));
        st.alloc();
        st.prepare(std::string("SELECT ") + kColumns + " FROM alerts" +
                   (state.empty() ? "" : " WHERE state = :s") + " ORDER BY id DESC LIMIT " +
                   std::to_string(limit));
        st.define_and_bind();
        st.execute(false);
        while (st.fetch()) out.push_back(r.row());
        return out;
    });
}

}  // namespace tianshu::store::alerts
