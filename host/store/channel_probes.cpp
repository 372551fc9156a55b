#include "store/channel_probes.hpp"

#include <soci/soci.h>

#include <set>
#include <utility>

namespace tianshu::store::channel_probes {
namespace {

//! At most `max` bytes of `s`, cut on a UTF-8 character boundary.
std::string cut(const std::string& s, std::size_t max) {
    if (s.size() <= max) return s;
    std::size_t at = max;
    while (at > 0 && (static_cast<unsigned char>(s[at]) & 0xC0) == 0x80) --at;
    return s.substr(0, at);
}

constexpr const char* kColumns =
    "id, channel, key_id, ok, latency_ms, error_kind, error, created_at";

//! Reads the columns of kColumns into `p`.
void bind_row(soci::statement& st, ChannelProbe& p, int& ok) {
    st.exchange(soci::into(p.id));
    st.exchange(soci::into(p.channel));
    st.exchange(soci::into(p.key_id));
    st.exchange(soci::into(ok));
    st.exchange(soci::into(p.latency_ms));
    st.exchange(soci::into(p.error_kind));
    st.exchange(soci::into(p.error));
    st.exchange(soci::into(p.created_at_ms));
}

//! Runs a prepared statement whose row is bound to `p` and `ok` and collects every row.
std::vector<ChannelProbe> fetch_all(soci::statement& st, ChannelProbe& p, int& ok) {
    std::vector<ChannelProbe> out;
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) {
        p.ok = ok != 0;
        out.push_back(p);
    }
    return out;
}

}  // namespace

core::Result<void> record(Database& db, const std::vector<ChannelProbe>& probes, int keep) {
    if (keep < 1)
        return core::Error::invalid("probes to keep per key " + std::to_string(keep) +
                                    " must be at least 1");
    if (probes.empty()) return {};
    return db.with_transaction("record channel probe results", [&](soci::session& s) {
        ChannelProbe p;
        int ok = 0;
        soci::statement insert =
            (s.prepare << "INSERT INTO channel_probes (channel, key_id, ok, latency_ms, "
                          "error_kind, error, created_at) VALUES (:c, :k, :ok, :l, :ek, :e, :at)",
             soci::use(p.channel), soci::use(p.key_id), soci::use(ok), soci::use(p.latency_ms),
             soci::use(p.error_kind), soci::use(p.error), soci::use(p.created_at_ms));
        std::set<std::pair<std::string, long long>> touched;
        for (const ChannelProbe& given : probes) {
            p = given;
            p.channel = cut(p.channel, 255);
            p.error_kind = cut(p.error_kind, 32);
            p.error = cut(p.error, 255);
            ok = p.ok ? 1 : 0;
            insert.execute(true);
            touched.emplace(p.channel, p.key_id);
        }
        // The id of the keep-th newest row of each key touched; older rows go.
        std::string channel;
        long long key_id = 0, oldest_kept = 0;
        const long long offset = keep - 1;
        soci::indicator ind = soci::i_null;
        soci::statement find =
            (s.prepare << "SELECT id FROM channel_probes WHERE channel = :c AND key_id = :k "
                          "ORDER BY id DESC LIMIT 1 OFFSET " +
                              std::to_string(offset),
             soci::use(channel), soci::use(key_id), soci::into(oldest_kept, ind));
        soci::statement prune = (s.prepare << "DELETE FROM channel_probes WHERE channel = :c "
                                              "AND key_id = :k AND id < :id",
                                 soci::use(channel), soci::use(key_id), soci::use(oldest_kept));
        for (const auto& [c, k] : touched) {
            channel = c;
            key_id = k;
            ind = soci::i_null;
            find.execute(true);
            if (ind == soci::i_ok && find.got_data()) prune.execute(true);
        }
    });
}

core::Result<std::vector<ChannelProbe>> latest(Database& db) {
    return db.with_session("read the latest channel probes", [&](soci::session& s) {
        ChannelProbe p;
        int ok = 0;
        soci::statement st(s);
        bind_row(st, p, ok);
        st.alloc();
        st.prepare(std::string("SELECT ") + kColumns +
                   " FROM channel_probes WHERE id IN (SELECT MAX(id) FROM channel_probes GROUP "
                   "BY channel, key_id) ORDER BY channel, key_id");
        return fetch_all(st, p, ok);
    });
}

core::Result<std::vector<ChannelProbe>> history(Database& db, const std::string& channel,
                                                long long key_id) {
    return db.with_session("read a channel key's probes", [&](soci::session& s) {
        ChannelProbe p;
        int ok = 0;
        std::string c = channel;
        long long k = key_id;
        soci::statement st(s);
        bind_row(st, p, ok);
        st.exchange(soci::use(c));
        st.exchange(soci::use(k));
        st.alloc();
        st.prepare(std::string("SELECT ") + kColumns +
                   " FROM channel_probes WHERE channel = :c AND key_id = :k ORDER BY id DESC");
        return fetch_all(st, p, ok);
    });
}

}  // namespace tianshu::store::channel_probes
