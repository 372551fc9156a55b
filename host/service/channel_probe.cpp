#include "service/channel_probe.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>

#include "core/fiber.hpp"
#include "core/log.hpp"
#include "hub/secret_box.hpp"
#include "store/channel_probes.hpp"
#include "store/database.hpp"
#include "upstream/channel_router.hpp"
#include "upstream/wire_upstream.hpp"

namespace tianshu::service::channels {

using core::Error;
using core::ErrorKind;

namespace {

//! At most this many probes run at once: enough to test dozens of channels quickly without
//! opening hundreds of connections at once.
constexpr size_t kMaxParallelProbes = 8;

//! The ChannelSpec the runtime loader would build for `c`, offering only `model` and
//! holding one key (or none): enough to build the exact model instance that serves it.
upstream::ChannelSpec spec_for(const store::Channel& c, const std::string& model,
                               const std::optional<std::string>& plaintext_key,
                               const std::string& key_id) {
    upstream::ChannelSpec spec;
    spec.name = c.name;
    spec.type = c.type;
    spec.enabled = true;  // a disabled channel can still be tested before it is enabled
    spec.config = c.config;
    spec.config.erase("api_key");  // the sealed compatibility copy reads put there
    if (!c.base_url.empty() && !spec.config.contains("base_url"))
        spec.config["base_url"] = c.base_url;
    spec.models = {model};
    spec.priority = c.priority;
    spec.weight = std::max(1, c.weight);
    spec.proxy = c.proxy;
    if (plaintext_key) spec.keys.push_back(upstream::ChannelKey{key_id, *plaintext_key, true});
    return spec;
}

//! `text` with every copy of `key`, and of any prefix of it of 6 bytes or more (upstreams echo
//! "sk-abc***"), replaced by "[key]".
std::string without_key(std::string text, const std::string& key) {
    constexpr std::size_t kShortest = 6;
    if (key.size() < kShortest) return text;
    const std::string head = key.substr(0, kShortest);
    for (std::size_t at = text.find(head); at != std::string::npos; at = text.find(head, at)) {
        std::size_t n = kShortest;
        while (n < key.size() && at + n < text.size() && text[at + n] == key[n]) ++n;
        text.replace(at, n, "[key]");
        at += 5;
    }
    return text;
}

//! Sends one user message "ping" (max_tokens 1, not streamed) the way the gateway would.
ProbeResult run_probe(const Probe& p) {
    ProbeResult r;
    r.channel = p.channel;
    r.key_id = p.key_id;
    r.model = p.model;
    if (p.build_error) {
        r.error = without_key(p.build_error->message, p.key_to_hide);
        r.error_kind = core::to_string(p.build_error->kind);
        return r;
    }
    plugin::RequestContext ctx;
    ctx.request.model = p.model;
    ctx.request.max_tokens = 1;
    ctx.request.stream = false;
    ctx.request.messages.push_back(
        core::Message{core::Role::user, {core::ContentBlock::make_text("ping")}});
    ctx.request_id = "probe-" + p.channel;
    ctx.requested_model = p.model;
    ctx.client_protocol = "anthropic";
    ctx.channel = p.channel;
    ctx.upstream_proxy = p.proxy;
    ctx.upstream = &upstream::WireUpstream::shared();
    std::optional<std::string> stream_error;
    ctx.emit = [&](const core::StreamEvent& e) {
        if (e.type == core::StreamEvent::Type::message_start && !e.message.model.empty())
            r.model_seen = e.message.model;
        if (e.type == core::StreamEvent::Type::error) stream_error = e.error.message;
        return true;
    };
    const auto start = std::chrono::steady_clock::now();
    auto done = p.instance->generate(ctx);
    r.latency_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::steady_clock::now() - start)
                       .count();
    if (!done) {
        r.error = done.error().message;
        r.error_kind = core::to_string(done.error().kind);
    } else if (stream_error) {
        r.error = *stream_error;
        r.error_kind = core::to_string(ErrorKind::upstream);
    } else if (!ctx.started) {
        r.error = "the model answered nothing";
        r.error_kind = core::to_string(ErrorKind::upstream);
    }
    r.error = without_key(std::move(r.error), p.key_to_hide);
    r.ok = r.error.empty();
    return r;
}

Probe failed(const store::Channel& c, long long key_id, Error error) {
    return Probe{c.name, key_id, probe_model_of(c), nullptr, std::move(error)};
}

//! A probe of `c` with stored key `k`, opened in memory only.
Probe probe_with_key(const Env& env, const store::Channel& c, const store::ChannelKey& k) {
    if (!hub::SecretBox::is_sealed(k.sealed_key))  // a legacy plaintext key
        return make_probe(env.plugins, c, k.sealed_key, k.id);
    if (!env.secrets)
        return failed(c, k.id,
                      Error{ErrorKind::unavailable,
                            "there is no secret key, so upstream key " + std::to_string(k.id) +
                                " of channel '" + c.name +
                                "' cannot be opened: give the data directory holding "
                                "secret.key (or --secret-key-file)",
                            {}});
    auto opened = env.secrets->open(k.sealed_key, c.name);
    if (!opened) return failed(c, k.id, opened.error());
    return make_probe(env.plugins, c, opened.value(), k.id);
}

}  // namespace

std::string probe_model_of(const store::Channel& c) {
    for (const auto& m : c.models)
        if (m.is_string()) return m.get<std::string>();
    for (const auto& [pattern, target] : c.model_map.items())
        if (target.is_string()) return target.get<std::string>();
    return {};
}

Probe make_probe(const pipeline::PluginLookup& plugins, const store::Channel& c,
                 const std::optional<std::string>& plaintext_key, long long key_id) {
    Probe p{c.name,       key_id,  probe_model_of(c),         nullptr,
            std::nullopt, c.proxy, plaintext_key.value_or("")};
    if (p.model.empty()) {
        p.build_error = Error::invalid("channel '" + c.name +
                                       "' offers no model: add --models or a --map with "
                                       "`tianshu channel edit` (or 'models' with PATCH "
                                       "/channels/" +
                                       c.name + ")");
        return p;
    }
    std::vector<Error> problems;
    auto router = upstream::ChannelRouter::build(
        {spec_for(c, p.model, plaintext_key, std::to_string(key_id))}, plugins, &problems);
    if (!problems.empty()) {
        p.build_error = problems.front();
        return p;
    }
    auto routes = router->candidates(p.model);
    if (!routes || routes->empty() || routes->front().keys.empty()) {
        p.build_error = routes ? Error::internal_error("channel '" + c.name + "' built no model")
                               : routes.error();
        return p;
    }
    p.instance = routes->front().keys.front().model;
    return p;
}

std::vector<ProbeResult> run_probes(const std::vector<Probe>& probes,
                                    const std::function<void(size_t, size_t)>& progress) {
    std::vector<ProbeResult> results(probes.size());
    std::atomic<size_t> next{0};
    size_t finished = 0;
    std::mutex progress_lock;
    auto worker = [&] {
        for (size_t i = next++; i < probes.size(); i = next++) {
            results[i] = run_probe(probes[i]);
            std::lock_guard lock(progress_lock);
            ++finished;
            if (progress) progress(finished, probes.size());
        }
    };
    // The probes run on threads of their own (their sockets block those threads); a caller on
    // a fiber (the admin API) blocks its carrier while it waits for them, so it says so.
    core::BlockingRegion waiting;
    std::vector<std::thread> threads;
    for (size_t t = 0; t < std::min(probes.size(), kMaxParallelProbes); ++t)
        threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    return results;
}

core::Result<std::vector<ProbeResult>> test(const Env& env, const TestOptions& options) {
    if (!env.plugins)
        return Error{ErrorKind::unavailable,
                     "no plugins are loaded, so no channel model can be built for a probe: "
                     "start with the plugins directory (--plugins-dir)",
                     {}};
    auto list = store::channels::list(env.db);
    if (!list) return list.take_error();
    std::vector<store::Channel> chosen;
    for (const auto& n : options.names) {
        auto it = std::find_if(list->begin(), list->end(),
                               [&](const store::Channel& c) { return c.name == n; });
        if (it == list->end())
            return Error{ErrorKind::not_found, "there is no channel named '" + n + "'", {}};
        if (std::none_of(chosen.begin(), chosen.end(),
                         [&](const store::Channel& c) { return c.name == n; }))
            chosen.push_back(*it);
    }
    if (options.names.empty()) chosen = list.value();
    std::vector<Probe> probes;
    for (const auto& c : chosen) {
        if (c.keys.empty()) {
            probes.push_back(make_probe(env.plugins, c, std::nullopt, 0));
            continue;
        }
        if (options.every_key) {
            bool any = false;
            for (const auto& k : c.keys) {
                if (options.enabled_keys_only && !k.enabled) continue;
                probes.push_back(probe_with_key(env, c, k));
                any = true;
            }
            if (any) continue;
            // Every key is out of rotation: the same answer as for the first key below.
        }
        // The key the gateway would use first: the first one in rotation.
        auto key = std::find_if(c.keys.begin(), c.keys.end(),
                                [](const store::ChannelKey& k) { return k.enabled; });
        if (key == c.keys.end()) {
            probes.push_back(failed(c, 0,
                                    Error::invalid("every key of channel '" + c.name +
                                                   "' is disabled: run `tianshu health-check` "
                                                   "or add one with `tianshu channel edit "
                                                   "--name " +
                                                   c.name + " --add-key KEY`")));
            continue;
        }
        probes.push_back(probe_with_key(env, c, *key));
    }
    auto results = run_probes(probes, options.progress);
    if (auto kept = record_results(env.db, results); !kept)
        core::log(core::LogLevel::warn,
                  "channel probe results were not recorded; the Health page shows older ones",
                  {{"error", kept.error().message}});
    return results;
}

core::Result<void> record_results(store::Database& db, const std::vector<ProbeResult>& results) {
    std::vector<store::ChannelProbe> rows;
    const long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    for (const auto& r : results)
        rows.push_back({0, r.channel, r.key_id, r.ok, r.latency_ms, r.error_kind, r.error, now});
    return store::channel_probes::record(db, rows);
}

nlohmann::json probe_result_json(const ProbeResult& r) {
    using Json = nlohmann::json;
    return Json{{"channel", r.channel},
                {"key_id", r.key_id == 0 ? Json(nullptr) : Json(r.key_id)},
                {"model", r.model},
                {"ok", r.ok},
                {"latency_ms", r.latency_ms},
                {"model_seen", r.model_seen.empty() ? Json(nullptr) : Json(r.model_seen)},
                {"error", r.error},
                {"error_kind", r.error_kind.empty() ? Json(nullptr) : Json(r.error_kind)}};
}

}  // namespace tianshu::service::channels
