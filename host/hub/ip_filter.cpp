#include "hub/ip_filter.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>

namespace tianshu::hub {

namespace {

constexpr std::array<std::uint8_t, 12> mapped_v4_prefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};

//! Keeps the first `prefix` bits of `bytes` and zeroes the rest.
std::array<std::uint8_t, 16> masked(const std::array<std::uint8_t, 16>& bytes, int prefix) {
    std::array<std::uint8_t, 16> out{};
    for (int i = 0; i < 16; ++i) {
        const int bits = std::clamp(prefix - 8 * i, 0, 8);
        out[i] = bits == 0 ? 0 : static_cast<std::uint8_t>(bytes[i] & (0xFF << (8 - bits)));
    }
    return out;
}

std::string block_text(const IpBlock& b) {
    char text[INET6_ADDRSTRLEN] = {};
    inet_ntop(b.v4 ? AF_INET : AF_INET6, b.network.data(), text, sizeof text);
    return std::string(text) + "/" + std::to_string(b.prefix);
}

core::Result<void> add_blocks(const std::vector<std::string>& entries, std::string_view list,
                              std::vector<IpBlock>& out) {
    out.reserve(entries.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        auto block = parse_ip_block(entries[i]);
        if (!block) {
            std::string m = "IP ";
            m += list;
            m += " entry #" + std::to_string(i + 1) + ": " + block.error().message;
            return core::Error::invalid(std::move(m));
        }
        out.push_back(block.value());
    }
    return {};
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']')
        text = text.substr(1, text.size() - 2);
    if (auto zone = text.find('%'); zone != std::string_view::npos) text = text.substr(0, zone);
    // inet_pton wants a NUL-terminated string: copy into a stack buffer, never the heap.
    char buffer[INET6_ADDRSTRLEN + 1];
    if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
    std::memcpy(buffer, text.data(), text.size());
    buffer[text.size()] = '\0';
    IpAddress a;
    if (inet_pton(AF_INET, buffer, a.bytes.data()) == 1) {
        a.v4 = true;
        return a;
    }
    if (inet_pton(AF_INET6, buffer, a.bytes.data()) != 1) return std::nullopt;
    if (std::equal(mapped_v4_prefix.begin(), mapped_v4_prefix.end(), a.bytes.begin())) {
        std::array<std::uint8_t, 16> v4{};
        std::copy(a.bytes.begin() + 12, a.bytes.end(), v4.begin());
        a.bytes = v4;
        a.v4 = true;
    }
    return a;
}

bool IpBlock::contains(const IpAddress& a) const {
    if (a.v4 != v4) return false;
    int bits = prefix;
    for (int i = 0; bits > 0; ++i, bits -= 8) {
        const std::uint8_t mask = bits >= 8 ? 0xFF : static_cast<std::uint8_t>(0xFF << (8 - bits));
        if ((a.bytes[i] & mask) != network[i]) return false;
    }
    return true;
}

core::Result<IpBlock> parse_ip_block(std::string_view text) {
    const auto quoted = [&] { return "'" + std::string(text) + "'"; };
    const size_t slash = text.find('/');
    const std::string_view address_text = text.substr(0, slash);
    auto address = IpAddress::parse(address_text);
    if (!address || address_text.find('%') != std::string_view::npos)
        return core::Error::invalid(quoted() +
                                    " is not an IP address or CIDR block; write e.g. "
                                    "'203.0.113.7', '10.0.0.0/8' or '2001:db8::/32'");
    const bool mapped = address->v4 && address_text.find(':') != std::string_view::npos;
    const int family_bits = address->v4 ? 32 : 128;
    int prefix = family_bits;
    if (slash != std::string_view::npos) {
        const std::string_view p = text.substr(slash + 1);
        const int written_max = mapped ? 128 : family_bits;
        int value = -1;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), value);
        if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || value < 0 ||
            value > written_max)
            return core::Error::invalid(quoted() + " has prefix length '" + std::string(p) +
                                        "'; write a whole number from 0 to " +
                                        std::to_string(written_max) + " after the '/'");
        // "::ffff:10.0.0.0/104" is the IPv4 block 10.0.0.0/8 written in IPv6 notation.
        if (mapped && value < 96)
            return core::Error::invalid(quoted() +
                                        " covers more than the IPv4-mapped range; use a prefix "
                                        "of 96 or more, or write the IPv4 block itself");
        prefix = mapped ? value - 96 : value;
    }
    IpBlock block;
    block.v4 = address->v4;
    block.prefix = prefix;
    block.network = masked(address->bytes, prefix);
    if (block.network != address->bytes)
        return core::Error::invalid(quoted() + " has host bits set after the /" +
                                    std::to_string(prefix) + " prefix; write the network '" +
                                    block_text(block) + "'");
    return block;
}

core::Result<IpFilter> IpFilter::build(const std::vector<std::string>& allow,
                                       const std::vector<std::string>& deny) {
    IpFilter filter;
    if (auto r = add_blocks(allow, "allow list", filter.allow_); !r) return r.take_error();
    if (auto r = add_blocks(deny, "deny list", filter.deny_); !r) return r.take_error();
    return filter;
}

bool IpFilter::allows(const IpAddress& address) const {
    for (const auto& b : deny_)
        if (b.contains(address)) return false;
    if (allow_.empty()) return true;
    for (const auto& b : allow_)
        if (b.contains(address)) return true;
    return false;
}

bool IpFilter::allows(std::string_view address) const {
    if (empty()) return true;
    auto parsed = IpAddress::parse(address);
    return parsed && allows(*parsed);
}

}  // namespace tianshu::hub
