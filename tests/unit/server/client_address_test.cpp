// The client address behind trusted proxies: forwarding headers believed only from a trusted
// peer, read right to left past the trusted hops, and never invented when they are malformed.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "server/client_address.hpp"

using namespace tianshu::server;

namespace {

TrustedProxies proxies(std::vector<std::string> entries) {
    auto p = TrustedProxies::parse(entries);
    INFO((p ? "" : p.error().message));
    REQUIRE(p.ok());
    return std::move(p).value();
}

//! The address resolved for a request with `headers` ("Name: value" lines) from `peer`.
ClientAddress resolve(const TrustedProxies& trusted, const std::string& peer,
                      const std::string& headers) {
    static std::string text;  // the head's views point into it
    text = "GET / HTTP/1.1\r\nHost: t\r\n" + headers + "\r\n";
    wire::RequestHead head;
    REQUIRE(wire::parse_request_head(text, head).status == wire::ParseStatus::complete);
    return trusted.trusts(peer) ? trusted.client_behind(peer, head) : ClientAddress{peer, {}};
}

}  // namespace

TEST_CASE("trusted proxies are CIDR blocks, repeatable and comma-separated, v4 and v6",
          "[unit][client_address]") {
    auto p = proxies({"10.0.0.0/8, 192.0.2.1", "2001:db8::/32"});
    CHECK(p.trusts("10.1.2.3"));
    CHECK(p.trusts("192.0.2.1"));
    CHECK_FALSE(p.trusts("192.0.2.2"));
    CHECK(p.trusts("2001:db8::5"));
    CHECK(p.trusts("::ffff:10.9.9.9"));  // an IPv4 client on a dual-stack socket
    CHECK_FALSE(p.trusts("2001:db9::5"));
    CHECK_FALSE(p.trusts("not an address"));
    CHECK_FALSE(TrustedProxies{}.trusts("127.0.0.1"));

    for (const auto& [entry, says] : std::vector<std::pair<std::string, std::string>>{
             {"10.0.0.300/8", "'10.0.0.300/8'"},
             {"10.0.0.1/8", "10.0.0.0/8"},  // host bits set: the network to write instead
             {"::1/129", "'::1/129'"},
             {"10.0.0.0/8,,10.1.0.0/16", "empty entry"}}) {
        auto bad = TrustedProxies::parse({entry});
        INFO(entry);
        REQUIRE_FALSE(bad.ok());
        CHECK(bad.error().message.find("--trusted-proxy") != std::string::npos);
        CHECK(bad.error().message.find(says) != std::string::npos);
    }
}

TEST_CASE("forwarding headers are read only from a trusted peer", "[unit][client_address]") {
    auto p = proxies({"127.0.0.1/32"});
    CHECK(resolve(p, "127.0.0.1", "X-Forwarded-For: 203.0.113.7\r\n").ip == "203.0.113.7");
    CHECK(resolve(p, "127.0.0.2", "X-Forwarded-For: 203.0.113.7\r\n").ip == "127.0.0.2");
    CHECK(resolve(p, "127.0.0.2", "Forwarded: for=203.0.113.7\r\n").ip == "127.0.0.2");
    // A trusted peer without forwarding headers is the client itself.
    auto direct = resolve(p, "127.0.0.1", "");
    CHECK(direct.ip == "127.0.0.1");
    CHECK(direct.problem.empty());
}

TEST_CASE("X-Forwarded-For is read right to left past trusted proxies", "[unit][client_address]") {
    auto p = proxies({"10.0.0.0/8", "2001:db8::/32"});
    // The client put a spoofed address first; the proxies appended what they saw.
    CHECK(resolve(p, "10.0.0.1", "X-Forwarded-For: 1.1.1.1, 203.0.113.7, 10.0.0.2\r\n").ip ==
          "203.0.113.7");
    // Several header lines are one list, in order.
    CHECK(resolve(p, "10.0.0.1",
                  "X-Forwarded-For: 1.1.1.1\r\nX-Forwarded-For: 198.51.100.4, 10.2.2.2\r\n")
              .ip == "198.51.100.4");
    // Ports and brackets as some balancers write them; IPv6 written canonically.
    CHECK(resolve(p, "10.0.0.1", "X-Forwarded-For: 203.0.113.7:4711\r\n").ip == "203.0.113.7");
    CHECK(resolve(p, "10.0.0.1", "X-Forwarded-For: [2001:DB9::0:1]:443\r\n").ip == "2001:db9::1");
    CHECK(resolve(p, "10.0.0.1", "X-Forwarded-For: 2001:db9::1, 2001:db8::7\r\n").ip ==
          "2001:db9::1");
    // Every hop trusted: the leftmost.
    CHECK(resolve(p, "10.0.0.1", "X-Forwarded-For: 10.3.3.3, 10.4.4.4\r\n").ip == "10.3.3.3");
}

TEST_CASE("Forwarded (RFC 7239) is read right to left, with quoted IPv6 and ports",
          "[unit][client_address]") {
    auto p = proxies({"10.0.0.0/8"});
    CHECK(resolve(p, "10.0.0.1", "Forwarded: for=192.0.2.60;proto=http;by=203.0.113.43\r\n").ip ==
          "192.0.2.60");
    CHECK(resolve(p, "10.0.0.1",
                  "Forwarded: for=1.1.1.1, for=\"[2001:db8:cafe::17]:4711\", for=10.0.0.9\r\n")
              .ip == "2001:db8:cafe::17");
    CHECK(resolve(p, "10.0.0.1", "Forwarded: For=\"192.0.2.43:47011\" ; proto=https\r\n").ip ==
          "192.0.2.43");
    CHECK(resolve(p, "10.0.0.1", "Forwarded: for=\"[2001:db8::1]\"\r\n").ip == "2001:db8::1");
    CHECK(resolve(p, "10.0.0.1", "Forwarded: for=198.51.100.1\r\nForwarded: for=10.1.1.1\r\n").ip ==
          "198.51.100.1");
    // Both headers naming the same client agree.
    auto both = resolve(p, "10.0.0.1",
                        "X-Forwarded-For: 192.0.2.60\r\nForwarded: for=192.0.2.60;proto=https\r\n");
    CHECK(both.ip == "192.0.2.60");
    CHECK(both.problem.empty());
}

TEST_CASE("malformed forwarding headers from a trusted proxy fall back to the proxy",
          "[unit][client_address]") {
    auto p = proxies({"10.0.0.0/8"});
    for (const char* headers : {
             "X-Forwarded-For: banana\r\n",
             "X-Forwarded-For: 203.0.113.7,,10.0.0.2\r\n",
             "X-Forwarded-For: 203.0.113.7:http\r\n",
             "X-Forwarded-For: [203.0.113.7]\r\n",
             "X-Forwarded-For: 2001:db8::1:99999\r\n",
             "Forwarded: for=unknown\r\n",
             "Forwarded: for=_hidden\r\n",
             "Forwarded: for=[2001:db8::1]\r\n",  // IPv6 must be quoted
             "Forwarded: for=\"[2001:db8::1\"\r\n",
             "Forwarded: for=\"192.0.2.1\r\n",
             "Forwarded: proto=https\r\n",
             "Forwarded: for=192.0.2.1;for=192.0.2.2\r\n",
             "Forwarded: for=192.0.2.1 junk\r\n",
             "Forwarded: for\r\n",
             // The client added the header the proxy does not maintain.
             "X-Forwarded-For: 203.0.113.7\r\nForwarded: for=198.51.100.1\r\n",
         }) {
        INFO(headers);
        auto r = resolve(p, "10.0.0.1", headers);
        CHECK(r.ip == "10.0.0.1");
        CHECK_FALSE(r.problem.empty());
    }
    // The problem says which header and what.
    auto r = resolve(p, "10.0.0.1", "X-Forwarded-For: 203.0.113.7, banana\r\n");
    CHECK(r.problem.find("X-Forwarded-For") != std::string::npos);
    CHECK(r.problem.find("'banana'") != std::string::npos);
}
