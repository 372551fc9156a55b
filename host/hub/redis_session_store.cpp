#include "hub/redis_session_store.hpp"

#include <Poco/Redis/Array.h>
#include <Poco/Redis/Type.h>

namespace tianshu::hub {

namespace {

using Poco::Redis::Array;
using Poco::Redis::BulkString;
using Client = RedisPool::Client;

// Redis 7 runs Lua 5.1 (numbers are doubles: milliseconds since 1970 are exact). Deadlines are
// on Redis's clock, so gateways with skewed clocks agree.

// KEYS: values hash, meta hash. ARGV: entry. Returns the value, or nil when absent or expired.
constexpr std::string_view get_script = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = redis.call('HGET', KEYS[2], 'e:' .. ARGV[1])
if not deadline or tonumber(deadline) <= now then return false end
return redis.call('HGET', KEYS[1], ARGV[1])
)lua";

// Shared by put and delete: drops the session's expired entries and returns its live bytes and
// latest deadline, not counting `skip` (the entry about to be replaced or deleted). Reads only
// the meta hash: a put costs the session's entry count, not its bytes.
#define TIANSHU_SESSION_LIVE_LUA                                               \
    "local function live(values, meta, now, skip)\n"                           \
    "  local all = redis.call('HGETALL', meta)\n"                              \
    "  local sizes, deadlines = {}, {}\n"                                      \
    "  for i = 1, #all, 2 do\n"                                                \
    "    local kind, name = string.sub(all[i], 1, 2), string.sub(all[i], 3)\n" \
    "    if kind == 'b:' then sizes[name] = tonumber(all[i + 1]) end\n"        \
    "    if kind == 'e:' then deadlines[name] = tonumber(all[i + 1]) end\n"    \
    "  end\n"                                                                  \
    "  local bytes, latest = 0, 0\n"                                           \
    "  for name, deadline in pairs(deadlines) do\n"                            \
    "    if deadline <= now then\n"                                            \
    "      redis.call('HDEL', values, name)\n"                                 \
    "      redis.call('HDEL', meta, 'e:' .. name, 'b:' .. name)\n"             \
    "    elseif name ~= skip then\n"                                           \
    "      bytes = bytes + (sizes[name] or 0)\n"                               \
    "      if deadline > latest then latest = deadline end\n"                  \
    "    end\n"                                                                \
    "  end\n"                                                                  \
    "  return bytes, latest\n"                                                 \
    "end\n"                                                                    \
    "local function time_ms()\n"                                               \
    "  local t = redis.call('TIME')\n"                                         \
    "  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"     \
    "end\n"

// KEYS: values hash, meta hash, user hash. ARGV: entry, value, ttl ms, session cap, user cap,
// session. An entry counts its name and value bytes (core::SessionStore::entry_bytes). Returns
// {0} stored, {1, bytes} over the session cap, {2, bytes} over the user cap (nothing changed).
constexpr std::string_view put_script = TIANSHU_SESSION_LIVE_LUA R"lua(
local now = time_ms()
local bytes, latest = live(KEYS[1], KEYS[2], now, ARGV[1])
local size = #ARGV[1] + #ARGV[2]
local session_bytes = bytes + size
if session_bytes > tonumber(ARGV[4]) then return {1, session_bytes} end
local sessions = redis.call('HGETALL', KEYS[3])
local sizes, deadlines = {}, {}
for i = 1, #sessions, 2 do
  local kind, name = string.sub(sessions[i], 1, 2), string.sub(sessions[i], 3)
  if kind == 'b:' then sizes[name] = tonumber(sessions[i + 1]) end
  if kind == 'e:' then deadlines[name] = tonumber(sessions[i + 1]) end
end
local user_bytes, user_latest = session_bytes, 0
for name, deadline in pairs(deadlines) do
  if deadline <= now then
    redis.call('HDEL', KEYS[3], 'b:' .. name, 'e:' .. name)
  elseif name ~= ARGV[6] then
    user_bytes = user_bytes + (sizes[name] or 0)
    if deadline > user_latest then user_latest = deadline end
  end
end
if user_bytes > tonumber(ARGV[5]) then return {2, user_bytes} end
local deadline = now + tonumber(ARGV[3])
if deadline > latest then latest = deadline end
if latest > user_latest then user_latest = latest end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], 'e:' .. ARGV[1], deadline, 'b:' .. ARGV[1], size)
redis.call('PEXPIREAT', KEYS[1], latest)
redis.call('PEXPIREAT', KEYS[2], latest)
redis.call('HSET', KEYS[3], 'b:' .. ARGV[6], session_bytes, 'e:' .. ARGV[6], latest)
redis.call('PEXPIREAT', KEYS[3], user_latest)
return {0}
)lua";

// KEYS: values hash, meta hash, user hash. ARGV: entry, session. Returns 1.
constexpr std::string_view delete_script = TIANSHU_SESSION_LIVE_LUA R"lua(
local now = time_ms()
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], 'e:' .. ARGV[1], 'b:' .. ARGV[1])
local bytes, latest = live(KEYS[1], KEYS[2], now, '')
if latest == 0 then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('HDEL', KEYS[3], 'b:' .. ARGV[2], 'e:' .. ARGV[2])
else
  redis.call('PEXPIREAT', KEYS[1], latest)
  redis.call('PEXPIREAT', KEYS[2], latest)
  redis.call('HSET', KEYS[3], 'b:' .. ARGV[2], bytes, 'e:' .. ARGV[2], latest)
end
return 1
)lua";

#undef TIANSHU_SESSION_LIVE_LUA

}  // namespace

struct RedisSessionStore::Scripts {
    RedisScript get{get_script};
    RedisScript put{put_script};
    RedisScript erase{delete_script};
};

RedisSessionStore::RedisSessionStore(core::SessionLimits limits, std::shared_ptr<RedisPool> pool,
                                     std::string key_prefix)
    : core::SessionStore(limits),
      pool_(std::move(pool)),
      prefix_(std::move(key_prefix)),
      scripts_(std::make_unique<Scripts>()) {}

RedisSessionStore::~RedisSessionStore() = default;

std::string RedisSessionStore::user_tag(const core::SessionScope& scope) const {
    return prefix_ + "{" + std::to_string(scope.user.size()) + ":" + std::string(scope.user) + "}";
}

core::Result<std::optional<std::string>> RedisSessionStore::get(const core::SessionScope& scope,
                                                                std::string_view key) {
    if (auto ok = check(scope, key); !ok) return ok.take_error();
    const std::string tag = user_tag(scope);
    std::vector<std::string> keys{tag + ":v:" + std::string(scope.session),
                                  tag + ":m:" + std::string(scope.session)};
    std::vector<std::string> args{entry_name(scope, key)};
    auto reply = pool_->run<BulkString>("session get", true, [&](Client& client) {
        return RedisPool::eval<BulkString>(client, scripts_->get, keys, args);
    });
    if (!reply) return reply.take_error();
    if (reply->isNull()) return std::optional<std::string>{};
    return std::optional<std::string>{reply->value()};
}

core::Result<void> RedisSessionStore::put(const core::SessionScope& scope, std::string_view key,
                                          std::string_view value, std::chrono::seconds ttl) {
    if (auto ok = check(scope, key); !ok) return ok.take_error();
    const std::string tag = user_tag(scope);
    const std::string name = entry_name(scope, key);
    std::vector<std::string> keys{tag + ":v:" + std::string(scope.session),
                                  tag + ":m:" + std::string(scope.session), tag + ":u"};
    std::vector<std::string> args{
        name,
        std::string(value),
        std::to_string(
            std::chrono::duration_cast<std::chrono::milliseconds>(effective_ttl(ttl)).count()),
        std::to_string(limits().session_max_bytes),
        std::to_string(limits().user_max_bytes),
        std::string(scope.session)};
    // Safe to retry on a stale connection: applied twice, a put leaves the same state.
    auto reply = pool_->run<Array>("session put", true, [&](Client& client) {
        return RedisPool::eval<Array>(client, scripts_->put, keys, args);
    });
    if (!reply) return reply.take_error();
    try {
        const auto status = reply->get<Poco::Int64>(0);
        if (status == 0) return {};
        const auto would_be = static_cast<std::size_t>(reply->get<Poco::Int64>(1));
        if (status == 1)
            return over_cap(scope, "session", would_be, limits().session_max_bytes,
                            "--session-max-bytes");
        return over_cap(scope, "user's sessions", would_be, limits().user_max_bytes,
                        "--user-session-max-bytes");
    } catch (const Poco::Exception& e) {
        return pool_->failure("session put", "unexpected reply: " + e.displayText());
    }
}

core::Result<void> RedisSessionStore::erase(const core::SessionScope& scope, std::string_view key) {
    if (auto ok = check(scope, key); !ok) return ok.take_error();
    const std::string tag = user_tag(scope);
    const std::string name = entry_name(scope, key);
    std::vector<std::string> keys{tag + ":v:" + std::string(scope.session),
                                  tag + ":m:" + std::string(scope.session), tag + ":u"};
    std::vector<std::string> args{name, std::string(scope.session)};
    auto reply = pool_->run<Poco::Int64>("session delete", true, [&](Client& client) {
        return RedisPool::eval<Poco::Int64>(client, scripts_->erase, keys, args);
    });
    if (!reply) return reply.take_error();
    return {};
}

}  // namespace tianshu::hub
