#include "store/rollups.hpp"

#include <soci/soci.h>

#include <map>
#include <tuple>

namespace tianshu::store::rollups {
namespace {

const char* granularity_code(RollupGranularity g) {
    return g == RollupGranularity::hour ? "h" : "d";
}

const char* dimension_name(RollupDimension d) {
    switch (d) {
        case RollupDimension::all:
            return "all";
        case RollupDimension::model:
            return "model";
        case RollupDimension::channel:
            return "channel";
        case RollupDimension::user:
            return "user";
        case RollupDimension::key:
            return "key";
        case RollupDimension::proxy:
            return "proxy";
    }
    return "all";
}

//! A rollup row's identity, in the order of the table's primary key.
using RollupKey = std::tuple<std::string, std::string, std::string, long long>;

void add_row(UsageRollup& sum, const UsageRecord& r) {
    UsageRollup one;
    one.requests = 1;
    one.errors = r.status >= 400 ? 1 : 0;
    one.input_tokens = r.input_tokens;
    one.output_tokens = r.output_tokens;
    one.cache_read_tokens = r.cache_read_tokens;
    one.cache_write_tokens = r.cache_write_tokens;
    one.reasoning_tokens = r.reasoning_tokens;
    one.cost = r.cost;
    one.latency_ms_sum = r.latency_ms;
    one.latency_ms_max = r.latency_ms;
    one.ttft_ms_sum = r.ttft_ms;
    one.last_at_ms = r.created_at_ms;
    add(sum, one);
}

constexpr const char* kValueColumns =
    "requests, errors, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, "
    "reasoning_tokens, cost, latency_ms_sum, latency_ms_max, ttft_ms_sum, last_at";

//! Binds (or reads) the value columns of kValueColumns, in order.
template <class Exchange>
void exchange_values(soci::statement& st, UsageRollup& r, Exchange ex) {
    for (long long* v : {&r.requests, &r.errors, &r.input_tokens, &r.output_tokens,
                         &r.cache_read_tokens, &r.cache_write_tokens, &r.reasoning_tokens, &r.cost,
                         &r.latency_ms_sum, &r.latency_ms_max, &r.ttft_ms_sum, &r.last_at_ms})
        ex(st, *v);
}

std::string upsert_statement(bool mysql) {
    std::string sql = std::string(
                          "INSERT INTO usage_rollups (granularity, dimension, dim_key, "
                          "bucket_start, ") +
                      kValueColumns +
                      ") VALUES (:g, :d, :k, :b, :requests, :errors, :input, :output, "
                      ":cache_read, :cache_write, :reasoning, :cost, :latency_sum, "
                      ":latency_max, :ttft_sum, :last_at) ";
    // MySQL evaluates the assignments left to right, each seeing the ones before: none here
    // reads a column an earlier one changed.
    const char* summed[] = {"requests",          "errors",
                            "input_tokens",      "output_tokens",
                            "cache_read_tokens", "cache_write_tokens",
                            "reasoning_tokens",  "cost",
                            "latency_ms_sum",    "ttft_ms_sum"};
    sql += mysql ? "ON DUPLICATE KEY UPDATE "
                 : "ON CONFLICT (granularity, dimension, dim_key, bucket_start) DO UPDATE SET ";
    for (const char* c : summed) {
        const std::string col(c);
        sql +=
            col + " = " + col + " + " + (mysql ? "VALUES(" + col + ")" : "excluded." + col) + ", ";
    }
    sql += mysql ? "latency_ms_max = GREATEST(latency_ms_max, VALUES(latency_ms_max)), "
                   "last_at = GREATEST(last_at, VALUES(last_at))"
                 : "latency_ms_max = MAX(latency_ms_max, excluded.latency_ms_max), "
                   "last_at = MAX(last_at, excluded.last_at)";
    return sql;
}

std::string where_of(const RollupQuery& q) {
    return std::string(" FROM usage_rollups WHERE granularity = '") +
           granularity_code(q.granularity) + "' AND dimension = '" + dimension_name(q.dimension) +
           "' AND bucket_start >= :from AND bucket_start < :to" +
           (q.key ? " AND dim_key = :key" : "");
}

core::Result<void> check(const RollupQuery& q) {
    if (q.to_ms <= q.from_ms)
        return core::Error::invalid("rollup range [" + std::to_string(q.from_ms) + ", " +
                                    std::to_string(q.to_ms) +
                                    ") is empty: the end must come after the start");
    return {};
}

}  // namespace

std::string key_dim(const std::string& channel, long long channel_key_id) {
    return channel + "#" + std::to_string(channel_key_id);
}

void add(soci::session& s, bool mysql, const std::vector<const UsageRecord*>& rows) {
    if (rows.empty()) return;
    std::map<RollupKey, UsageRollup> sums;
    for (const UsageRecord* r : rows) {
        for (RollupGranularity g : {RollupGranularity::hour, RollupGranularity::day}) {
            const long long bucket = r->created_at_ms - r->created_at_ms % width_ms(g);
            const std::string code = granularity_code(g);
            add_row(sums[{code, "all", "", bucket}], *r);
            add_row(sums[{code, "model", r->requested_model, bucket}], *r);
            add_row(sums[{code, "channel", r->channel, bucket}], *r);
            add_row(sums[{code, "user", std::to_string(r->user_id), bucket}], *r);
            if (r->channel_key_id)
                add_row(sums[{code, "key", key_dim(r->channel, *r->channel_key_id), bucket}], *r);
            if (!r->proxy.empty())
                add_row(sums[{code, "proxy", proxy_origin(r->proxy), bucket}], *r);
        }
    }
    std::string g, d, k;
    long long bucket = 0;
    UsageRollup v;
    soci::statement st(s);
    st.exchange(soci::use(g));
    st.exchange(soci::use(d));
    st.exchange(soci::use(k));
    st.exchange(soci::use(bucket));
    exchange_values(st, v, [](soci::statement& t, long long& x) { t.exchange(soci::use(x)); });
    st.alloc();
    st.prepare(upsert_statement(mysql));
    st.define_and_bind();
    for (const auto& [key, sum] : sums) {
        std::tie(g, d, k, bucket) = key;
        v = sum;
        st.execute(true);
    }
}

void add(UsageRollup& sum, const UsageRollup& part) {
    sum.requests += part.requests;
    sum.errors += part.errors;
    sum.input_tokens += part.input_tokens;
    sum.output_tokens += part.output_tokens;
    sum.cache_read_tokens += part.cache_read_tokens;
    sum.cache_write_tokens += part.cache_write_tokens;
    sum.reasoning_tokens += part.reasoning_tokens;
    sum.cost += part.cost;
    sum.latency_ms_sum += part.latency_ms_sum;
    sum.latency_ms_max = std::max(sum.latency_ms_max, part.latency_ms_max);
    sum.ttft_ms_sum += part.ttft_ms_sum;
    sum.last_at_ms = std::max(sum.last_at_ms, part.last_at_ms);
}

namespace {

//! A read's row (bucket, key, values) into `r`, and the query's range and key as parameters.
void bind_read(soci::statement& st, UsageRollup& r, RollupQuery& q) {
    st.exchange(soci::into(r.bucket_start_ms));
    st.exchange(soci::into(r.key));
    exchange_values(st, r, [](soci::statement& t, long long& x) { t.exchange(soci::into(x)); });
    st.exchange(soci::use(q.from_ms));
    st.exchange(soci::use(q.to_ms));
    if (q.key) st.exchange(soci::use(*q.key));
    st.alloc();
}

}  // namespace

core::Result<std::vector<UsageRollup>> read(Database& db, const RollupQuery& query) {
    if (auto ok = check(query); !ok) return ok.take_error();
    return db.with_session("read the usage rollups", [&](soci::session& s) {
        std::vector<UsageRollup> out;
        UsageRollup r;
        RollupQuery q = query;
        soci::statement st(s);
        bind_read(st, r, q);
        st.prepare(std::string("SELECT bucket_start, dim_key, ") + kValueColumns + where_of(q) +
                   " ORDER BY bucket_start, dim_key");
        st.define_and_bind();
        st.execute(false);
        while (st.fetch()) out.push_back(r);
        return out;
    });
}

core::Result<std::vector<UsageRollup>> per_key(Database& db, const RollupQuery& query,
                                               std::optional<int> limit) {
    if (auto ok = check(query); !ok) return ok.take_error();
    if (limit && *limit < 1)
        return core::Error::invalid("rollup limit " + std::to_string(*limit) +
                                    " must be at least 1");
    return db.with_session("sum the usage rollups", [&](soci::session& s) {
        std::vector<UsageRollup> out;
        UsageRollup r;
        RollupQuery q = query;
        soci::statement st(s);
        bind_read(st, r, q);
        // SUM over BIGINT is DECIMAL on MySQL: cast back so SOCI reads a long long.
        const char* big = db.dialect() == "mysql" ? "SIGNED" : "INTEGER";
        std::string sums;
        for (const char* c :
             {"requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
              "cache_write_tokens", "reasoning_tokens", "cost", "latency_ms_sum"})
            sums += std::string("CAST(SUM(") + c + ") AS " + big + "), ";
        st.prepare("SELECT MIN(bucket_start), dim_key, " + sums + "MAX(latency_ms_max), CAST(SUM(" +
                   "ttft_ms_sum) AS " + big + "), MAX(last_at)" + where_of(q) +
                   " GROUP BY dim_key ORDER BY 10 DESC, 3 DESC, 2" +
                   (limit ? " LIMIT " + std::to_string(*limit) : ""));
        st.define_and_bind();
        st.execute(false);
        while (st.fetch()) out.push_back(r);
        return out;
    });
}

}  // namespace tianshu::store::rollups
