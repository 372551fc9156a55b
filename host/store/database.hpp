#pragma once
// The store's entry point: a pool of SOCI sessions opened from one URL. Repositories
// (users, api_keys, channels, chains, settings) take a Database& and run their SQL through
// with_session / with_transaction, which turn every exception into a core::Error.

#include "core/error.hpp"

#include <cstddef>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace soci {
class session;
class connection_pool;
}  // namespace soci

namespace tianshu::store {

//! Thrown inside a session or transaction body to stop it with an Error the caller sees as is
//! (for example "a user named 'alice' already exists"); the transaction is rolled back.
class StoreFailure : public std::exception {
  public:
    explicit StoreFailure(core::Error error) : error_(std::move(error)) {}
    const char* what() const noexcept override { return error_.message.c_str(); }
    const core::Error& error() const { return error_; }

  private:
    core::Error error_;
};

//! Where a database lives, parsed from a URL; the password never leaves this struct except
//! into the driver's connect string.
struct DatabaseLocation {
    std::string dialect;   //!< "sqlite" or "mysql"
    std::string path;      //!< sqlite: the file
    std::string user;      //!< mysql
    std::string password;  //!< mysql; never printed
    std::string host;      //!< mysql
    unsigned port = 3306;  //!< mysql
    std::string database;  //!< mysql: the schema name
    std::string redacted;  //!< the URL with the password replaced by "***", for messages

    //! Parses `sqlite:///abs/path.db`, `sqlite://relative/path.db` or
    //! `mysql://user:password@host:port/dbname` (user and password may be percent-encoded).
    static core::Result<DatabaseLocation> parse(std::string_view url);
};

//! A pool of sessions on one SQLite file or MySQL/MariaDB schema, safe to share between threads.
class Database {
  public:
    static constexpr std::size_t default_pool_size = 8;

    //! Opens every session of the pool. SQLite sessions get WAL, a 5 s busy timeout and
    //! foreign keys; MySQL sessions use utf8mb4. Errors name the part of the URL to fix.
    static core::Result<std::unique_ptr<Database>> open(std::string_view url,
                                                        std::size_t pool_size = default_pool_size);

    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    //! "sqlite" or "mysql": repositories pick their SQL by it.
    const std::string& dialect() const { return location_.dialect; }
    //! The URL with its password hidden, safe for logs and messages.
    const std::string& redacted_url() const { return location_.redacted; }
    std::size_t pool_size() const { return pool_size_; }

    //! Runs `body(session)` on one pooled session without a transaction (reads).
    //! `operation` names what is being done, for the error message ("list users").
    template <class F>
    auto with_session(std::string_view operation, F&& body) {
        return invoke(operation, false, std::forward<F>(body));
    }

    //! Runs `body(session)` inside one transaction on one pooled session: it commits when the
    //! body returns, and rolls back when anything is thrown (the throw becomes the Error).
    //! SQLite transactions start IMMEDIATE so concurrent writers queue on the busy timeout.
    template <class F>
    auto with_transaction(std::string_view operation, F&& body) {
        return invoke(operation, true, std::forward<F>(body));
    }

    //! The untyped core of with_session/with_transaction.
    core::Result<void> run(std::string_view operation, bool transactional,
                           const std::function<void(soci::session&)>& body);

  private:
    Database(DatabaseLocation location, std::size_t pool_size);
    core::Result<void> open_sessions();
    void prepare_session(soci::session& session);

    template <class F>
    auto invoke(std::string_view operation, bool transactional, F&& body) {
        using R = std::invoke_result_t<F&, soci::session&>;
        if constexpr (std::is_void_v<R>) {
            return run(operation, transactional, [&](soci::session& s) { body(s); });
        } else {
            std::optional<R> out;
            auto done =
                run(operation, transactional, [&](soci::session& s) { out.emplace(body(s)); });
            if (!done) return core::Result<R>(done.take_error());
            return core::Result<R>(std::move(*out));
        }
    }

    DatabaseLocation location_;
    std::size_t pool_size_;
    std::unique_ptr<soci::connection_pool> pool_;
};

//! True when a SOCI error is a UNIQUE / duplicate-key violation (either dialect).
bool is_unique_violation(const std::exception& e);

//! Seconds since the Unix epoch: the unit of every created_at / revoked_at column.
long long now_seconds();

}  // namespace tianshu::store
