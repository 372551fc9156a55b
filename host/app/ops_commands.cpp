// `tianshu logs`, `tianshu stats`, `tianshu status`: what the gateway did and how it stands,
// read from the store. Logs page newest first and export as CSV without holding the rows in
// memory; every time flag takes ISO-8601 UTC, a date or an age ("7d").
#include <cctype>
#include <chrono>
#include <climits>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>

#include "app/cli_args.hpp"
#include "app/command_support.hpp"
#include "hub/money.hpp"
#include "service/logs.hpp"
#include "store/api_keys.hpp"
#include "store/channels.hpp"
#include "store/migrations.hpp"
#include "store/request_logs.hpp"
#include "store/users.hpp"
#include "upstream/http_client.hpp"

namespace tianshu::app {

using core::Error;
using Json = nlohmann::json;
namespace chr = std::chrono;

namespace {

//! Rows between two progress lines of a CSV export.
constexpr long long kExportProgressEvery = 10'000;
constexpr int kDefaultLogLimit = 50;

long long now_ms() {
    return chr::duration_cast<chr::milliseconds>(chr::system_clock::now().time_since_epoch())
        .count();
}

//! Midnight UTC of the day `ms` falls in.
long long day_start_ms(long long ms) {
    constexpr long long day = 86'400'000;
    return ms - ((ms % day) + day) % day;
}

//! Unix milliseconds as "2026-11-22T10:00:00.123Z"; `with_ms` false drops the fraction.
std::string iso_time(long long ms, bool with_ms = true) {
    chr::sys_time<chr::milliseconds> t{chr::milliseconds(ms)};
    auto day = chr::floor<chr::days>(t);
    chr::year_month_day ymd{day};
    chr::hh_mm_ss hms{t - day};
    char buf[40];
    std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    std::string out = buf;
    if (with_ms) {
        std::snprintf(buf, sizeof buf, ".%03d", static_cast<int>(hms.subseconds().count()));
        out += buf;
    }
    return out + "Z";
}

bool digits(const std::string& s, size_t from, size_t count) {
    if (from + count > s.size()) return false;
    for (size_t i = from; i < from + count; ++i)
        if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
    return true;
}

int number(const std::string& s, size_t from, size_t count) {
    return std::stoi(s.substr(from, count));
}

//! Parses a time flag: ISO-8601 UTC ("2026-11-22T10:00:00Z", seconds and fraction optional),
//! a date ("2026-11-22", midnight UTC) or an age before `now` ("90s", "30m", "12h", "7d",
//! "2w"). Returns Unix milliseconds; the error names the flag and the accepted forms.
core::Result<long long> parse_time_flag(const std::string& flag, const std::string& text,
                                        long long now) {
    auto bad = [&](const std::string& why) {
        return Error::invalid(flag + " '" + text + "' " + why +
                              ": use ISO-8601 UTC (2026-11-22T10:00:00Z), a date (2026-11-22) "
                              "or an age (30m, 12h, 7d)");
    };
    if (text.size() >= 2 && digits(text, 0, text.size() - 1)) {
        static const std::map<char, long long> unit_ms{
            {'s', 1'000}, {'m', 60'000}, {'h', 3'600'000}, {'d', 86'400'000}, {'w', 604'800'000}};
        auto unit = unit_ms.find(text.back());
        if (unit == unit_ms.end()) return bad("has an unknown unit (s, m, h, d or w)");
        if (text.size() > 10) return bad("is too far back");
        return now - std::stoll(text.substr(0, text.size() - 1)) * unit->second;
    }
    if (!digits(text, 0, 4) || text.size() < 10 || text[4] != '-' || !digits(text, 5, 2) ||
        text[7] != '-' || !digits(text, 8, 2))
        return bad("is not a time");
    chr::year_month_day ymd{chr::year(number(text, 0, 4)),
                            chr::month(static_cast<unsigned>(number(text, 5, 2))),
                            chr::day(static_cast<unsigned>(number(text, 8, 2)))};
    if (!ymd.ok()) return bad("is not a calendar date");
    long long ms =
        chr::duration_cast<chr::milliseconds>(chr::sys_days(ymd).time_since_epoch()).count();
    if (text.size() == 10) return ms;
    // 2026-11-22T10:00[:00[.123]]Z
    if ((text[10] != 'T' && text[10] != 't') || !digits(text, 11, 2) || text.size() < 17 ||
        text[13] != ':' || !digits(text, 14, 2))
        return bad("is not a time");
    int h = number(text, 11, 2), mi = number(text, 14, 2), s = 0;
    size_t at = 16;
    long long frac_ms = 0;
    if (at < text.size() && text[at] == ':') {
        if (!digits(text, at + 1, 2)) return bad("is not a time");
        s = number(text, at + 1, 2);
        at += 3;
        if (at < text.size() && text[at] == '.') {
            size_t n = 0;
            long long scale = 100;
            for (++at; at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]));
                 ++at, ++n) {
                frac_ms += (text[at] - '0') * scale;
                scale /= 10;
            }
            if (n == 0) return bad("is not a time");
        }
    }
    if (at + 1 != text.size() || (text[at] != 'Z' && text[at] != 'z'))
        return bad("must end in Z (times are UTC)");
    if (h > 23 || mi > 59 || s > 59) return bad("is not a time of day");
    return ms + ((h * 60LL + mi) * 60 + s) * 1000 + frac_ms;
}

//! One CSV field (RFC 4180): quoted when it holds a comma, quote or line break, with quotes
//! doubled; as is otherwise.
std::string csv_field(const std::string& v) {
    if (v.find_first_of(",\"\r\n") == std::string::npos &&
        (v.empty() || (v.front() != ' ' && v.back() != ' ')))
        return v;
    std::string out = "\"";
    for (char c : v) {
        if (c == '"') out += '"';
        out += c;
    }
    return out + "\"";
}

//! Who's who for display: user and key names by id, read once per command.
struct Names {
    std::map<long long, std::string> users;
    std::map<long long, std::string> keys;
    std::string user(long long id) const {
        auto it = users.find(id);
        return it == users.end() ? "#" + std::to_string(id) : it->second;
    }
    std::string key(std::optional<long long> id) const {
        if (!id) return "";
        auto it = keys.find(*id);
        return it == keys.end() ? "#" + std::to_string(*id) : it->second;
    }
};

core::Result<Names> load_names(store::Database& db) {
    Names n;
    auto users = store::users::list(db);
    if (!users) return users.take_error();
    for (const auto& u : users.value()) n.users[u.id] = u.name;
    auto keys = store::api_keys::list(db);
    if (!keys) return keys.take_error();
    for (const auto& k : keys.value()) n.keys[k.id] = k.name;
    return n;
}

const std::vector<std::string> kCsvHeader{"id",
                                          "time",
                                          "user",
                                          "key",
                                          "channel",
                                          "requested_model",
                                          "upstream_model",
                                          "input_tokens",
                                          "output_tokens",
                                          "cache_read_tokens",
                                          "cache_write_tokens",
                                          "reasoning_tokens",
                                          "cost",
                                          "latency_ms",
                                          "ttft_ms",
                                          "status",
                                          "error_kind",
                                          "client_ip",
                                          "retries",
                                          "stream"};

std::vector<std::string> csv_row(const store::RequestLog& r, const Names& names) {
    return {std::to_string(r.id),
            iso_time(r.created_at_ms),
            names.user(r.user_id),
            names.key(r.key_id),
            r.channel,
            r.requested_model,
            r.upstream_model,
            std::to_string(r.input_tokens),
            std::to_string(r.output_tokens),
            std::to_string(r.cache_read_tokens),
            std::to_string(r.cache_write_tokens),
            std::to_string(r.reasoning_tokens),
            hub::format_money(r.cost),
            std::to_string(r.latency_ms),
            std::to_string(r.ttft_ms),
            std::to_string(r.status),
            r.error_kind,
            r.client_ip,
            std::to_string(r.retries),
            r.stream ? "true" : "false"};
}

Json log_json(const store::RequestLog& r, const Names& names) {
    Json j = service::logs::log_json(r, names.user(r.user_id));
    j["time"] = iso_time(r.created_at_ms);
    j["key"] = names.key(r.key_id);
    return j;
}

std::vector<std::string> table_row(const store::RequestLog& r, const Names& names) {
    std::string model = r.requested_model;
    if (!r.upstream_model.empty() && r.upstream_model != r.requested_model)
        model += "->" + r.upstream_model;
    return {std::to_string(r.id),
            iso_time(r.created_at_ms, false),
            names.user(r.user_id),
            names.key(r.key_id),
            r.channel,
            model,
            std::to_string(r.input_tokens) + "/" + std::to_string(r.output_tokens) + "/" +
                std::to_string(r.cache_read_tokens + r.cache_write_tokens),
            hub::format_money(r.cost),
            std::to_string(r.latency_ms) + " ms",
            std::to_string(r.ttft_ms) + " ms",
            std::to_string(r.status),
            r.client_ip,
            std::to_string(r.retries)};
}

void print_totals(const store::UsageTotals& t) {
    print_table({"SPEND", "REQUESTS", "ACTIVE USERS", "TOKENS IN", "TOKENS OUT", "CACHE READ",
                 "CACHE WRITE", "REASONING"},
                {{hub::format_money(t.spend), std::to_string(t.requests),
                  std::to_string(t.active_users), std::to_string(t.input_tokens),
                  std::to_string(t.output_tokens), std::to_string(t.cache_read_tokens),
                  std::to_string(t.cache_write_tokens), std::to_string(t.reasoning_tokens)}});
}

//! --since/--until into the filter; `since_default` when --since is absent.
core::Result<void> read_window(const ParsedArgs& a, store::RequestLogFilter& f,
                               std::optional<long long> since_default) {
    const long long now = now_ms();
    if (auto s = a.option("--since")) {
        auto t = parse_time_flag("--since", *s, now);
        if (!t) return t.take_error();
        f.from_ms = t.value();
    } else {
        f.from_ms = since_default;
    }
    if (auto u = a.option("--until")) {
        auto t = parse_time_flag("--until", *u, now);
        if (!t) return t.take_error();
        f.to_ms = t.value();
    }
    if (f.from_ms && f.to_ms && *f.from_ms >= *f.to_ms)
        return Error::invalid("--since " + iso_time(*f.from_ms) + " is not before --until " +
                              iso_time(*f.to_ms) + ": swap them or widen the window");
    return {};
}

// ---- logs ----------------------------------------------------------------------------------

int logs_prune(const ParsedArgs& a, store::Database& db) {
    auto older = a.option("--older-than");
    if (!older)
        return input_error(
            Error::invalid("--older-than is required: e.g. `tianshu logs prune --older-than 30d`"));
    for (const auto& f : {"--user", "--key-id", "--channel", "--model", "--status", "--route",
                          "--since", "--until", "--limit", "--before-id", "--csv"})
        if (a.option(f))
            return input_error(Error::invalid(std::string(f) +
                                              " does not apply to `logs prune`: it deletes every "
                                              "row older than --older-than"));
    auto cutoff = parse_time_flag("--older-than", *older, now_ms());
    if (!cutoff) return input_error(cutoff.error());
    auto deleted = store::request_logs::prune(db, cutoff.value());
    if (!deleted) return fail(deleted.error());
    if (a.flag("--json"))
        std::cout
            << Json{{"deleted", deleted.value()}, {"older_than", iso_time(cutoff.value())}}.dump()
            << "\n";
    else
        std::cout << "deleted " << deleted.value() << " log row"
                  << (deleted.value() == 1 ? "" : "s") << " older than "
                  << iso_time(cutoff.value(), false) << "\n";
    return kOk;
}

int logs_export(const ParsedArgs& a, store::Database& db, const store::RequestLogFilter& filter,
                const Names& names, const std::string& target) {
    std::ofstream file;
    const bool to_stdout = target == "-";
    if (!to_stdout) {
        file.open(target, std::ios::binary | std::ios::trunc);
        if (!file)
            return input_error(Error::invalid("--csv '" + target + "': cannot write it (" +
                                              std::strerror(errno) +
                                              "); pass a writable path or '-' for stdout"));
    }
    std::ostream& out = to_stdout ? std::cout : file;
    auto write = [&](const std::vector<std::string>& fields) {
        for (size_t i = 0; i < fields.size(); ++i) out << (i ? "," : "") << csv_field(fields[i]);
        out << "\r\n";
    };
    write(kCsvHeader);
    long long written = 0;
    auto count = store::request_logs::for_each(db, filter, [&](const store::RequestLog& r) {
        write(csv_row(r, names));
        if (++written % kExportProgressEvery == 0)
            std::cerr << written << " rows exported" << std::endl;
        return static_cast<bool>(out);
    });
    out.flush();
    if (!count) return fail(count.error());
    if (!out)
        return fail(Error::internal_error("--csv '" + target + "': writing failed after " +
                                          std::to_string(written) +
                                          " rows (disk full?); the file is incomplete"));
    if (a.flag("--json") && !to_stdout)
        std::cout << Json{{"exported", written}, {"file", target}}.dump() << "\n";
    else
        std::cerr << "exported " << written << " row" << (written == 1 ? "" : "s") << " to "
                  << (to_stdout ? "stdout" : target) << "\n";
    return kOk;
}

}  // namespace

int cmd_logs(const std::vector<std::string>& args) {
    CommandSpec spec{
        "tianshu logs [--user NAME] [--key-id ID] [--channel C] [--model M] [--status CODE] "
        "[--route SCENARIO] [--request-id ID] "
        "[--since TIME] [--until TIME] [--limit N] [--before-id ID] [--csv FILE|-] [--data DIR] "
        "[--json]\n       tianshu logs prune --older-than TIME [--data DIR] [--json]\n"
        "TIME: 2026-11-22T10:00:00Z, 2026-11-22, or an age such as 30m, 12h, 7d\n"
        "SCENARIO: the route decision's scenario, e.g. passthrough (no strategy decided), main, "
        "subagent, background",
        store_options({"--user", "--key-id", "--channel", "--model", "--status", "--since",
                       "--until", "--limit", "--before-id", "--csv", "--older-than", "--request-id",
                       "--route"}),
        {"--json"},
        0,
        1};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    const bool prune = !a->positional.empty();
    if (prune && a->positional[0] != "prune")
        return input_error(Error::invalid("unknown logs command '" + a->positional[0] +
                                          "'\nusage: " + spec.usage));
    if (!prune && a->option("--older-than"))
        return input_error(
            Error::invalid("--older-than belongs to `tianshu logs prune`; to list old rows use "
                           "--until TIME"));

    store::RequestLogFilter filter;
    if (auto ok = read_window(a.value(), filter, std::nullopt); !ok && !prune)
        return input_error(ok.error());
    std::optional<long long> before_id;
    int limit = kDefaultLogLimit;
    if (!prune) {
        if (auto k = a->option("--key-id")) {
            auto v = parse_count("--key-id", *k, 1, LLONG_MAX);
            if (!v) return input_error(v.error());
            filter.key_id = v.value();
        }
        if (auto s = a->option("--status")) {
            auto v = parse_count("--status", *s, 100, 599);
            if (!v) return input_error(v.error());
            filter.status = static_cast<int>(v.value());
        }
        if (auto l = a->option("--limit")) {
            auto v = parse_count("--limit", *l, 1, 1000);
            if (!v) return input_error(v.error());
            limit = static_cast<int>(v.value());
        }
        if (auto b = a->option("--before-id")) {
            auto v = parse_count("--before-id", *b, 1, LLONG_MAX);
            if (!v) return input_error(v.error());
            before_id = v.value();
        }
        if (auto c = a->option("--channel")) filter.channel = *c;
        if (auto m = a->option("--model")) filter.model = *m;
        if (auto id = a->option("--request-id")) filter.request_id = *id;
        if (auto r = a->option("--route")) filter.route = *r;
        if (a->option("--csv") && (a->option("--limit") || before_id))
            return input_error(Error::invalid(
                "--limit and --before-id page the table; --csv exports every matching row, so "
                "leave them out (narrow the export with --since/--until instead)"));
    }
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    if (prune) return logs_prune(a.value(), *db.value());
    if (auto u = a->option("--user")) {
        auto user = require_user_named(*db.value(), "--user", *u);
        if (!user) return store_error(user.error());
        filter.user_id = user->id;
    }
    auto names = load_names(*db.value());
    if (!names) return fail(names.error());
    if (auto csv = a->option("--csv"))
        return logs_export(a.value(), *db.value(), filter, names.value(), *csv);

    auto page = store::request_logs::query(*db.value(), filter, limit, before_id);
    if (!page) return fail(page.error());
    if (a->flag("--json")) {
        Json rows = Json::array();
        for (const auto& r : page->rows) rows.push_back(log_json(r, names.value()));
        std::cout << Json{{"rows", rows},
                          {"next_before_id",
                           page->next_before_id ? Json(*page->next_before_id) : Json(nullptr)}}
                         .dump(2)
                  << "\n";
        return kOk;
    }
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : page->rows) rows.push_back(table_row(r, names.value()));
    print_table({"ID", "TIME", "USER", "KEY", "CHANNEL", "MODEL", "TOKENS IN/OUT/CACHE", "COST",
                 "LATENCY", "TTFT", "STATUS", "IP", "RETRIES"},
                rows);
    std::cout << rows.size() << " row" << (rows.size() == 1 ? "" : "s");
    if (page->next_before_id)
        std::cout << "; older rows: add --before-id " << *page->next_before_id;
    std::cout << "\n";
    return kOk;
}

// ---- stats ---------------------------------------------------------------------------------

int cmd_stats(const std::vector<std::string>& args) {
    CommandSpec spec{
        "tianshu stats [--since TIME] [--until TIME] [--by model|upstream-model|channel] "
        "[--bucket minute|hour|day] [--data DIR] [--json]\n"
        "TIME: 2026-11-22T10:00:00Z, 2026-11-22, or an age such as 30m, 12h, 7d "
        "(default: since today 00:00 UTC)",
        store_options({"--since", "--until", "--by", "--bucket"}),
        {"--json"},
        0,
        0};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    store::RequestLogFilter filter;
    if (auto ok = read_window(a.value(), filter, day_start_ms(now_ms())); !ok)
        return input_error(ok.error());
    const std::string by = a->option_or("--by", "model");
    store::StatsDimension dimension;
    if (by == "model")
        dimension = store::StatsDimension::requested_model;
    else if (by == "upstream-model")
        dimension = store::StatsDimension::upstream_model;
    else if (by == "channel")
        dimension = store::StatsDimension::channel;
    else
        return input_error(
            Error::invalid("--by '" + by + "' must be model, upstream-model or channel"));
    const std::string bucket_name = a->option_or("--bucket", "hour");
    store::StatsBucket bucket;
    if (bucket_name == "minute")
        bucket = store::StatsBucket::minute;
    else if (bucket_name == "hour")
        bucket = store::StatsBucket::hour;
    else if (bucket_name == "day")
        bucket = store::StatsBucket::day;
    else
        return input_error(
            Error::invalid("--bucket '" + bucket_name + "' must be minute, hour or day"));

    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    auto totals = store::request_logs::totals(*db.value(), filter);
    if (!totals) return fail(totals.error());
    auto buckets = store::request_logs::breakdown(*db.value(), filter, dimension, bucket);
    if (!buckets) return fail(buckets.error());

    if (a->flag("--json")) {
        Json rows = Json::array();
        for (const auto& b : buckets.value())
            rows.push_back({{"bucket", iso_time(b.bucket_start_ms, false)},
                            {"bucket_start_ms", b.bucket_start_ms},
                            {by, b.key},
                            {"requests", b.requests},
                            {"errors", b.errors},
                            {"spend", hub::format_money(b.spend)},
                            {"spend_micros", b.spend},
                            {"input_tokens", b.input_tokens},
                            {"output_tokens", b.output_tokens}});
        std::cout << Json{{"since", iso_time(*filter.from_ms, false)},
                          {"until",
                           filter.to_ms ? Json(iso_time(*filter.to_ms, false)) : Json(nullptr)},
                          {"totals", service::logs::totals_json(totals.value())},
                          {"by", by},
                          {"bucket", bucket_name},
                          {"breakdown", rows}}
                         .dump(2)
                  << "\n";
        return kOk;
    }
    std::cout << "since " << iso_time(*filter.from_ms, false);
    if (filter.to_ms) std::cout << " until " << iso_time(*filter.to_ms, false);
    std::cout << "\n";
    print_totals(totals.value());
    std::cout << "\n";
    std::vector<std::vector<std::string>> rows;
    for (const auto& b : buckets.value())
        rows.push_back({iso_time(b.bucket_start_ms, false), b.key, std::to_string(b.requests),
                        std::to_string(b.errors), hub::format_money(b.spend),
                        std::to_string(b.input_tokens), std::to_string(b.output_tokens)});
    std::string dim_header = by == "channel" ? "CHANNEL" : "MODEL";
    print_table({bucket_name == "day"    ? "DAY"
                 : bucket_name == "hour" ? "HOUR"
                                         : "MINUTE",
                 dim_header, "REQUESTS", "ERRORS", "SPEND", "TOKENS IN", "TOKENS OUT"},
                rows);
    return kOk;
}

// ---- status --------------------------------------------------------------------------------

namespace {

//! GET URL/healthz: "" when the server answered 200, else what went wrong.
std::string probe_server(const std::string& url, int& status, std::string& body) {
    upstream::HttpRequestSpec req;
    req.method = "GET";
    std::string base = url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    req.url = base + "/healthz";
    req.connect_timeout = chr::milliseconds(3'000);
    req.first_byte_timeout = chr::milliseconds(5'000);
    req.idle_timeout = chr::milliseconds(5'000);
    auto head = upstream::HttpClientPool::shared().send(
        req, [&](const upstream::HttpResponseHead&, std::string_view chunk) {
            if (body.size() < 4096) body.append(chunk.substr(0, 4096 - body.size()));
            return true;
        });
    if (!head) return head.error().message;
    status = head->status;
    if (status != 200) return "GET " + req.url + " answered " + std::to_string(status);
    return {};
}

}  // namespace

int cmd_status(const std::vector<std::string>& args) {
    CommandSpec spec{"tianshu status [--url http://HOST:PORT] [--data DIR] [--db URL] [--json]",
                     store_options({"--url"}),
                     {"--json"},
                     0,
                     0};
    auto a = parse_args(args, spec);
    if (!a) return input_error(a.error());
    auto url = a->option("--url");
    if (url && url->rfind("http://", 0) != 0 && url->rfind("https://", 0) != 0)
        return input_error(Error::invalid("--url '" + *url +
                                          "' must start with http:// or https://, e.g. "
                                          "http://127.0.0.1:8080"));
    auto db = open_store(a.value());
    if (!db) return fail(db.error());
    store::Database& d = *db.value();
    auto schema = store::schema_version(d);
    if (!schema) return fail(schema.error());
    auto users = store::users::count(d);
    if (!users) return fail(users.error());
    auto keys = store::api_keys::list(d);
    if (!keys) return fail(keys.error());
    auto channels = store::channels::list(d);
    if (!channels) return fail(channels.error());
    store::RequestLogFilter today;
    today.from_ms = day_start_ms(now_ms());
    auto totals = store::request_logs::totals(d, today);
    if (!totals) return fail(totals.error());

    long long live_keys = 0, revoked_keys = 0;
    for (const auto& k : keys.value()) (k.revoked_at ? revoked_keys : live_keys)++;
    long long channels_on = 0, channels_off = 0, upstream_on = 0, upstream_off = 0;
    for (const auto& c : channels.value()) {
        (c.enabled ? channels_on : channels_off)++;
        for (const auto& k : c.keys) (k.enabled ? upstream_on : upstream_off)++;
    }
    int server_status = 0;
    std::string server_body, server_problem;
    if (url) server_problem = probe_server(*url, server_status, server_body);
    const bool listening = url && server_problem.empty();

    if (a->flag("--json")) {
        Json server = nullptr;
        if (url) {
            Json health = Json::parse(server_body, nullptr, false);
            server = {{"url", *url},
                      {"listening", listening},
                      {"http_status", server_status},
                      {"health", health.is_discarded() ? Json(server_body) : health},
                      {"error", server_problem}};
        }
        std::cout << Json{{"schema_version", schema.value()},
                          {"schema_version_expected", store::known_schema_version()},
                          {"database", {{"kind", d.dialect()}, {"url", d.redacted_url()}}},
                          {"users", users.value()},
                          {"api_keys", {{"live", live_keys}, {"revoked", revoked_keys}}},
                          {"channels", {{"enabled", channels_on}, {"disabled", channels_off}}},
                          {"channel_keys", {{"enabled", upstream_on}, {"disabled", upstream_off}}},
                          {"today", service::logs::totals_json(totals.value())},
                          {"server", server}}
                         .dump(2)
                  << "\n";
    } else {
        print_table({"WHAT", "VALUE"},
                    {{"database", d.dialect() + " " + d.redacted_url()},
                     {"schema version", std::to_string(schema.value()) + " (this binary: " +
                                            std::to_string(store::known_schema_version()) + ")"},
                     {"users", std::to_string(users.value())},
                     {"api keys", std::to_string(live_keys) + " live, " +
                                      std::to_string(revoked_keys) + " revoked"},
                     {"channels", std::to_string(channels_on) + " enabled, " +
                                      std::to_string(channels_off) + " disabled"},
                     {"upstream keys", std::to_string(upstream_on) + " enabled, " +
                                           std::to_string(upstream_off) + " disabled"},
                     {"server", !url        ? "not checked (pass --url)"
                                : listening ? "listening at " + *url
                                            : "NOT answering at " + *url + ": " + server_problem}});
        std::cout << "\ntoday (since " << iso_time(*today.from_ms, false) << "):\n";
        print_totals(totals.value());
    }
    return url && !listening ? kFailed : kOk;
}

}  // namespace tianshu::app
