#pragma once
// Password hashing and checking for the server: always on the slow-work pool
// (core/slow_work_pool.hpp), never on a carrier, so a storm of logins waits in the pool's
// bounded queue (or is refused) while model requests keep their cores.

#include <functional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "hub/credentials.hpp"

namespace tianshu::core {
class SlowWorkPool;
}

namespace tianshu::hub {

//! Hashes and verifies passwords on a SlowWorkPool. Thread-safe; the caller waits without
//! holding a carrier (a fiber parks). Every error is the pool's: `unavailable` with a
//! Retry-After when its queue is full.
class PasswordHasher {
  public:
    //! The check itself; a seam for tests that count calls (default: verify_password).
    using Verify = std::function<bool(std::string_view plain, std::string_view encoded)>;

    //! New hashes and the decoy use `iterations` (PBKDF2-HMAC-SHA256).
    explicit PasswordHasher(core::SlowWorkPool& pool, int iterations = password_iterations,
                            Verify verify = verify_password);

    //! hash_password(plain, iterations) on the pool.
    core::Result<std::string> hash(std::string_view plain) const;

    //! True when `plain` matches `encoded`. An empty `encoded` (no such user, or a user without
    //! a password) is checked against a decoy hash of the same iteration count and is false:
    //! an unknown name costs exactly what a wrong password costs, one check on the same pool.
    core::Result<bool> verify(std::string_view plain, std::string_view encoded) const;

    int iterations() const { return iterations_; }

  private:
    core::SlowWorkPool& pool_;
    int iterations_;
    Verify verify_;
    std::string decoy_;
};

}  // namespace tianshu::hub
