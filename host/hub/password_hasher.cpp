#include "hub/password_hasher.hpp"

#include "core/slow_work_pool.hpp"

namespace tianshu::hub {

namespace {
constexpr std::string_view kWork = "password checks";
}

PasswordHasher::PasswordHasher(core::SlowWorkPool& pool, int iterations, Verify verify)
    : pool_(pool),
      iterations_(iterations),
      verify_(std::move(verify)),
      decoy_(decoy_password_hash(iterations)) {}

core::Result<std::string> PasswordHasher::hash(std::string_view plain) const {
    std::string out;
    auto ran = pool_.run(kWork, [&] { out = hash_password(plain, iterations_); });
    if (!ran) return ran.take_error();
    return out;
}

core::Result<bool> PasswordHasher::verify(std::string_view plain, std::string_view encoded) const {
    const bool real = !encoded.empty();
    bool matches = false;
    auto ran = pool_.run(kWork, [&] { matches = verify_(plain, real ? encoded : decoy_); });
    if (!ran) return ran.take_error();
    return real && matches;
}

}  // namespace tianshu::hub
