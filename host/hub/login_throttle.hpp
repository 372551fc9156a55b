#pragma once
// Failed admin logins limited per client address and per account name, in memory, over a
// sliding window: password guessing from one address, and guessing one account from many
// addresses, are both refused with a "try again in N s" before any password is checked.

#include <chrono>
#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"

namespace tianshu::hub {

struct LoginLimits {
    int per_address = 10;  //!< failed logins from one address per window; <= 0: no limit
    int per_account = 30;  //!< failed logins for one account name per window; <= 0: no limit
    std::chrono::seconds window{600};
    //! Addresses, and separately account names, kept at most. Names are counted whether or not
    //! the account exists (a limit only on real accounts would tell which names exist).
    size_t max_tracked = 10000;
};

//! The login limits. A login attempt is counted as a failure when it begins (so concurrent
//! attempts cannot all slip under the limit) and forgiven when it succeeds: a successful login
//! does not count. Thread-safe (one mutex; nothing waits while it is held). Memory is bounded:
//! at most max_tracked addresses and names, each with at most its limit of time stamps; when a
//! table is full, entries with nothing left in the window go first, then the one whose last
//! failure is oldest. A new entry costs a failure, and failures come no faster than the
//! password pool checks them, so random names cannot push a guessed account out quickly.
class LoginThrottle {
  public:
    using Clock = std::chrono::steady_clock;

    //! What begin() counted, to give back to forgive().
    struct Attempt {
        std::string address;
        std::string account;
        Clock::time_point at;
    };

    explicit LoginThrottle(LoginLimits limits);

    //! Counts an attempt from `address` for `account` at `now`, or refuses it without counting
    //! it: `rate_limited` (429) with retry_after_seconds and a message naming the address or
    //! the account and when to try again. The address limit is checked first.
    core::Result<Attempt> begin(std::string_view address, std::string_view account,
                                Clock::time_point now);
    //! The attempt succeeded, or was never tried (the password pool was full): it no longer
    //! counts.
    void forgive(const Attempt& attempt);

    size_t tracked_addresses() const;
    size_t tracked_accounts() const;
    const LoginLimits& limits() const { return limits_; }

  private:
    //! Failure times of each key, oldest first, at most the limit of them.
    struct Table {
        int limit = 0;
        std::unordered_map<std::string, std::vector<Clock::time_point>> failures;
    };

    //! Seconds until `key` may try again (0: now). Drops stamps older than the window.
    int wait_seconds(Table& table, const std::string& key, Clock::time_point now);
    void count(Table& table, const std::string& key, Clock::time_point now);
    void make_room(Table& table, Clock::time_point now);
    static void remove_one(Table& table, const std::string& key, Clock::time_point at);

    LoginLimits limits_;
    mutable std::mutex mutex_;
    Table addresses_;
    Table accounts_;
};

}  // namespace tianshu::hub
