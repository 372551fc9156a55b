#include "service/catalog.hpp"

#include <algorithm>

namespace tianshu::service {

const std::vector<Operation>& operations() {
    static const std::vector<Operation> all = {
        {"users.create", "a new user (root only by a root), with an optional password"},
        {"users.list", "every user with their balance"},
        {"users.get", "one user"},
        {"users.change", "tier, role and enabled of a user, in one transaction"},
        {"users.topup", "credits a user once per ref, and the inviter's rebate"},
        {"users.invite_code", "the user's invite code, made on first ask"},
        {"keys.create", "an API key with its limits, in one transaction"},
        {"keys.list", "every key, or one user's"},
        {"keys.get", "one key with its owner"},
        {"keys.set_limits", "replaces a live key's limits"},
        {"keys.revoke", "revokes a key"},
        {"keys.create_own", "the calling user makes a key of their own"},
        {"keys.list_own", "the calling user's keys"},
        {"keys.revoke_own", "the calling user revokes one of their keys"},
        {"channels.create", "a channel and its sealed upstream keys"},
        {"channels.list", "every channel with its keys"},
        {"channels.get", "one channel"},
        {"channels.edit", "fields, rename with re-sealing, key changes: one transaction"},
        {"channels.set_enabled", "enables or disables a channel"},
        {"channels.remove", "removes a channel and its keys"},
        {"channels.add_key", "seals and adds one upstream key"},
        {"channels.remove_key", "removes one upstream key of a channel"},
        {"channels.test", "one probe request through each channel's model"},
        {"channels.models", "the models a channel's upstream lists, next to what it serves"},
        {"channels.sync_models", "sets a channel's models to its upstream's list"},
        {"channels.balance", "the account balance a channel's provider reports"},
        {"providers.list", "every provider preset: adapter, base URL, models, capabilities"},
        {"channels.health_check", "probes keys the gateway disabled, re-enables the healthy"},
        {"tiers.create", "a new tier"},
        {"tiers.list", "every tier"},
        {"tiers.get", "one tier"},
        {"tiers.set_ratio", "a tier's price ratio"},
        {"tiers.set_route_header", "whether a tier's clients see the route headers"},
        {"tiers.remove", "a tier nobody is in (never 'default')"},
        {"prices.set", "a model's price: replaced whole, or only the fields given"},
        {"prices.list", "every price"},
        {"prices.get", "one model's price"},
        {"prices.remove", "removes a model's price"},
        {"redemption.generate", "a batch of codes, stored as hashes in one transaction"},
        {"redemption.list", "batches, or the codes of one batch"},
        {"redemption.redeem", "credits a code's amount to a user once"},
        {"redemption.redeem_own", "the calling user redeems a code"},
        {"ledger.list", "a page of a user's ledger, newest first"},
        {"ledger.list_own", "a page of the calling user's ledger"},
        {"ledger.invite_rebate", "the inviter's share of each top-up"},
        {"ledger.set_invite_rebate", "sets the inviter's share of each top-up"},
        {"invitations.list", "each inviter's code, invitees and rebate earned, and the share"},
        {"alerts.list", "the alert outbox, newest first, by state"},
        {"alerts.resolve", "marks an open alert resolved"},
        {"logs.list", "a page of the request log"},
        {"logs.export", "the request log as CSV or JSON lines"},
        {"logs.prune", "deletes request log rows older than a time"},
        {"stats.summary", "request statistics by bucket and group"},
        {"status.show", "what the store holds and whether a gateway answers"},
        {"chains.save", "validates a chain and saves it as a new version"},
        {"chains.list", "the latest version of every chain"},
        {"chains.get", "one chain, its latest or a given version"},
        {"chains.versions", "every saved version of a chain"},
        {"chains.rollback", "saves an old version again as the newest"},
        {"chains.validate", "checks a chain against the schema and the loaded plugins"},
        {"chains.dry_run", "runs a chain's blocks over a sample request, no upstream"},
        {"plugins.list", "every loaded .so and Lua block with its config schema"},
        {"dashboard.summary", "spend, traffic and channel state from the rollups"},
        {"health.summary", "each channel's availability slots and key states"},
        {"usage.own", "the calling user's usage from the rollups"},
        {"playground.run",
         "runs an operator's request through a tier's chain, billed and logged, with timings"},
    };
    return all;
}

bool is_operation(std::string_view name) {
    const auto& all = operations();
    return std::any_of(all.begin(), all.end(),
                       [&](const Operation& op) { return op.name == name; });
}

}  // namespace tianshu::service
