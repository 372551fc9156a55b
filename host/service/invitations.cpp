#include "service/invitations.hpp"

#include "hub/money.hpp"
#include "service/billing.hpp"

namespace tianshu::service::invitations {

core::Result<Listing> list(const Env& env, int limit, std::optional<long long> after_id) {
    if (limit < 1 || limit > 1000)
        return core::Error::invalid("limit " + std::to_string(limit) +
                                    " must be from 1 to 1000: ask for fewer inviters per page");
    auto ppm = ledger::invite_rebate_ppm(env);
    if (!ppm) return ppm.take_error();
    auto page = store::invitations::list(env.db, limit, after_id, kInviteesShown);
    if (!page) return page.take_error();
    return Listing{ppm.value(), std::move(page).value()};
}

std::string percent_text(long long ppm) {
    // ppm / 10,000 = percent: the six-decimal money formatter on ppm * 100.
    std::string s = hub::format_money(ppm * 100);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

Json rebate_json(long long ppm) {
    return Json{{"rebate_ppm", ppm}, {"rebate_percent", percent_text(ppm)}};
}

Json inviter_json(const store::Inviter& i) {
    Json invitees = Json::array();
    for (const auto& v : i.invitees)
        invitees.push_back(Json{{"id", v.id}, {"name", v.name}, {"joined_at", v.joined_at}});
    return Json{{"id", i.id},
                {"name", i.name},
                {"invite_code", i.invite_code ? Json(*i.invite_code) : Json(nullptr)},
                {"invited", i.invited},
                {"invitees", std::move(invitees)},
                {"rebate", hub::format_money(i.rebate)},
                {"rebate_micros", i.rebate},
                {"rebate_entries", i.rebate_entries}};
}

}  // namespace tianshu::service::invitations
