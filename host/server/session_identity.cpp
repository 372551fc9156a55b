#include "server/session_identity.hpp"

#include <cstdint>
#include <functional>

namespace tianshu::server {

namespace {

//! 32 hex digits over the parts. Each part costs one 64-bit std::hash (murmur, several GB/s)
//! of at most 8 KB — its first and last 4 KB and its length when longer — folded into two lanes:
//! this runs on the request path for every client without a session of its own, where SHA-256
//! of a long system prompt cost more than the rest of the request. It tells one user's
//! conversations apart (sessions are scoped per user); it is not a cryptographic digest.
class Fingerprint {
  public:
    Fingerprint& add(std::string_view part) {
        constexpr std::size_t kEdge = 4096;
        const std::hash<std::string_view> hash;
        uint64_t h = part.size() <= 2 * kEdge
                         ? hash(part)
                         : hash(part.substr(0, kEdge)) ^
                               mix(hash(part.substr(part.size() - kEdge)) + part.size());
        a_ = mix(a_ ^ h);
        b_ = mix(b_ + h + 0x632be59bd9b4e019ULL);
        return *this;
    }
    std::string hex() const {
        static constexpr char digits[] = "0123456789abcdef";
        std::string out(32, '0');
        for (int i = 0; i < 16; ++i) {
            out[static_cast<std::size_t>(i)] = digits[(a_ >> (60 - 4 * i)) & 15];
            out[static_cast<std::size_t>(16 + i)] = digits[(b_ >> (60 - 4 * i)) & 15];
        }
        return out;
    }

  private:
    //! splitmix64's finaliser.
    static uint64_t mix(uint64_t x) {
        x ^= x >> 30;
        x *= 0xbf58476d1ce4e5b9ULL;
        x ^= x >> 27;
        x *= 0x94d049bb133111ebULL;
        return x ^ (x >> 31);
    }
    uint64_t a_ = 0x9e3779b97f4a7c15ULL;
    uint64_t b_ = 0xc2b2ae3d27d4eb4fULL;
};

std::string bounded(std::string_view id) {
    if (id.size() <= kMaxClientSessionId) return std::string(id);
    return "hashed-" + Fingerprint().add(id).hex();
}

//! The session in Claude Code's metadata.user_id: recent versions send a JSON object as a
//! string ({"device_id":…,"account_uuid":…,"session_id":…}), older ones
//! "user_<hash>_account_<uuid>_session_<uuid>". Empty when neither.
std::string session_in_user_id(const core::Json& metadata) {
    if (!metadata.is_object()) return {};
    auto it = metadata.find("user_id");
    if (it == metadata.end() || !it->is_string()) return {};
    const std::string& user_id = it->get_ref<const std::string&>();
    if (!user_id.empty() && user_id.front() == '{') {
        auto parsed = core::Json::parse(user_id, nullptr, false);
        if (!parsed.is_object()) return {};
        auto s = parsed.find("session_id");
        return s != parsed.end() && s->is_string() ? s->get<std::string>() : std::string();
    }
    constexpr std::string_view marker = "_session_";
    const auto at = user_id.rfind(marker);
    if (at == std::string::npos) return {};
    return user_id.substr(at + marker.size());
}

std::string derived_session(const core::Request& request) {
    Fingerprint f;
    f.add("system");
    for (const auto& block : request.system) f.add(block.text);
    f.add("first user message");
    for (const auto& message : request.messages) {
        if (message.role != core::Role::user) continue;
        for (const auto& block : message.content) {
            // What the client wrote, not the markers it moves from turn to turn (cache_control).
            f.add(std::to_string(static_cast<int>(block.type)));
            f.add(block.text);
            f.add(block.id);
            f.add(block.name);
            // An image by its data (not dumped: it may be megabytes) or its URL.
            if (block.source.is_object()) {
                for (const char* field : {"data", "url"}) {
                    auto it = block.source.find(field);
                    if (it != block.source.end() && it->is_string())
                        f.add(it->get_ref<const std::string&>());
                }
            }
            for (const auto& part : block.content) f.add(part.text);
        }
        break;
    }
    return "derived-" + f.hex();
}

}  // namespace

std::string_view to_string(SessionSource source) {
    switch (source) {
        case SessionSource::header:
            return "header";
        case SessionSource::metadata:
            return "metadata";
        case SessionSource::derived:
            return "derived";
    }
    return "derived";
}

SessionIdentity identify_session(std::string_view header, const core::Request& request) {
    if (!header.empty()) return {bounded(header), SessionSource::header};
    if (auto from_metadata = session_in_user_id(request.metadata); !from_metadata.empty())
        return {bounded(from_metadata), SessionSource::metadata};
    return {derived_session(request), SessionSource::derived};
}

}  // namespace tianshu::server
