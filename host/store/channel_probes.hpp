#pragma once
// Channel probe results: what the last probes of each (channel, upstream key) saw — `tianshu
// channel test`, `tianshu health-check` and POST /admin/api/channels/test record them
// (service::channels::test). The admin Health page shows the latest per key. Bounded: only the
// newest kKeptPerKey rows of a (channel, key) stay. Never a key, sealed or not.

#include "core/error.hpp"
#include "store/database.hpp"

#include <string>
#include <vector>

namespace tianshu::store {

//! One probe's result.
struct ChannelProbe {
    long long id = 0;
    std::string channel;
    long long key_id = 0;  //!< the channel key's store id; 0: the channel has no stored key
    bool ok = false;
    long long latency_ms = 0;
    std::string error_kind;  //!< core::ErrorKind's name; "" when ok (at most 32 bytes)
    std::string error;       //!< short text, no key (at most 255 bytes); "" when ok
    long long created_at_ms = 0;
};

namespace channel_probes {

//! Rows kept per (channel, key); older ones are deleted as new ones arrive.
constexpr int kKeptPerKey = 20;

//! Stores `probes` (error texts cut to their widths) in one transaction and deletes what
//! falls beyond the newest `keep` of each (channel, key) they touch.
core::Result<void> record(Database& db, const std::vector<ChannelProbe>& probes,
                          int keep = kKeptPerKey);
//! The newest probe of every (channel, key), by channel then key.
core::Result<std::vector<ChannelProbe>> latest(Database& db);
//! Every stored probe of one (channel, key), newest first.
core::Result<std::vector<ChannelProbe>> history(Database& db, const std::string& channel,
                                                long long key_id);

}  // namespace channel_probes
}  // namespace tianshu::store
