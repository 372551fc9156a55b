#pragma once
// Which client addresses may use an API key: allow and deny lists of CIDR blocks.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"

namespace tianshu::hub {

//! A parsed IPv4 or IPv6 address. An IPv4-mapped IPv6 address ("::ffff:1.2.3.4") is stored as
//! the IPv4 address it carries, so that it meets the IPv4 rules, as the client really is IPv4.
struct IpAddress {
    bool v4 = false;
    //! IPv4: the four bytes in bytes[0..3]; IPv6: all sixteen. Network byte order.
    std::array<std::uint8_t, 16> bytes{};

    //! Parses "1.2.3.4", "2001:db8::1", "[2001:db8::1]" or "fe80::1%eth0" (the zone is ignored).
    //! Null when the text is not an address. Allocates nothing.
    static std::optional<IpAddress> parse(std::string_view text);
};

//! One CIDR block: an address family, its network bits and a prefix length.
struct IpBlock {
    bool v4 = false;
    std::array<std::uint8_t, 16> network{};
    int prefix = 0;

    bool contains(const IpAddress& a) const;
};

//! Allow/deny lists of CIDR blocks for one API key, built once and checked on every request
//! from many threads (it is immutable). Deny wins over allow; an empty allow list allows every
//! address not denied. IPv4 blocks match IPv4 clients (mapped ones included) and IPv6 blocks
//! IPv6 clients: "::/0" does not open the key to all of IPv4.
class IpFilter {
  public:
    //! Allows everyone.
    IpFilter() = default;

    //! Parses both lists. Entries are "1.2.3.0/24", "2001:db8::/32" or a plain address (/32 or
    //! /128). Errors name the list, the entry's position and value, and what is wrong (bad
    //! address, bad prefix, host bits set with the network to write instead).
    static core::Result<IpFilter> build(const std::vector<std::string>& allow,
                                        const std::vector<std::string>& deny);

    //! True when `address` may use the key. An unparseable address is refused unless the filter
    //! has no rules at all (fail closed: a proxy that sends garbage must not bypass the lists).
    bool allows(std::string_view address) const;
    bool allows(const IpAddress& address) const;

    //! True when the filter has no rules (every address is allowed).
    bool empty() const { return allow_.empty() && deny_.empty(); }

  private:
    std::vector<IpBlock> allow_;
    std::vector<IpBlock> deny_;
};

//! Parses one CIDR entry; on error the message describes the entry only (the caller adds where).
core::Result<IpBlock> parse_ip_block(std::string_view text);

}  // namespace tianshu::hub
