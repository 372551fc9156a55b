#include "store/chains.hpp"

#include "store/settings.hpp"

#include <soci/soci.h>

namespace tianshu::store::chains {
namespace {

std::vector<ChainVersion> fetch(soci::session& s, const std::string& sql,
                                const std::string* chain_id) {
    ChainVersion c;
    std::vector<ChainVersion> out;
    soci::statement st(s);
    st.exchange(soci::into(c.chain_id));
    st.exchange(soci::into(c.version));
    st.exchange(soci::into(c.body));
    st.exchange(soci::into(c.created_at));
    if (chain_id) st.exchange(soci::use(*chain_id));
    st.alloc();
    st.prepare(sql);
    st.define_and_bind();
    st.execute(false);
    while (st.fetch()) out.push_back(c);
    return out;
}

}  // namespace

core::Result<int> save(Database& db, std::string_view chain_id, std::string_view body) {
    if (chain_id.empty()) return core::Error::invalid("a chain needs an id");
    if (chain_id.size() > 255)
        return core::Error::invalid("chain id is longer than 255 characters");
    std::string id(chain_id), text(body);
    return db.with_transaction("save chain '" + id + "'", [&](soci::session& s) {
        // The revision bump comes first: it locks out other writers, so MAX(version) is stable.
        bump_config_revision(s);
        return save(s, id, text);
    });
}

int save(soci::session& s, std::string_view chain_id, std::string_view body) {
    std::string id(chain_id), text(body);
    int latest = 0;
    soci::indicator ind = soci::i_ok;
    s << "SELECT MAX(version) FROM chains WHERE chain_id = :id", soci::use(id),
        soci::into(latest, ind);
    int version = (ind == soci::i_null ? 0 : latest) + 1;
    long long at = now_seconds();
    s << "INSERT INTO chains (chain_id, version, body, created_at) VALUES (:id, :version, "
         ":body, :at)",
        soci::use(id), soci::use(version), soci::use(text), soci::use(at);
    return version;
}

core::Result<std::optional<ChainVersion>> latest(Database& db, std::string_view chain_id) {
    std::string id(chain_id);
    return db.with_session("read chain '" + id + "'",
                           [&](soci::session& s) { return latest(s, id); });
}

std::optional<ChainVersion> latest(soci::session& s, std::string_view chain_id) {
    std::string id(chain_id);
    auto found =
        fetch(s,
              "SELECT chain_id, version, body, created_at FROM chains WHERE chain_id = :id "
              "ORDER BY version DESC LIMIT 1",
              &id);
    return found.empty() ? std::optional<ChainVersion>()
                         : std::optional<ChainVersion>(std::move(found.front()));
}

core::Result<std::vector<ChainVersion>> list_latest(Database& db) {
    return db.with_session("list chains", [&](soci::session& s) {
        return fetch(s,
                     "SELECT c.chain_id, c.version, c.body, c.created_at FROM chains c "
                     "JOIN (SELECT chain_id, MAX(version) AS top FROM chains GROUP BY chain_id) m "
                     "ON c.chain_id = m.chain_id AND c.version = m.top ORDER BY c.chain_id",
                     nullptr);
    });
}

core::Result<std::vector<ChainVersion>> versions(Database& db, std::string_view chain_id) {
    std::string id(chain_id);
    return db.with_session("list versions of chain '" + id + "'", [&](soci::session& s) {
        return fetch(s,
                     "SELECT chain_id, version, body, created_at FROM chains WHERE chain_id = :id "
                     "ORDER BY version",
                     &id);
    });
}

}  // namespace tianshu::store::chains
