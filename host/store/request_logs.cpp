#include "store/request_logs.hpp"

#include "store/rollups.hpp"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <tuple>
#include <unordered_set>

namespace tianshu::store::request_logs {
namespace {

constexpr const char* log_columns =
    "request_id, created_at, user_id, key_id, channel, requested_model, upstream_model, "
    "input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens, cost, "
    "latency_ms, ttft_ms, status, error_kind, client_ip, retries, stream, route_scenario, "
    "route_model, route_reason, route_by, route_rank, decisions, channel_key_id, upstream_proxy";

//! The nullable channel_key_id column's value and indicator, kept in step by the caller.
struct ChannelKeyColumn {
    long long id = 0;
    soci::indicator ind = soci::i_null;
};

//! Binds every column of log_columns, in order, to `r` (plus the NULL indicator of key_id and
//! the integer form of stream, which the caller keeps in step).
template <class Exchange>
void exchange_columns(soci::statement& st, UsageRecord& r, long long& key_id,
                      soci::indicator& key_ind, int& stream, ChannelKeyColumn& channel_key,
                      Exchange ex) {
    ex(st, r.request_id);
    ex(st, r.created_at_ms);
    ex(st, r.user_id);
    // soci::use/into keep a reference to their name argument: build them in this expression.
    if constexpr (Exchange::reads)
        st.exchange(soci::into(key_id, key_ind));
    else
        st.exchange(soci::use(key_id, key_ind));
    ex(st, r.channel);
    ex(st, r.requested_model);
    ex(st, r.upstream_model);
    ex(st, r.input_tokens);
    ex(st, r.output_tokens);
    ex(st, r.cache_read_tokens);
    ex(st, r.cache_write_tokens);
    ex(st, r.reasoning_tokens);
    ex(st, r.cost);
    ex(st, r.latency_ms);
    ex(st, r.ttft_ms);
    ex(st, r.status);
    ex(st, r.error_kind);
    ex(st, r.client_ip);
    ex(st, r.retries);
    ex(st, stream);
    ex(st, r.route_scenario);
    ex(st, r.route_model);
    ex(st, r.route_reason);
    ex(st, r.route_by);
    ex(st, r.route_rank);
    ex(st, r.decisions);
    if constexpr (Exchange::reads)
        st.exchange(soci::into(channel_key.id, channel_key.ind));
    else
        st.exchange(soci::use(channel_key.id, channel_key.ind));
    ex(st, r.proxy);
}

struct Into {
    template <class T>
    void operator()(soci::statement& st, T& v) const {
        st.exchange(soci::into(v));
    }
    static constexpr bool reads = true;
};

struct Use {
    template <class T>
    void operator()(soci::statement& st, T& v) const {
        st.exchange(soci::use(v));
    }
    static constexpr bool reads = false;
};

//! The WHERE clause of a filter (plus an optional keyset cursor), bound positionally.
struct Where {
    std::string sql;
    std::vector<std::function<void(soci::statement&)>> binds;

    void add(const std::string& condition, std::function<void(soci::statement&)> bind) {
        sql += (sql.empty() ? " WHERE " : " AND ") + condition;
        binds.push_back(std::move(bind));
    }
    void bind(soci::statement& st) const {
        for (const auto& b : binds) b(st);
    }
};

Where where_of(const RequestLogFilter& f, const long long* before_id) {
    Where w;
    if (f.from_ms)
        w.add("created_at >= :from", [&](auto& st) { st.exchange(soci::use(*f.from_ms)); });
    if (f.to_ms) w.add("created_at < :to", [&](auto& st) { st.exchange(soci::use(*f.to_ms)); });
    if (f.user_id) w.add("user_id = :user", [&](auto& st) { st.exchange(soci::use(*f.user_id)); });
    if (f.key_id) w.add("key_id = :key", [&](auto& st) { st.exchange(soci::use(*f.key_id)); });
    if (f.channel)
        w.add("channel = :channel", [&](auto& st) { st.exchange(soci::use(*f.channel)); });
    if (f.model) {
        w.add("(requested_model = :model", [&](auto& st) { st.exchange(soci::use(*f.model)); });
        w.sql += " OR upstream_model = :model2)";
        w.binds.push_back([&](auto& st) { st.exchange(soci::use(*f.model)); });
    }
    if (f.status) w.add("status = :status", [&](auto& st) { st.exchange(soci::use(*f.status)); });
    if (f.request_id)
        w.add("request_id = :request_id", [&](auto& st) { st.exchange(soci::use(*f.request_id)); });
    if (f.route)
        w.add("route_scenario = :route", [&](auto& st) { st.exchange(soci::use(*f.route)); });
    if (before_id)
        w.add("id < :before", [before_id](auto& st) { st.exchange(soci::use(*before_id)); });
    return w;
}

//! Runs SELECT id, <log columns> ... and calls `row` for each until it returns false.
long long select_logs(soci::session& s, const RequestLogFilter& f, const long long* before_id,
                      std::optional<int> limit, const std::function<bool(const RequestLog&)>& row) {
    RequestLog r;
    long long key_id = 0;
    soci::indicator key_ind = soci::i_null;
    int stream = 0;
    ChannelKeyColumn channel_key;
    Where w = where_of(f, before_id);
    soci::statement st(s);
    st.exchange(soci::into(r.id));
    exchange_columns(st, r, key_id, key_ind, stream, channel_key, Into{});
    w.bind(st);
    st.alloc();
    st.prepare(std::string("SELECT id, ") + log_columns + " FROM request_logs" + w.sql +
               " ORDER BY id DESC" + (limit ? " LIMIT " + std::to_string(*limit) : ""));
    st.define_and_bind();
    st.execute(false);
    long long passed = 0;
    while (st.fetch()) {
        r.key_id = key_ind == soci::i_null ? std::nullopt : std::optional<long long>(key_id);
        r.stream = stream != 0;
        r.channel_key_id = channel_key.ind == soci::i_null
                               ? std::nullopt
                               : std::optional<long long>(channel_key.id);
        ++passed;
        if (!row(r)) break;
    }
    return passed;
}

core::Result<void> validate(const UsageRecord& r) {
    auto too_long = [&](const std::string& value, std::size_t max, const char* field) {
        return core::Error::invalid("usage record '" + r.request_id + "': " + field + " '" +
                                    value.substr(0, 40) + "' is longer than " +
                                    std::to_string(max) + " characters");
    };
    if (r.request_id.empty() || r.request_id.size() > 64)
        return core::Error::invalid("usage record request_id '" + r.request_id.substr(0, 80) +
                                    "' must be 1 to 64 characters");
    if (r.cost < 0)
        return core::Error::invalid("usage record '" + r.request_id + "': cost " +
                                    std::to_string(r.cost) +
                                    " is negative: refunds go through the ledger");
    if (r.channel.size() > 255) return too_long(r.channel, 255, "channel");
    if (r.requested_model.size() > 255) return too_long(r.requested_model, 255, "requested_model");
    if (r.upstream_model.size() > 255) return too_long(r.upstream_model, 255, "upstream_model");
    if (r.error_kind.size() > 32) return too_long(r.error_kind, 32, "error_kind");
    if (r.client_ip.size() > 64) return too_long(r.client_ip, 64, "client_ip");
    if (r.proxy.size() > 255) return too_long(proxy_origin(r.proxy), 255, "proxy");
    return {};
}

std::string id_list(const std::set<long long>& ids) {
    std::string out;
    for (long long id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
    return out;
}

//! Inserts request_logs rows on MySQL through SOCI.
class MysqlLogInsert {
  public:
    explicit MysqlLogInsert(soci::session& s) : st_(s) {
        exchange_columns(st_, cur_, key_id_, key_ind_, stream_, channel_key_, Use{});
        st_.alloc();
        st_.prepare(
            std::string("INSERT IGNORE INTO request_logs (") + log_columns +
            ") VALUES (:request, :at, :user, :key, :channel, :requested, :upstream, "
            ":input, :output, :cache_read, :cache_write, :reasoning, :cost, :latency, "
            ":ttft, :status, :error, :ip, :retries, :stream, :route_scenario, :route_model, "
            ":route_reason, :route_by, :route_rank, :decisions, :channel_key, :proxy)");
        st_.define_and_bind();
    }
    //! False when a row with this request_id is there already.
    bool insert(const UsageRecord& r) {
        cur_ = r;
        key_id_ = r.key_id.value_or(0);
        key_ind_ = r.key_id ? soci::i_ok : soci::i_null;
        stream_ = r.stream ? 1 : 0;
        channel_key_.id = r.channel_key_id.value_or(0);
        channel_key_.ind = r.channel_key_id ? soci::i_ok : soci::i_null;
        cur_.proxy = proxy_origin(r.proxy);  // never a proxy's credentials, whoever forgot
        st_.execute(true);
        return st_.get_affected_rows() > 0;
    }

  private:
    UsageRecord cur_;
    long long key_id_ = 0;
    soci::indicator key_ind_ = soci::i_null;
    int stream_ = 0;
    ChannelKeyColumn channel_key_;
    soci::statement st_;
};

//! Inserts request_logs rows on SQLite through sqlite3 itself, on the session's connection (so
//! inside its transaction), up to kRowsPerInsert rows per INSERT ... RETURNING request_id. Of the
//! ~34k instructions a row took the journal thread, SOCI's binding of twenty values was ~3k, and
//! each statement's own work (opening cursors on the table and its seven indexes, reading and
//! writing the AUTOINCREMENT counter) ~2k more; a statement now carries several rows. Failures
//! throw soci_error with SQLite's reason, as SOCI does.
class SqliteLogInsert {
    //! SQLITE_TRANSIENT, which names sqlite3_destructor_type outside SOCI's sqlite_api.
    static inline const sqlite_api::sqlite3_destructor_type kSqliteTransient =
        reinterpret_cast<sqlite_api::sqlite3_destructor_type>(static_cast<intptr_t>(-1));

  public:
    //! Most of a statement's own cost is gone by 8 rows; preparing a longer VALUES list costs
    //! more than it saves for the batches a light load brings (callgrind: 25 rows per
    //! statement took more instructions in all than 8).
    static constexpr size_t kRowsPerInsert = 8;
    static constexpr int kColumns = 28;  //!< of log_columns

    explicit SqliteLogInsert(soci::session& s)
        : db_(static_cast<soci::sqlite3_session_backend*>(s.get_backend())->conn_) {}
    ~SqliteLogInsert() {
        for (auto* st : statements_) sqlite_api::sqlite3_finalize(st);
    }
    SqliteLogInsert(const SqliteLogInsert&) = delete;
    SqliteLogInsert& operator=(const SqliteLogInsert&) = delete;

    //! Inserts `rows` and calls inserted(row, false) for each whose request_id was logged
    //! already (earlier, or by an earlier row of `rows`), inserted(row, true) for the others, in
    //! order.
    template <class Report>
    void insert(const std::vector<const UsageRecord*>& rows, Report inserted) {
        std::unordered_multiset<std::string> returned;  // the request_ids a statement inserted
        for (size_t from = 0; from < rows.size(); from += kRowsPerInsert) {
            const size_t n = std::min(kRowsPerInsert, rows.size() - from);
            sqlite_api::sqlite3_stmt* st = statement(n);
            for (size_t k = 0; k < n; ++k)
                bind(st, static_cast<int>(k) * kColumns, *rows[from + k]);
            returned.clear();
            int stepped;
            while ((stepped = sqlite_api::sqlite3_step(st)) == SQLITE_ROW)
                returned.emplace(
                    reinterpret_cast<const char*>(sqlite_api::sqlite3_column_text(st, 0)),
                    static_cast<size_t>(sqlite_api::sqlite3_column_bytes(st, 0)));
            if (stepped != SQLITE_DONE) {
                const std::string why = sqlite_api::sqlite3_errmsg(db_);
                sqlite_api::sqlite3_reset(st);
                throw soci::soci_error("cannot insert request_logs rows: " + why);
            }
            sqlite_api::sqlite3_reset(st);
            // Of two rows with one request_id the first was inserted, and returned once.
            for (size_t k = 0; k < n; ++k) {
                const auto it = returned.find(rows[from + k]->request_id);
                const bool is_new = it != returned.end();
                if (is_new) returned.erase(it);
                inserted(rows[from + k], is_new);
            }
        }
    }

  private:
    //! The prepared INSERT of n rows.
    sqlite_api::sqlite3_stmt* statement(size_t n) {
        if (statements_.size() < n) statements_.resize(n, nullptr);
        sqlite_api::sqlite3_stmt*& st = statements_[n - 1];
        if (st) return st;
        std::string row = "(?";
        for (int c = 1; c < kColumns; ++c) row += ", ?";
        row += ')';
        std::string sql = std::string("INSERT INTO request_logs (") + log_columns + ") VALUES ";
        for (size_t k = 0; k < n; ++k) sql += (k ? "," : "") + row;
        sql += " ON CONFLICT (request_id) DO NOTHING RETURNING request_id";
        if (sqlite_api::sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
            st = nullptr;
            throw soci::soci_error(std::string("cannot prepare the request_logs insert: ") +
                                   sqlite_api::sqlite3_errmsg(db_));
        }
        return st;
    }

    //! One row's values at parameters base+1 .. base+28, as in log_columns. Strings are bound in
    //! place (SQLITE_STATIC): the records outlive the statement's steps.
    void bind(sqlite_api::sqlite3_stmt* st, int base, const UsageRecord& r) {
        int bound = SQLITE_OK;
        const auto text = [&](int at, const std::string& v) {
            bound |= sqlite_api::sqlite3_bind_text(st, base + at, v.data(),
                                                   static_cast<int>(v.size()), SQLITE_STATIC);
        };
        const auto integer = [&](int at, long long v) {
            bound |= sqlite_api::sqlite3_bind_int64(st, base + at, v);
        };
        text(1, r.request_id);
        integer(2, r.created_at_ms);
        integer(3, r.user_id);
        if (r.key_id)
            integer(4, *r.key_id);
        else
            bound |= sqlite_api::sqlite3_bind_null(st, base + 4);
        text(5, r.channel);
        text(6, r.requested_model);
        text(7, r.upstream_model);
        integer(8, r.input_tokens);
        integer(9, r.output_tokens);
        integer(10, r.cache_read_tokens);
        integer(11, r.cache_write_tokens);
        integer(12, r.reasoning_tokens);
        integer(13, r.cost);
        integer(14, r.latency_ms);
        integer(15, r.ttft_ms);
        integer(16, r.status);
        text(17, r.error_kind);
        text(18, r.client_ip);
        integer(19, r.retries);
        integer(20, r.stream ? 1 : 0);
        text(21, r.route_scenario);
        text(22, r.route_model);
        text(23, r.route_reason);
        text(24, r.route_by);
        integer(25, r.route_rank);
        text(26, r.decisions);
        if (r.channel_key_id)
            integer(27, *r.channel_key_id);
        else
            bound |= sqlite_api::sqlite3_bind_null(st, base + 27);
        if (r.proxy.find('@') == std::string::npos) {
            text(28, r.proxy);
        } else {  // never a proxy's credentials, whoever forgot: a copy SQLite keeps
            const std::string origin = proxy_origin(r.proxy);
            bound |= sqlite_api::sqlite3_bind_text(
                st, base + 28, origin.data(), static_cast<int>(origin.size()), kSqliteTransient);
        }
        if (bound != SQLITE_OK)
            throw soci::soci_error(std::string("cannot bind a request_logs row: ") +
                                   sqlite_api::sqlite3_errmsg(db_));
    }

    sqlite_api::sqlite3* db_;
    std::vector<sqlite_api::sqlite3_stmt*> statements_;  //!< [n - 1]: the insert of n rows
};

UsageOutcome record_batch(soci::session& s, bool mysql,
                          const std::vector<const UsageRecord*>& records) {
    UsageOutcome outcome;
    std::vector<const UsageRecord*> fresh, to_charge;
    const auto logged = [&](const UsageRecord* r, bool is_new) {
        if (!is_new) {
            ++outcome.duplicates;
            return;
        }
        ++outcome.inserted;
        fresh.push_back(r);
        if (r->cost > 0) to_charge.push_back(r);
    };
    if (mysql) {
        MysqlLogInsert insert(s);
        for (const UsageRecord* r : records) logged(r, insert.insert(*r));
    } else {
        SqliteLogInsert(s).insert(records, logged);
    }
    // Only the rows this transaction inserted, in it: the rollups count each logged row once,
    // whatever a crash and the journal's replay do.
    rollups::add(s, mysql, fresh);
    if (to_charge.empty()) return outcome;

    // Lock the users charged, in ascending id, before the ledger rows (whose foreign key
    // takes a shared lock on the user): concurrent batches then queue instead of deadlocking.
    std::set<long long> wanted;
    for (const UsageRecord* r : to_charge) wanted.insert(r->user_id);
    std::set<long long> existing;
    {
        long long id = 0;
        soci::statement st = (s.prepare << "SELECT id FROM users WHERE id IN (" + id_list(wanted) +
                                               ") ORDER BY id" + (mysql ? " FOR UPDATE" : ""),
                              soci::into(id));
        st.execute(false);
        while (st.fetch()) existing.insert(id);
    }

    long long user_id = 0, amount = 0, at = 0;
    std::string ref;
    soci::statement insert_ledger =
        (s.prepare << (mysql ? "INSERT IGNORE INTO ledger (user_id, amount, kind, ref, note, "
                               "created_at) VALUES (:user, :amount, 'charge', :ref, '', :at)"
                             : "INSERT INTO ledger (user_id, amount, kind, ref, note, created_at) "
                               "VALUES (:user, :amount, 'charge', :ref, '', :at) "
                               "ON CONFLICT (ref) DO NOTHING"),
         soci::use(user_id), soci::use(amount), soci::use(ref), soci::use(at));
    std::map<long long, long long> user_debit, key_debit;
    at = now_seconds();
    for (const UsageRecord* r : to_charge) {
        if (!existing.count(r->user_id)) {
            ++outcome.unbilled;
            continue;
        }
        user_id = r->user_id;
        amount = -r->cost;
        ref = "req:" + r->request_id;
        insert_ledger.execute(true);
        // 0 rows: this request was charged before and its log row pruned since.
        if (insert_ledger.get_affected_rows() == 0) continue;
        user_debit[r->user_id] += r->cost;
        if (r->key_id) key_debit[*r->key_id] += r->cost;
        outcome.charged += r->cost;
    }
    long long target = 0, delta = 0;
    soci::statement debit =
        (s.prepare << "UPDATE users SET balance = balance - :delta WHERE id = :id",
         soci::use(delta), soci::use(target));
    for (const auto& [id, d] : user_debit) {
        target = id;
        delta = d;
        debit.execute(true);
    }
    soci::statement spend =
        (s.prepare << "UPDATE api_keys SET quota_used = quota_used + :delta WHERE id = :id",
         soci::use(delta), soci::use(target));
    for (const auto& [id, d] : key_debit) {
        target = id;
        delta = d;
        spend.execute(true);
    }
    return outcome;
}

bool is_deadlock(const core::Error& e) {
    return e.message.find("Deadlock found") != std::string::npos;
}

}  // namespace

core::Json decision_fields(const UsageRecord& r) {
    core::Json notes = core::Json::parse(r.decisions, nullptr, false);
    return core::Json{{"route",
                       {{"scenario", r.route_scenario},
                        {"model", r.route_model},
                        {"reason", r.route_reason},
                        {"by", r.route_by},
                        {"rank", r.route_rank}}},
                      {"decisions", notes.is_array() ? notes : core::Json::array()}};
}

core::Result<UsageOutcome> record_usage(Database& db, const std::vector<UsageRecord>& batch) {
    for (const auto& r : batch)
        if (auto ok = validate(r); !ok) return ok.take_error();
    // One order for every batch: two batches sharing request_ids take their locks alike, and
    // row ids (the "newest first" order) follow time.
    std::vector<const UsageRecord*> records;
    records.reserve(batch.size());
    for (const auto& r : batch) records.push_back(&r);
    std::sort(records.begin(), records.end(), [](const UsageRecord* a, const UsageRecord* b) {
        return std::tie(a->created_at_ms, a->request_id) <
               std::tie(b->created_at_ms, b->request_id);
    });
    const bool mysql = db.dialect() == "mysql";
    const std::string operation = "record usage of " + std::to_string(batch.size()) + " requests";
    for (int attempt = 0;; ++attempt) {
        auto done = db.with_transaction(
            operation, [&](soci::session& s) { return record_batch(s, mysql, records); });
        // The batch is idempotent, so a deadlock victim simply runs again.
        if (done.ok() || attempt == 4 || !is_deadlock(done.error())) return done;
    }
}

core::Result<RequestLogPage> query(Database& db, const RequestLogFilter& filter, int limit,
                                   std::optional<long long> before_id) {
    if (limit < 1 || limit > 1000)
        return core::Error::invalid("page size " + std::to_string(limit) +
                                    " must be between 1 and 1000");
    return db.with_session("query the request logs", [&](soci::session& s) {
        RequestLogPage page;
        // One row more than asked tells whether another page follows.
        select_logs(s, filter, before_id ? &*before_id : nullptr, limit + 1,
                    [&](const RequestLog& r) {
                        page.rows.push_back(r);
                        return true;
                    });
        if (page.rows.size() > static_cast<std::size_t>(limit)) {
            page.rows.pop_back();
            page.next_before_id = page.rows.back().id;
        }
        return page;
    });
}

core::Result<long long> for_each(Database& db, const RequestLogFilter& filter,
                                 const std::function<bool(const RequestLog&)>& row) {
    return db.with_session("export the request logs", [&](soci::session& s) {
        return select_logs(s, filter, nullptr, std::nullopt, row);
    });
}

std::string prune_statement(std::string_view dialect, int chunk) {
    // Oldest first by created_at, so the created_at index drives the scan: ordering by id
    // made both engines walk the primary key through every row newer than the cut-off (the
    // whole table on an hourly prune that deletes nothing), inside a write transaction.
    return dialect == "mysql"
               ? "DELETE FROM request_logs WHERE created_at < :t ORDER BY created_at LIMIT " +
                     std::to_string(chunk)
               : "DELETE FROM request_logs WHERE id IN (SELECT id FROM request_logs WHERE "
                 "created_at < :t ORDER BY created_at LIMIT " +
                     std::to_string(chunk) + ")";
}

core::Result<long long> prune(Database& db, long long older_than_ms, int chunk) {
    if (chunk < 1) return core::Error::invalid("prune chunk size must be at least 1");
    const std::string sql = prune_statement(db.dialect(), chunk);
    long long total = 0;
    for (;;) {
        auto deleted = db.with_transaction("prune the request logs", [&](soci::session& s) {
            soci::statement st = (s.prepare << sql, soci::use(older_than_ms));
            st.execute(true);
            return static_cast<long long>(st.get_affected_rows());
        });
        if (!deleted) return deleted.take_error();
        total += deleted.value();
        if (deleted.value() < chunk) return total;
    }
}

core::Result<UsageTotals> totals(Database& db, const RequestLogFilter& filter) {
    return db.with_session("sum the request logs", [&](soci::session& s) {
        UsageTotals t;
        Where w = where_of(filter, nullptr);
        soci::statement st(s);
        for (long long* v :
             {&t.requests, &t.spend, &t.active_users, &t.input_tokens, &t.output_tokens,
              &t.cache_read_tokens, &t.cache_write_tokens, &t.reasoning_tokens})
            st.exchange(soci::into(*v));
        w.bind(st);
        st.alloc();
        st.prepare(
            "SELECT COUNT(*), COALESCE(SUM(cost), 0), COUNT(DISTINCT user_id), "
            "COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0), "
            "COALESCE(SUM(cache_read_tokens), 0), COALESCE(SUM(cache_write_tokens), 0), "
            "COALESCE(SUM(reasoning_tokens), 0) FROM request_logs" +
            w.sql);
        st.define_and_bind();
        st.execute(true);
        return t;
    });
}

core::Result<std::vector<UsageBucket>> breakdown(Database& db, const RequestLogFilter& filter,
                                                 StatsDimension by, StatsBucket bucket) {
    const char* column = by == StatsDimension::channel          ? "channel"
                         : by == StatsDimension::upstream_model ? "upstream_model"
                                                                : "requested_model";
    const std::string width = std::to_string(static_cast<long long>(bucket));
    return db.with_session("break the request logs down", [&](soci::session& s) {
        UsageBucket b;
        std::vector<UsageBucket> out;
        Where w = where_of(filter, nullptr);
        soci::statement st(s);
        st.exchange(soci::into(b.bucket_start_ms));
        st.exchange(soci::into(b.key));
        st.exchange(soci::into(b.requests));
        st.exchange(soci::into(b.spend));
        st.exchange(soci::into(b.input_tokens));
        st.exchange(soci::into(b.output_tokens));
        st.exchange(soci::into(b.errors));
        w.bind(st);
        st.alloc();
        st.prepare("SELECT created_at - created_at % " + width + " AS bucket, " + column +
                   ", COUNT(*), SUM(cost), SUM(input_tokens), SUM(output_tokens), "
                   "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) FROM request_logs" +
                   w.sql + " GROUP BY bucket, " + column + " ORDER BY bucket, " + column);
        st.define_and_bind();
        st.execute(false);
        while (st.fetch()) out.push_back(b);
        return out;
    });
}

}  // namespace tianshu::store::request_logs

namespace tianshu::store {

std::string proxy_origin(std::string_view url) {
    if (url.empty()) return {};
    std::string_view scheme;
    std::string_view rest = url;
    if (auto at = rest.find("://"); at != std::string_view::npos) {
        scheme = rest.substr(0, at);
        rest.remove_prefix(at + 3);
    }
    // Userinfo ends at the last '@': a password may hold '@', '/', '?' or '#' unescaped, so the
    // cut comes before the path's (a proxy URL has no path worth an '@').
    if (auto at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
    rest = rest.substr(0, rest.find_first_of("/?#"));
    return (scheme.empty() ? std::string("http") : std::string(scheme)) + "://" + std::string(rest);
}

}  // namespace tianshu::store
