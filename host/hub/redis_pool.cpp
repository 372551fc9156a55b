#include "hub/redis_pool.hpp"

#include <Poco/Net/StreamSocket.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>

#include <algorithm>
#include <charconv>

namespace tianshu::hub {

using Poco::Redis::Array;

namespace {

// Poco 1.11's Redis client writes a command through a 1 KB buffer and keeps its socket private:
// a command over 1 KB (a session value of a few KB) leaves in several writes, and with Nagle's
// algorithm the last one waits for Redis's delayed ACK — 40 ms per command on loopback
// (bench_session_state: 44 ms for a put and get of 2 KB, 0.1 ms with TCP_NODELAY). The socket
// is reached through the rule that access is not checked on the template arguments of an
// explicit instantiation ([temp.spec.general]).
Poco::Net::StreamSocket RedisPool::Client::*client_socket();
template <Poco::Net::StreamSocket RedisPool::Client::*Member>
struct ClientSocketAccess {
    friend Poco::Net::StreamSocket RedisPool::Client::*client_socket() { return Member; }
};
template struct ClientSocketAccess<&RedisPool::Client::_socket>;

}  // namespace

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

bool is_redis_error_reply(const std::string& message) {
    const auto space = message.find(' ');
    const std::string_view code = std::string_view(message).substr(0, space);
    return !code.empty() && std::all_of(code.begin(), code.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
    });
}

core::Result<std::shared_ptr<RedisPool>> RedisPool::open(RedisPoolConfig config) {
    auto endpoint = parse_redis_url(config.url);
    if (!endpoint) return endpoint.take_error();
    if (config.max_connections == 0) {
        return core::Error::internal_error(config.role +
                                           " Redis max_connections is 0; set it to at least 1");
    }
    std::shared_ptr<RedisPool> pool(new RedisPool(std::move(config), std::move(endpoint).value()));
    auto ping = pool->run<std::string>("PING", true, [](Client& client) {
        Array command;
        command << "PING";
        return client.execute<std::string>(command);
    });
    if (!ping) return ping.take_error();
    return pool;
}

core::Error RedisPool::failure(std::string_view what, const std::string& detail) const {
    return {core::ErrorKind::unavailable,
            config_.role + " Redis at " + endpoint_.address + ": " + std::string(what) +
                " failed (" + detail +
                "); check that Redis is running and reachable there, or fix the Redis URL "
                "(serve --redis)",
            {}};
}

void RedisPool::give_back(std::unique_ptr<Client> client) {
    {
        std::lock_guard lock(mutex_);
        if (client) {
            idle_.push_back(std::move(client));
        } else {
            --open_connections_;
        }
    }
    returned_.notify_one();
}

core::Result<std::unique_ptr<RedisPool::Client>> RedisPool::connect() {
    auto client = std::make_unique<Client>();
    try {
        client->connect(endpoint_.host, endpoint_.port,
                        Poco::Timespan(config_.connect_timeout.count() * 1000));
        client->setReceiveTimeout(Poco::Timespan(config_.command_timeout.count() * 1000));
        ((*client).*client_socket()).setNoDelay(true);
        if (!endpoint_.password.empty()) {
            Array auth;
            auth << "AUTH";
            if (!endpoint_.user.empty()) auth << endpoint_.user;
            auth << endpoint_.password;
            client->execute<std::string>(auth);
        }
        if (endpoint_.database != 0) {
            Array select;
            select << "SELECT" << std::to_string(endpoint_.database);
            client->execute<std::string>(select);
        }
    } catch (const Poco::Exception& e) {
        return failure("connecting", e.displayText());
    } catch (const std::exception& e) {
        return failure("connecting", e.what());
    }
    return client;
}

core::Result<RedisPool::Lease> RedisPool::borrow(bool fresh) {
    {
        std::unique_lock lock(mutex_);
        if (fresh) {
            // One idle connection failed: Redis probably restarted or dropped its clients, so
            // the others idling beside it are stale too.
            open_connections_ -= idle_.size();
            idle_.clear();
        }
        const bool free = returned_.wait_for(lock, config_.connect_timeout, [&] {
            return !idle_.empty() || open_connections_ < config_.max_connections;
        });
        if (!free) {
            return failure(
                "borrowing a connection",
                "all " + std::to_string(config_.max_connections) + " connections stayed busy for " +
                    std::to_string(config_.connect_timeout.count()) + " ms; raise max_connections");
        }
        if (!idle_.empty()) {
            auto client = std::move(idle_.back());
            idle_.pop_back();
            return Lease(*this, std::move(client), true);
        }
        ++open_connections_;  // hold the slot while connecting outside the lock
    }
    auto client = connect();
    if (!client) {
        give_back(nullptr);
        return client.take_error();
    }
    return Lease(*this, std::move(client).value(), false);
}

}  // namespace tianshu::hub
