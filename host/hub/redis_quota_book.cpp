#include "hub/redis_quota_book.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/Exception.h>
#include <Poco/Redis/Array.h>
#include <Poco/Redis/Client.h>
#include <Poco/Redis/Exception.h>
#include <Poco/Redis/Type.h>
#include <Poco/SHA1Engine.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>

#include <algorithm>
#include <charconv>
#include <condition_variable>
#include <mutex>
#include <utility>
#include <vector>

#include "core/fiber.hpp"

namespace tianshu::hub {
namespace {

using Poco::Redis::Array;
using Poco::Redis::BulkString;
using Poco::Redis::Client;

// Scripts. Redis 7 runs Lua 5.1, whose numbers are doubles: integer arithmetic on balances is
// left to DECRBY/INCRBY (exact int64), and numbers computed in Lua are exact below 2^53 micros
// (9 billion units). fmt() turns such a number back into the integer text INCRBY accepts.

// KEYS: reservation, account 1[, account 2]. ARGV: amount, ttl seconds.
// Returns {1} reserved; {2} already reserved with the same amount (a retry); {3, i} account i is
// not loaded; {0, i, balance} account i is short; {4} the id is used by another reservation.
constexpr std::string_view reserve_script = R"lua(
local existing = redis.call('HGET', KEYS[1], 'amount')
if existing then
  if existing == ARGV[1] then return {2} end
  return {4}
end
for i = 2, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 0 then return {3, i - 1} end
end
for i = 2, #KEYS do
  local before = redis.call('GET', KEYS[i])
  if redis.call('DECRBY', KEYS[i], ARGV[1]) < 0 then
    for j = 2, i do redis.call('INCRBY', KEYS[j], ARGV[1]) end
    return {0, i - 1, before}
  end
end
redis.call('HSET', KEYS[1], 'amount', ARGV[1], 'a1', KEYS[2], 'a2', KEYS[3] or '')
redis.call('EXPIRE', KEYS[1], ARGV[2])
return {1}
)lua";

// KEYS: reservation. ARGV: actual cost. Returns {0} when the reservation is gone (settled,
// released or expired), else {1, shortfall 1, shortfall 2}. An account key that vanished (evicted)
// is left alone: the database re-seeds it.
constexpr std::string_view settle_script = R"lua(
local function fmt(x) return string.format('%d', x) end
local r = redis.call('HMGET', KEYS[1], 'amount', 'a1', 'a2')
if not r[1] then return {0} end
local refund = tonumber(r[1]) - tonumber(ARGV[1])
local out = {1, 0, 0}
for i = 1, 2 do
  local k = r[i + 1]
  if k and k ~= '' and redis.call('EXISTS', k) == 1 then
    if refund >= 0 then
      redis.call('INCRBY', k, fmt(refund))
    else
      local extra = -refund
      local after = redis.call('DECRBY', k, fmt(extra))
      if after < 0 then
        if after + extra >= 0 then
          redis.call('SET', k, '0')
          out[i + 1] = -after
        else
          redis.call('INCRBY', k, fmt(extra))
          out[i + 1] = extra
        end
      end
    end
  end
end
redis.call('DEL', KEYS[1])
return out
)lua";

// KEYS: reservation. Returns 1 when it gave the amount back, 0 when the reservation is gone.
constexpr std::string_view release_script = R"lua(
local r = redis.call('HMGET', KEYS[1], 'amount', 'a1', 'a2')
if not r[1] then return 0 end
for i = 2, 3 do
  local k = r[i]
  if k and k ~= '' and redis.call('EXISTS', k) == 1 then redis.call('INCRBY', k, r[1]) end
end
redis.call('DEL', KEYS[1])
return 1
)lua";

// KEYS: account. ARGV: amount. Returns 1 when credited, 0 when the account is not loaded.
constexpr std::string_view credit_script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('INCRBY', KEYS[1], ARGV[1])
return 1
)lua";

// KEYS: account. ARGV: balance. Returns 1 when it seeded the account, 0 when it was live.
constexpr std::string_view load_script = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then return 1 end
return 0
)lua";

// KEYS: account, its credits hash. ARGV: available, credits, version. 1 when it seeded.
constexpr std::string_view seed_script = R"lua(
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('HSET', KEYS[2], 'c', ARGV[2], 'v', ARGV[3])
  return 1
end
return 0
)lua";

// KEYS: account, its credits hash. ARGV: credits, version. 1 when applied; 0 when the account is
// not live or the version is not newer. A live account without a credits hash (seeded by
// load()) takes the pair as its baseline.
constexpr std::string_view sync_script = R"lua(
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local known = redis.call('HMGET', KEYS[2], 'c', 'v')
if known[2] == false then
  redis.call('HSET', KEYS[2], 'c', ARGV[1], 'v', ARGV[2])
  return 0
end
if tonumber(ARGV[2]) <= tonumber(known[2]) then return 0 end
local delta = tonumber(ARGV[1]) - tonumber(known[1])
if delta > 0 then redis.call('INCRBY', KEYS[1], delta) end
if delta < 0 then redis.call('DECRBY', KEYS[1], -delta) end
redis.call('HSET', KEYS[2], 'c', ARGV[1], 'v', ARGV[2])
return 1
)lua";

//! True when a Poco RedisException carries an error reply from the server ("ERR …",
//! "NOSCRIPT …": an upper-case code, then the text): the connection is still in step. Anything
//! else ("Lost connection to Redis server") means the connection is gone.
bool is_error_reply(const std::string& message) {
    const auto space = message.find(' ');
    const std::string_view code = std::string_view(message).substr(0, space);
    return !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
    });
}

//! A Lua script and its SHA-1, so calls send the 40-character digest instead of the body.
struct Script {
    std::string_view body;
    std::string sha1;

    explicit Script(std::string_view text) : body(text) {
        Poco::SHA1Engine engine;
        engine.update(text.data(), static_cast<unsigned>(text.size()));
        sha1 = Poco::DigestEngine::digestToHex(engine.digest());
    }
};

//! Where the Redis server is, from RedisQuotaConfig::url.
struct RedisEndpoint {
    std::string host;
    Poco::UInt16 port = 6379;
    std::string user;
    std::string password;
    int database = 0;
    //! host:port, for messages (never the password).
    std::string address;
};

core::Result<RedisEndpoint> parse_redis_url(const std::string& url) {
    const auto bad = [&](const std::string& why) {
        return core::Error::internal_error("Redis URL \"" + url + "\" " + why +
                                           "; use redis://[:password@]host[:port][/db], e.g. "
                                           "redis://127.0.0.1:6379");
    };
    Poco::URI uri;
    try {
        uri = Poco::URI(url);
    } catch (const Poco::Exception& e) {
        return bad("is not a URL (" + e.message() + ")");
    }
    if (uri.getScheme() != "redis") return bad("does not start with redis://");
    RedisEndpoint endpoint;
    endpoint.host = uri.getHost();
    if (endpoint.host.empty()) return bad("has no host");
    if (uri.getPort() != 0) endpoint.port = uri.getPort();
    const std::string info = uri.getUserInfo();
    if (auto colon = info.find(':'); colon != std::string::npos) {
        endpoint.user = info.substr(0, colon);
        endpoint.password = info.substr(colon + 1);
    } else {
        endpoint.password = info;
    }
    std::string path = uri.getPath();
    if (!path.empty() && path != "/") {
        std::string_view digits = std::string_view(path).substr(1);
        auto [end, ec] =
            std::from_chars(digits.data(), digits.data() + digits.size(), endpoint.database);
        if (ec != std::errc() || end != digits.data() + digits.size() || endpoint.database < 0) {
            return bad("has database \"" + std::string(digits) + "\", not a number >= 0");
        }
    }
    endpoint.address = endpoint.host + ":" + std::to_string(endpoint.port);
    return endpoint;
}

}  // namespace

//! The connection pool, the endpoint and the scripts of one RedisQuotaBook.
struct RedisQuotaBook::State {
    RedisQuotaConfig config;
    RedisEndpoint endpoint;
    Script reserve{reserve_script};
    Script settle{settle_script};
    Script release{release_script};
    Script credit{credit_script};
    Script load{load_script};
    Script seed{seed_script};
    Script sync{sync_script};

    std::mutex mutex;
    std::condition_variable returned;
    std::vector<std::unique_ptr<Client>> idle;
    std::size_t open_connections = 0;

    //! A borrowed connection. It goes back to the pool when the lease ends, unless discard()ed
    //! because a failure may have left it mid-reply.
    class Lease {
      public:
        Lease(State& state, std::unique_ptr<Client> client, bool reused)
            : state_(&state), client_(std::move(client)), reused_(reused) {}
        Lease(Lease&& other) noexcept
            : state_(std::exchange(other.state_, nullptr)),
              client_(std::move(other.client_)),
              reused_(other.reused_) {}
        Lease& operator=(Lease&&) = delete;
        ~Lease() {
            if (state_) state_->give_back(std::move(client_));
        }
        Client& client() { return *client_; }
        //! True when the connection had served earlier commands: it may have gone stale while
        //! idle (Redis restarted, an idle timeout), so one failure on it earns one retry.
        bool reused() const { return reused_; }
        void discard() { client_.reset(); }

      private:
        State* state_;
        std::unique_ptr<Client> client_;
        bool reused_;
    };

    core::Error failure(std::string_view what, const std::string& detail) const {
        return {core::ErrorKind::unavailable,
                "quota store Redis at " + endpoint.address + ": " + std::string(what) +
                    " failed (" + detail +
                    "); check that Redis is running and reachable there, or fix the quota "
                    "Redis URL in the configuration",
                {}};
    }

    void give_back(std::unique_ptr<Client> client) {
        {
            std::lock_guard lock(mutex);
            if (client) {
                idle.push_back(std::move(client));
            } else {
                --open_connections;
            }
        }
        returned.notify_one();
    }

    core::Result<std::unique_ptr<Client>> connect() {
        auto client = std::make_unique<Client>();
        try {
            client->connect(endpoint.host, endpoint.port,
                            Poco::Timespan(config.connect_timeout.count() * 1000));
            client->setReceiveTimeout(Poco::Timespan(config.command_timeout.count() * 1000));
            if (!endpoint.password.empty()) {
                Array auth;
                auth << "AUTH";
                if (!endpoint.user.empty()) auth << endpoint.user;
                auth << endpoint.password;
                client->execute<std::string>(auth);
            }
            if (endpoint.database != 0) {
                Array select;
                select << "SELECT" << std::to_string(endpoint.database);
                client->execute<std::string>(select);
            }
        } catch (const Poco::Exception& e) {
            return failure("connecting", e.displayText());
        } catch (const std::exception& e) {
            return failure("connecting", e.what());
        }
        return client;
    }

    //! A connection from the pool, or a new one when `fresh` or none is idle.
    core::Result<Lease> borrow(bool fresh) {
        {
            std::unique_lock lock(mutex);
            if (fresh) {
                // One idle connection failed: Redis probably restarted or dropped its clients, so
                // the others idling beside it are stale too.
                open_connections -= idle.size();
                idle.clear();
            }
            const bool free = returned.wait_for(lock, config.connect_timeout, [&] {
                return !idle.empty() || open_connections < config.max_connections;
            });
            if (!free) {
                return failure("borrowing a connection",
                               "all " + std::to_string(config.max_connections) +
                                   " connections stayed busy for " +
                                   std::to_string(config.connect_timeout.count()) +
                                   " ms; raise max_connections");
            }
            if (!idle.empty()) {
                auto client = std::move(idle.back());
                idle.pop_back();
                return Lease(*this, std::move(client), true);
            }
            ++open_connections;  // hold the slot while connecting outside the lock
        }
        auto client = connect();
        if (!client) {
            give_back(nullptr);
            return client.take_error();
        }
        return Lease(*this, std::move(client).value(), false);
    }

    //! Runs `command` on a pooled connection. A failure on a connection that had been idle in the
    //! pool is retried once on a fresh one when `retry_stale` (the command is idempotent); an
    //! error reply from Redis itself is never retried.
    template <class T, class Command>
    core::Result<T> run(std::string_view what, bool retry_stale, Command&& command) {
        // Poco's Redis client blocks the thread: on a fiber, another carrier takes events.
        core::BlockingRegion blocks;
        for (int attempt = 0;; ++attempt) {
            auto lease = borrow(attempt > 0);
            if (!lease) return lease.take_error();
            try {
                return T(command(lease->client()));
            } catch (const Poco::Redis::RedisException& e) {
                if (is_error_reply(e.message()))
                    return failure(what, "Redis replied: " + e.message());
                // Poco also reports a closed socket as a RedisException.
                lease->discard();
                if (!(retry_stale && attempt == 0 && lease->reused())) {
                    return failure(what, e.message());
                }
            } catch (const Poco::BadCastException&) {
                return failure(what, "unexpected reply type");
            } catch (const Poco::Exception& e) {
                lease->discard();
                if (!(retry_stale && attempt == 0 && lease->reused())) {
                    return failure(what, e.displayText());
                }
            } catch (const std::exception& e) {
                lease->discard();
                if (!(retry_stale && attempt == 0 && lease->reused())) {
                    return failure(what, e.what());
                }
            }
        }
    }

    //! EVALSHA, falling back to EVAL (which also caches the script) when the server does not
    //! know it yet: a new server, or SCRIPT FLUSH.
    template <class Reply>
    static Reply eval(Client& client, const Script& script, const std::vector<std::string>& keys,
                      const std::vector<std::string>& args) {
        const auto make = [&](std::string_view verb, std::string_view head) {
            Array command;
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

    std::string account_key(std::string_view account) const {
        return config.key_prefix + "acct:" + std::string(account);
    }
    std::string credits_key(std::string_view account) const {
        return config.key_prefix + "credits:" + std::string(account);
    }
    std::string reservation_key(std::string_view id) const {
        return config.key_prefix + "resv:" + std::string(id);
    }
};

namespace {

Poco::Int64 integer_at(const Array& reply, std::size_t i) {
    return reply.get<Poco::Int64>(i);
}

}  // namespace

RedisQuotaBook::RedisQuotaBook(std::unique_ptr<State> state) : state_(std::move(state)) {}

RedisQuotaBook::~RedisQuotaBook() = default;

core::Result<std::unique_ptr<RedisQuotaBook>> RedisQuotaBook::open(RedisQuotaConfig config) {
    auto endpoint = parse_redis_url(config.url);
    if (!endpoint) return endpoint.take_error();
    if (config.max_connections == 0) {
        return core::Error::internal_error(
            "quota Redis max_connections is 0; set it to at least 1 (16 is the default)");
    }
    auto state = std::make_unique<State>();
    state->config = std::move(config);
    state->endpoint = std::move(endpoint).value();
    auto ping = state->run<std::string>("PING", true, [](Client& client) {
        Array command;
        command << "PING";
        return client.execute<std::string>(command);
    });
    if (!ping) return ping.take_error();
    return std::unique_ptr<RedisQuotaBook>(new RedisQuotaBook(std::move(state)));
}

core::Result<QuotaReservation> RedisQuotaBook::reserve(std::span<const std::string_view> accounts,
                                                       Micros amount,
                                                       std::string_view reservation_id) {
    if (auto checked = check_reserve_arguments(accounts, amount, reservation_id); !checked) {
        return checked.take_error();
    }
    std::vector<std::string> keys{state_->reservation_key(reservation_id)};
    for (auto account : accounts) keys.push_back(state_->account_key(account));
    std::vector<std::string> args{std::to_string(amount),
                                  std::to_string(state_->config.reservation_ttl.count())};
    auto reply = state_->run<Array>("reserve", true, [&](Client& client) {
        return State::eval<Array>(client, state_->reserve, keys, args);
    });
    if (!reply) return reply.take_error();
    try {
        switch (integer_at(*reply, 0)) {
            case 1:
            case 2:
                return open_reservation(reservation_id, accounts, amount);
            case 3:
                return unloaded_account_error(accounts[integer_at(*reply, 1) - 1]);
            case 0: {
                const std::string_view account = accounts[integer_at(*reply, 1) - 1];
                const BulkString before = reply->get<BulkString>(2);
                Micros balance = 0;
                if (!before.isNull()) {
                    const std::string& text = before.value();
                    std::from_chars(text.data(), text.data() + text.size(), balance);
                }
                return insufficient_error(account, balance, amount);
            }
            case 4:
                return core::Error::internal_error(
                    "quota reserve: reservation id \"" + std::string(reservation_id) +
                    "\" is already open with another amount; give each request its own id");
            default:
                break;
        }
    } catch (const Poco::Exception& e) {
        return state_->failure("reserve", "unexpected reply: " + e.displayText());
    }
    return state_->failure("reserve", "unexpected reply from the reserve script");
}

core::Result<QuotaSettlement> RedisQuotaBook::settle_by_id(std::string_view reservation_id,
                                                           Micros actual) {
    if (actual < 0) {
        return core::Error::internal_error("quota settle of \"" + std::string(reservation_id) +
                                           "\": actual cost " + std::to_string(actual) +
                                           " is negative; pass the metered cost (>= 0)");
    }
    std::vector<std::string> keys{state_->reservation_key(reservation_id)};
    std::vector<std::string> args{std::to_string(actual)};
    auto reply = state_->run<Array>("settle", true, [&](Client& client) {
        return State::eval<Array>(client, state_->settle, keys, args);
    });
    if (!reply) return reply.take_error();
    QuotaSettlement settlement;
    try {
        if (integer_at(*reply, 0) == 1) {
            settlement.applied = true;
            for (std::size_t i = 0; i < settlement.shortfall.size(); ++i) {
                settlement.shortfall[i] = integer_at(*reply, i + 1);
            }
        }
    } catch (const Poco::Exception& e) {
        return state_->failure("settle", "unexpected reply: " + e.displayText());
    }
    return settlement;
}

core::Result<QuotaSettlement> RedisQuotaBook::settle(QuotaReservation& reservation, Micros actual) {
    if (actual >= 0 && !reservation.open()) return QuotaSettlement{};  // else settle_by_id refuses
    auto settled = settle_by_id(reservation.id(), actual);
    if (settled) close_reservation(reservation);
    return settled;
}

core::Result<bool> RedisQuotaBook::release(QuotaReservation& reservation) {
    if (!reservation.open()) return false;
    std::vector<std::string> keys{state_->reservation_key(reservation.id())};
    auto reply = state_->run<Poco::Int64>("release", true, [&](Client& client) {
        return State::eval<Poco::Int64>(client, state_->release, keys, {});
    });
    if (!reply) return reply.take_error();
    close_reservation(reservation);
    return *reply == 1;
}

core::Result<bool> RedisQuotaBook::credit(std::string_view account, Micros amount) {
    if (amount <= 0) {
        return core::Error::internal_error("quota credit of \"" + std::string(account) +
                                           "\": amount " + std::to_string(amount) +
                                           " must be positive");
    }
    std::vector<std::string> keys{state_->account_key(account)};
    std::vector<std::string> args{std::to_string(amount)};
    // Not retried: a credit whose reply was lost may have been applied, and INCRBY twice would
    // give the money twice. The caller sees unavailable; the database keeps the top-up.
    auto reply = state_->run<Poco::Int64>("credit", false, [&](Client& client) {
        return State::eval<Poco::Int64>(client, state_->credit, keys, args);
    });
    if (!reply) return reply.take_error();
    return *reply == 1;
}

core::Result<bool> RedisQuotaBook::load(std::string_view account, Micros balance) {
    if (account.empty()) {
        return core::Error::internal_error(
            "quota load: the account is empty; pass an id such as \"u:<user_id>\"");
    }
    std::vector<std::string> keys{state_->account_key(account)};
    std::vector<std::string> args{std::to_string(balance)};
    auto reply = state_->run<Poco::Int64>("load", true, [&](Client& client) {
        return State::eval<Poco::Int64>(client, state_->load, keys, args);
    });
    if (!reply) return reply.take_error();
    return *reply == 1;
}

core::Result<std::optional<Micros>> RedisQuotaBook::available(std::string_view account) {
    const std::string key = state_->account_key(account);
    auto reply = state_->run<BulkString>("GET", true, [&](Client& client) {
        Array command;
        command << "GET" << key;
        return client.execute<BulkString>(command);
    });
    if (!reply) return reply.take_error();
    if (reply->isNull()) return std::optional<Micros>{};
    const std::string& text = reply->value();
    Micros balance = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), balance);
    if (ec != std::errc() || end != text.data() + text.size()) {
        return state_->failure("GET " + key, "the value \"" + text + "\" is not an integer");
    }
    return std::optional<Micros>{balance};
}

core::Result<bool> RedisQuotaBook::seed(std::string_view account, Micros available, Micros credits,
                                        std::int64_t version) {
    if (account.empty()) {
        return core::Error::internal_error(
            "quota seed: the account is empty; pass an id such as \"u:<user_id>\"");
    }
    std::vector<std::string> keys{state_->account_key(account), state_->credits_key(account)};
    std::vector<std::string> args{std::to_string(available), std::to_string(credits),
                                  std::to_string(version)};
    auto reply = state_->run<Poco::Int64>("seed", true, [&](Client& client) {
        return State::eval<Poco::Int64>(client, state_->seed, keys, args);
    });
    if (!reply) return reply.take_error();
    return *reply == 1;
}

core::Result<bool> RedisQuotaBook::sync(std::string_view account, Micros credits,
                                        std::int64_t version) {
    std::vector<std::string> keys{state_->account_key(account), state_->credits_key(account)};
    std::vector<std::string> args{std::to_string(credits), std::to_string(version)};
    // Safe to retry: a version applied once is not newer the second time.
    auto reply = state_->run<Poco::Int64>("sync", true, [&](Client& client) {
        return State::eval<Poco::Int64>(client, state_->sync, keys, args);
    });
    if (!reply) return reply.take_error();
    return *reply == 1;
}

}  // namespace tianshu::hub
