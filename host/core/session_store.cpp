#include "core/session_store.hpp"

namespace tianshu::core {

Result<void> SessionStore::check(const SessionScope& scope, std::string_view key) const {
    if (scope.user.empty() || scope.session.empty())
        return Error::invalid(
            "session state needs an authenticated user and a session; this request has none");
    if (scope.plugin.empty())
        return Error::invalid("session state is only reachable from a plugin's hook");
    if (key.empty()) return Error::invalid("session key is empty: give each value a name");
    if (key.size() > kSessionKeyMaxBytes)
        return Error::invalid("session key of " + std::to_string(key.size()) +
                              " bytes is too long: keep keys at most " +
                              std::to_string(kSessionKeyMaxBytes) + " bytes");
    return {};
}

std::chrono::seconds SessionStore::effective_ttl(std::chrono::seconds requested) const {
    if (requested.count() <= 0 || requested > limits_.ttl) return limits_.ttl;
    return requested;
}

std::string SessionStore::entry_name(const SessionScope& scope, std::string_view key) {
    std::string name = std::to_string(scope.plugin.size());
    name += ':';
    name += scope.plugin;
    name += key;
    return name;
}

Error SessionStore::over_cap(const SessionScope& scope, const char* which, std::size_t would_be,
                             std::size_t cap, const char* flag) const {
    return {ErrorKind::request_too_large,
            "session state of plugin '" + std::string(scope.plugin) + "': the " + which +
                " would hold " + std::to_string(would_be) + " bytes, over its cap of " +
                std::to_string(cap) + "; store less, delete keys, or raise serve " + flag,
            std::string(scope.plugin)};
}

}  // namespace tianshu::core
