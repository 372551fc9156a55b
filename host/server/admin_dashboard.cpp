// Admin routes for the panel's Dashboard and Health pages, and a caller's own usage: all read
// the hour and day usage rollups (store/rollups.hpp), never the request log, so they answer in
// the same time over a month of millions of rows as over an idle day.
#include <algorithm>
#include <chrono>
#include <map>

#include "server/admin_support.hpp"
#include "store/channel_probes.hpp"
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

// ---- states --------------------------------------------------------------------------------
//
// A channel's or key's state comes from its traffic of the current and the previous hour (the
// hourly rollups), its latest probe and the store, never from the store alone: a channel whose
// every recent request failed is "failing", whatever its keys' flags say.

//! The current and the previous hour.
constexpr long long kRecentHours = 2;

//! The hourly rollups of the recent hours, summed per channel and per channel key.
struct Recent {
    std::map<std::string, UsageRollup> channels;
    std::map<std::string, UsageRollup> keys;  //!< by rollups::key_dim
    std::map<std::pair<std::string, long long>, store::ChannelProbe> probes;  //!< latest
};

core::Result<Recent> recent_usage(store::Database& db) {
    const long long now = now_ms();
    const long long to = now - now % store::rollups::kHourMs + store::rollups::kHourMs;
    const long long from = to - kRecentHours * store::rollups::kHourMs;
    Recent out;
    for (RollupDimension d : {RollupDimension::channel, RollupDimension::key}) {
        auto rows = store::rollups::per_key(db, {RollupGranularity::hour, d, from, to, {}});
        if (!rows) return rows.take_error();
        auto& into = d == RollupDimension::channel ? out.channels : out.keys;
        for (UsageRollup& u : rows.value()) into[u.key] = std::move(u);
    }
    auto probes = store::channel_probes::latest(db);
    if (!probes) return probes.take_error();
    for (store::ChannelProbe& p : probes.value()) out.probes[{p.channel, p.key_id}] = std::move(p);
    return out;
}

//! Most recent requests failed: at least half of them, and two at least (or every one).
bool failing_traffic(const UsageRollup& u) {
    return u.errors >= 1 && u.errors * 2 >= u.requests && (u.errors >= 2 || u.errors == u.requests);
}
//! A tenth of the recent requests failed, two at least.
bool degraded_traffic(const UsageRollup& u) {
    return u.errors >= 2 && u.errors * 10 >= u.requests;
}

Json errors_reason(const UsageRollup& u) {
    const long long share = u.requests ? u.errors * 100 / u.requests : 0;
    return Json{{"code", "errors"},
                {"errors", u.errors},
                {"requests", u.requests},
                {"window_hours", kRecentHours},
                {"text", std::to_string(u.errors) + " of " + std::to_string(u.requests) +
                             " requests in the last " + std::to_string(kRecentHours) +
                             " hours failed (" + std::to_string(share) + "%)"}};
}

Json probe_json(const store::ChannelProbe& p) {
    return Json{{"ok", p.ok},
                {"latency_ms", p.latency_ms},
                {"at", p.created_at_ms},
                {"error_kind", p.error_kind.empty() ? Json(nullptr) : Json(p.error_kind)},
                {"error", p.error.empty() ? Json(nullptr) : Json(p.error)}};
}

//! A state and why (null when nothing is wrong).
struct Verdict {
    std::string state;
    Json reason = nullptr;
};

Verdict key_verdict(const store::ChannelKey& k, const UsageRollup* recent,
                    const store::ChannelProbe* probe) {
    if (!k.enabled)
        return {"disabled", Json{{"code", "key_disabled"},
                                 {"text", k.disabled_reason.empty() ? "disabled by an operator"
                                                                    : k.disabled_reason}}};
    if (recent && failing_traffic(*recent)) return {"failing", errors_reason(*recent)};
    // A failed probe newer than the key's last request says more than the older traffic.
    if (probe && !probe->ok && (!recent || probe->created_at_ms > recent->last_at_ms))
        return {"failing", Json{{"code", "probe"},
                                {"error_kind", probe->error_kind},
                                {"at", probe->created_at_ms},
                                {"text", "the latest probe failed: " + probe->error}}};
    return {"enabled", nullptr};
}

Verdict channel_verdict(bool enabled, int usable_keys, int failing_keys,
                        const UsageRollup* recent) {
    if (!enabled)
        return {"disabled", Json{{"code", "disabled"}, {"text", "disabled by an operator"}}};
    if (usable_keys == 0)
        return {"no_keys",
                Json{{"code", "no_keys"}, {"text", "no key is in rotation: add or re-enable one"}}};
    if (recent && failing_traffic(*recent)) return {"failing", errors_reason(*recent)};
    const Json keys_reason{
        {"code", failing_keys == usable_keys ? "keys_failing" : "key_failing"},
        {"failing", failing_keys},
        {"keys", usable_keys},
        {"text", std::to_string(failing_keys) + " of " + std::to_string(usable_keys) +
                     " keys in rotation are failing"}};
    if (failing_keys == usable_keys) return {"failing", keys_reason};
    if (failing_keys > 0) return {"degraded", keys_reason};
    if (recent && degraded_traffic(*recent)) return {"degraded", errors_reason(*recent)};
    return {"ok", nullptr};
}

//! Disabled, keyless, failing and degraded channels first, then by name.
int state_rank(const std::string& state) {
    if (state == "disabled") return 0;
    if (state == "no_keys") return 1;
    if (state == "failing") return 2;
    if (state == "degraded") return 3;
    if (state == "removed") return 5;
    return 4;
}

Json availability_of(const UsageRollup& u) {
    return u.requests ? Json(static_cast<double>(u.requests - u.errors) / u.requests)
                      : Json(nullptr);
}

//! The slots of one health bar.
Json bar_json(const std::vector<UsageRollup>& filled) {
    Json bar = Json::array();
    for (const UsageRollup& s : filled)
        bar.push_back(Json{{"start", s.bucket_start_ms},
                           {"requests", s.requests},
                           {"errors", s.errors},
                           {"ok_share", availability_of(s)}});
    return bar;
}

//! What /health adds to the channel list: a bar per channel, key and proxy over the range.
struct HealthBars {
    const Range* range = nullptr;
    std::map<std::string, std::vector<UsageRollup>> channels, keys, proxies;
};

//! `key`'s rollups in `rows` as every slot of the range (empty slots filled in).
std::vector<UsageRollup> filled_of(const HealthBars& bars,
                                   const std::map<std::string, std::vector<UsageRollup>>& rows,
                                   const std::string& key) {
    auto it = rows.find(key);
    return slots_of(*bars.range, it == rows.end() ? std::vector<UsageRollup>{} : it->second);
}

//! Every stored channel, and every channel name the rollups hold that is no longer stored
//! (state "removed"), with its state and usage over `usage`; problems first. With `bars`
//! (GET /health), each channel and key has its bar of slots.
core::Result<Json> channels_json(Context& ctx, const std::vector<UsageRollup>& usage,
                                 bool with_keys, const HealthBars* bars) {
    auto stored = store::channels::list(ctx.db);
    if (!stored) return stored.take_error();
    auto recent = recent_usage(ctx.db);
    if (!recent) return recent.take_error();
    std::map<std::string, const UsageRollup*> used;
    for (const UsageRollup& u : usage)
        if (!u.key.empty()) used[u.key] = &u;
    std::vector<Json> rows;
    const auto find = [](const auto& map, const auto& key) {
        auto it = map.find(key);
        return it == map.end() ? nullptr : &it->second;
    };
    const auto usage_of = [&](Json& j, const std::string& name) {
        auto it = used.find(name);
        const UsageRollup none;
        const UsageRollup& u = it == used.end() ? none : *it->second;
        j.update(usage_json(u));
        j["availability"] = availability_of(u);
        j["last_request_at"] = u.last_at_ms ? Json(u.last_at_ms) : Json(nullptr);
        const UsageRollup* r = find(recent->channels, name);
        j["latest_latency_ms"] =
            r && r->requests ? Json(r->latency_ms_sum / r->requests) : Json(nullptr);
        if (bars) j["slots"] = bar_json(filled_of(*bars, bars->channels, name));
    };
    for (const store::Channel& c : stored.value()) {
        int usable = 0, failing = 0;
        Json keys = Json::array();
        for (const store::ChannelKey& k : c.keys) {
            const std::string dim = store::rollups::key_dim(c.name, k.id);
            const UsageRollup* r = find(recent->keys, dim);
            const store::ChannelProbe* probe = find(recent->probes, std::make_pair(c.name, k.id));
            const Verdict v = key_verdict(k, r, probe);
            usable += k.enabled ? 1 : 0;
            failing += k.enabled && v.state == "failing" ? 1 : 0;
            Json kj{{"id", k.id},
                    {"key_id", k.id},
                    {"state", v.state},
                    {"reason", v.reason},
                    {"disabled_reason", k.disabled_reason},
                    {"disabled_at", k.disabled_at ? Json(*k.disabled_at) : Json(nullptr)},
                    {"latest_latency_ms",
                     r && r->requests ? Json(r->latency_ms_sum / r->requests) : Json(nullptr)},
                    {"latest_probe", probe ? probe_json(*probe) : Json(nullptr)}};
            if (bars) {
                const auto filled = filled_of(*bars, bars->keys, dim);
                const UsageRollup total = total_of(filled);
                kj["slots"] = bar_json(filled);
                kj["requests"] = total.requests;
                kj["errors"] = total.errors;
                kj["availability"] = availability_of(total);
            }
            keys.push_back(std::move(kj));
        }
        // A channel without stored keys (its adapter needs none) is probed as key 0.
        const store::ChannelProbe* own_probe = find(recent->probes, std::make_pair(c.name, 0LL));
        const Verdict v = channel_verdict(c.enabled, c.keys.empty() ? 1 : usable, failing,
                                          find(recent->channels, c.name));
        Json j{{"id", c.id},
               {"name", c.name},
               {"type", c.type},
               {"enabled", c.enabled},
               {"priority", c.priority},
               {"state", v.state},
               {"reason", v.reason},
               {"proxy", c.proxy.empty() ? Json(nullptr) : Json(store::proxy_origin(c.proxy))}};
        if (with_keys) {
            j["keys"] = std::move(keys);
            j["latest_probe"] = own_probe ? probe_json(*own_probe) : Json(nullptr);
        }
        usage_of(j, c.name);
        rows.push_back(std::move(j));
    }
    // Channels that served in the range but were deleted since.
    std::vector<std::string> removed;
    for (const auto& entry : used) removed.push_back(entry.first);
    for (const store::Channel& c : stored.value())
        removed.erase(std::remove(removed.begin(), removed.end(), c.name), removed.end());
    for (const std::string& name : removed) {
        Json j{{"id", nullptr},     {"name", name},        {"type", nullptr},
               {"enabled", false},  {"priority", nullptr}, {"state", "removed"},
               {"reason", nullptr}, {"proxy", nullptr}};
        if (with_keys) {
            j["keys"] = Json::array();
            j["latest_probe"] = nullptr;
        }
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
    HealthBars bars;
    bars.range = &r;
    for (RollupDimension d :
         {RollupDimension::channel, RollupDimension::key, RollupDimension::proxy}) {
        auto rows = store::rollups::read(ctx.db, query_of(r, d));
        if (!rows) return rows.take_error();
        auto& into = d == RollupDimension::channel ? bars.channels
                     : d == RollupDimension::key   ? bars.keys
                                                   : bars.proxies;
        for (UsageRollup& u : rows.value()) into[u.key].push_back(std::move(u));
    }
    std::vector<UsageRollup> totals;
    for (const auto& [name, list] : bars.channels) {
        UsageRollup sum = total_of(slots_of(r, list));
        sum.key = name;
        totals.push_back(std::move(sum));
    }
    auto listed = channels_json(ctx, totals, true, &bars);
    if (!listed) return listed.take_error();
    // Proxies: those the stored channels name, and those that carried traffic in the range.
    std::map<std::string, std::vector<std::string>> proxy_channels;
    for (const auto& entry : bars.proxies) proxy_channels[entry.first];
    for (const Json& c : listed.value())
        if (c["proxy"].is_string())
            proxy_channels[c["proxy"].get<std::string>()].push_back(c["name"].get<std::string>());
    Json proxies = Json::array();
    for (const auto& [proxy, channels] : proxy_channels) {
        const auto filled = filled_of(bars, bars.proxies, proxy);
        const UsageRollup total = total_of(filled);
        proxies.push_back(Json{{"proxy", store::proxy_origin(proxy)},
                               {"channels", channels},
                               {"requests", total.requests},
                               {"errors", total.errors},
                               {"availability", availability_of(total)},
                               {"slots", bar_json(filled)}});
    }
    Json body = range_json(r);
    body["generated_at"] = now_ms();
    body["slots"] = r.buckets;
    body["channels"] = std::move(listed).value();
    body["proxies"] = std::move(proxies);
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
