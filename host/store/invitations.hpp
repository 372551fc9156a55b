#pragma once
// Invitations as the operator reviews them: who invites (a user with an invite code, or with
// someone they invited), whom they invited, and what their invite rebates came to. The rows
// come from users.invite_code, users.invited_by and the 'invite_rebate' ledger rows; nothing
// here writes.

#include "core/error.hpp"
#include "store/database.hpp"

#include <optional>
#include <string>
#include <vector>

namespace tianshu::store {

//! A user who signed up with someone's invite code.
struct Invitee {
    long long id = 0;
    std::string name;
    long long joined_at = 0;  //!< seconds: the user's created_at
};

//! A user who has an invite code or has invited someone.
struct Inviter {
    long long id = 0;
    std::string name;
    std::optional<std::string> invite_code;
    long long invited = 0;          //!< how many users they invited (all of them)
    long long rebate = 0;           //!< micros: SUM of their 'invite_rebate' ledger rows
    long long rebate_entries = 0;   //!< how many such rows
    std::vector<Invitee> invitees;  //!< the first invitees_shown of them, in join order
};

//! One page of inviters by id; pass `next_after_id` back for the next page.
struct InviterPage {
    std::vector<Inviter> inviters;
    std::optional<long long> next_after_id;  //!< unset on the last page
};

namespace invitations {

//! At most `limit` (1..1000) inviters with id > after_id, by id, each with at most
//! `invitees_shown` (0..1000) invitees.
core::Result<InviterPage> list(Database& db, int limit, std::optional<long long> after_id,
                               int invitees_shown);

}  // namespace invitations
}  // namespace tianshu::store
