// `tianshu user ...` and `tianshu key ...`: who may call the gateway, with which keys and limits,
// and with how much money.
#include <ctime>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>

#include "app/cli_args.hpp"
#include "app/cli_table.hpp"
#include "app/command_support.hpp"
#include "hub/credentials.hpp"
#include "hub/ip_filter.hpp"
#include "hub/money.hpp"
#include "service/billing.hpp"
#include "service/keys.hpp"
#include "service/users.hpp"
#include "store/api_keys.hpp"
#include "store/ledger.hpp"
#include "store/settings.hpp"
#include "store/tiers.hpp"
#include "store/users.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;

namespace {

//! Every value of a repeatable option, each also split at commas ("--models a,b --models c").
std::vector<std::string> all_listed(const ParsedArgs& a, const std::string& flag) {
    std::vector<std::string> out;
    for (const auto& v : a.all(flag))
        for (auto& item : split_list(v)) out.push_back(std::move(item));
    return out;
}

//! A subcommand the table (app/cli_table.cpp) does not know; `--help` instead asks for the usage.
int unknown_subcommand(const std::string& command, const std::string& sub, const std::string& usage,
                       const std::vector<std::string>& args) {
    for (const auto& a : args)
        if (is_help_flag(a)) return input_error(help_request(usage));
    return input_error(
        Error::invalid("unknown " + command + " command '" + sub + "'\nusage: " + usage));
}

//! The spec of one subcommand: `tianshu <command> <sub> ...` with exactly one positional.
CommandSpec subcommand_spec(const std::string& usage, std::set<std::string> options,
                            std::set<std::string> flags = {}) {
    flags.insert("--json");
    return {usage, store_options(std::move(options)), std::move(flags), 1, 1};
}

std::string money_or(const std::optional<long long>& micros, const std::string& none) {
    return micros ? hub::format_money(*micros) : none;
}

Json money_or_null(const std::optional<long long>& micros) {
    return micros ? Json(hub::format_money(*micros)) : Json(nullptr);
}

template <class T>
Json or_null(const std::optional<T>& v) {
    return v ? Json(*v) : Json(nullptr);
}

std::string joined(const std::vector<std::string>& items, const std::string& none) {
    if (items.empty()) return none;
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ",") + i;
    return out;
}

// ---- key limits ----------------------------------------------------------------------------

//! "2027-01-01T00:00:00Z" or a duration from now: "30d", "12h". The error names --expires.
core::Result<long long> parse_expiry(const std::string& text, long long now) {
    auto bad = [&](const std::string& why) {
        return Error::invalid("--expires '" + text + "' " + why +
                              ": write a UTC time such as 2027-01-01T00:00:00Z or a duration "
                              "from now such as 30d or 12h");
    };
    if (!text.empty() && (text.back() == 'd' || text.back() == 'h')) {
        auto n = parse_count("--expires", text.substr(0, text.size() - 1), 1, 36500);
        if (!n) return bad("is not a duration");
        return now + *n * (text.back() == 'd' ? 86400 : 3600);
    }
    std::tm tm{};
    std::istringstream in(text);
    in >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
    if (in.fail()) return bad("is not a time");
    std::string rest;
    std::getline(in, rest);
    if (rest != "Z") return bad("is not a UTC time ending in Z");
    long long at = static_cast<long long>(timegm(&tm));
    // timegm normalises 2027-02-30 to March: a round trip catches dates that do not exist.
    if (format_time(at) != text) return bad("is not a valid date and time");
    if (at <= now) return bad("is already past");
    return at;
}

//! One CIDR from --allow-ip / --deny-ip, checked as the gateway will parse it.
core::Result<void> check_cidr(const std::string& flag, const std::string& cidr) {
    if (auto block = hub::parse_ip_block(cidr); !block)
        return Error::invalid(flag + " '" + cidr + "': " + block.error().message +
                              "; write a CIDR such as 10.0.0.0/8 or 2001:db8::/32, or an address");
    if (auto stored = store::validate_cidr(cidr); !stored)
        return Error::invalid(flag + " '" + cidr + "': " + stored.error().message);
    return {};
}

//! Applies --quota/--expires/--allow-ip/--deny-ip/--models/--rpm/--tpm (and, for set-limits,
//! the --no-... flags that clear one) onto `limits`. Lists given replace the stored lists.
core::Result<void> apply_limit_options(const ParsedArgs& a, store::KeyLimits& limits) {
    auto conflict = [](const std::string& set, const std::string& clear) {
        return Error::invalid(set + " and " + clear + " contradict each other: give one");
    };
    if (a.flag("--no-quota") && a.option("--quota")) return conflict("--quota", "--no-quota");
    if (a.flag("--no-expiry") && a.option("--expires")) return conflict("--expires", "--no-expiry");
    if (a.flag("--no-rpm") && a.option("--rpm")) return conflict("--rpm", "--no-rpm");
    if (a.flag("--no-tpm") && a.option("--tpm")) return conflict("--tpm", "--no-tpm");
    if (a.flag("--any-ip") && (a.option("--allow-ip") || a.option("--deny-ip")))
        return conflict("--allow-ip/--deny-ip", "--any-ip");
    if (a.flag("--all-models") && a.option("--models")) return conflict("--models", "--all-models");

    if (auto q = a.option("--quota")) {
        auto micros = hub::parse_money(*q, hub::MoneySign::non_negative, "--quota");
        if (!micros) return micros.take_error();
        limits.quota_limit = *micros;
    }
    if (a.flag("--no-quota")) limits.quota_limit.reset();
    if (auto e = a.option("--expires")) {
        auto at = parse_expiry(*e, store::now_seconds());
        if (!at) return at.take_error();
        limits.expires_at = *at;
    }
    if (a.flag("--no-expiry")) limits.expires_at.reset();
    for (const auto& [flag, list] :
         {std::pair{"--allow-ip", &limits.ip_allow}, std::pair{"--deny-ip", &limits.ip_deny}}) {
        if (!a.option(flag)) continue;
        auto cidrs = all_listed(a, flag);
        for (const auto& c : cidrs)
            if (auto ok = check_cidr(flag, c); !ok) return ok.take_error();
        *list = std::move(cidrs);
    }
    if (a.flag("--any-ip")) {
        limits.ip_allow.clear();
        limits.ip_deny.clear();
    }
    if (a.option("--models")) limits.models = all_listed(a, "--models");
    if (a.flag("--all-models")) limits.models.clear();
    for (const auto& [flag, field] :
         {std::pair{"--rpm", &limits.rpm}, std::pair{"--tpm", &limits.tpm}}) {
        if (auto v = a.option(flag)) {
            auto n = parse_count(flag, *v, 1, 2'000'000'000);
            if (!n) return n.take_error();
            *field = static_cast<int>(*n);
        }
    }
    if (a.flag("--no-rpm")) limits.rpm.reset();
    if (a.flag("--no-tpm")) limits.tpm.reset();
    return {};
}

const std::set<std::string> kLimitOptions{"--quota",  "--expires", "--allow-ip", "--deny-ip",
                                          "--models", "--rpm",     "--tpm"};

Json key_json(const store::ApiKey& k, const std::string& user) {
    return {{"id", k.id},
            {"prefix", k.key_prefix},
            {"name", k.name},
            {"user", user},
            {"quota", money_or_null(k.limits.quota_limit)},
            {"quota_used", hub::format_money(k.quota_used)},
            {"expires_at", k.limits.expires_at ? Json(format_time(k.limits.expires_at)) : Json()},
            {"ip_allow", k.limits.ip_allow},
            {"ip_deny", k.limits.ip_deny},
            {"models", k.limits.models},
            {"rpm", or_null(k.limits.rpm)},
            {"tpm", or_null(k.limits.tpm)},
            {"created_at", format_time(k.created_at)},
            {"revoked", k.revoked_at.has_value()},
            {"revoked_at", k.revoked_at ? Json(format_time(k.revoked_at)) : Json()}};
}

// ---- user subcommands ----------------------------------------------------------------------

const char* kUserUsage =
    "tianshu user add --name NAME [--role user|admin] [--tier TIER] [--password-stdin] "
    "[--invited-by CODE]\n"
    "       tianshu user list\n"
    "       tianshu user set-tier --user NAME --tier TIER\n"
    "       tianshu user set-role --user NAME --role user|admin|root\n"
    "       tianshu user enable|disable --user NAME\n"
    "       tianshu user topup --user NAME --amount 12.5 [--ref REF] [--note TEXT]\n"
    "       tianshu user ledger --user NAME [--limit N]\n"
    "       tianshu user invite-code --user NAME\n"
    "       (each also takes [--data DIR | --db URL] [--json])";

//! An existing tier, or an error naming --tier and how to list or add tiers.
core::Result<void> require_tier_named(store::Database& db, const std::string& tier) {
    auto found = store::tiers::find(db, tier);
    if (!found) return found.take_error();
    if (!found.value())
        return Error{core::ErrorKind::not_found,
                     "--tier '" + tier +
                         "' is not a tier: list them with `tianshu tier list` or add it with "
                         "`tianshu tier add --name " +
                         tier + " --ratio 1.0`",
                     {}};
    return {};
}

int user_add(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kUserUsage, {"--name", "--tier", "--role", "--invited-by"},
                                {"--password-stdin"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto name = required_option(a.value(), "--name", spec.usage);
    if (!name) return input_error(name.error());
    std::string role = a->option_or("--role", "user");
    if (role != "user" && role != "admin")
        return input_error(Error::invalid(
            "--role '" + role + "' must be user or admin (make a root with `user set-role`)"));
    std::string password;
    if (a->flag("--password-stdin")) {
        std::getline(std::cin, password);
        if (!password.empty() && password.back() == '\r') password.pop_back();
        if (password.size() < service::users::kMinPasswordLength)
            return input_error(Error::invalid(
                "--password-stdin read a password of " + std::to_string(password.size()) +
                " characters: pipe one of at least 8, e.g. `printf '%s\\n' \"$PW\" | tianshu "
                "user add --name NAME --password-stdin`"));
    }
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    std::string tier = a->option_or("--tier", "default");
    if (auto ok = require_tier_named(*db.value(), tier); !ok) return store_error(ok.error());
    service::users::NewAccount account{*name, role, tier, std::nullopt, a->option("--invited-by")};
    if (a->flag("--password-stdin")) account.password = password;
    auto user = service::users::create(service_env(*db.value()), account);
    if (!user && account.invite_code && user.error().message.rfind("invite code", 0) == 0)
        return input_error(about("--invited-by", *account.invite_code, user.error()));
    if (!user) return store_error(user.error());
    std::string inviter_name;
    if (user->invited_by) {
        auto by = store::users::find_by_id(*db.value(), *user->invited_by);
        if (by && by.value()) inviter_name = by.value()->name;
    }
    if (a->flag("--json")) {
        print_json({{"id", user->id},
                    {"name", user->name},
                    {"role", user->role},
                    {"tier", user->tier},
                    {"can_log_in", !user->password_hash.empty()},
                    {"invited_by", account.invite_code ? Json(inviter_name) : Json()}});
    } else {
        std::cout << "added user '" << user->name << "' (id " << user->id << ", tier " << user->tier
                  << ", role " << user->role << ")";
        if (account.invite_code) std::cout << ", invited by '" << inviter_name << "'";
        std::cout << "\n";
    }
    return kOk;
}

int user_list(const std::vector<std::string>& args) {
    auto a = parse_args(args, subcommand_spec(kUserUsage, {}));
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto users = store::users::list(*db.value());
    if (!users) return fail(users.error());
    std::map<long long, std::string> names;
    for (const auto& u : users.value()) names[u.id] = u.name;
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& u : users.value()) {
        std::string inviter = u.invited_by ? names[*u.invited_by] : "";
        out.push_back({{"id", u.id},
                       {"name", u.name},
                       {"role", u.role},
                       {"tier", u.tier},
                       {"balance", hub::format_money(u.balance)},
                       {"enabled", u.enabled},
                       {"can_log_in", !u.password_hash.empty()},
                       {"invite_code", or_null(u.invite_code)},
                       {"invited_by", u.invited_by ? Json(inviter) : Json()},
                       {"created_at", format_time(u.created_at)}});
        rows.push_back({std::to_string(u.id), u.name, u.role, u.tier, hub::format_money(u.balance),
                        u.enabled ? "yes" : "no", inviter, format_time(u.created_at)});
    }
    if (a->flag("--json")) {
        print_json(out);
    } else {
        print_table({"ID", "NAME", "ROLE", "TIER", "BALANCE", "ENABLED", "INVITED_BY", "CREATED"},
                    rows);
        std::cout << rows.size() << " user" << (rows.size() == 1 ? "" : "s") << "\n";
    }
    return kOk;
}

//! set-tier, set-role, enable, disable: one change to one user's own row.
int user_change(const std::string& sub, const std::vector<std::string>& args) {
    std::set<std::string> options{"--user"};
    if (sub == "set-tier") options.insert("--tier");
    if (sub == "set-role") options.insert("--role");
    auto spec = subcommand_spec(kUserUsage, options);
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto user_name = required_option(a.value(), "--user", spec.usage);
    if (!user_name) return input_error(user_name.error());
    std::string value;
    if (sub == "set-tier" || sub == "set-role") {
        auto v = required_option(a.value(), sub == "set-tier" ? "--tier" : "--role", spec.usage);
        if (!v) return input_error(v.error());
        value = *v;
    }
    if (sub == "set-role" && value != "user" && value != "admin" && value != "root")
        return input_error(Error::invalid("--role '" + value + "' must be user, admin or root"));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = require_user_named(*db.value(), "--user", *user_name);
    if (!user) return store_error(user.error());
    service::users::Changes changes;
    std::string what;
    if (sub == "set-tier") {
        if (auto ok = require_tier_named(*db.value(), value); !ok) return store_error(ok.error());
        changes.tier = value;
        what = "moved to tier '" + value + "'";
    } else if (sub == "set-role") {
        changes.role = value;
        what = "given the role '" + value + "'";
    } else {
        changes.enabled = sub == "enable";
        what = sub == "enable" ? "enabled" : "disabled (their keys are refused)";
    }
    auto after = service::users::change(service_env(*db.value()), user.value(), changes);
    if (!after) return store_error(after.error());
    const auto& u = after.value();
    if (a->flag("--json"))
        print_json({{"id", u.id},
                    {"name", u.name},
                    {"role", u.role},
                    {"tier", u.tier},
                    {"enabled", u.enabled}});
    else
        std::cout << "user '" << u.name << "' " << what << "\n";
    return kOk;
}

int user_topup(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kUserUsage, {"--user", "--amount", "--ref", "--note"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto user_name = required_option(a.value(), "--user", spec.usage);
    if (!user_name) return input_error(user_name.error());
    auto amount_text = required_option(a.value(), "--amount", spec.usage);
    if (!amount_text) return input_error(amount_text.error());
    auto amount = hub::parse_money(*amount_text, hub::MoneySign::non_negative, "--amount");
    if (!amount) return input_error(amount.error());
    if (*amount == 0)
        return input_error(Error::invalid("--amount '" + *amount_text +
                                          "' is zero: top up a positive amount such as 12.5"));
    std::optional<std::string> ref = a->option("--ref");
    if (auto ok = store::validate_ledger_ref(ref); !ok)
        return input_error(Error::invalid("--ref: " + ok.error().message));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = require_user_named(*db.value(), "--user", *user_name);
    if (!user) return store_error(user.error());
    auto done = service::users::topup(service_env(*db.value()), user.value(),
                                      {*amount, ref, a->option_or("--note", "")});
    if (!done) return store_error(done.error());
    const store::BalanceChange* change = &done->change;
    const std::string inviter = done->inviter.value_or("");
    if (a->flag("--json")) {
        print_json({{"user", user->name},
                    {"amount", hub::format_money(*amount)},
                    {"ref", or_null(ref)},
                    {"applied", change->applied},
                    {"balance", hub::format_money(change->balance)},
                    {"rebate", hub::format_money(change->rebate)},
                    {"inviter", change->inviter ? Json(inviter) : Json()}});
    } else if (!change->applied) {
        std::cout << "top-up " << *ref << " was already applied: nothing changed; '" << user->name
                  << "' has " << hub::format_money(change->balance) << "\n";
    } else {
        std::cout << "topped up '" << user->name << "' by " << hub::format_money(*amount)
                  << "; balance " << hub::format_money(change->balance) << "\n";
        if (change->rebate > 0)
            std::cout << "invite rebate: '" << inviter << "' credited "
                      << hub::format_money(change->rebate) << "\n";
    }
    return kOk;
}

int user_ledger(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kUserUsage, {"--user", "--limit"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto user_name = required_option(a.value(), "--user", spec.usage);
    if (!user_name) return input_error(user_name.error());
    auto limit = parse_count("--limit", a->option_or("--limit", "50"), 1, 1000);
    if (!limit) return input_error(limit.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = require_user_named(*db.value(), "--user", *user_name);
    if (!user) return store_error(user.error());
    auto entries =
        service::ledger::list(service_env(*db.value()), user->id, static_cast<int>(*limit), {});
    if (!entries) return fail(entries.error());
    auto sum = store::ledger::sum_by_user(*db.value(), user->id);
    if (!sum) return fail(sum.error());
    // Read the balance after the sum: both come from committed rows, so they agree unless the
    // invariant is broken (or a charge landed in between, which a re-run tells apart).
    auto now = store::users::find_by_id(*db.value(), user->id);
    if (!now || !now.value())
        return fail(now ? Error::internal_error("user vanished") : now.error());
    const long long balance = now.value()->balance;
    const bool consistent = sum.value() == balance;
    if (a->flag("--json")) {
        Json rows = Json::array();
        for (const auto& e : entries.value())
            rows.push_back({{"id", e.id},
                            {"amount", hub::format_money(e.amount)},
                            {"kind", e.kind},
                            {"ref", or_null(e.ref)},
                            {"note", e.note},
                            {"created_at", format_time(e.created_at)}});
        print_json({{"user", user->name},
                    {"balance", hub::format_money(balance)},
                    {"ledger_sum", hub::format_money(sum.value())},
                    {"consistent", consistent},
                    {"entries", rows}});
    } else {
        std::vector<std::vector<std::string>> rows;
        for (const auto& e : entries.value())
            rows.push_back({std::to_string(e.id), format_time(e.created_at), e.kind,
                            hub::format_money(e.amount), e.ref.value_or(""), e.note});
        print_table({"ID", "TIME", "KIND", "AMOUNT", "REF", "NOTE"}, rows);
        std::cout << "balance " << hub::format_money(balance) << "; ledger sum "
                  << hub::format_money(sum.value())
                  << (consistent ? " (consistent)" : " (MISMATCH)") << "\n";
    }
    if (!consistent)
        return fail(Error::internal_error(
            "the ledger of '" + user->name + "' sums to " + hub::format_money(sum.value()) +
            " but the balance is " + hub::format_money(balance) +
            ": run again; if it persists, the store was changed outside tianshu"));
    return kOk;
}

int user_invite_code(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kUserUsage, {"--user"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto user_name = required_option(a.value(), "--user", spec.usage);
    if (!user_name) return input_error(user_name.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = require_user_named(*db.value(), "--user", *user_name);
    if (!user) return store_error(user.error());
    auto made = service::users::invite_code(service_env(*db.value()), user.value());
    if (!made) return fail(made.error());
    const std::string code = made->code;
    const bool created = made->created;
    if (a->flag("--json"))
        print_json({{"user", user->name}, {"invite_code", code}, {"created", created}});
    else
        std::cout << (created ? "new invite code of '" : "invite code of '") << user->name << "':\n"
                  << code << "\n";
    return kOk;
}

// ---- key subcommands -----------------------------------------------------------------------

const char* kKeyUsage =
    "tianshu key create --user NAME --name KEYNAME [--quota 10.0] "
    "[--expires 2027-01-01T00:00:00Z|30d]\n"
    "                   [--allow-ip CIDR]... [--deny-ip CIDR]... [--models PATTERN]... [--rpm N] "
    "[--tpm N]\n"
    "       tianshu key list [--user NAME]\n"
    "       tianshu key revoke --id ID | --user NAME --name KEYNAME\n"
    "       tianshu key set-limits --id ID [the create limits] [--no-quota] [--no-expiry] "
    "[--no-rpm] [--no-tpm] [--any-ip] [--all-models]\n"
    "       (each also takes [--data DIR | --db URL] [--json])";

int key_create(const std::vector<std::string>& args) {
    std::set<std::string> options = kLimitOptions;
    options.insert({"--user", "--name"});
    auto spec = subcommand_spec(kKeyUsage, options);
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto user_name = required_option(a.value(), "--user", spec.usage);
    if (!user_name) return input_error(user_name.error());
    auto key_name = required_option(a.value(), "--name", spec.usage);
    if (!key_name) return input_error(key_name.error());
    store::KeyLimits limits;
    if (auto ok = apply_limit_options(a.value(), limits); !ok) return input_error(ok.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = require_user_named(*db.value(), "--user", *user_name);
    if (!user) return store_error(user.error());
    auto created = service::keys::create(service_env(*db.value()), user.value(), *key_name, limits);
    if (!created) return store_error(created.error());
    const store::ApiKey* made = &created->key;
    const std::string& key = created->secret;
    if (a->flag("--json")) {
        Json out = key_json(*made, user->name);
        out["key"] = key;
        // The key is the last line of the output, as in the table form.
        std::cout << out.dump() << "\n";
    } else {
        std::cout << "created key '" << *key_name << "' (id " << made->id << ") for user '"
                  << user->name << "'";
        if (limits.quota_limit) std::cout << ", quota " << hub::format_money(*limits.quota_limit);
        if (limits.expires_at) std::cout << ", expires " << format_time(limits.expires_at);
        std::cout << ". It is shown once and stored only as a hash:\n" << key << "\n";
    }
    return kOk;
}

int key_list(const std::vector<std::string>& args) {
    auto a = parse_args(args, subcommand_spec(kKeyUsage, {"--user"}));
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    std::optional<long long> only;
    if (auto name = a->option("--user")) {
        auto user = require_user_named(*db.value(), "--user", *name);
        if (!user) return store_error(user.error());
        only = user->id;
    }
    auto users = store::users::list(*db.value());
    if (!users) return fail(users.error());
    std::map<long long, std::string> names;
    for (const auto& u : users.value()) names[u.id] = u.name;
    auto keys = store::api_keys::list(*db.value(), only);
    if (!keys) return fail(keys.error());
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& k : keys.value()) {
        out.push_back(key_json(k, names[k.user_id]));
        std::string limits;
        if (k.limits.rpm) limits += "rpm=" + std::to_string(*k.limits.rpm);
        if (k.limits.tpm)
            limits += (limits.empty() ? "" : " ") + ("tpm=" + std::to_string(*k.limits.tpm));
        if (!k.limits.ip_allow.empty() || !k.limits.ip_deny.empty())
            limits += (limits.empty() ? "" : " ") + std::string("ip") + "(+" +
                      std::to_string(k.limits.ip_allow.size()) + "/-" +
                      std::to_string(k.limits.ip_deny.size()) + ")";
        rows.push_back(
            {std::to_string(k.id), k.key_prefix + "...", k.name, names[k.user_id],
             hub::format_money(k.quota_used) + " / " + money_or(k.limits.quota_limit, "unlimited"),
             k.limits.expires_at ? format_time(k.limits.expires_at) : "never",
             joined(k.limits.models, "*"), limits.empty() ? "-" : limits,
             k.revoked_at ? format_time(k.revoked_at) : "no"});
    }
    if (a->flag("--json")) {
        print_json(out);
    } else {
        print_table({"ID", "PREFIX", "NAME", "USER", "USED / QUOTA", "EXPIRES", "MODELS", "LIMITS",
                     "REVOKED"},
                    rows);
        std::cout << rows.size() << " key" << (rows.size() == 1 ? "" : "s") << "\n";
    }
    return kOk;
}

//! The key chosen by --id, or by --user and --name (the live key of that name).
core::Result<store::ApiKey> chosen_key(store::Database& db, const ParsedArgs& a,
                                       const std::string& usage) {
    if (auto id_text = a.option("--id")) {
        if (a.option("--user") || a.option("--name"))
            return Error::invalid("give either --id or --user with --name, not both");
        auto id = parse_count("--id", *id_text, 1, std::numeric_limits<long long>::max());
        if (!id) return id.take_error();
        auto key = store::api_keys::find(db, *id);
        if (!key) return key.take_error();
        if (!key.value())
            return Error{
                core::ErrorKind::not_found,
                "--id " + *id_text + " is not an API key: find ids with `tianshu key list`",
                {}};
        return std::move(*key.value());
    }
    auto user_name = a.option("--user");
    auto key_name = a.option("--name");
    if (!user_name || !key_name)
        return Error::invalid(
            "choose the key with --id ID, or --user NAME --name KEYNAME\nusage: " + usage);
    auto user = require_user_named(db, "--user", *user_name);
    if (!user) return user.take_error();
    auto keys = store::api_keys::list(db, user->id);
    if (!keys) return keys.take_error();
    std::vector<store::ApiKey> live;
    for (auto& k : keys.value())
        if (k.name == *key_name && !k.revoked_at) live.push_back(std::move(k));
    if (live.empty())
        return Error{core::ErrorKind::not_found,
                     "--name '" + *key_name + "': user '" + *user_name +
                         "' has no live key of that name: see `tianshu key list --user " +
                         *user_name + "`",
                     {}};
    if (live.size() > 1)
        return Error::invalid("--name '" + *key_name + "': user '" + *user_name + "' has " +
                              std::to_string(live.size()) +
                              " live keys of that name: choose one with --id (see `tianshu key "
                              "list`)");
    return std::move(live.front());
}

int key_revoke(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kKeyUsage, {"--id", "--user", "--name"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto key = chosen_key(*db.value(), a.value(), spec.usage);
    if (!key) return store_error(key.error());
    auto owner = service::keys::with_owner(service_env(*db.value()), key->id);
    if (!owner) return store_error(owner.error());
    if (auto done = service::keys::revoke(service_env(*db.value()), key.value(), owner->second);
        !done)
        return store_error(done.error());
    if (a->flag("--json"))
        print_json({{"id", key->id}, {"name", key->name}, {"revoked", true}});
    else
        std::cout << "revoked key " << key->id << " ('" << key->name << "', " << key->key_prefix
                  << "...): a running server refuses it within 2 s\n";
    return kOk;
}

int key_set_limits(const std::vector<std::string>& args) {
    std::set<std::string> options = kLimitOptions;
    options.insert("--id");
    auto spec = subcommand_spec(
        kKeyUsage, options,
        {"--no-quota", "--no-expiry", "--no-rpm", "--no-tpm", "--any-ip", "--all-models"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto id_text = required_option(a.value(), "--id", spec.usage);
    if (!id_text) return input_error(id_text.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto key = chosen_key(*db.value(), a.value(), spec.usage);
    if (!key) return store_error(key.error());
    store::KeyLimits limits = key->limits;
    if (auto ok = apply_limit_options(a.value(), limits); !ok) return input_error(ok.error());
    auto owner = service::keys::with_owner(service_env(*db.value()), key->id);
    if (!owner) return store_error(owner.error());
    auto changed =
        service::keys::set_limits(service_env(*db.value()), key.value(), owner->second, limits);
    if (!changed) return store_error(changed.error());
    key->limits = limits;
    const std::string user = owner->second.name;
    if (a->flag("--json"))
        print_json(key_json(key.value(), user));
    else
        std::cout << "updated the limits of key " << key->id << " ('" << key->name << "'): quota "
                  << money_or(limits.quota_limit, "unlimited") << ", expires "
                  << (limits.expires_at ? format_time(limits.expires_at) : "never") << ", models "
                  << joined(limits.models, "*") << ", rpm "
                  << (limits.rpm ? std::to_string(*limits.rpm) : "-") << ", tpm "
                  << (limits.tpm ? std::to_string(*limits.tpm) : "-") << ", allow "
                  << joined(limits.ip_allow, "any") << ", deny " << joined(limits.ip_deny, "none")
                  << "\n";
    return kOk;
}

//! The options of user and key subcommands that take no value.
const std::set<std::string> kAccountFlags{"--json",      "--password-stdin", "--no-quota",
                                          "--no-expiry", "--no-rpm",         "--no-tpm",
                                          "--any-ip",    "--all-models"};

}  // namespace

int cmd_user(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, kAccountFlags);
    if (!find_subcommand("user", sub)) return unknown_subcommand("user", sub, kUserUsage, args);
    if (sub == "add") return user_add(args);
    if (sub == "list") return user_list(args);
    if (sub == "set-tier" || sub == "set-role" || sub == "enable" || sub == "disable")
        return user_change(sub, args);
    if (sub == "topup") return user_topup(args);
    if (sub == "ledger") return user_ledger(args);
    if (sub == "invite-code") return user_invite_code(args);
    return unknown_subcommand("user", sub, kUserUsage, args);
}

int cmd_key(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, kAccountFlags);
    if (!find_subcommand("key", sub)) return unknown_subcommand("key", sub, kKeyUsage, args);
    if (sub == "create") return key_create(args);
    if (sub == "list") return key_list(args);
    if (sub == "revoke") return key_revoke(args);
    if (sub == "set-limits") return key_set_limits(args);
    return unknown_subcommand("key", sub, kKeyUsage, args);
}

}  // namespace tianshu::app
