#include "store/admin_sessions.hpp"

#include "store/users.hpp"

#include <soci/soci.h>

namespace tianshu::store::admin_sessions {

core::Result<AdminSession> create(Database& db, long long user_id, std::string_view token_hash,
                                  long long expires_at, std::string_view client_ip) {
    return db.with_transaction("start an admin session", [&](soci::session& s) {
        require_user(s, user_id);
        std::string hash(token_hash);
        // A client address longer than the column is a proxy's invention: keep what fits.
        std::string ip(client_ip.substr(0, 64));
        long long now = now_seconds();
        s << "INSERT INTO admin_sessions (token_hash, user_id, created_at, expires_at, "
             "client_ip) VALUES (:hash, :user, :created, :expires, :ip)",
            soci::use(hash), soci::use(user_id), soci::use(now), soci::use(expires_at),
            soci::use(ip);
        AdminSession made;
        int enabled = 1;
        s << "SELECT a.id, u.name, u.role, u.enabled FROM admin_sessions a "
             "JOIN users u ON u.id = a.user_id WHERE a.token_hash = :hash",
            soci::use(hash), soci::into(made.id), soci::into(made.user_name), soci::into(made.role),
            soci::into(enabled);
        made.user_enabled = enabled != 0;
        made.user_id = user_id;
        made.created_at = now;
        made.expires_at = expires_at;
        return made;
    });
}

core::Result<std::optional<AdminSession>> find_live(Database& db, std::string_view token_hash,
                                                    long long now) {
    return db.with_session("look up an admin session", [&](soci::session& s) {
        std::string hash(token_hash);
        AdminSession found;
        int enabled = 1;
        s << "SELECT a.id, a.user_id, u.name, u.role, u.enabled, a.created_at, a.expires_at "
             "FROM admin_sessions a JOIN users u ON u.id = a.user_id "
             "WHERE a.token_hash = :hash AND a.expires_at > :now",
            soci::use(hash), soci::use(now), soci::into(found.id), soci::into(found.user_id),
            soci::into(found.user_name), soci::into(found.role), soci::into(enabled),
            soci::into(found.created_at), soci::into(found.expires_at);
        if (!s.got_data()) return std::optional<AdminSession>();
        found.user_enabled = enabled != 0;
        return std::optional<AdminSession>(std::move(found));
    });
}

core::Result<void> remove(Database& db, std::string_view token_hash) {
    return db.with_transaction("end an admin session", [&](soci::session& s) {
        std::string hash(token_hash);
        s << "DELETE FROM admin_sessions WHERE token_hash = :hash", soci::use(hash);
    });
}

core::Result<long long> prune_expired(Database& db, long long now) {
    return db.with_transaction("delete expired admin sessions", [&](soci::session& s) {
        soci::statement st =
            (s.prepare << "DELETE FROM admin_sessions WHERE expires_at <= :now", soci::use(now));
        st.execute(true);
        return static_cast<long long>(st.get_affected_rows());
    });
}

}  // namespace tianshu::store::admin_sessions
