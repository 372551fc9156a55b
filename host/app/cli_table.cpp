#include "app/cli_table.hpp"

namespace tianshu::app {

const std::vector<Subcommand>& subcommands() {
    static const std::vector<Subcommand> all = {
        {"user", "add", "users.create"},
        {"user", "list", "users.list"},
        {"user", "set-tier", "users.change"},
        {"user", "set-role", "users.change"},
        {"user", "enable", "users.change"},
        {"user", "disable", "users.change"},
        {"user", "topup", "users.topup"},
        {"user", "ledger", "ledger.list"},
        {"user", "invite-code", "users.invite_code"},
        {"key", "create", "keys.create"},
        {"key", "list", "keys.list"},
        {"key", "revoke", "keys.revoke"},
        {"key", "set-limits", "keys.set_limits"},
        {"channel", "add", "channels.create"},
        {"channel", "list", "channels.list"},
        {"channel", "edit", "channels.edit"},
        {"channel", "enable", "channels.set_enabled"},
        {"channel", "disable", "channels.set_enabled"},
        {"channel", "remove", "channels.remove"},
        {"channel", "test", "channels.test"},
        {"channel", "presets", "providers.list"},
        {"channel", "models", "channels.models"},
        {"channel", "balance", "channels.balance"},
        {"health-check", "", "channels.health_check"},
        {"tier", "add", "tiers.create"},
        {"tier", "list", "tiers.list"},
        {"tier", "set-ratio", "tiers.set_ratio"},
        {"tier", "remove", "tiers.remove"},
        {"tier", "route-header", "tiers.set_route_header"},
        {"price", "set", "prices.set"},
        {"price", "list", "prices.list"},
        {"price", "remove", "prices.remove"},
        {"redeem", "generate", "redemption.generate"},
        {"redeem", "use", "redemption.redeem"},
        {"redeem", "list", "redemption.list"},
        {"invite", "set-rebate", "ledger.set_invite_rebate"},
        {"invite", "show", "ledger.invite_rebate"},
        {"invite", "list", "invitations.list"},
        {"logs", "", "logs.list"},
        {"logs", "prune", "logs.prune"},
        {"stats", "", "stats.summary"},
        {"status", "", "status.show"},
        {"alerts", "list", "alerts.list"},
        {"alerts", "resolve", "alerts.resolve"},
        {"chain", "import", "chains.save"},
        {"chain", "list", "chains.list"},
        {"chain", "export", "chains.get"},
        {"chain", "versions", "chains.versions"},
        {"chain", "rollback", "chains.rollback"},
        {"chain", "dry-run", "chains.dry_run"},
        {"plugins", "list", "plugins.list"},
    };
    return all;
}

const Subcommand* find_subcommand(std::string_view command, std::string_view sub) {
    for (const Subcommand& s : subcommands())
        if (s.command == command && s.sub == sub) return &s;
    return nullptr;
}

}  // namespace tianshu::app
