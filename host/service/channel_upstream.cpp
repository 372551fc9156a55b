#include "service/channel_upstream.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <set>
#include <thread>

#include "core/fiber.hpp"
#include "hub/secret_box.hpp"
#include "service/channels.hpp"
#include "store/channels.hpp"
#include "upstream/http_client.hpp"

namespace tianshu::service::channels {

using core::Error;
using core::ErrorKind;
using Json = nlohmann::json;

namespace {

//! An upstream answer larger than this is refused: a model list or a balance is small.
constexpr std::size_t kMaxBody = 4u << 20;
//! How long one call may take when the channel sets no timeout of its own.
constexpr std::chrono::milliseconds kDefaultTimeout{15'000};

//! `text` with every copy of `key` (and any 6+ byte prefix of it) replaced by "[key]".
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

std::string base_url_of(const store::Channel& c) {
    if (!c.base_url.empty()) return c.base_url;
    if (auto it = c.config.find("base_url"); it != c.config.end() && it->is_string())
        return it->get<std::string>();
    return {};
}

//! The channel's first enabled key, opened in memory; nullopt when it has none.
core::Result<std::optional<std::string>> first_key(const Env& env, const store::Channel& c) {
    for (const auto& k : c.keys) {
        if (!k.enabled) continue;
        if (!hub::SecretBox::is_sealed(k.sealed_key)) return std::optional(k.sealed_key);
        if (!env.secrets)
            return Error{ErrorKind::unavailable,
                         "channel '" + c.name + "': there is no secret key to open upstream key " +
                             std::to_string(k.id) +
                             ": give the data directory holding secret.key (or "
                             "--secret-key-file)",
                         {}};
        auto opened = env.secrets->open(k.sealed_key, c.name);
        if (!opened)
            return Error{
                opened.error().kind, "channel '" + c.name + "': " + opened.error().message, {}};
        return std::optional(opened.value());
    }
    return std::optional<std::string>();
}

//! GET `url` for channel `c` with `key` (Bearer, or x-api-key for an anthropic channel) and
//! parses the answer as JSON. Every error names the channel and never holds the key.
core::Result<Json> get_json(const store::Channel& c, const std::string& url,
                            const std::optional<std::string>& key, const std::string& what) {
    upstream::HttpRequestSpec spec;
    spec.method = "GET";
    spec.url = url;
    spec.headers.emplace_back("accept", "application/json");
    if (key) {
        if (c.type == "anthropic") {
            spec.headers.emplace_back("x-api-key", *key);
            spec.headers.emplace_back("anthropic-version", "2023-06-01");
        } else if (c.type == "gemini") {
            spec.headers.emplace_back("x-goog-api-key", *key);  // never in the URL
        } else {
            spec.headers.emplace_back("authorization", "Bearer " + *key);
        }
    }
    const auto timeout = c.timeout_ms > 0
                             ? std::min(std::chrono::milliseconds(c.timeout_ms), kDefaultTimeout)
                             : kDefaultTimeout;
    spec.connect_timeout = timeout;
    spec.first_byte_timeout = timeout;
    spec.idle_timeout = timeout;
    spec.proxy = c.proxy;
    if (auto it = c.config.find("ca_file"); it != c.config.end() && it->is_string())
        spec.ca_file = it->get<std::string>();
    spec.channel = c.name;
    std::string body;
    bool too_big = false;
    std::optional<core::Result<upstream::HttpResponseHead>> head;
    {
        // The client's sockets block the thread they run on; a caller on a fiber (the admin
        // API) blocks its carrier while it waits, so it says so.
        core::BlockingRegion waiting;
        std::thread call([&] {
            head = upstream::HttpClientPool::shared().send(
                spec, [&](const upstream::HttpResponseHead&, std::string_view chunk) {
                    if (body.size() + chunk.size() > kMaxBody) {
                        too_big = true;
                        return false;
                    }
                    body.append(chunk);
                    return true;
                });
        });
        call.join();
    }
    const std::string hide = key.value_or("");
    const std::string where = "channel '" + c.name + "': GET " + url + " (" + what + ")";
    if (!head->ok())
        return Error{head->error().kind,
                     without_key(where + " failed: " + head->error().message, hide) +
                         "; check the channel's base URL and proxy (`tianshu channel edit --name " +
                         c.name + " --base-url URL`)",
                     {}};
    const int status = head->value().status;
    if (status < 200 || status > 299) {
        std::string fix = "check the channel's base URL (`tianshu channel edit --name " + c.name +
                          " --base-url URL`)";
        if (status == 401 || status == 403)
            fix = "check the channel's first enabled key (`tianshu channel edit --name " + c.name +
                  " --key-stdin`)";
        std::string snippet = body.substr(0, 300);
        return Error{
            ErrorKind::upstream,
            without_key(where + " answered HTTP " + std::to_string(status) + ": " + snippet, hide) +
                "; " + fix,
            {}};
    }
    if (too_big)
        return Error{ErrorKind::upstream,
                     where + " answered more than 4 MiB: that is not a " + what + " answer",
                     {}};
    Json doc = Json::parse(body, nullptr, false);
    if (doc.is_discarded())
        return Error{ErrorKind::upstream,
                     without_key(where + " did not answer JSON: " + body.substr(0, 200), hide) +
                         "; check the channel's base URL",
                     {}};
    return doc;
}

// ---- exact decimals --------------------------------------------------------------------------

//! Amounts in nano-units: enough digits for every provider's balance, and exact.
using Nanos = std::int64_t;
constexpr int kScale = 9;

//! "110.00", "-0.5", "15" (digits, an optional '.' and up to 9 more digits) as nanos.
std::optional<Nanos> parse_decimal(std::string_view t) {
    bool negative = false;
    if (!t.empty() && t.front() == '-') {
        negative = true;
        t.remove_prefix(1);
    }
    if (t.empty()) return std::nullopt;
    Nanos units = 0;
    std::size_t i = 0;
    for (; i < t.size() && t[i] != '.'; ++i) {
        if (t[i] < '0' || t[i] > '9' || units > 9'000'000'000LL) return std::nullopt;
        units = units * 10 + (t[i] - '0');
    }
    if (i == 0) return std::nullopt;
    Nanos frac = 0;
    int digits = 0;
    if (i < t.size()) {
        ++i;  // the '.'
        if (i == t.size()) return std::nullopt;
        for (; i < t.size(); ++i) {
            if (t[i] < '0' || t[i] > '9') return std::nullopt;
            if (digits == kScale) {
                if (t[i] != '0') return std::nullopt;  // more precision than kept: refuse
                continue;
            }
            frac = frac * 10 + (t[i] - '0');
            ++digits;
        }
    }
    for (; digits < kScale; ++digits) frac *= 10;
    const Nanos v = units * 1'000'000'000LL + frac;
    return negative ? -v : v;
}

//! Nanos as a decimal with at least 2 and at most 9 decimals, no trailing zeros beyond 2.
std::string format_decimal(Nanos v) {
    const bool negative = v < 0;
    const std::uint64_t a =
        negative ? static_cast<std::uint64_t>(-(v + 1)) + 1 : static_cast<std::uint64_t>(v);
    std::string frac = std::to_string(a % 1'000'000'000ULL);
    frac.insert(0, static_cast<std::size_t>(kScale) - frac.size(), '0');
    while (frac.size() > 2 && frac.back() == '0') frac.pop_back();
    return (negative ? "-" : "") + std::to_string(a / 1'000'000'000ULL) + "." + frac;
}

//! A JSON string or number as exact nanos. A number is read from its shortest round-trip
//! text (49.58 stays 49.58). Errors name `field`.
core::Result<Nanos> amount_field(const Json& obj, const std::string& key,
                                 const std::string& field) {
    auto it = obj.is_object() ? obj.find(key) : obj.end();
    if (it == obj.end() || it->is_null())
        return Error{ErrorKind::upstream, "the answer has no '" + field + "'", {}};
    std::string text;
    if (it->is_string())
        text = it->get<std::string>();
    else if (it->is_number())
        text = it->dump();
    else
        return Error{
            ErrorKind::upstream,
            "'" + field + "' is " + std::string(it->type_name()) + ", not a decimal amount",
            {}};
    auto v = parse_decimal(text);
    if (!v)
        return Error{
            ErrorKind::upstream, "'" + field + "' is '" + text + "', not a decimal amount", {}};
    return v.value();
}

std::vector<std::string> served_models(const store::Channel& c) {
    std::vector<std::string> out;
    if (c.models.is_array())
        for (const auto& m : c.models)
            if (m.is_string()) out.push_back(m.get<std::string>());
    return out;
}

const pipeline::ProviderPreset* preset_of(const Env& env, const store::Channel& c) {
    const std::string p = c.provider();
    if (p.empty() || !env.presets) return nullptr;
    return env.presets->find(p);
}

}  // namespace

std::string origin_of(const std::string& url) {
    const auto scheme = url.find("://");
    if (scheme == std::string::npos) return {};
    const auto path = url.find_first_of("/?#", scheme + 3);
    return path == std::string::npos ? url : url.substr(0, path);
}

core::Result<std::vector<BalanceAmount>> parse_balance(const std::string& format, const Json& body,
                                                       std::optional<bool>& available) {
    std::vector<BalanceAmount> out;
    if (format == "deepseek") {
        if (auto it = body.find("is_available"); it != body.end() && it->is_boolean())
            available = it->get<bool>();
        auto infos = body.find("balance_infos");
        if (infos == body.end() || !infos->is_array())
            return Error{ErrorKind::upstream, "the answer has no 'balance_infos' array", {}};
        for (const auto& info : *infos) {
            auto total = amount_field(info, "total_balance", "balance_infos[].total_balance");
            if (!total) return total.take_error();
            const auto cur = info.find("currency");
            out.push_back({cur != info.end() && cur->is_string() ? cur->get<std::string>() : "",
                           format_decimal(total.value())});
        }
        return out;
    }
    const Json empty = Json::object();
    const auto data_it = body.is_object() ? body.find("data") : body.end();
    const Json& data = data_it != body.end() && data_it->is_object() ? *data_it : empty;
    if (format == "moonshot") {
        auto v = amount_field(data, "available_balance", "data.available_balance");
        if (!v) return v.take_error();
        out.push_back({"CNY", format_decimal(v.value())});
    } else if (format == "siliconflow") {
        auto v = amount_field(data, "totalBalance", "data.totalBalance");
        if (!v) return v.take_error();
        out.push_back({"CNY", format_decimal(v.value())});
    } else if (format == "openrouter") {
        auto credits = amount_field(data, "total_credits", "data.total_credits");
        if (!credits) return credits.take_error();
        auto usage = amount_field(data, "total_usage", "data.total_usage");
        if (!usage) return usage.take_error();
        out.push_back({"USD", format_decimal(credits.value() - usage.value())});
    } else {
        return Error{ErrorKind::invalid_request,
                     "balance format '" + format +
                         "' is unknown: use deepseek, moonshot, siliconflow or openrouter",
                     {}};
    }
    return out;
}

core::Result<ModelsReport> models_of(const Env& env, const std::string& name) {
    auto found = named(env.db, name);
    if (!found) return found.take_error();
    const store::Channel& c = found.value();
    const std::string base = base_url_of(c);
    if (base.empty())
        return Error::invalid("channel '" + c.name +
                              "' has no base URL to ask for its models: set one with `tianshu "
                              "channel edit --name " +
                              c.name + " --base-url URL`");
    std::string endpoint = "/models";
    if (const auto* preset = preset_of(env, c); preset && !preset->models_endpoint.empty())
        endpoint = preset->models_endpoint;
    auto key = first_key(env, c);
    if (!key) return key.take_error();
    ModelsReport r;
    r.channel = c.name;
    r.url = (base.ends_with('/') ? base.substr(0, base.size() - 1) : base) + endpoint;
    auto doc = get_json(c, r.url, key.value(), "the model list");
    if (!doc) return doc.take_error();
    // OpenAI and Anthropic: {"data":[{"id"}]}; Gemini: {"models":[{"name":"models/ID"}]}.
    const bool gemini = doc->is_object() && !doc->contains("data") && doc->contains("models");
    const auto data = doc->is_object() ? doc->find(gemini ? "models" : "data") : doc->end();
    if (data == doc->end() || !data->is_array())
        return Error{ErrorKind::upstream,
                     "channel '" + c.name + "': GET " + r.url +
                         " answered without a 'data' array of models: check the base URL (the "
                         "models endpoint is base URL + " +
                         endpoint + ")",
                     {}};
    std::set<std::string> seen;
    for (const auto& m : *data) {
        auto id = m.is_object() ? m.find(gemini ? "name" : "id") : m.end();
        if (id == m.end() || !id->is_string()) continue;
        std::string model = id->get<std::string>();
        if (gemini && model.starts_with("models/")) model.erase(0, 7);
        if (seen.insert(model).second) r.upstream.push_back(model);
    }
    r.served = served_models(c);
    const std::set<std::string> served(r.served.begin(), r.served.end());
    for (const auto& m : r.upstream)
        if (!served.count(m)) r.added.push_back(m);
    for (const auto& m : r.served)
        if (!seen.count(m)) r.gone.push_back(m);
    return r;
}

core::Result<ModelsReport> sync_models(const Env& env, const std::string& name) {
    auto r = models_of(env, name);
    if (!r) return r.take_error();
    if (r->upstream.empty())
        return Error{ErrorKind::upstream,
                     "channel '" + name +
                         "': the upstream lists no models, so syncing would "
                         "leave the channel serving nothing; nothing was changed",
                     {}};
    Edit e;
    e.changes.models = Json(r->upstream);
    auto edited = edit(env, name, e);
    if (!edited) return edited.take_error();
    r->synced = true;
    return r;
}

core::Result<BalanceReport> balance_of(const Env& env, const std::string& name) {
    auto found = named(env.db, name);
    if (!found) return found.take_error();
    const store::Channel& c = found.value();
    BalanceReport r;
    r.channel = c.name;
    r.provider = c.provider();
    const auto* preset = preset_of(env, c);
    if (!preset || !preset->balance.is_object()) {
        r.error = "not offered by the provider";
        return r;
    }
    r.offered = true;
    const std::string path = preset->balance.value("path", "");
    const std::string format = preset->balance.value("format", "");
    const std::string origin = origin_of(base_url_of(c));
    if (origin.empty()) {
        r.error = "channel '" + c.name +
                  "' has no base URL with a scheme and host: set one with "
                  "`tianshu channel edit --name " +
                  c.name + " --base-url URL`";
        return r;
    }
    auto key = first_key(env, c);
    if (!key) {
        r.error = key.error().message;
        return r;
    }
    if (!key.value()) {
        r.error = "channel '" + c.name +
                  "' has no enabled key to ask for the balance: add one "
                  "with `tianshu channel edit --name " +
                  c.name + " --key-stdin`";
        return r;
    }
    const std::string url = origin + path;
    auto doc = get_json(c, url, key.value(), "the balance");
    if (!doc) {
        r.error = doc.error().message;
        return r;
    }
    auto amounts = parse_balance(format, doc.value(), r.available);
    if (!amounts) {
        r.error =
            without_key("channel '" + c.name + "': GET " + url + " answered in a shape " + "the '" +
                            format + "' balance format does not read: " + amounts.error().message,
                        *key.value()) +
            "; check the base URL or the preset's balance.format";
        return r;
    }
    r.balances = std::move(amounts.value());
    r.ok = true;
    return r;
}

core::Result<std::vector<BalanceReport>> balances(const Env& env,
                                                  const std::vector<std::string>& names) {
    std::vector<std::string> chosen = names;
    if (chosen.empty()) {
        auto all = list(env);
        if (!all) return all.take_error();
        for (const auto& c : all.value()) chosen.push_back(c.name);
    }
    std::vector<BalanceReport> out;
    for (const auto& n : chosen) {
        auto r = balance_of(env, n);
        if (!r) return r.take_error();
        out.push_back(std::move(r.value()));
    }
    return out;
}

Json models_report_json(const ModelsReport& r) {
    return Json{{"channel", r.channel}, {"url", r.url},   {"upstream", r.upstream},
                {"served", r.served},   {"new", r.added}, {"gone", r.gone},
                {"synced", r.synced}};
}

Json balance_report_json(const BalanceReport& r) {
    Json balances = Json::array();
    for (const auto& b : r.balances)
        balances.push_back({{"currency", b.currency}, {"amount", b.amount}});
    Json j{
        {"channel", r.channel}, {"provider", r.provider.empty() ? Json(nullptr) : Json(r.provider)},
        {"offered", r.offered}, {"ok", r.ok},
        {"balances", balances}, {"error", r.ok ? Json(nullptr) : Json(r.error)}};
    if (r.available) j["available"] = *r.available;
    return j;
}

}  // namespace tianshu::service::channels
