#pragma once
// Which address a request comes from when the gateway stands behind a load balancer: the
// operator names the proxies it trusts (CIDR blocks); only a connection from one of them may
// say, in X-Forwarded-For or Forwarded (RFC 7239), whom it forwards for. Anyone else's
// forwarding headers are ignored: a client cannot choose its own address.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "hub/ip_filter.hpp"
#include "server/http_wire.hpp"

namespace tianshu::server {

//! The client address a request is served, limited and logged under.
struct ClientAddress {
    std::string ip;
    //! Non-empty when a trusted proxy sent forwarding headers that could not be believed
    //! (malformed, not an address, or the two headers disagreeing): `ip` is then the proxy's own
    //! address, and this says what was wrong, for the log.
    std::string problem;
};

//! The trusted proxies (immutable once built; read from every carrier).
class TrustedProxies {
  public:
    //! Trusts no one: forwarding headers are always ignored.
    TrustedProxies() = default;

    //! Each entry is "10.0.0.0/8", "2001:db8::/32" or a plain address, several of them
    //! comma-separated if wanted. The error names the entry and what to write instead.
    static core::Result<TrustedProxies> parse(const std::vector<std::string>& entries);

    bool empty() const { return blocks_.empty(); }
    //! True when a connection from `address` may tell whom it forwards for.
    bool trusts(std::string_view address) const;
    bool trusts(const hub::IpAddress& address) const;

    //! The client behind the trusted proxy `proxy_ip` that sent `head`: the forwarding chain read
    //! right to left, skipping the addresses of trusted proxies; the first other address is the
    //! client. When every address is trusted, the leftmost one. When both headers are present they
    //! must name the same client. No forwarding header: the proxy itself.
    ClientAddress client_behind(std::string_view proxy_ip, const wire::RequestHead& head) const;

  private:
    std::vector<hub::IpBlock> blocks_;
};

//! One node of a forwarding header ("203.0.113.7", "203.0.113.7:4711", "2001:db8::1",
//! "[2001:db8::1]:4711") as an address; null for anything else ("unknown", "_hidden", garbage).
std::optional<hub::IpAddress> parse_forwarded_node(std::string_view node);

//! An address written the usual way ("203.0.113.7", "2001:db8::1").
std::string address_text(const hub::IpAddress& address);

}  // namespace tianshu::server
