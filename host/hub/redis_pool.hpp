#pragma once
// The gateway's one Redis client: a small pool of Poco::Redis connections to one server, with
// the retry rule for stale connections and EVALSHA-with-EVAL-fallback for Lua scripts. The
// quota book (redis_quota_book) and the session store (redis_session_store) each open one.

#include <Poco/DigestEngine.h>
#include <Poco/Exception.h>
#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/Redis/Exception.h>
#include <Poco/SHA1Engine.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/fiber.hpp"

namespace tianshu::hub {

//! Where a Redis is and how a pool talks to it.
struct RedisPoolConfig {
    //! redis://[:password@]host[:port][/db], e.g. "redis://127.0.0.1:6379".
    std::string url = "redis://127.0.0.1:6379";
    //! What the pool serves, for error messages ("quota store", "session store").
    std::string role = "Redis";
    //! Connections kept open at most; a command waits for a free one up to `connect_timeout`.
    std::size_t max_connections = 16;
    std::chrono::milliseconds connect_timeout{2000};
    std::chrono::milliseconds command_timeout{2000};
};

//! A Lua script and its SHA-1, so calls send the 40-character digest instead of the body.
struct RedisScript {
    std::string_view body;
    std::string sha1;

    explicit RedisScript(std::string_view text) : body(text) {
        Poco::SHA1Engine engine;
        engine.update(text.data(), static_cast<unsigned>(text.size()));
        sha1 = Poco::DigestEngine::digestToHex(engine.digest());
    }
};

//! Where the Redis server is, from RedisPoolConfig::url.
struct RedisEndpoint {
    std::string host;
    Poco::UInt16 port = 6379;
    std::string user;
    std::string password;
    int database = 0;
    //! host:port, for messages (never the password).
    std::string address;
};

//! Checks a redis:// URL; the error (kind internal) names it and the accepted form.
core::Result<RedisEndpoint> parse_redis_url(const std::string& url);

//! True when a Poco RedisException carries an error reply from the server ("ERR …",
//! "NOSCRIPT …"): the connection is still in step. Anything else means the connection is gone.
bool is_redis_error_reply(const std::string& message);

//! Connections to one Redis. Thread rule: any number of threads at once; each command borrows
//! its own connection (Poco::Redis::Client is not thread-safe), and a broken connection is
//! dropped and replaced by a fresh one. Every failure is ErrorKind::unavailable naming the role
//! and the address. A command blocks its thread (inside a core::BlockingRegion, so on a fiber
//! another carrier takes events) for at most the configured timeouts.
class RedisPool {
  public:
    using Client = Poco::Redis::Client;

    //! Checks the URL and connects once (PING), so a wrong address fails at start-up.
    static core::Result<std::shared_ptr<RedisPool>> open(RedisPoolConfig config);

    RedisPool(const RedisPool&) = delete;
    RedisPool& operator=(const RedisPool&) = delete;

    const RedisPoolConfig& config() const { return config_; }
    const RedisEndpoint& endpoint() const { return endpoint_; }

    //! The error for `what` failing with `detail`: kind unavailable, the role, the address and
    //! the fix.
    core::Error failure(std::string_view what, const std::string& detail) const;

    //! Runs `command(Client&)` on a pooled connection. A failure on a connection that had been
    //! idle in the pool is retried once on a fresh one when `retry_stale` (the command is
    //! idempotent); an error reply from Redis itself is never retried.
    template <class T, class Command>
    core::Result<T> run(std::string_view what, bool retry_stale, Command&& command);

    //! EVALSHA, falling back to EVAL (which also caches the script) when the server does not
    //! know it yet: a new server, or SCRIPT FLUSH. Throws what Poco throws (call inside run).
    template <class Reply>
    static Reply eval(Client& client, const RedisScript& script,
                      const std::vector<std::string>& keys, const std::vector<std::string>& args);

  private:
    //! A borrowed connection. It goes back to the pool when the lease ends, unless discard()ed
    //! because a failure may have left it mid-reply.
    class Lease {
      public:
        Lease(RedisPool& pool, std::unique_ptr<Client> client, bool reused)
            : pool_(&pool), client_(std::move(client)), reused_(reused) {}
        Lease(Lease&& other) noexcept
            : pool_(std::exchange(other.pool_, nullptr)),
              client_(std::move(other.client_)),
              reused_(other.reused_) {}
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (pool_) pool_->give_back(std::move(client_));
        }
        Client& client() { return *client_; }
        //! True when the connection had served earlier commands: it may have gone stale while
        //! idle (Redis restarted, an idle timeout), so one failure on it earns one retry.
        bool reused() const { return reused_; }
        void discard() { client_.reset(); }

      private:
        RedisPool* pool_;
        std::unique_ptr<Client> client_;
        bool reused_;
    };

    RedisPool(RedisPoolConfig config, RedisEndpoint endpoint)
        : config_(std::move(config)), endpoint_(std::move(endpoint)) {}
    void give_back(std::unique_ptr<Client> client);
    core::Result<std::unique_ptr<Client>> connect();
    //! A connection from the pool, or a new one when `fresh` or none is idle.
    core::Result<Lease> borrow(bool fresh);

    RedisPoolConfig config_;
    RedisEndpoint endpoint_;
    std::mutex mutex_;
    std::condition_variable returned_;
    std::vector<std::unique_ptr<Client>> idle_;
    std::size_t open_connections_ = 0;
};

template <class T, class Command>
core::Result<T> RedisPool::run(std::string_view what, bool retry_stale, Command&& command) {
    // Poco's Redis client blocks the thread: on a fiber, another carrier takes events.
    core::BlockingRegion blocks;
    for (int attempt = 0;; ++attempt) {
        auto lease = borrow(attempt > 0);
        if (!lease) return lease.take_error();
        try {
            return T(command(lease->client()));
        } catch (const Poco::Redis::RedisException& e) {
            if (is_redis_error_reply(e.message()))
                return failure(what, "Redis replied: " + e.message());
            // Poco also reports a closed socket as a RedisException.
            lease->discard();
            if (!(retry_stale && attempt == 0 && lease->reused()))
                return failure(what, e.message());
        } catch (const Poco::BadCastException&) {
            return failure(what, "unexpected reply type");
        } catch (const Poco::Exception& e) {
            lease->discard();
            if (!(retry_stale && attempt == 0 && lease->reused()))
                return failure(what, e.displayText());
        } catch (const std::exception& e) {
            lease->discard();
            if (!(retry_stale && attempt == 0 && lease->reused())) return failure(what, e.what());
        }
    }
}

template <class Reply>
Reply RedisPool::eval(Client& client, const RedisScript& script,
                      const std::vector<std::string>& keys, const std::vector<std::string>& args) {
    const auto make = [&](std::string_view verb, std::string_view head) {
        Poco::Redis::Array command;
        command << std::string(verb) << std::string(head) << std::to_string(keys.size());
        for (const auto& k : keys) command << k;
        for (const auto& a : args) command << a;
        return command;
    };
    try {
        return client.execute<Reply>(make("EVALSHA", script.sha1));
    } catch (const Poco::Redis::RedisException& e) {
        if (e.message().rfind("NOSCRIPT", 0) != 0) throw;
    }
    return client.execute<Reply>(make("EVAL", script.body));
}

}  // namespace tianshu::hub
