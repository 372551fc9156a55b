#include "store/database.hpp"

#include <Poco/URI.h>
#include <soci/connection-pool.h>
#include <soci/mysql/soci-mysql.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <charconv>
#include <chrono>
#include <filesystem>
#include <system_error>

namespace tianshu::store {
namespace {

constexpr std::string_view url_examples =
    "use sqlite:///absolute/path/tianshu.db, sqlite://relative/path/tianshu.db or "
    "mysql://user:password@host:3306/dbname";

core::Error url_error(std::string message) {
    return core::Error::invalid(std::move(message) + " (" + std::string(url_examples) + ")");
}

std::string percent_decode(std::string_view text) {
    std::string out;
    Poco::URI::decode(std::string(text), out);
    return out;
}

core::Result<DatabaseLocation> parse_sqlite(std::string_view rest) {
    DatabaseLocation loc;
    loc.dialect = "sqlite";
    loc.path = percent_decode(rest);
    loc.redacted = "sqlite://" + std::string(rest);
    if (loc.path.empty())
        return url_error(
            "database URL 'sqlite://' names no file: add the path of the database file");
    if (loc.path.find('=') != std::string::npos)
        return url_error("the SQLite path '" + loc.path +
                         "' contains '=', which the SQLite driver cannot open: rename the file");
    return loc;
}

core::Result<DatabaseLocation> parse_mysql(std::string_view rest) {
    DatabaseLocation loc;
    loc.dialect = "mysql";
    auto at = rest.rfind('@');
    if (at == std::string_view::npos)
        return url_error("database URL 'mysql://" + std::string(rest) +
                         "' has no user: put user:password@ before the host");
    std::string_view userinfo = rest.substr(0, at);
    std::string_view hostpart = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    loc.user = percent_decode(userinfo.substr(0, colon));
    if (colon != std::string_view::npos) loc.password = percent_decode(userinfo.substr(colon + 1));
    if (loc.user.empty())
        return url_error(
            "the user name in the mysql database URL is empty: put user:password@ before the host");

    auto slash = hostpart.find('/');
    std::string_view hostport = hostpart.substr(0, slash);
    std::string_view dbname =
        slash == std::string_view::npos ? std::string_view{} : hostpart.substr(slash + 1);
    if (auto q = dbname.find('?'); q != std::string_view::npos) dbname = dbname.substr(0, q);
    loc.redacted = "mysql://" + loc.user + (colon == std::string_view::npos ? "" : ":***") + "@" +
                   std::string(hostpart);

    auto port_colon = hostport.rfind(':');
    loc.host = std::string(hostport.substr(0, port_colon));
    if (loc.host.empty())
        return url_error("database URL '" + loc.redacted + "' names no host after '@'");
    if (port_colon != std::string_view::npos) {
        std::string_view port = hostport.substr(port_colon + 1);
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            return url_error("the port '" + std::string(port) + "' in database URL '" +
                             loc.redacted + "' is not a number between 1 and 65535");
        loc.port = value;
    }
    loc.database = percent_decode(dbname);
    if (loc.database.empty())
        return url_error("database URL '" + loc.redacted +
                         "' names no database: add /dbname after the host");
    return loc;
}

// SOCI's MySQL connect string accepts quoted values with backslash escapes.
std::string quote(const std::string& value) {
    std::string out = "'";
    for (char c : value) {
        if (c == '\'' || c == '\\') out += '\\';
        out += c;
    }
    return out + "'";
}

bool is_connection_error(const soci::soci_error& e) {
    return e.get_error_category() == soci::soci_error::connection_error;
}

}  // namespace

core::Result<DatabaseLocation> DatabaseLocation::parse(std::string_view url) {
    auto sep = url.find("://");
    if (sep == std::string_view::npos)
        return url_error("database URL '" + std::string(url.substr(0, 16)) + "...' has no scheme");
    std::string_view scheme = url.substr(0, sep);
    std::string_view rest = url.substr(sep + 3);
    if (scheme == "sqlite" || scheme == "sqlite3") return parse_sqlite(rest);
    if (scheme == "mysql" || scheme == "mariadb") return parse_mysql(rest);
    return url_error("database URL scheme '" + std::string(scheme) + "' is not supported");
}

Database::Database(DatabaseLocation location, std::size_t pool_size)
    : location_(std::move(location)),
      pool_size_(pool_size),
      pool_(std::make_unique<soci::connection_pool>(pool_size)) {}

Database::~Database() = default;

core::Result<std::unique_ptr<Database>> Database::open(std::string_view url,
                                                       std::size_t pool_size) {
    auto location = DatabaseLocation::parse(url);
    if (!location) return location.take_error();
    if (pool_size == 0) return core::Error::invalid("database pool size must be at least 1");
    if (location->dialect == "sqlite") {
        std::filesystem::path parent = std::filesystem::path(location->path).parent_path();
        std::error_code ec;
        if (!parent.empty()) std::filesystem::create_directories(parent, ec);
        if (ec)
            return core::Error::invalid("cannot create the directory '" + parent.string() +
                                        "' for the SQLite database " + location->redacted + ": " +
                                        ec.message() + ": fix the path after sqlite://");
    }
    std::unique_ptr<Database> db(new Database(std::move(location).value(), pool_size));
    if (auto opened = db->open_sessions(); !opened) return opened.take_error();
    return db;
}

namespace {
// Before SQLite's first use in the process (later calls are refused and change nothing):
// a pooled session is used by one thread at a time, so SQLite's per-connection mutexes
// (serialized mode) only cost; the allocation statistics take a global mutex on every
// malloc inside SQLite. Both showed in the usage batches' profile.
void configure_sqlite() {
    static const bool done = [] {
        sqlite_api::sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
        sqlite_api::sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        return true;
    }();
    (void)done;
}
}  // namespace

core::Result<void> Database::open_sessions() {
    std::string connect;
    if (dialect() == "sqlite") {
        configure_sqlite();
        connect = location_.path;
    } else {
        connect = "db=" + quote(location_.database) + " user=" + quote(location_.user) +
                  " password=" + quote(location_.password) + " host=" + quote(location_.host) +
                  " port=" + std::to_string(location_.port) + " charset=utf8mb4 connect_timeout=10";
    }
    for (std::size_t i = 0; i < pool_size_; ++i) {
        try {
            soci::session& s = pool_->at(i);
            if (dialect() == "sqlite")
                s.open(soci::sqlite3, connect);
            else
                s.open(soci::mysql, connect);
            prepare_session(s);
        } catch (const std::exception& e) {
            std::string hint = dialect() == "sqlite"
                                   ? "check that the file path after sqlite:// is writable"
                                   : "check the host, port, user, password and database name in "
                                     "the URL, and that the server is running";
            return core::Error{
                core::ErrorKind::unavailable,
                "cannot open database " + location_.redacted + ": " + e.what() + ": " + hint,
                {}};
        }
    }
    return {};
}

void Database::prepare_session(soci::session& s) {
    if (dialect() == "sqlite") {
        int timeout = 0;
        s << "PRAGMA busy_timeout = 5000", soci::into(timeout);
        std::string mode;
        s << "PRAGMA journal_mode = WAL", soci::into(mode);
        s << "PRAGMA synchronous = NORMAL";
        s << "PRAGMA foreign_keys = ON";
        // 16 MiB of page cache per session (the default is 2 MiB): the usage batches touch the
        // right edge of eight request_logs indexes and three ledger ones on every flush.
        s << "PRAGMA cache_size = -16384";
        // Statement journals in memory: every multi-row usage INSERT keeps the pages it changes
        // in one, which otherwise spills to a temporary file and costs two pwrite(2) per page.
        s << "PRAGMA temp_store = MEMORY";
    } else {
        // Writers serialise on the config_revision row lock and then read current state
        // (e.g. MAX(chains.version)): that read must see rows committed while they waited.
        s << "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED";
    }
}

core::Result<void> Database::run(std::string_view operation, bool transactional,
                                 const std::function<void(soci::session&)>& body) {
    // One retry when a pooled MySQL connection turns out to be dead (server restart, idle
    // timeout) before anything was committed: the session is reconnected and the body rerun.
    for (int attempt = 0;; ++attempt) {
        bool committing = false;
        try {
            soci::session s(*pool_);
            bool in_transaction = false;
            try {
                if (transactional) {
                    if (dialect() == "sqlite")
                        s << "BEGIN IMMEDIATE";
                    else
                        s.begin();
                    in_transaction = true;
                }
                body(s);
                if (transactional) {
                    committing = true;
                    s.commit();
                }
                return {};
            } catch (const soci::soci_error& e) {
                if (in_transaction && !committing) {
                    try {
                        s.rollback();
                    } catch (...) {
                    }
                }
                if (is_connection_error(e) && attempt == 0 && !committing) {
                    s.reconnect();
                    prepare_session(s);
                    continue;
                }
                throw;
            } catch (...) {
                if (in_transaction && !committing) {
                    try {
                        s.rollback();
                    } catch (...) {
                    }
                }
                throw;
            }
        } catch (const StoreFailure& f) {
            return f.error();
        } catch (const soci::soci_error& e) {
            if (is_connection_error(e))
                return core::Error{core::ErrorKind::unavailable,
                                   std::string(operation) + " failed: the database " +
                                       location_.redacted + " is unreachable (" + e.what() +
                                       "): check that the server is running",
                                   {}};
            return core::Error::internal_error(std::string(operation) + " failed on database " +
                                               location_.redacted + ": " + e.what() +
                                               (committing ? " (while committing)" : "") +
                                               ": if the schema is missing, run the migrations");
        } catch (const std::exception& e) {
            return core::Error::internal_error(std::string(operation) + " failed on database " +
                                               location_.redacted + ": " + e.what());
        }
    }
}

bool is_unique_violation(const std::exception& e) {
    if (auto sqlite = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
        if ((sqlite->result() & 0xff) == 19 /* SQLITE_CONSTRAINT */) {
            std::string_view what = e.what();
            return what.find("UNIQUE") != std::string_view::npos ||
                   what.find("PRIMARY KEY") != std::string_view::npos;
        }
    }
    std::string_view what = e.what();
    return what.find("UNIQUE constraint failed") != std::string_view::npos ||
           what.find("Duplicate entry") != std::string_view::npos;
}

long long now_seconds() {
    using namespace std::chrono;
    return duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace tianshu::store
