#include "server/session_identity.hpp"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

namespace tianshu::server {

namespace {

//! 32 hex digits (128 bits) of SHA-256 over the parts, each ended by a NUL so no two splits of
//! the same bytes hash alike.
class Fingerprint {
  public:
    Fingerprint& add(std::string_view part) {
        engine_.update(part.data(), static_cast<unsigned>(part.size()));
        engine_.update('\0');
        return *this;
    }
    std::string hex() { return Poco::DigestEngine::digestToHex(engine_.digest()).substr(0, 32); }

  private:
    Poco::SHA2Engine engine_{Poco::SHA2Engine::SHA_256};
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
            if (!block.source.is_null()) f.add(block.source.dump());
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
