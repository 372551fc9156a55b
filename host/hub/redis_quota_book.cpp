#include "hub/redis_quota_book.hpp"

#include <Poco/Redis/Array.h>
#include <Poco/Redis/Type.h>

#include <charconv>
#include <utility>
#include <vector>

#include "hub/redis_pool.hpp"

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

}  // namespace

//! The pool and the scripts of one RedisQuotaBook.
struct RedisQuotaBook::State {
    RedisQuotaConfig config;
    std::shared_ptr<RedisPool> pool;
    RedisScript reserve{reserve_script};
    RedisScript settle{settle_script};
    RedisScript release{release_script};
    RedisScript credit{credit_script};
    RedisScript load{load_script};
    RedisScript seed{seed_script};
    RedisScript sync{sync_script};

    template <class T, class Command>
    core::Result<T> run(std::string_view what, bool retry_stale, Command&& command) {
        return pool->run<T>(what, retry_stale, std::forward<Command>(command));
    }
    template <class Reply>
    static Reply eval(Client& client, const RedisScript& script,
                      const std::vector<std::string>& keys, const std::vector<std::string>& args) {
        return RedisPool::eval<Reply>(client, script, keys, args);
    }
    core::Error failure(std::string_view what, const std::string& detail) const {
        return pool->failure(what, detail);
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
    RedisPoolConfig pc;
    pc.url = config.url;
    pc.role = "quota store";
    pc.max_connections = config.max_connections;
    pc.connect_timeout = config.connect_timeout;
    pc.command_timeout = config.command_timeout;
    auto pool = RedisPool::open(std::move(pc));
    if (!pool) return pool.take_error();
    auto state = std::make_unique<State>();
    state->config = std::move(config);
    state->pool = std::move(pool).value();
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
