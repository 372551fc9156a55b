#pragma once
// Invitations as the operator reviews them: the rebate share and, per inviter, their code, the
// users they invited and the rebate they earned. One listing for the CLI (`tianshu invite
// list`) and the admin API (GET /admin/api/invitations); the share itself is set by
// ledger::set_invite_rebate (service/billing.hpp).

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/invitations.hpp"

namespace tianshu::service::invitations {

using Json = nlohmann::json;

//! Invitees listed per inviter; `invited` still counts them all.
inline constexpr int kInviteesShown = 100;

struct Listing {
    long long rebate_ppm = 0;  //!< the share in force (ledger::invite_rebate_ppm)
    store::InviterPage page;
};

//! invitations.list: the rebate share and a page of at most `limit` (1..1000) inviters with
//! id > after_id, by id, each with their first kInviteesShown invitees.
core::Result<Listing> list(const Env& env, int limit, std::optional<long long> after_id);

//! A share in ppm as a percentage without trailing zeros: 50'000 -> "5", 25'500 -> "2.55".
std::string percent_text(long long ppm);
//! {"rebate_ppm": 50000, "rebate_percent": "5"}.
Json rebate_json(long long ppm);
//! One inviter: id, name, invite_code, invited, invitees [{name, joined_at}], rebate (money),
//! rebate_micros, rebate_entries.
Json inviter_json(const store::Inviter& inviter);

}  // namespace tianshu::service::invitations
