#pragma once
// channels.test: one minimal request ("ping", max_tokens 1) through a channel's own model, per
// (channel, key). Upstream keys are opened only in memory for the one call; a result never
// holds a key, sealed or not. The CLI (`tianshu channel test`, `tianshu health-check`) and the
// admin API (POST /channels/test, POST /channels/{name}/test) both go through here.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "service/env.hpp"
#include "store/channels.hpp"

namespace tianshu::plugin {
class Model;
}

namespace tianshu::service::channels {

//! One (channel, key) to call, with the model instance built for it.
struct Probe {
    std::string channel;
    long long key_id = 0;  //!< the store's id; 0 when the channel has no key
    std::string model;     //!< what the probe asks for
    std::shared_ptr<plugin::Model> instance;
    std::optional<core::Error> build_error;  //!< set when no instance could be built
    std::string proxy = {};  //!< the channel's HTTP proxy, as the gateway would use it
    //! The key the instance holds, only to cut it out of an upstream's error text (some echo
    //! a key back); never copied into a result.
    std::string key_to_hide = {};
};

//! What one probe saw. Never a key.
struct ProbeResult {
    std::string channel;
    long long key_id = 0;  //!< 0 when the channel has no key
    std::string model;
    bool ok = false;
    long long latency_ms = 0;
    std::string model_seen;  //!< the model name the upstream answered with
    std::string error;       //!< without the key, even where the upstream echoed it
    std::string error_kind;  //!< core::ErrorKind's name; "" when ok
};

//! The model a probe asks for: the channel's first model, else its first mapping's target.
std::string probe_model_of(const store::Channel& c);

//! A probe of `c` holding `plaintext_key` (or no key) under store id `key_id`.
Probe make_probe(const pipeline::PluginLookup& plugins, const store::Channel& c,
                 const std::optional<std::string>& plaintext_key, long long key_id);

//! Runs every probe, at most 8 at once; `progress(done, total)` is called (serialised) as each
//! one finishes. Results are in the order of `probes`.
std::vector<ProbeResult> run_probes(const std::vector<Probe>& probes,
                                    const std::function<void(size_t, size_t)>& progress = {});

struct TestOptions {
    //! The channels to test; empty: every channel. An unknown name is not_found.
    std::vector<std::string> names = {};
    //! true: every key of each channel; false: only the key the gateway would use first.
    bool every_key = true;
    //! With every_key: only the keys in rotation (a key out of rotation is `health-check`'s).
    bool enabled_keys_only = false;
    std::function<void(size_t, size_t)> progress = {};
};

//! channels.test: probes the chosen channels and records each result (store::channel_probes, for
//! the admin Health page; a failure to record is logged, the results still returned); changes
//! nothing else in the store. Needs env.plugins and, for sealed keys, env.secrets (without it
//! each such key's result says so).
core::Result<std::vector<ProbeResult>> test(const Env& env, const TestOptions& options);

//! Stores `results` in store::channel_probes (the admin Health page's latest probe per key).
core::Result<void> record_results(store::Database& db, const std::vector<ProbeResult>& results);

//! {channel, key_id (null when none), model, ok, latency_ms, model_seen, error, error_kind}.
nlohmann::json probe_result_json(const ProbeResult& r);

}  // namespace tianshu::service::channels
