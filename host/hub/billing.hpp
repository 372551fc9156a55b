#pragma once
// Metering on the request path: a key's limits checked, the worst-case cost reserved before
// the upstream call, the real cost settled after it, and top-ups and quota changes made in the
// database passed on to the live balances. Nothing here waits on the database per request,
// except to seed an account the first time it is used.

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "hub/key_policy.hpp"
#include "hub/pricing.hpp"
#include "hub/quota_book.hpp"
#include "hub/rate_limiter.hpp"
#include "store/database.hpp"

namespace tianshu::hub {

//! Who pays for a call: an API key and its owner as the configuration snapshot knows them.
struct Payer {
    int64_t user_id = 0;
    std::string user_name;
    int64_t key_id = 0;
    std::string key_name;
    int64_t tier_ratio_ppm = ratio_ppm_one;
    std::optional<Micros> quota_limit;  //!< the key's total quota; none: no cap
    Micros quota_used = 0;              //!< as the database knew it when the snapshot was built
    KeyLimits limits;                   //!< expiry, IPs, models, RPM/TPM (quota fields unused)
};

//! One admitted call: what it reserved and how it will be priced. Move-only.
struct Admission {
    std::optional<ModelPrice> price;  //!< none: the model is not priced (free)
    int64_t ratio_ppm = ratio_ppm_one;
    std::optional<QuotaReservation> reservation;
    int64_t key_id = 0;
    int64_t estimated_tokens = 0;
    RateClock::time_point rate_counted_at{};
    bool rate_counted = false;
};

//! What settling charged: `cost` is what the ledger will record (never more than the live
//! balances could give); `shortfall` what the real cost exceeded that by.
struct Charge {
    Micros cost = 0;
    Micros shortfall = 0;
};

//! Thread-safe; one per gateway process.
class Billing {
  public:
    //! `credit_poll` > 0 starts a thread that passes database top-ups to the book that often.
    Billing(store::Database& db, std::shared_ptr<QuotaBook> book,
            std::chrono::milliseconds credit_poll = std::chrono::milliseconds(500));
    ~Billing();
    Billing(const Billing&) = delete;
    Billing& operator=(const Billing&) = delete;

    //! Checks the key's limits for this call and reserves its worst-case cost from the user's
    //! balance (and the key's quota when it has one). Errors are what the client receives:
    //! permission, authentication (expired), insufficient_quota, rate_limited.
    //! `estimated_input_tokens` is the local estimate of the prompt (plugin::
    //! estimate_input_tokens). `refused_for` (may be null) gets the refusal's bounded name
    //! (refusal_reason_name) when the key's limits, quota or balance refuse the call.
    core::Result<Admission> admit(const Payer& payer, const PriceTable* prices,
                                  const core::Request& request, int64_t estimated_input_tokens,
                                  std::string_view client_ip, std::string_view request_id,
                                  std::string_view* refused_for = nullptr);
    //! The cost of the finished call at its real usage; 0 for an unpriced model.
    static Micros price_of(const Admission& admission, const core::Usage& usage);
    //! Settles at `cost` (or releases everything when `cost` is 0 and nothing was produced)
    //! and corrects the TPM count. Idempotent per admission.
    Charge settle(Admission& admission, Micros cost, int64_t actual_tokens);

    //! Passes quota limits of a new configuration to live key accounts (version = revision).
    void sync_key_limits(const std::vector<std::shared_ptr<const Payer>>& payers, int64_t revision);
    //! Reads ledger credits since the last poll and passes them to live user accounts.
    core::Result<void> poll_credits();

  private:
    core::Result<void> seed_user(int64_t user_id);
    void run();

    store::Database& db_;
    std::shared_ptr<QuotaBook> book_;
    RateLimiter limiter_;
    std::mutex limits_mutex_;
    std::unordered_map<int64_t, Micros> known_limits_;
    std::atomic<int64_t> ledger_seen_{-1};
    //! Per user, the newest credit id already passed to the book by this process: the poll's
    //! lookback sees the same rows again and must not read their state again. Poll thread only.
    std::unordered_map<int64_t, int64_t> synced_;
    std::chrono::milliseconds poll_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace tianshu::hub
