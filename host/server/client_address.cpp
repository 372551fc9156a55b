#include "server/client_address.hpp"

#include <arpa/inet.h>

#include <cctype>
#include <optional>

namespace tianshu::server {

namespace {

using wire::iequals;

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

//! RFC 9110 token characters (an unquoted Forwarded value).
bool is_tchar(char c) {
    if (std::isalnum(static_cast<unsigned char>(c))) return true;
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

//! A port after a node's address: digits, or RFC 7239's obfuscated "_name".
bool is_port(std::string_view p) {
    if (p.empty()) return false;
    if (p.front() == '_') {
        for (char c : p.substr(1))
            if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-')
                return false;
        return p.size() > 1;
    }
    if (p.size() > 5) return false;
    for (char c : p)
        if (!is_digit(c)) return false;
    return true;
}

std::string shown(std::string_view text) {
    return "'" + std::string(text.substr(0, 64)) + (text.size() > 64 ? "…'" : "'");
}

//! The nodes one forwarding header lists, left (first hop) to right (last hop).
struct Chain {
    bool present = false;
    std::vector<std::string> nodes;
    std::string problem;  //!< set when the header cannot be read
};

Chain x_forwarded_for(const wire::RequestHead& head) {
    Chain chain;
    for (const auto& [name, value] : head.headers) {
        if (!iequals(name, "x-forwarded-for")) continue;
        chain.present = true;
        // Several X-Forwarded-For lines are one list, in order (RFC 9110 §5.3).
        std::string_view rest = value;
        for (;;) {
            const size_t comma = rest.find(',');
            const std::string_view entry = trim(rest.substr(0, comma));
            if (entry.empty()) {
                chain.problem = "X-Forwarded-For " + shown(value) + " has an empty entry";
                return chain;
            }
            chain.nodes.emplace_back(entry);
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return chain;
}

//! Reads the `for=` of each element of the Forwarded header lines (RFC 7239 §4): elements are
//! comma-separated, their pairs semicolon-separated, values tokens or quoted strings.
Chain forwarded(const wire::RequestHead& head) {
    Chain chain;
    for (const auto& header : head.headers) {
        const auto& [name, value] = header;
        if (!iequals(name, "forwarded")) continue;
        chain.present = true;
        // Through `header`: clang before 16 cannot capture a structured binding.
        auto bad = [&](std::string why) {
            chain.problem = "Forwarded " + shown(header.second) + " " + why;
            chain.nodes.clear();
            return chain;
        };
        size_t i = 0;
        const std::string_view v = value;
        auto skip_ows = [&] {
            while (i < v.size() && (v[i] == ' ' || v[i] == '\t')) ++i;
        };
        for (;;) {  // one element
            std::optional<std::string> for_value;
            for (;;) {  // one pair
                skip_ows();
                if (i < v.size() && v[i] == ';') {  // an empty pair
                    ++i;
                    continue;
                }
                if (i == v.size() || v[i] == ',') break;
                const size_t name_start = i;
                while (i < v.size() && is_tchar(v[i])) ++i;
                if (i == name_start || i == v.size() || v[i] != '=')
                    return bad("is malformed: expected name=value pairs such as for=192.0.2.60");
                const std::string_view pair_name = v.substr(name_start, i - name_start);
                ++i;  // '='
                std::string pair_value;
                if (i < v.size() && v[i] == '"') {
                    ++i;
                    bool closed = false;
                    while (i < v.size()) {
                        const char c = v[i++];
                        if (c == '"') {
                            closed = true;
                            break;
                        }
                        if (c == '\\' && i < v.size()) {
                            pair_value += v[i++];
                            continue;
                        }
                        pair_value += c;
                    }
                    if (!closed) return bad("has an unterminated quoted value");
                } else {
                    const size_t start = i;
                    while (i < v.size() && is_tchar(v[i])) ++i;
                    if (i == start) return bad("has an empty value after " + shown(pair_name));
                    pair_value.assign(v.substr(start, i - start));
                }
                if (iequals(pair_name, "for")) {
                    if (for_value) return bad("has two for= in one element");
                    for_value = std::move(pair_value);
                }
                skip_ows();
                if (i < v.size() && v[i] == ';') {
                    ++i;
                    continue;
                }
                if (i == v.size() || v[i] == ',') break;
                return bad("is malformed: expected ';' or ',' after a value");
            }
            if (!for_value) return bad("has an element without for=");
            chain.nodes.push_back(std::move(*for_value));
            if (i == v.size()) break;
            ++i;  // ','
        }
    }
    return chain;
}

bool same(const hub::IpAddress& a, const hub::IpAddress& b) {
    return a.v4 == b.v4 && a.bytes == b.bytes;
}

}  // namespace

std::optional<hub::IpAddress> parse_forwarded_node(std::string_view node) {
    if (!node.empty() && node.front() == '[') {
        const size_t close = node.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        const std::string_view rest = node.substr(close + 1);
        if (!rest.empty() && (rest.front() != ':' || !is_port(rest.substr(1)))) return std::nullopt;
        auto a = hub::IpAddress::parse(node.substr(1, close - 1));
        return a && !a->v4 ? a : std::nullopt;  // brackets hold IPv6 (RFC 3986)
    }
    const size_t colon = node.find(':');
    if (colon != std::string_view::npos && node.find(':', colon + 1) == std::string_view::npos) {
        // "203.0.113.7:4711": IPv4 with a port (a bare IPv6 address has two colons or more).
        if (!is_port(node.substr(colon + 1))) return std::nullopt;
        auto a = hub::IpAddress::parse(node.substr(0, colon));
        return a && a->v4 ? a : std::nullopt;
    }
    if (node.find('%') != std::string_view::npos) return std::nullopt;
    return hub::IpAddress::parse(node);
}

std::string address_text(const hub::IpAddress& address) {
    char text[INET6_ADDRSTRLEN] = {0};
    ::inet_ntop(address.v4 ? AF_INET : AF_INET6, address.bytes.data(), text, sizeof text);
    return text;
}

core::Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& entries) {
    TrustedProxies proxies;
    for (const auto& entry : entries) {
        std::string_view rest = entry;
        for (;;) {
            const size_t comma = rest.find(',');
            const std::string_view one = trim(rest.substr(0, comma));
            if (one.empty())
                return core::Error::invalid("--trusted-proxy '" + entry +
                                            "' has an empty entry: write CIDR blocks such as "
                                            "'10.0.0.0/8,2001:db8::/32'");
            auto block = hub::parse_ip_block(one);
            if (!block) return core::Error::invalid("--trusted-proxy: " + block.error().message);
            proxies.blocks_.push_back(block.value());
            if (comma == std::string_view::npos) break;
            rest.remove_prefix(comma + 1);
        }
    }
    return proxies;
}

bool TrustedProxies::trusts(const hub::IpAddress& address) const {
    for (const auto& block : blocks_)
        if (block.contains(address)) return true;
    return false;
}

bool TrustedProxies::trusts(std::string_view address) const {
    if (blocks_.empty()) return false;
    auto parsed = hub::IpAddress::parse(address);
    return parsed && trusts(*parsed);
}

ClientAddress TrustedProxies::client_behind(std::string_view proxy_ip,
                                            const wire::RequestHead& head) const {
    ClientAddress out{std::string(proxy_ip), {}};
    const Chain xff = x_forwarded_for(head);
    const Chain fwd = forwarded(head);
    if (!xff.present && !fwd.present) return out;
    for (const Chain* chain : {&xff, &fwd})
        if (!chain->problem.empty()) {
            out.problem = chain->problem;
            return out;
        }
    // Right to left: each trusted proxy appended the address it received the request from.
    auto client_of = [&](const Chain& chain,
                         std::string_view header) -> std::optional<hub::IpAddress> {
        std::optional<hub::IpAddress> leftmost;
        for (size_t i = chain.nodes.size(); i-- > 0;) {
            auto a = parse_forwarded_node(chain.nodes[i]);
            if (!a) {
                out.problem = std::string(header) + " entry " + shown(chain.nodes[i]) +
                              " is not an IP address";
                return std::nullopt;
            }
            if (!trusts(*a)) return a;
            leftmost = a;
        }
        return leftmost;
    };
    std::optional<hub::IpAddress> by_xff, by_forwarded;
    if (xff.present && !(by_xff = client_of(xff, "X-Forwarded-For"))) return out;
    if (fwd.present && !(by_forwarded = client_of(fwd, "Forwarded"))) return out;
    if (by_xff && by_forwarded && !same(*by_xff, *by_forwarded)) {
        out.problem = "X-Forwarded-For names " + address_text(*by_xff) + " but Forwarded names " +
                      address_text(*by_forwarded) +
                      ": one of them may come from the client; make the proxy set both or drop "
                      "the one it does not maintain";
        return out;
    }
    out.ip = address_text(by_xff ? *by_xff : *by_forwarded);
    return out;
}

}  // namespace tianshu::server
