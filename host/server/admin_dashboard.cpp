// Admin routes for the panel's Dashboard and Health pages, and a caller's own usage: all read
// the hour and day usage rollups (store/rollups.hpp), never the request log, so they answer in
// the same time over a month of millions of rows as over an idle day.
#include <algorithm>
#include <chrono>
#include <map>

#include "server/admin_support.hpp"
#include "store/channels.hpp"
#include "store/rollups.hpp"

namespace tianshu::server::admin {

using store::RollupDimension;
using store::RollupGranularity;
using store::UsageRollup;

namespace {

//! A range the routes accept: how many buckets of which width, ending with the current one.
struct Range {
    std::string name;  //!< "24h", "7d", "30d"
    RollupGranularity granularity = RollupGranularity::hour;
    long long buckets = 24;
    long long from_ms = 0;  //!< the first bucket's start
    long long to_ms = 0;    //!< the end of the current bucket
};

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

//! `range` from the query (default 24h), one of `allowed`.
core::Result<Range> range_of(const Context& ctx, std::initializer_list<std::string_view> allowed) {
    const std::string name = query_param(ctx.call, "range").value_or("24h");
    std::string list;
    bool known = false;
    for (std::string_view a : allowed) {
        list += (list.empty() ? "" : ", ") + std::string(a);
        known = known || a == name;
    }
    if (!known)
        return core::Error::invalid("range '" + name + "' is not one of " + list +
                                    ": pass e.g. range=24h (hourly buckets) or range=7d (daily)");
    Range r;
    r.name = name;
    if (name != "24h") {
        r.granularity = RollupGranularity::day;
        r.buckets = name == "7d" ? 7 : 30;
    }
    const long long width = store::rollups::width_ms(r.granularity);
    const long long now = now_ms();
    r.to_ms = now - now % width + width;
    r.from_ms = r.to_ms - r.buckets * width;
    return r;
}

store::RollupQuery query_of(const Range& r, RollupDimension d) {
    return store::RollupQuery{r.granularity, d, r.from_ms, r.to_ms, std::nullopt};
}

//! Requests, errors, spend and tokens of a rollup (or of a sum of them).
Json usage_json(const UsageRollup& u) {
    return Json{
        {"requests", u.requests},
        {"errors", u.errors},
        {"error_rate", u.requests ? static_cast<double>(u.errors) / u.requests : 0.0},
        {"spend", money(u.cost)},
        {"input_tokens", u.input_tokens},
        {"output_tokens", u.output_tokens},
        {"cache_read_tokens", u.cache_read_tokens},
        {"cache_write_tokens", u.cache_write_tokens},
        {"reasoning_tokens", u.reasoning_tokens},
        {"avg_latency_ms", u.requests ? Json(u.latency_ms_sum / u.requests) : Json(nullptr)},
        {"max_latency_ms", u.latency_ms_max}};
}

//! One entry per bucket of the range, empty buckets included (charts need no gaps).
std::vector<UsageRollup> slots_of(const Range& r, const std::vector<UsageRollup>& rows) {
    const long long width = store::rollups::width_ms(r.granularity);
    std::vector<UsageRollup> slots(static_cast<std::size_t>(r.buckets));
    for (long long i = 0; i < r.buckets; ++i)
        slots[static_cast<std::size_t>(i)].bucket_start_ms = r.from_ms + i * width;
    for (const UsageRollup& u : rows) {
        const long long i = (u.bucket_start_ms - r.from_ms) / width;
        if (i >= 0 && i < r.buckets) store::rollups::add(slots[static_cast<std::size_t>(i)], u);
    }
    return slots;
}

Json series_json(const std::vector<UsageRollup>& slots) {
    Json series = Json::array();
    for (const UsageRollup& s : slots) {
        Json point = usage_json(s);
        point["bucket_start"] = s.bucket_start_ms;
        series.push_back(std::move(point));
    }
    return series;
}

UsageRollup total_of(const std::vector<UsageRollup>& slots) {
    UsageRollup sum;
    for (const UsageRollup& s : slots) store::rollups::add(sum, s);
    return sum;
}

Json range_json(const Range& r) {
    return Json{{"range", r.name},
                {"granularity", r.granularity == RollupGranularity::hour ? "hour" : "day"},
                {"from", r.from_ms},
                {"to", r.to_ms}};
}

//! A channel is failing when at least half of its requests in the current and the previous
//! hour failed (status >= 400), counting at least kFailingMinRequests.
constexpr long long kFailingMinRequests = 3;

//! The hourly channel rollups of the current and the previous hour, summed per channel.
core::Result<std::map<std::string, UsageRollup>> recent_by_channel(store::Database& db) {
    const long long now = now_ms();
    const long long to = now - now % store::rollups::kHourMs + store::rollups::kHourMs;
    auto rows = store::rollups::per_key(db, {RollupGranularity::hour, RollupDimension::channel,
                                             to - 2 * store::rollups::kHourMs, to, std::nullopt});
    if (!rows) return rows.take_error();
    std::map<std::string, UsageRollup> out;
    for (UsageRollup& u : rows.value()) out[u.key] = std::move(u);
    return out;
}

std::string channel_state(bool enabled, bool has_usable_key,
                          const std::map<std::string, UsageRollup>& recent,
                          const std::string& name) {
    if (!enabled) return "disabled";
    if (!has_usable_key) return "no_keys";
    auto it = recent.find(name);
    if (it != recent.end() && it->second.requests >= kFailingMinRequests &&
        it->second.errors * 2 >= it->second.requests)
        return "failing";
    return "ok";
}

//! Disabled, keyless and failing channels first, then by name.
int state_rank(const std::string& state) {
    if (state == "disabled") return 0;
    if (state == "no_keys") return 1;
    if (state == "failing") return 2;
    if (state == "removed") return 4;
    return 3;
}

//! Every stored channel, and every channel name the rollups hold that is no longer stored
//! (state "removed"), with its state and usage over `usage`; problems first.
core::Result<Json> channels_json(Context& ctx, const std::vector<UsageRollup>& usage,
                                 bool with_keys, const std::map<std::string, Json>* slots) {
    auto stored = store::channels::list(ctx.db);
    if (!stored) return stored.take_error();
    auto recent = recent_by_channel(ctx.db);
    if (!recent) return recent.take_error();
    std::map<std::string, const UsageRollup*> used;
    for (const UsageRollup& u : usage)
        if (!u.key.empty()) used[u.key] = &u;
    std::vector<Json> rows;
    const auto usage_of = [&](Json& j, const std::string& name) {
        auto it = used.find(name);
        const UsageRollup none;
        const UsageRollup& u = it == used.end() ? none : *it->second;
        j.update(usage_json(u));
        j["availability"] = u.requests
                                ? Json(static_cast<double>(u.requests - u.errors) / u.requests)
                                : Json(nullptr);
        j["last_request_at"] = u.last_at_ms ? Json(u.last_at_ms) : Json(nullptr);
        auto r = recent->find(name);
        j["latest_latency_ms"] = r != recent->end() && r->second.requests
                                     ? Json(r->second.latency_ms_sum / r->second.requests)
                                     : Json(nullptr);
        if (slots) {
            auto s = slots->find(name);
            j["slots"] = s == slots->end() ? Json::array() : s->second;
        }
    };
    for (const store::Channel& c : stored.value()) {
        bool usable = false;
        Json keys = Json::array();
        for (const store::ChannelKey& k : c.keys) {
            usable = usable || k.enabled;
            keys.push_back(
                Json{{"id", k.id},
                     {"state", k.enabled ? "enabled" : "disabled"},
                     {"disabled_reason", k.disabled_reason},
                     {"disabled_at", k.disabled_at ? Json(*k.disabled_at) : Json(nullptr)}});
        }
        Json j{{"id", c.id},
               {"name", c.name},
               {"type", c.type},
               {"enabled", c.enabled},
               {"priority", c.priority},
               {"state", channel_state(c.enabled, usable, recent.value(), c.name)}};
        if (with_keys) j["keys"] = std::move(keys);
        usage_of(j, c.name);
        rows.push_back(std::move(j));
    }
    // Channels that served in the range but were deleted since.
    std::vector<std::string> removed;
    for (const auto& entry : used) removed.push_back(entry.first);
    for (const store::Channel& c : stored.value())
        removed.erase(std::remove(removed.begin(), removed.end(), c.name), removed.end());
    for (const std::string& name : removed) {
        Json j{{"id", nullptr},    {"name", name},        {"type", nullptr},
               {"enabled", false}, {"priority", nullptr}, {"state", "removed"}};
        if (with_keys) j["keys"] = Json::array();
        usage_of(j, name);
        rows.push_back(std::move(j));
    }
    std::stable_sort(rows.begin(), rows.end(), [](const Json& a, const Json& b) {
        const int ra = state_rank(a["state"].get<std::string>());
        const int rb = state_rank(b["state"].get<std::string>());
        if (ra != rb) return ra < rb;
        return a["name"].get<std::string>() < b["name"].get<std::string>();
    });
    Json out = Json::array();
    for (Json& j : rows) out.push_back(std::move(j));
    return out;
}

core::Result<void> need_admin(const Context& ctx) {
    if (ctx.caller.role == "admin" || ctx.caller.role == "root") return {};
    return permission("GET /" + ctx.segments[0] +
                      " shows every user's usage: only admins and roots " +
                      "may read it; GET /admin/api/me/usage shows your own");
}

constexpr int kTop = 10;

//! GET /dashboard?range=24h|7d|30d
Outcome dashboard(Context& ctx) {
    if (auto ok = need_admin(ctx); !ok) return ok.take_error();
    auto range = range_of(ctx, {"24h", "7d", "30d"});
    if (!range) return range.take_error();
    const Range& r = range.value();
    auto all = store::rollups::read(ctx.db, query_of(r, RollupDimension::all));
    if (!all) return all.take_error();
    auto models = store::rollups::per_key(ctx.db, query_of(r, RollupDimension::model), kTop);
    if (!models) return models.take_error();
    auto channels = store::rollups::per_key(ctx.db, query_of(r, RollupDimension::channel));
    if (!channels) return channels.take_error();
    auto users = store::rollups::per_key(ctx.db, query_of(r, RollupDimension::user));
    if (!users) return users.take_error();
    // Today (UTC), whatever the range: the day rollups of today.
    const long long now = now_ms();
    const long long today = now - now % store::rollups::kDayMs;
    store::RollupQuery today_q{RollupGranularity::day, RollupDimension::all, today,
                               today + store::rollups::kDayMs, std::nullopt};
    auto today_all = store::rollups::read(ctx.db, today_q);
    if (!today_all) return today_all.take_error();
    today_q.dimension = RollupDimension::user;
    auto today_users = store::rollups::per_key(ctx.db, today_q);
    if (!today_users) return today_users.take_error();

    const auto slots = slots_of(r, all.value());
    Json body = range_json(r);
    body["generated_at"] = now;
    body["totals"] = usage_json(total_of(slots));
    body["totals"]["active_users"] = users->size();
    body["today"] = usage_json(total_of(today_all.value()));
    body["today"]["active_users"] = today_users->size();
    body["today"]["day_start"] = today;
    body["series"] = series_json(slots);

    Json top_models = Json::array();
    for (const UsageRollup& m : models.value()) {
        Json j = usage_json(m);
        j["model"] = m.key;
        top_models.push_back(std::move(j));
    }
    body["top_models"] = std::move(top_models);
    Json top_channels = Json::array();
    for (std::size_t i = 0; i < channels->size() && i < kTop; ++i) {
        Json j = usage_json((*channels)[i]);
        j["channel"] = (*channels)[i].key;
        top_channels.push_back(std::move(j));
    }
    body["top_channels"] = std::move(top_channels);
    Json top_users = Json::array();
    for (std::size_t i = 0; i < users->size() && i < kTop; ++i) {
        const UsageRollup& u = (*users)[i];
        Json j = usage_json(u);
        long long id = 0;
        try {
            id = std::stoll(u.key);
        } catch (const std::exception&) {
        }
        j["user_id"] = id;
        auto user = store::users::find_by_id(ctx.db, id);
        if (!user) return user.take_error();
        j["name"] = user.value() ? Json(user.value()->name) : Json(nullptr);
        top_users.push_back(std::move(j));
    }
    body["top_users"] = std::move(top_users);
    auto listed = channels_json(ctx, channels.value(), false, nullptr);
    if (!listed) return listed.take_error();
    body["channels"] = std::move(listed).value();
    if (ctx.options.in_flight) body["in_flight"] = ctx.options.in_flight();
    return Reply{200, std::move(body)};
}

//! GET /health?range=24h|7d
Outcome health(Context& ctx) {
    if (auto ok = need_admin(ctx); !ok) return ok.take_error();
    auto range = range_of(ctx, {"24h", "7d"});
    if (!range) return range.take_error();
    const Range& r = range.value();
    auto rows = store::rollups::read(ctx.db, query_of(r, RollupDimension::channel));
    if (!rows) return rows.take_error();
    std::map<std::string, std::vector<UsageRollup>> by_channel;
    for (const UsageRollup& u : rows.value()) by_channel[u.key].push_back(u);
    std::map<std::string, Json> slots;
    std::vector<UsageRollup> totals;
    for (const auto& [name, list] : by_channel) {
        Json bar = Json::array();
        const auto filled = slots_of(r, list);
        for (const UsageRollup& s : filled)
            bar.push_back(Json{
                {"start", s.bucket_start_ms},
                {"requests", s.requests},
                {"errors", s.errors},
                {"ok_share", s.requests
                                 ? Json(static_cast<double>(s.requests - s.errors) / s.requests)
                                 : Json(nullptr)}});
        slots[name] = std::move(bar);
        UsageRollup sum = total_of(filled);
        sum.key = name;
        totals.push_back(std::move(sum));
    }
    // Channels without traffic get a bar of empty slots too.
    Json empty_bar = Json::array();
    for (const UsageRollup& s : slots_of(r, {}))
        empty_bar.push_back(Json{
            {"start", s.bucket_start_ms}, {"requests", 0}, {"errors", 0}, {"ok_share", nullptr}});
    auto listed = channels_json(ctx, totals, true, &slots);
    if (!listed) return listed.take_error();
    for (Json& c : listed.value())
        if (c["slots"].empty()) c["slots"] = empty_bar;
    Json body = range_json(r);
    body["slots"] = r.buckets;
    body["channels"] = std::move(listed).value();
    return Reply{200, std::move(body)};
}

//! GET /me/usage?range=24h|7d|30d: the caller's own totals and series.
Outcome my_usage(Context& ctx) {
    auto range = range_of(ctx, {"24h", "7d", "30d"});
    if (!range) return range.take_error();
    const Range& r = range.value();
    store::RollupQuery q = query_of(r, RollupDimension::user);
    q.key = std::to_string(ctx.caller.user_id);
    auto rows = store::rollups::read(ctx.db, q);
    if (!rows) return rows.take_error();
    const auto slots = slots_of(r, rows.value());
    Json body = range_json(r);
    body["user_id"] = ctx.caller.user_id;
    body["totals"] = usage_json(total_of(slots));
    body["series"] = series_json(slots);
    return Reply{200, std::move(body)};
}

}  // namespace

std::optional<Outcome> route_dashboard(Context& ctx) {
    const auto& s = ctx.segments;
    const bool dashboard_or_health = s.size() == 1 && (s[0] == "dashboard" || s[0] == "health");
    const bool me_usage = s.size() == 2 && s[0] == "me" && s[1] == "usage";
    if (!dashboard_or_health && !me_usage) return std::nullopt;
    if (ctx.call.method != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
    if (me_usage) return my_usage(ctx);
    return s[0] == "dashboard" ? dashboard(ctx) : health(ctx);
}

}  // namespace tianshu::server::admin
