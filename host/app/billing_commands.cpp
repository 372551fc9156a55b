// `tianshu tier|price|redeem|invite ...`: the operator's side of billing. Money is typed and shown
// in decimal units (hub::parse_money / format_money) and stored in micros.
#include "app/billing_commands.hpp"

#include <cerrno>
#include <climits>
#include <cstring>
#include <iostream>
#include <map>

#include <fcntl.h>
#include <unistd.h>

#include "app/cli_args.hpp"
#include "app/cli_table.hpp"
#include "app/command_support.hpp"
#include "hub/credentials.hpp"
#include "hub/money.hpp"
#include "service/billing.hpp"
#include "service/invitations.hpp"
#include "store/prices.hpp"
#include "store/redemption_codes.hpp"
#include "store/settings.hpp"
#include "store/tiers.hpp"
#include "store/users.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;

namespace {

const std::set<std::string> kBillingFlags{"--json"};

CommandSpec subcommand_spec(const std::string& usage, std::set<std::string> options) {
    return {usage, store_options(std::move(options)), {"--json"}, 1, 1};
}

//! A subcommand the table (app/cli_table.cpp) does not know; `--help` instead asks for the usage.
int unknown_subcommand(const std::string& command, const std::string& sub, const std::string& usage,
                       const std::vector<std::string>& args) {
    for (const auto& a : args)
        if (is_help_flag(a)) return input_error(help_request(usage));
    return input_error(
        Error::invalid("unknown " + command + " command '" + sub + "'\nusage: " + usage));
}

// ---- tier ----------------------------------------------------------------------------------

const char* kTierUsage =
    "tianshu tier add --name NAME --ratio 0.8 [--description TEXT]\n"
    "       tianshu tier list\n"
    "       tianshu tier set-ratio --name NAME --ratio 1.2\n"
    "       tianshu tier remove --name NAME\n"
    "       tianshu tier route-header --name NAME --show on|off\n"
    "       (each also takes [--data DIR | --db URL] [--json])";

//! A price multiplier such as "0.8" as parts per million (the same six decimals as money).
core::Result<long long> parse_ratio(const std::string& text) {
    auto ppm = hub::parse_money(text, hub::MoneySign::non_negative, "--ratio");
    if (!ppm)
        return Error::invalid("--ratio '" + text +
                              "' must be a decimal multiplier of the list price with at most 6 "
                              "decimals, e.g. 0.8 (20% off), 1 or 1.5");
    return *ppm;
}

std::string ratio_text(long long ppm) {
    std::string s = hub::format_money(ppm);
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
    return s;
}

Json tier_json(const store::Tier& t) {
    return {{"name", t.name},
            {"ratio", ratio_text(t.price_ratio_ppm)},
            {"ratio_ppm", t.price_ratio_ppm},
            {"description", t.description},
            {"created_at", format_time(t.created_at)},
            {"route_header", t.route_header}};
}

int tier_add_or_set(const std::string& sub, const std::vector<std::string>& args) {
    std::set<std::string> options{"--name", "--ratio"};
    if (sub == "add") options.insert("--description");
    auto spec = subcommand_spec(kTierUsage, options);
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto name = required_option(a.value(), "--name", spec.usage);
    if (!name) return input_error(name.error());
    auto ratio_arg = required_option(a.value(), "--ratio", spec.usage);
    if (!ratio_arg) return input_error(ratio_arg.error());
    auto ratio = parse_ratio(*ratio_arg);
    if (!ratio) return input_error(ratio.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (sub == "add") {
        store::Tier tier{*name, *ratio, a->option_or("--description", ""), 0};
        auto made = service::tiers::create(service_env(*db.value()), tier);
        if (!made) return store_error(made.error());
        if (a->flag("--json"))
            print_json(tier_json(made.value()));
        else
            std::cout << "added tier '" << made->name << "' at " << ratio_text(*ratio)
                      << " × list price\n";
        return kOk;
    }
    auto after = service::tiers::set_ratio(service_env(*db.value()), *name, *ratio);
    if (!after) return store_error(after.error());
    if (a->flag("--json"))
        print_json(tier_json(after.value()));
    else
        std::cout << "tier '" << *name << "' now pays " << ratio_text(*ratio)
                  << " × list price (a running server applies it within 2 s)\n";
    return kOk;
}

//! Shows or hides x-tianshu-route / x-tianshu-decision from the tier's clients.
int tier_route_header(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kTierUsage, {"--name", "--show"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto name = required_option(a.value(), "--name", spec.usage);
    if (!name) return input_error(name.error());
    auto show = required_option(a.value(), "--show", spec.usage);
    if (!show) return input_error(show.error());
    if (*show != "on" && *show != "off")
        return input_error(Error::invalid("--show '" + *show +
                                          "' must be on (clients see x-tianshu-route) or off "
                                          "(hidden; the request log keeps the decision)"));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (auto done =
            service::tiers::set_route_header(service_env(*db.value()), *name, *show == "on");
        !done)
        return store_error(done.error());
    if (a->flag("--json"))
        print_json({{"name", *name}, {"route_header", *show == "on"}});
    else
        std::cout << "tier '" << *name << "' clients " << (*show == "on" ? "see" : "no longer see")
                  << " the x-tianshu-route header (a running server applies it within 2 s)\n";
    return kOk;
}

int tier_list(const std::vector<std::string>& args) {
    auto a = parse_args(args, subcommand_spec(kTierUsage, {}));
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto tiers = store::tiers::list(*db.value());
    if (!tiers) return fail(tiers.error());
    auto users = store::users::list(*db.value());
    if (!users) return fail(users.error());
    std::map<std::string, long long> members;
    for (const auto& u : users.value()) ++members[u.tier];
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& t : tiers.value()) {
        Json j = tier_json(t);
        j["users"] = members[t.name];
        out.push_back(j);
        rows.push_back({t.name, ratio_text(t.price_ratio_ppm), std::to_string(members[t.name]),
                        t.description});
    }
    if (a->flag("--json")) {
        print_json(out);
    } else {
        print_table({"NAME", "RATIO", "USERS", "DESCRIPTION"}, rows);
        std::cout << rows.size() << " tier" << (rows.size() == 1 ? "" : "s") << "\n";
    }
    return kOk;
}

int tier_remove(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kTierUsage, {"--name"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto name = required_option(a.value(), "--name", spec.usage);
    if (!name) return input_error(name.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (auto done = service::tiers::remove(service_env(*db.value()), *name); !done)
        return store_error(about("--name", *name, done.error()));
    if (a->flag("--json"))
        print_json({{"name", *name}, {"removed", true}});
    else
        std::cout << "removed tier '" << *name << "'\n";
    return kOk;
}

// ---- price ---------------------------------------------------------------------------------

const char* kPriceUsage =
    "tianshu price set --model MODEL|PATTERN [--input 2.0] [--output 8.0] [--cache-read 0.5]\n"
    "                  [--cache-write 2.5] [--reasoning 8.0] [--per-call 0.01]\n"
    "       tianshu price list\n"
    "       tianshu price remove --model MODEL|PATTERN\n"
    "       (token prices are per 1M tokens, in units; set changes only the prices given;\n"
    "        each also takes [--data DIR | --db URL] [--json])";

//! The price fields with their flags, in display order.
const std::vector<std::pair<const char*, long long store::Price::*>> kPriceFields{
    {"--input", &store::Price::input_per_m},
    {"--output", &store::Price::output_per_m},
    {"--cache-read", &store::Price::cache_read_per_m},
    {"--cache-write", &store::Price::cache_write_per_m},
    {"--reasoning", &store::Price::reasoning_per_m},
    {"--per-call", &store::Price::per_call}};

Json price_json(const store::Price& p) {
    return {{"model", p.model},
            {"input", hub::format_money(p.input_per_m)},
            {"output", hub::format_money(p.output_per_m)},
            {"cache_read", hub::format_money(p.cache_read_per_m)},
            {"cache_write", hub::format_money(p.cache_write_per_m)},
            {"reasoning", hub::format_money(p.reasoning_per_m)},
            {"per_call", hub::format_money(p.per_call)},
            {"updated_at", format_time(p.updated_at)}};
}

int price_set(const std::vector<std::string>& args) {
    std::set<std::string> options{"--model"};
    for (const auto& f : kPriceFields) options.insert(f.first);
    auto spec = subcommand_spec(kPriceUsage, options);
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto model = required_option(a.value(), "--model", spec.usage);
    if (!model) return input_error(model.error());
    std::map<std::string, long long> given;
    for (const auto& [flag, field] : kPriceFields) {
        if (auto v = a->option(flag)) {
            auto micros = hub::parse_money(*v, hub::MoneySign::non_negative, flag);
            if (!micros) return input_error(micros.error());
            given[flag] = *micros;
        }
    }
    if (given.empty())
        return input_error(
            Error::invalid("give at least one price (--input, --output, "
                           "--cache-read, --cache-write, --reasoning, --per-call)"
                           "\nusage: " +
                           spec.usage));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    service::prices::Change change;
    std::optional<long long>* slots[] = {&change.input_per_m,      &change.output_per_m,
                                         &change.cache_read_per_m, &change.cache_write_per_m,
                                         &change.reasoning_per_m,  &change.per_call};
    for (std::size_t i = 0; i < kPriceFields.size(); ++i)
        if (given.count(kPriceFields[i].first)) *slots[i] = given[kPriceFields[i].first];
    // Only the prices given change: the others keep their value.
    auto saved = service::prices::set(service_env(*db.value()), *model, change, false);
    if (!saved) return store_error(saved.error());
    if (a->flag("--json")) {
        print_json(price_json(saved.value()));
    } else {
        std::cout << "price of '" << saved->model << "' per 1M tokens: input "
                  << hub::format_money(saved->input_per_m) << ", output "
                  << hub::format_money(saved->output_per_m) << ", cache read "
                  << hub::format_money(saved->cache_read_per_m) << ", cache write "
                  << hub::format_money(saved->cache_write_per_m) << ", reasoning "
                  << hub::format_money(saved->reasoning_per_m) << "; per call "
                  << hub::format_money(saved->per_call) << "\n";
    }
    return kOk;
}

int price_list(const std::vector<std::string>& args) {
    auto a = parse_args(args, subcommand_spec(kPriceUsage, {}));
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto list = store::prices::list(*db.value());
    if (!list) return fail(list.error());
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& p : list.value()) {
        out.push_back(price_json(p));
        std::vector<std::string> row{p.model};
        for (const auto& f : kPriceFields) row.push_back(hub::format_money(p.*(f.second)));
        rows.push_back(std::move(row));
    }
    if (a->flag("--json")) {
        print_json(out);
    } else {
        print_table({"MODEL", "INPUT/1M", "OUTPUT/1M", "CACHE_READ/1M", "CACHE_WRITE/1M",
                     "REASONING/1M", "PER_CALL"},
                    rows);
        std::cout << rows.size() << " price" << (rows.size() == 1 ? "" : "s") << "\n";
    }
    return kOk;
}

int price_remove(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kPriceUsage, {"--model"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto model = required_option(a.value(), "--model", spec.usage);
    if (!model) return input_error(model.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (auto done = service::prices::remove(service_env(*db.value()), *model); !done) {
        if (done.error().kind == core::ErrorKind::not_found)
            return input_error(
                Error::invalid("--model '" + *model + "' has no price: see `tianshu price list`"));
        return store_error(done.error());
    }
    if (a->flag("--json"))
        print_json({{"model", *model}, {"removed", true}});
    else
        std::cout << "removed the price of '" << *model << "'\n";
    return kOk;
}

// ---- redeem --------------------------------------------------------------------------------

const char* kRedeemUsage =
    "tianshu redeem generate --count N --amount 5.0 [--batch NAME] [--out FILE]\n"
    "       tianshu redeem use --user NAME --code CODE\n"
    "       tianshu redeem list [--batch NAME]\n"
    "       (each also takes [--data DIR | --db URL] [--json])";

constexpr long long kMaxCodesPerBatch = 100'000;

//! Creates `path` for the codes: a new file (never an existing one), readable by its owner only.
core::Result<int> open_codes_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return Error::invalid("--out '" + path + "': " + std::strerror(errno) +
                              (errno == EEXIST ? " (codes are never written over an existing "
                                                 "file: choose a new path)"
                                               : ""));
    return fd;
}

core::Result<void> write_all(int fd, const std::string& text, const std::string& path) {
    size_t done = 0;
    while (done < text.size()) {
        ssize_t n = ::write(fd, text.data() + done, text.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return Error::internal_error("writing the codes to '" + path +
                                         "' failed: " + std::strerror(errno));
        done += static_cast<size_t>(n);
    }
    if (::fsync(fd) != 0)
        return Error::internal_error("saving '" + path + "' failed: " + std::strerror(errno));
    return {};
}

int redeem_generate(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kRedeemUsage, {"--count", "--amount", "--batch", "--out"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto count_arg = required_option(a.value(), "--count", spec.usage);
    if (!count_arg) return input_error(count_arg.error());
    auto count = parse_count("--count", *count_arg, 1, kMaxCodesPerBatch);
    if (!count) return input_error(count.error());
    auto amount_arg = required_option(a.value(), "--amount", spec.usage);
    if (!amount_arg) return input_error(amount_arg.error());
    auto amount = hub::parse_money(*amount_arg, hub::MoneySign::non_negative, "--amount");
    if (!amount) return input_error(amount.error());
    if (*amount == 0)
        return input_error(Error::invalid("--amount '" + *amount_arg +
                                          "' is zero: give what each code is worth, e.g. 5.0"));
    std::string batch = a->option_or("--batch", "batch-" + format_time(store::now_seconds()));
    if (batch.empty() || batch.size() > 64)
        return input_error(Error::invalid("--batch '" + batch + "' must be 1 to 64 characters"));
    auto out_path = a->option("--out");
    int fd = -1;
    if (out_path) {
        auto opened = open_codes_file(*out_path);
        if (!opened) return input_error(opened.error());
        fd = *opened;
    }
    auto close_out = [&] {
        if (fd >= 0) ::close(fd);
        fd = -1;
    };
    auto db = open_store(a.value());
    if (!db) {
        close_out();
        if (out_path) ::unlink(out_path->c_str());
        return fail(db.error());
    }
    const bool progress = *count >= 1000;
    auto report = [&](long long made, long long total) {
        if (progress) std::cerr << "\rmade " << made << "/" << total << " codes" << std::flush;
        if (progress && made == total) std::cerr << "; storing them..." << std::flush;
    };
    auto stored =
        service::redemption::generate(service_env(*db.value()), batch, *amount, *count, report);
    if (progress) std::cerr << (stored ? " done\n" : " failed\n");
    if (!stored) {
        close_out();
        if (out_path) ::unlink(out_path->c_str());
        return store_error(stored.error());
    }
    const std::vector<std::string>& codes = stored->codes;
    std::string lines;
    for (const auto& c : codes) lines += c + "\n";
    if (out_path) {
        auto written = write_all(fd, lines, *out_path);
        close_out();
        if (!written)
            return fail(
                Error::internal_error(written.error().message + ": the " +
                                      std::to_string(codes.size()) + " codes of batch '" + batch +
                                      "' are stored but nobody has them; generate a new batch"));
    }
    if (a->flag("--json")) {
        Json j{{"batch", batch},
               {"count", codes.size()},
               {"amount", hub::format_money(*amount)},
               {"total", hub::format_money(*amount * static_cast<long long>(codes.size()))}};
        if (out_path)
            j["file"] = *out_path;
        else
            j["codes"] = codes;
        print_json(j);
    } else if (out_path) {
        std::cout << "generated " << codes.size() << " codes of " << hub::format_money(*amount)
                  << " in batch '" << batch << "', written to " << *out_path
                  << " (mode 0600); they are not stored in clear anywhere else\n";
    } else {
        std::cerr << "generated " << codes.size() << " codes of " << hub::format_money(*amount)
                  << " in batch '" << batch << "'; they are shown once:\n";
        std::cout << lines;
    }
    return kOk;
}

int redeem_use(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kRedeemUsage, {"--user", "--code"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto user_name = required_option(a.value(), "--user", spec.usage);
    if (!user_name) return input_error(user_name.error());
    auto code = required_option(a.value(), "--code", spec.usage);
    if (!code) return input_error(code.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto user = require_user_named(*db.value(), "--user", *user_name);
    if (!user) return store_error(user.error());
    auto redeemed = service::redemption::redeem(service_env(*db.value()), user.value(), *code);
    if (!redeemed) {
        const auto& e = redeemed.error();
        if (e.kind == core::ErrorKind::not_found || e.kind == core::ErrorKind::invalid_request)
            return input_error(Error::invalid("--code: " + e.message));
        return fail(e);
    }
    if (a->flag("--json"))
        print_json({{"user", user->name},
                    {"amount", hub::format_money(redeemed->amount)},
                    {"balance", hub::format_money(redeemed->balance)}});
    else
        std::cout << "redeemed " << hub::format_money(redeemed->amount) << " for '" << user->name
                  << "'; balance " << hub::format_money(redeemed->balance) << "\n";
    return kOk;
}

int redeem_list(const std::vector<std::string>& args) {
    auto a = parse_args(args, subcommand_spec(kRedeemUsage, {"--batch"}));
    if (!a) return input_error(a.error());
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    Json out = Json::array();
    std::vector<std::vector<std::string>> rows;
    if (auto batch = a->option("--batch")) {
        auto codes = store::redemption_codes::list(*db.value(), *batch);
        if (!codes) return fail(codes.error());
        if (codes->empty())
            return input_error(
                Error::invalid("--batch '" + *batch +
                               "' has no codes: see the batches with `tianshu redeem list`"));
        auto users = store::users::list(*db.value());
        if (!users) return fail(users.error());
        std::map<long long, std::string> names;
        for (const auto& u : users.value()) names[u.id] = u.name;
        for (const auto& c : codes.value()) {
            std::string by = c.redeemed_by ? names[*c.redeemed_by] : "";
            out.push_back(
                {{"id", c.id},
                 {"prefix", c.code_prefix},
                 {"amount", hub::format_money(c.amount)},
                 {"batch", c.batch},
                 {"created_at", format_time(c.created_at)},
                 {"redeemed_by", c.redeemed_by ? Json(by) : Json()},
                 {"redeemed_at", c.redeemed_at ? Json(format_time(c.redeemed_at)) : Json()}});
            rows.push_back({std::to_string(c.id), c.code_prefix + "...",
                            hub::format_money(c.amount), by.empty() ? "-" : by,
                            c.redeemed_at ? format_time(c.redeemed_at) : "-"});
        }
        if (a->flag("--json")) {
            print_json(out);
        } else {
            print_table({"ID", "CODE", "AMOUNT", "REDEEMED_BY", "REDEEMED_AT"}, rows);
            std::cout << rows.size() << " code" << (rows.size() == 1 ? "" : "s") << "\n";
        }
        return kOk;
    }
    auto batches = store::redemption_codes::list_batches(*db.value());
    if (!batches) return fail(batches.error());
    for (const auto& b : batches.value()) {
        out.push_back({{"batch", b.batch},
                       {"codes", b.codes},
                       {"redeemed", b.redeemed},
                       {"amount", hub::format_money(b.amount)},
                       {"redeemed_amount", hub::format_money(b.redeemed_amount)},
                       {"created_at", format_time(b.created_at)}});
        rows.push_back({b.batch, std::to_string(b.codes), std::to_string(b.redeemed),
                        hub::format_money(b.amount), hub::format_money(b.redeemed_amount),
                        format_time(b.created_at)});
    }
    if (a->flag("--json")) {
        print_json(out);
    } else {
        print_table({"BATCH", "CODES", "REDEEMED", "TOTAL", "REDEEMED_TOTAL", "CREATED"}, rows);
        std::cout << rows.size() << " batch" << (rows.size() == 1 ? "" : "es") << "\n";
    }
    return kOk;
}

// ---- invite --------------------------------------------------------------------------------

const char* kInviteUsage =
    "tianshu invite set-rebate --percent 5\n"
    "       tianshu invite show\n"
    "       tianshu invite list [--limit N] [--after-id ID]\n"
    "       (each also takes [--data DIR | --db URL] [--json])";

using service::invitations::percent_text;

//! `invite list`: the share, then each inviter with their code, invitees and rebate earned.
int invite_list(const std::vector<std::string>& args) {
    auto spec = subcommand_spec(kInviteUsage, {"--limit", "--after-id"});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    int limit = 100;
    if (auto l = a->option("--limit")) {
        auto v = parse_count("--limit", *l, 1, 1000);
        if (!v) return input_error(v.error());
        limit = static_cast<int>(v.value());
    }
    std::optional<long long> after;
    if (auto id = a->option("--after-id")) {
        auto v = parse_count("--after-id", *id, 1, LLONG_MAX);
        if (!v) return input_error(v.error());
        after = v.value();
    }
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto listed = service::invitations::list(service_env(*db.value()), limit, after);
    if (!listed) return fail(listed.error());
    const auto& page = listed->page;
    if (a->flag("--json")) {
        Json out = service::invitations::rebate_json(listed->rebate_ppm);
        Json rows = Json::array();
        for (const auto& i : page.inviters) rows.push_back(service::invitations::inviter_json(i));
        out["inviters"] = std::move(rows);
        out["next_after_id"] = page.next_after_id ? Json(*page.next_after_id) : Json(nullptr);
        print_json(out);
        return kOk;
    }
    std::cout << "inviters receive " << percent_text(listed->rebate_ppm)
              << "% of each top-up their invitees make\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& i : page.inviters) {
        std::string names;
        for (const auto& v : i.invitees) names += (names.empty() ? "" : ",") + v.name;
        if (i.invited > static_cast<long long>(i.invitees.size())) names += ",...";
        rows.push_back({i.name, i.invite_code.value_or("-"), std::to_string(i.invited), names,
                        hub::format_money(i.rebate), std::to_string(i.rebate_entries)});
    }
    print_table({"INVITER", "CODE", "INVITED", "INVITEES", "REBATE", "REBATES"}, rows);
    std::cout << rows.size() << " inviter" << (rows.size() == 1 ? "" : "s");
    if (page.next_after_id) std::cout << "; more: add --after-id " << *page.next_after_id;
    std::cout << "\n";
    return kOk;
}

int invite_command(const std::string& sub, const std::vector<std::string>& args) {
    auto spec =
        subcommand_spec(kInviteUsage, sub == "set-rebate" ? std::set<std::string>{"--percent"}
                                                          : std::set<std::string>{});
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    long long ppm = 0;
    if (sub == "set-rebate") {
        auto text = required_option(a.value(), "--percent", spec.usage);
        if (!text) return input_error(text.error());
        // Percent with up to 4 decimals is a whole number of ppm (1% = 10,000 ppm).
        auto micros = hub::parse_money(*text, hub::MoneySign::non_negative, "--percent");
        if (!micros || *micros % 100 != 0 || *micros > 100 * hub::micros_per_unit)
            return input_error(Error::invalid("--percent '" + *text +
                                              "' must be a percentage from 0 to 100 with at most "
                                              "4 decimals, e.g. 5 or 2.5"));
        ppm = *micros / 100;
    }
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (sub == "set-rebate") {
        if (auto done = service::ledger::set_invite_rebate(service_env(*db.value()), ppm); !done)
            return fail(done.error());
    } else {
        auto current = service::ledger::invite_rebate_ppm(service_env(*db.value()));
        if (!current) return fail(current.error());
        ppm = current.value();
    }
    if (a->flag("--json"))
        print_json({{"rebate_percent", percent_text(ppm)}, {"rebate_ppm", ppm}});
    else
        std::cout << "inviters receive " << percent_text(ppm) << "% of each top-up their invitees "
                  << (sub == "set-rebate" ? "make from now on" : "make") << "\n";
    return kOk;
}

}  // namespace

int cmd_tier(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, kBillingFlags);
    if (!find_subcommand("tier", sub)) return unknown_subcommand("tier", sub, kTierUsage, args);
    if (sub == "add" || sub == "set-ratio") return tier_add_or_set(sub, args);
    if (sub == "list") return tier_list(args);
    if (sub == "remove") return tier_remove(args);
    if (sub == "route-header") return tier_route_header(args);
    return unknown_subcommand("tier", sub, kTierUsage, args);
}

int cmd_price(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, kBillingFlags);
    if (!find_subcommand("price", sub)) return unknown_subcommand("price", sub, kPriceUsage, args);
    if (sub == "set") return price_set(args);
    if (sub == "list") return price_list(args);
    if (sub == "remove") return price_remove(args);
    return unknown_subcommand("price", sub, kPriceUsage, args);
}

int cmd_redeem(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, kBillingFlags);
    if (!find_subcommand("redeem", sub))
        return unknown_subcommand("redeem", sub, kRedeemUsage, args);
    if (sub == "generate") return redeem_generate(args);
    if (sub == "use") return redeem_use(args);
    if (sub == "list") return redeem_list(args);
    return unknown_subcommand("redeem", sub, kRedeemUsage, args);
}

int cmd_invite(const std::vector<std::string>& args) {
    const std::string sub = first_positional(args, kBillingFlags);
    if (!find_subcommand("invite", sub))
        return unknown_subcommand("invite", sub, kInviteUsage, args);
    if (sub == "set-rebate" || sub == "show") return invite_command(sub, args);
    if (sub == "list") return invite_list(args);
    return unknown_subcommand("invite", sub, kInviteUsage, args);
}

int run_billing_command(const std::string& command, const std::vector<std::string>& args) {
    if (command == "tier") return cmd_tier(args);
    if (command == "price") return cmd_price(args);
    if (command == "redeem") return cmd_redeem(args);
    return cmd_invite(args);
}

}  // namespace tianshu::app
