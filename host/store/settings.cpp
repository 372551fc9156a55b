#include "store/settings.hpp"

#include <soci/soci.h>

namespace tianshu::store {

void bump_config_revision(soci::session& s) {
    s << "UPDATE config_revision SET revision = revision + 1 WHERE id = 1";
}

core::Result<long long> config_revision(Database& db) {
    return db.with_session("read the configuration revision", [](soci::session& s) {
        long long revision = 0;
        s << "SELECT revision FROM config_revision WHERE id = 1", soci::into(revision);
        return revision;
    });
}

namespace settings {

core::Result<std::optional<std::string>> get(Database& db, std::string_view name) {
    return db.with_session("read setting '" + std::string(name) + "'", [&](soci::session& s) {
        std::string key(name), value;
        s << "SELECT value FROM settings WHERE name = :name", soci::use(key), soci::into(value);
        return s.got_data() ? std::optional<std::string>(value) : std::nullopt;
    });
}

core::Result<void> set(Database& db, std::string_view name, std::string_view value) {
    if (name.empty()) return core::Error::invalid("a setting needs a name");
    return db.with_transaction("save setting '" + std::string(name) + "'", [&](soci::session& s) {
        bump_config_revision(s);
        set(s, name, value);
    });
}

std::optional<std::string> get(soci::session& s, std::string_view name) {
    // A locking read sees what other transactions committed before this one got its locks,
    // whatever the session's isolation level.
    const char* sql = s.get_backend_name() == "mysql"
                          ? "SELECT value FROM settings WHERE name = :name LOCK IN SHARE MODE"
                          : "SELECT value FROM settings WHERE name = :name";
    std::string key(name), value;
    s << sql, soci::use(key), soci::into(value);
    return s.got_data() ? std::optional<std::string>(value) : std::nullopt;
}

void set(soci::session& s, std::string_view name, std::string_view value) {
    const char* sql = s.get_backend_name() == "mysql"
                          ? "INSERT INTO settings (name, value) VALUES (:name, :value) "
                            "ON DUPLICATE KEY UPDATE value = VALUES(value)"
                          : "INSERT INTO settings (name, value) VALUES (:name, :value) "
                            "ON CONFLICT (name) DO UPDATE SET value = excluded.value";
    std::string key(name), text(value);
    s << sql, soci::use(key), soci::use(text);
}

}  // namespace settings
}  // namespace tianshu::store
