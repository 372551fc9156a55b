#include "store/invitations.hpp"

#include <soci/soci.h>

#include <map>

namespace tianshu::store::invitations {

namespace {

std::vector<Inviter> select_inviters(soci::session& s, int limit, long long after_id) {
    Inviter row;
    std::string code;
    soci::indicator code_ind = soci::i_null;
    std::vector<Inviter> out;
    soci::statement st(s);
    st.exchange(soci::into(row.id));
    st.exchange(soci::into(row.name));
    st.exchange(soci::into(code, code_ind));
    st.exchange(soci::into(row.invited));
    st.exchange(soci::into(row.rebate));
    st.exchange(soci::into(row.rebate_entries));
    st.exchange(soci::use(after_id));
    st.alloc();
    st.prepare(
        "SELECT u.id, u.name, u.invite_code, "
        "(SELECT COUNT(*) FROM users i WHERE i.invited_by = u.id), "
        "(SELECT COALESCE(SUM(l.amount), 0) FROM ledger l "
        "  WHERE l.user_id = u.id AND l.kind = 'invite_rebate'), "
        "(SELECT COUNT(*) FROM ledger l WHERE l.user_id = u.id AND l.kind = 'invite_rebate') "
        "FROM users u WHERE u.id > :after AND (u.invite_code IS NOT NULL OR "
        "EXISTS (SELECT 1 FROM users i WHERE i.invited_by = u.id)) "
        "ORDER BY u.id LIMIT " +
        std::to_string(limit));
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        Inviter r = row;
        r.invite_code = code_ind == soci::i_null ? std::nullopt : std::optional<std::string>(code);
        out.push_back(std::move(r));
    }
    return out;
}

//! The first `shown` invitees of each inviter in `inviters`, in join (id) order.
void select_invitees(soci::session& s, std::vector<Inviter>& inviters, int shown) {
    if (inviters.empty() || shown == 0) return;
    std::map<long long, Inviter*> by_id;
    std::string ids;
    for (Inviter& i : inviters) {
        by_id.emplace(i.id, &i);
        ids += (ids.empty() ? "" : ",") + std::to_string(i.id);  // ids: integers, not input
    }
    Invitee row;
    long long inviter = 0;
    soci::statement st(s);
    st.exchange(soci::into(row.id));
    st.exchange(soci::into(row.name));
    st.exchange(soci::into(row.joined_at));
    st.exchange(soci::into(inviter));
    st.alloc();
    st.prepare(
        "SELECT id, name, created_at, invited_by FROM (SELECT id, name, created_at, invited_by, "
        "ROW_NUMBER() OVER (PARTITION BY invited_by ORDER BY id) AS n FROM users "
        "WHERE invited_by IN (" +
        ids + ")) ranked WHERE n <= " + std::to_string(shown) + " ORDER BY invited_by, id");
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        auto it = by_id.find(inviter);
        if (it != by_id.end()) it->second->invitees.push_back(row);
    }
}

}  // namespace

core::Result<InviterPage> list(Database& db, int limit, std::optional<long long> after_id,
                               int invitees_shown) {
    if (limit < 1 || limit > 1000)
        return core::Error::invalid("limit " + std::to_string(limit) + " must be from 1 to 1000");
    if (invitees_shown < 0 || invitees_shown > 1000)
        return core::Error::invalid("invitees shown " + std::to_string(invitees_shown) +
                                    " must be from 0 to 1000");
    return db.with_session("list the invitations", [&](soci::session& s) {
        InviterPage page;
        page.inviters = select_inviters(s, limit + 1, after_id.value_or(0));
        if (static_cast<int>(page.inviters.size()) > limit) {
            page.inviters.pop_back();
            page.next_after_id = page.inviters.back().id;
        }
        select_invitees(s, page.inviters, invitees_shown);
        return page;
    });
}

}  // namespace tianshu::store::invitations
