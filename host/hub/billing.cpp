#include "hub/billing.hpp"

#include "core/log.hpp"
#include "hub/money.hpp"
#include "store/ledger.hpp"

namespace tianshu::hub {

namespace {

// Ledger rows can commit out of id order (MariaDB hands out ids before commit), so each poll
// looks this many ids behind the highest it has seen; sync() ignores what it already applied.
constexpr int64_t kLedgerLookback = 1000;
// What a call may produce when the client set no max_tokens (OpenAI clients may omit it).
constexpr int64_t kDefaultMaxOutput = 4096;

core::Error insufficient(const Payer& payer, std::string_view account, Micros left, Micros need,
                         const core::Request& request) {
    const bool key = account.starts_with("k:");
    std::string message =
        key ? "API key '" + payer.key_name + "' has " + format_money(left) + " of its quota left"
            : "the balance of user '" + payer.user_name + "' is " + format_money(left);
    message += ", and this request may cost up to " + format_money(need) + " (model '" +
               request.model + "', max_tokens " +
               std::to_string(request.max_tokens.value_or(kDefaultMaxOutput)) + "): ";
    message += key ? "raise the key's quota (`tianshu key set-limits --quota`) or use another key"
                   : "top up (`tianshu user topup` or a redemption code) or lower max_tokens";
    return {core::ErrorKind::insufficient_quota, std::move(message), {}};
}

}  // namespace

Billing::Billing(store::Database& db, std::shared_ptr<QuotaBook> book,
                 std::chrono::milliseconds credit_poll)
    : db_(db), book_(std::move(book)), poll_(credit_poll) {
    if (poll_.count() > 0) thread_ = std::thread([this] { run(); });
}

Billing::~Billing() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

core::Result<void> Billing::seed_user(int64_t user_id) {
    auto state = store::ledger::credit_state(db_, user_id);
    if (!state) return state.take_error();
    auto seeded =
        book_->seed(user_account(user_id), state->balance, state->credits, state->version);
    if (!seeded) return seeded.take_error();
    return {};
}

core::Result<Admission> Billing::admit(const Payer& payer, const PriceTable* prices,
                                       const core::Request& request, int64_t input,
                                       std::string_view client_ip, std::string_view request_id,
                                       std::string_view* refused_for) {
    Admission admission;
    admission.key_id = payer.key_id;
    admission.ratio_ppm = payer.tier_ratio_ppm;
    const ModelPrice* price = prices ? prices->find(request.model) : nullptr;
    if (price) admission.price = *price;

    const int64_t max_output = request.max_tokens.value_or(kDefaultMaxOutput);
    admission.estimated_tokens = input + max_output;
    CallRequest call{RateClock::now(), client_ip, request.model, admission.estimated_tokens, 0};
    auto decision = check_call(payer.limits, call, limiter_);
    if (decision.refusal) {
        if (refused_for) *refused_for = refusal_reason_name(decision.refusal->reason);
        return decision.refusal->error;
    }
    admission.rate_counted_at = decision.rate_counted_at;
    admission.rate_counted = payer.limits.rpm > 0 || payer.limits.tpm > 0;
    if (!price) return admission;

    const Micros need = estimate_reservation(*price, input, max_output, payer.tier_ratio_ppm);
    const std::string user = user_account(payer.user_id);
    const std::string key = payer.quota_limit ? key_account(payer.key_id) : std::string();
    std::vector<std::string_view> accounts{user};
    if (!key.empty()) accounts.push_back(key);

    auto undo_rate = [&] {
        if (admission.rate_counted)
            limiter_.settle_tokens(payer.key_id, admission.estimated_tokens, 0,
                                   admission.rate_counted_at, RateClock::now());
    };
    auto reserved = book_->reserve(accounts, need, request_id);
    if (!reserved && is_unloaded_account(reserved.error())) {
        // First use since start (or since Redis lost it): seed from the database, once.
        if (auto s = seed_user(payer.user_id); !s) {
            undo_rate();
            return s.take_error();
        }
        if (!key.empty()) {
            auto k = book_->seed(key, std::max<Micros>(0, *payer.quota_limit - payer.quota_used),
                                 *payer.quota_limit, 0);
            if (!k) {
                undo_rate();
                return k.take_error();
            }
        }
        reserved = book_->reserve(accounts, need, request_id);
    }
    if (!reserved) {
        undo_rate();
        if (reserved.error().kind != core::ErrorKind::insufficient_quota)
            return reserved.take_error();
        if (refused_for) *refused_for = refusal_reason_name(Refusal::Reason::insufficient_quota);
        for (auto account : accounts) {
            auto left = book_->available(account);
            if (left && left.value() && *left.value() < need)
                return insufficient(payer, account, *left.value(), need, request);
        }
        return reserved.take_error();
    }
    admission.reservation = std::move(reserved).value();
    return admission;
}

Micros Billing::price_of(const Admission& admission, const core::Usage& usage) {
    if (!admission.price) return 0;
    return cost(*admission.price, usage, admission.ratio_ppm);
}

Charge Billing::settle(Admission& admission, Micros cost, int64_t actual_tokens) {
    Charge charge{cost, 0};
    if (admission.rate_counted) {
        limiter_.settle_tokens(admission.key_id, admission.estimated_tokens, actual_tokens,
                               admission.rate_counted_at, RateClock::now());
        admission.rate_counted = false;
    }
    if (!admission.reservation || !admission.reservation->open()) return charge;
    if (cost == 0) {
        auto released = book_->release(*admission.reservation);
        if (!released)
            core::log(core::LogLevel::error, "quota release failed",
                      {{"reservation", admission.reservation->id()},
                       {"error", released.error().message}});
        return charge;
    }
    auto settled = book_->settle(*admission.reservation, cost);
    if (!settled) {
        core::log(
            core::LogLevel::error, "quota settle failed; the ledger still charges it",
            {{"reservation", admission.reservation->id()}, {"error", settled.error().message}});
        return charge;
    }
    charge.shortfall = settled->max_shortfall();
    charge.cost = cost - charge.shortfall;
    if (charge.shortfall > 0)
        core::log(core::LogLevel::warn,
                  "a call cost more than its reservation and the balance could give; charged what "
                  "was there",
                  {{"reservation", admission.reservation->id()},
                   {"cost", cost},
                   {"shortfall", charge.shortfall}});
    return charge;
}

void Billing::sync_key_limits(const std::vector<std::shared_ptr<const Payer>>& payers,
                              int64_t revision) {
    std::lock_guard lock(limits_mutex_);
    for (const auto& p : payers) {
        if (!p->quota_limit) continue;
        auto known = known_limits_.find(p->key_id);
        if (known != known_limits_.end() && known->second == *p->quota_limit) continue;
        known_limits_[p->key_id] = *p->quota_limit;
        if (auto r = book_->sync(key_account(p->key_id), *p->quota_limit, revision); !r)
            core::log(core::LogLevel::error, "cannot pass a key's new quota to the quota book",
                      {{"key_id", p->key_id}, {"error", r.error().message}});
    }
}

core::Result<void> Billing::poll_credits() {
    int64_t seen = ledger_seen_.load();
    if (seen < 0) {
        // Start at the end: accounts are seeded from the database when first used.
        auto last = store::ledger::last_id(db_);
        if (!last) return last.take_error();
        ledger_seen_ = last.value();
        return {};
    }
    auto changes = store::ledger::credit_changes(db_, std::max<int64_t>(0, seen - kLedgerLookback));
    if (!changes) return changes.take_error();
    for (const auto& [user, newest] : changes->users) {
        auto known = synced_.find(user);
        if (known != synced_.end() && known->second >= newest) continue;
        auto state = store::ledger::credit_state(db_, user);
        if (!state) continue;
        if (auto r = book_->sync(user_account(user), state->credits, state->version); !r)
            return r.take_error();
        synced_[user] = state->version;
    }
    ledger_seen_ = std::max<int64_t>(seen, changes->last_id);
    return {};
}

void Billing::run() {
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait_for(lock, poll_, [&] { return stopping_; });
            if (stopping_) return;
        }
        if (auto r = poll_credits(); !r)
            core::log(core::LogLevel::warn, "cannot read new ledger credits; retrying",
                      {{"error", r.error().message}});
    }
}

}  // namespace tianshu::hub
