// Admin routes that read the request log: pages of rows, a streamed CSV export, statistics.
#include <chrono>
#include <ctime>
#include <unordered_map>

#include "hub/money.hpp"
#include "server/admin_routes.hpp"
#include "server/admin_support.hpp"
#include "service/alerts.hpp"
#include "service/logs.hpp"
#include "store/request_logs.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

namespace {

//! Bytes of CSV gathered before one write to the client.
constexpr std::size_t kCsvChunk = 64 * 1024;
//! More buckets than this in one statistics answer is a mistake (minutes over months).
constexpr long long kMaxBuckets = 20'000;

using UserNames = std::unordered_map<long long, std::string>;

core::Result<UserNames> user_names(store::Database& db) {
    auto users = store::users::list(db);
    if (!users) return users.take_error();
    UserNames names;
    for (const auto& u : users.value()) names.emplace(u.id, u.name);
    return names;
}

std::string name_of(const UserNames& names, long long id) {
    auto it = names.find(id);
    return it == names.end() ? "#" + std::to_string(id) : it->second;
}

//! "2025-01-01T12:00:00.123Z".
std::string iso_ms(long long ms) {
    std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&seconds, &tm);
    char text[96];
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                  tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                  static_cast<int>(ms % 1000));
    return text;
}

//! The filter of /logs, /logs.csv and /stats, from the query string.
core::Result<store::RequestLogFilter> log_filter(const Context& ctx) {
    store::RequestLogFilter filter;
    if (auto user = query_param(ctx.call, "user")) {
        auto u = user_named(ctx.db, *user);
        if (!u) return u.take_error();
        filter.user_id = u->id;
    }
    auto key = query_integer(ctx.call, "key_id");
    if (!key) return key.take_error();
    filter.key_id = key.value();
    filter.channel = query_param(ctx.call, "channel");
    filter.model = query_param(ctx.call, "model");
    filter.request_id = query_param(ctx.call, "request_id");
    filter.route = query_param(ctx.call, "route");
    auto status = query_integer(ctx.call, "status");
    if (!status) return status.take_error();
    if (status.value()) {
        if (*status.value() < 100 || *status.value() > 599)
            return Error::invalid("query parameter 'status' is " + std::to_string(*status.value()) +
                                  ": send an HTTP status from 100 to 599");
        filter.status = static_cast<int>(*status.value());
    }
    auto since = query_time_ms(ctx.call, "since");
    if (!since) return since.take_error();
    filter.from_ms = since.value();
    auto until = query_time_ms(ctx.call, "until");
    if (!until) return until.take_error();
    filter.to_ms = until.value();
    if (filter.from_ms && filter.to_ms && *filter.from_ms >= *filter.to_ms)
        return Error::invalid(
            "query parameter 'since' is not before 'until': swap them or "
            "widen the range");
    return filter;
}

Json log_json(const store::RequestLog& r, const UserNames& names) {
    return service::logs::log_json(r, name_of(names, r.user_id));
}

Outcome logs_page(Context& ctx) {
    auto filter = log_filter(ctx);
    if (!filter) return filter.take_error();
    auto page = page_request(ctx.call);
    if (!page) return page.take_error();
    // before_id is the log's own name for the cursor; both mean "rows older than this id".
    auto cursor = page->cursor ? page->cursor : query_param(ctx.call, "before_id");
    std::optional<long long> before;
    if (cursor) {
        try {
            std::size_t used = 0;
            before = std::stoll(*cursor, &used);
            if (used != cursor->size()) before.reset();
        } catch (const std::exception&) {
        }
        if (!before)
            return Error::invalid("cursor '" + *cursor +
                                  "' is not a log id: pass the next_cursor of the previous page");
    }
    auto rows = store::request_logs::query(ctx.db, filter.value(), page->limit, before);
    if (!rows) return rows.take_error();
    auto names = user_names(ctx.db);
    if (!names) return names.take_error();
    Json items = Json::array();
    for (const auto& r : rows->rows) items.push_back(log_json(r, names.value()));
    return Reply{200, page_json(std::move(items), rows->next_before_id
                                                      ? std::optional<std::string>(
                                                            std::to_string(*rows->next_before_id))
                                                      : std::nullopt)};
}

//! One CSV cell: quoted when it holds a separator, quote or line break; text that a
//! spreadsheet would run as a formula (=, +, -, @) gets a leading apostrophe, because model
//! names and client addresses come from clients.
void csv_text(std::string& out, std::string_view text) {
    const bool formula = !text.empty() && (text[0] == '=' || text[0] == '+' || text[0] == '-' ||
                                           text[0] == '@' || text[0] == '\t' || text[0] == '\r');
    const bool quote = formula || text.find_first_of(",\"\r\n") != std::string_view::npos;
    if (!quote) {
        out += text;
        return;
    }
    out += '"';
    if (formula) out += '\'';
    for (char c : text) {
        if (c == '"') out += '"';
        out += c;
    }
    out += '"';
}

constexpr std::string_view kCsvHeader =
    "id,time,request_id,user,key_id,channel,requested_model,upstream_model,input_tokens,"
    "output_tokens,cache_read_tokens,cache_write_tokens,reasoning_tokens,cost,latency_ms,"
    "ttft_ms,status,error_kind,client_ip,retries,stream\r\n";

void csv_row(std::string& out, const store::RequestLog& r, const UserNames& names) {
    auto number = [&](long long v) {
        out += std::to_string(v);
        out += ',';
    };
    auto text = [&](std::string_view v) {
        csv_text(out, v);
        out += ',';
    };
    number(r.id);
    text(iso_ms(r.created_at_ms));
    text(r.request_id);
    text(name_of(names, r.user_id));
    if (r.key_id) out += std::to_string(*r.key_id);
    out += ',';
    text(r.channel);
    text(r.requested_model);
    text(r.upstream_model);
    number(r.input_tokens);
    number(r.output_tokens);
    number(r.cache_read_tokens);
    number(r.cache_write_tokens);
    number(r.reasoning_tokens);
    text(hub::format_money(r.cost));
    number(r.latency_ms);
    number(r.ttft_ms);
    number(r.status);
    text(r.error_kind);
    text(r.client_ip);
    number(r.retries);
    out += r.stream ? "true" : "false";
    out += "\r\n";
}

// ---- statistics ----------------------------------------------------------------------------

Json bucket_json(const store::UsageBucket& b) {
    return Json{{"bucket_start_ms", b.bucket_start_ms},
                {"key", b.key},
                {"requests", b.requests},
                {"spend", money(b.spend)},
                {"input_tokens", b.input_tokens},
                {"output_tokens", b.output_tokens},
                {"errors", b.errors}};
}

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Outcome stats(Context& ctx) {
    auto filter = log_filter(ctx);
    if (!filter) return filter.take_error();
    // Without 'since' the dashboard's question: today (UTC) so far.
    const long long day = static_cast<long long>(store::StatsBucket::day);
    if (!filter->from_ms) filter->from_ms = now_ms() - now_ms() % day;
    auto totals = store::request_logs::totals(ctx.db, filter.value());
    if (!totals) return totals.take_error();
    Json out{{"since_ms", *filter->from_ms},
             {"until_ms", filter->to_ms ? Json(*filter->to_ms) : Json(nullptr)},
             {"totals", service::logs::totals_json(totals.value())}};
    auto by = query_param(ctx.call, "by");
    auto bucket_name = query_param(ctx.call, "bucket");
    if (!by) {
        if (bucket_name)
            return Error::invalid(
                "query parameter 'bucket' needs 'by': send by=model, "
                "by=upstream_model or by=channel");
        return Reply{200, out};
    }
    store::StatsDimension dimension;
    if (*by == "model" || *by == "requested_model")
        dimension = store::StatsDimension::requested_model;
    else if (*by == "upstream_model")
        dimension = store::StatsDimension::upstream_model;
    else if (*by == "channel")
        dimension = store::StatsDimension::channel;
    else
        return Error::invalid("query parameter 'by' is '" + *by +
                              "': send model, upstream_model or channel");
    store::StatsBucket bucket = store::StatsBucket::hour;
    std::string bucket_text = bucket_name.value_or("hour");
    if (bucket_text == "minute")
        bucket = store::StatsBucket::minute;
    else if (bucket_text == "day")
        bucket = store::StatsBucket::day;
    else if (bucket_text != "hour")
        return Error::invalid("query parameter 'bucket' is '" + bucket_text +
                              "': send minute, hour or day");
    const long long span = filter->to_ms.value_or(now_ms()) - *filter->from_ms;
    if (span / static_cast<long long>(bucket) > kMaxBuckets)
        return Error::invalid("the range from 'since' to 'until' holds more than " +
                              std::to_string(kMaxBuckets) + " " + bucket_text +
                              " buckets: choose a wider bucket or a shorter range");
    auto rows = store::request_logs::breakdown(ctx.db, filter.value(), dimension, bucket);
    if (!rows) return rows.take_error();
    Json items = Json::array();
    for (const auto& b : rows.value()) items.push_back(bucket_json(b));
    out["by"] = *by;
    out["bucket"] = bucket_text;
    out["breakdown"] = std::move(items);
    return Reply{200, out};
}

//! GET /alerts?state=open|resolved|all&limit=N: the outbox, newest first (default: open, 100).
//! POST /alerts/{id}/resolve: resolves one.
Outcome alert_route(Context& ctx, std::string_view op) {
    const service::Env env = service_env(ctx);
    if (op == "alerts.list") {
        auto limit = query_integer(ctx.call, "limit");
        if (!limit) return limit.take_error();
        if (limit.value() && (*limit.value() < 1 || *limit.value() > 1000))
            return Error::invalid("query parameter 'limit' must be from 1 to 1000");
        auto listed = service::alerts::list(env, query_param(ctx.call, "state").value_or("open"),
                                            static_cast<int>(limit.value().value_or(100)));
        if (!listed) return listed.take_error();
        Json items = Json::array();
        for (const auto& a : listed.value()) items.push_back(service::alerts::alert_json(a));
        return Reply{200, Json{{"data", std::move(items)}}};
    }
    // alerts.resolve
    long long id = 0;
    try {
        std::size_t used = 0;
        id = std::stoll(ctx.segments[1], &used);
        if (used != ctx.segments[1].size()) id = 0;
    } catch (const std::exception&) {
        id = 0;
    }
    if (id < 1)
        return Error{ErrorKind::not_found,
                     "there is no alert with id '" + ctx.segments[1] +
                         "': GET /admin/api/alerts?state=all lists the alert ids",
                     {}};
    auto resolved = service::alerts::resolve(env, id);
    if (!resolved) return resolved.take_error();
    return Reply{200, service::alerts::alert_json(resolved.value())};
}

}  // namespace

std::optional<Outcome> route_reports(Context& ctx) {
    const auto& s = ctx.segments;
    if (s.empty() || (s[0] != "logs" && s[0] != "stats" && s[0] != "alerts")) return std::nullopt;
    const Route* route = nullptr;
    if (auto refused = unrouted(ctx, route)) return refused;
    if (!route) return std::nullopt;
    if (s[0] == "alerts") return alert_route(ctx, route->operation);
    return route->operation == "logs.list" ? logs_page(ctx) : stats(ctx);
}

void write_logs_csv(Context& ctx, ResponseWriter& out) {
    auto filter = log_filter(ctx);
    if (!filter) return send_admin_error(out, filter.error());
    auto names = user_names(ctx.db);
    if (!names) return send_admin_error(out, names.error());
    // Rows are written as the database yields them, kCsvChunk at a time: an export of
    // millions of rows never sits in memory. The status is only sent with the first chunk,
    // so an export that fails early is still a clean JSON error.
    std::string buffer(kCsvHeader);
    bool streaming = false;
    bool client_gone = false;
    auto flush = [&]() {
        if (!streaming) {
            out.set_header("Content-Type", "text/csv; charset=utf-8");
            out.set_header("Content-Disposition", "attachment; filename=\"logs.csv\"");
            if (!out.begin_stream()) return false;
            streaming = true;
        }
        bool ok = out.write(buffer);
        buffer.clear();
        return ok;
    };
    auto rows = store::request_logs::for_each(ctx.db, filter.value(), [&](const auto& row) {
        csv_row(buffer, row, names.value());
        if (buffer.size() >= kCsvChunk && !flush()) {
            client_gone = true;
            return false;
        }
        return true;
    });
    if (client_gone) return;
    if (!rows) {
        if (!streaming) return send_admin_error(out, rows.error());
        // Too late for a status: say so in the file, where whoever opens it will see it.
        buffer += "# export stopped: " + rows.error().message + "\r\n";
        (void)flush();
        return;
    }
    if (!streaming) {
        out.set_header("Content-Disposition", "attachment; filename=\"logs.csv\"");
        out.send(200, "text/csv; charset=utf-8", buffer);
        return;
    }
    (void)flush();
}

}  // namespace tianshu::server::admin
