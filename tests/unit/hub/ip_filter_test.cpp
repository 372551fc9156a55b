#include "hub/ip_filter.hpp"

#include <catch2/catch.hpp>

using namespace tianshu::hub;

namespace {

IpFilter filter(std::vector<std::string> allow, std::vector<std::string> deny = {}) {
    auto f = IpFilter::build(allow, deny);
    REQUIRE(f.ok());
    return std::move(f).value();
}

std::string build_error(std::vector<std::string> allow, std::vector<std::string> deny = {}) {
    auto f = IpFilter::build(allow, deny);
    REQUIRE_FALSE(f.ok());
    CHECK(f.error().kind == tianshu::core::ErrorKind::invalid_request);
    return f.error().message;
}

}  // namespace

TEST_CASE("an empty filter allows every address, even one it cannot parse") {
    IpFilter f;
    CHECK(f.empty());
    CHECK(f.allows("203.0.113.7"));
    CHECK(f.allows("2001:db8::1"));
    CHECK(f.allows("not an address"));
}

TEST_CASE("IPv4 blocks match their range and nothing else") {
    auto f = filter({"10.0.0.0/8", "192.168.1.0/24", "203.0.113.7"});
    CHECK(f.allows("10.0.0.0"));
    CHECK(f.allows("10.255.255.255"));
    CHECK_FALSE(f.allows("11.0.0.0"));
    CHECK_FALSE(f.allows("9.255.255.255"));
    CHECK(f.allows("192.168.1.200"));
    CHECK_FALSE(f.allows("192.168.2.1"));
    CHECK(f.allows("203.0.113.7"));  // a plain address is /32
    CHECK_FALSE(f.allows("203.0.113.8"));
    CHECK_FALSE(f.allows("2001:db8::1"));  // IPv4 rules do not admit IPv6 clients
}

TEST_CASE("a prefix that is not a multiple of 8 splits inside a byte") {
    auto f = filter({"172.16.0.0/12"});
    CHECK(f.allows("172.16.0.1"));
    CHECK(f.allows("172.31.255.255"));
    CHECK_FALSE(f.allows("172.32.0.0"));
    CHECK_FALSE(f.allows("172.15.255.255"));
    auto v6 = filter({"2001:db8:8000::/33"});
    CHECK(v6.allows("2001:db8:ffff::1"));
    CHECK_FALSE(v6.allows("2001:db8:7fff::1"));
}

TEST_CASE("/0 matches its whole family and /32 or /128 exactly one address") {
    auto all_v4 = filter({"0.0.0.0/0"});
    CHECK(all_v4.allows("1.2.3.4"));
    CHECK(all_v4.allows("255.255.255.255"));
    CHECK_FALSE(all_v4.allows("::1"));
    auto all_v6 = filter({"::/0"});
    CHECK(all_v6.allows("::1"));
    CHECK(all_v6.allows("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(all_v6.allows("1.2.3.4"));
    CHECK_FALSE(all_v6.allows("::ffff:1.2.3.4"));  // a mapped client is an IPv4 client
    auto one = filter({"2001:db8::1/128", "198.51.100.1/32"});
    CHECK(one.allows("2001:db8::1"));
    CHECK(one.allows("2001:0db8:0000::0001"));
    CHECK_FALSE(one.allows("2001:db8::2"));
    CHECK(one.allows("198.51.100.1"));
    CHECK_FALSE(one.allows("198.51.100.2"));
}

TEST_CASE("IPv4-mapped IPv6 clients meet the IPv4 rules, and mapped rules are IPv4 rules") {
    auto f = filter({"10.0.0.0/8"}, {"10.1.0.0/16"});
    CHECK(f.allows("::ffff:10.2.3.4"));
    CHECK(f.allows("::FFFF:10.2.3.4"));
    CHECK_FALSE(f.allows("::ffff:10.1.3.4"));
    CHECK_FALSE(f.allows("::ffff:11.2.3.4"));
    auto mapped_rule = filter({"::ffff:192.0.2.0/120"});
    CHECK(mapped_rule.allows("192.0.2.77"));
    CHECK(mapped_rule.allows("::ffff:192.0.2.77"));
    CHECK_FALSE(mapped_rule.allows("192.0.3.1"));
}

TEST_CASE("deny wins over allow, and an empty allow list allows all but the denied") {
    auto f = filter({"10.0.0.0/8"}, {"10.0.0.66"});
    CHECK(f.allows("10.0.0.65"));
    CHECK_FALSE(f.allows("10.0.0.66"));
    auto deny_only = filter({}, {"2001:db8::/32"});
    CHECK(deny_only.allows("2001:db9::1"));
    CHECK(deny_only.allows("8.8.8.8"));
    CHECK_FALSE(deny_only.allows("2001:db8:1::1"));
}

TEST_CASE("client addresses in brackets or with a zone are understood; garbage is refused") {
    auto f = filter({"fe80::/10"});
    CHECK(f.allows("[fe80::1]"));
    CHECK(f.allows("fe80::1%eth0"));
    CHECK_FALSE(f.allows(""));
    CHECK_FALSE(f.allows("fe80::1::2"));
    CHECK_FALSE(f.allows("example.com"));
    CHECK_FALSE(f.allows(std::string(200, '1')));
    auto deny_only = filter({}, {"1.2.3.4"});
    CHECK_FALSE(deny_only.allows("1.2.3"));  // fail closed once there are rules
}

TEST_CASE("bad entries are refused, naming the list, the position and the value") {
    std::string m = build_error({"10.0.0.0/8", "10.0.0.0/33"});
    CHECK_THAT(m, Catch::Contains("allow list entry #2") && Catch::Contains("'10.0.0.0/33'") &&
                      Catch::Contains("0 to 32"));
    m = build_error({}, {"::/129"});
    CHECK_THAT(m, Catch::Contains("deny list entry #1") && Catch::Contains("0 to 128"));
    for (const char* bad : {"10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8x", "10.0.0.0/ 8"}) {
        CAPTURE(bad);
        CHECK_THAT(build_error({bad}), Catch::Contains("prefix length"));
    }
    for (const char* bad : {"10.0.0", "10.0.0.256", "host.example", "", "/8", "fe80::1%eth0"}) {
        CAPTURE(bad);
        CHECK_THAT(build_error({bad}), Catch::Contains("is not an IP address"));
    }
}

TEST_CASE("an entry with host bits set is refused with the network to write instead") {
    CHECK_THAT(build_error({"192.168.1.1/24"}), Catch::Contains("'192.168.1.0/24'"));
    CHECK_THAT(build_error({"2001:db8::1/32"}), Catch::Contains("'2001:db8::/32'"));
    CHECK_THAT(build_error({"::ffff:10.1.0.0/104"}), Catch::Contains("'10.0.0.0/8'"));
    CHECK_THAT(build_error({"::ffff:10.0.0.0/64"}), Catch::Contains("IPv4-mapped"));
}
