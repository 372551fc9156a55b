#pragma once
// `tianshu tier|price|redeem|invite …`: what access costs and how money gets in.

#include <string>
#include <vector>

namespace tianshu::app {

//! `tianshu tier add|list|set-ratio|remove`: membership tiers and their price ratio.
int cmd_tier(const std::vector<std::string>& args);
//! `tianshu price set|list|remove`: list prices per model (or glob) per 1M tokens or per call.
int cmd_price(const std::vector<std::string>& args);
//! `tianshu redeem generate|use|list`: prepaid codes, each redeemable exactly once.
int cmd_redeem(const std::vector<std::string>& args);
//! `tianshu invite set-rebate|show`: the share of each top-up credited to the inviter.
int cmd_invite(const std::vector<std::string>& args);
//! Runs `command` ("tier", "price", "redeem" or "invite") with its arguments.
int run_billing_command(const std::string& command, const std::vector<std::string>& args);

}  // namespace tianshu::app
