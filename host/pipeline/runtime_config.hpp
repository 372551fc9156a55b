#pragma once
// What a request runs under: API keys, the chains and the model routing, as one immutable snapshot.
// A request takes the snapshot once, at its start, and keeps it to the end; a reload builds
// a whole new snapshot and swaps it in atomically. So every request runs wholly under the
// old or wholly under the new configuration, and the old one is freed when its last
// request finishes.

#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string_view>

#include "hub/billing.hpp"
#include "hub/pricing.hpp"
#include "pipeline/capability_table.hpp"
#include "pipeline/chain.hpp"
#include "pipeline/runner.hpp"

namespace tianshu::pipeline {

//! Who is calling: what an API key resolves to.
struct Identity {
    std::string user;
    std::string tier = "default";
    std::string key_name;
    int64_t key_id = 0;
    //! Limits, quota and who pays; null for identities made without the hub (tests).
    std::shared_ptr<const hub::Payer> payer;
};

//! Resolves a presented API key to its identity; implemented over the store's hashed keys.
class KeyDirectory {
  public:
    virtual ~KeyDirectory() = default;
    //! The identity, owned by the directory (it lives as long as the directory); null when the
    //! key is unknown.
    virtual const Identity* find(std::string_view presented_key) const = 0;
};

struct RuntimeConfig {
    std::shared_ptr<const KeyDirectory> keys;
    std::shared_ptr<const ChainSet> chains;
    std::shared_ptr<const ModelResolver> models;
    std::shared_ptr<const hub::PriceTable> prices;          //!< null or empty: every model is free
    std::vector<std::shared_ptr<const hub::Payer>> payers;  //!< every live key, for quota sync
    int64_t revision = 0;  //!< the store's config revision this was built from
    //! The capability table with the channels' overrides; null: nothing is known.
    std::shared_ptr<const ModelCapabilityBook> capabilities;
    //! Tiers whose clients do not get the x-tianshu-route / x-tianshu-decision headers (the
    //! request log always has the decision).
    std::set<std::string, std::less<>> tiers_without_route_header;
};

//! Holds the current RuntimeConfig; lock-free reads, atomic replacement.
class RuntimeConfigHolder {
  public:
    std::shared_ptr<const RuntimeConfig> snapshot() const {
        return current_.load(std::memory_order_acquire);
    }
    void replace(std::shared_ptr<const RuntimeConfig> next) {
        current_.store(std::move(next), std::memory_order_release);
    }

  private:
    std::atomic<std::shared_ptr<const RuntimeConfig>> current_;
};

}  // namespace tianshu::pipeline
