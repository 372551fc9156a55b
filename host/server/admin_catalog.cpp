// Admin routes for what serves requests and what it costs: channels and their upstream keys,
// tiers, model prices, chains.
#include <algorithm>

#include "hub/money.hpp"
#include "hub/secret_box.hpp"
#include "pipeline/chain.hpp"
#include "server/admin_support.hpp"
#include "store/chains.hpp"
#include "store/channels.hpp"
#include "store/prices.hpp"
#include "store/tiers.hpp"
#include "upstream/channel_router.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

namespace {

// ---- channels ------------------------------------------------------------------------------

//! A proxy URL with its password replaced by "***": proxies often carry credentials.
std::string redacted_proxy(const std::string& proxy) {
    auto scheme = proxy.find("://");
    auto at = proxy.find('@', scheme == std::string::npos ? 0 : scheme + 3);
    if (scheme == std::string::npos || at == std::string::npos) return proxy;
    auto colon = proxy.find(':', scheme + 3);
    if (colon == std::string::npos || colon > at) return proxy;
    return proxy.substr(0, colon + 1) + "***" + proxy.substr(at);
}

Json channel_key_json(const store::ChannelKey& k) {
    // Never the key, sealed or not: the sealed text is useless without the secret file, but
    // an API that never returns it cannot leak it.
    return Json{{"id", k.id},
                {"enabled", k.enabled},
                {"disabled_reason", k.disabled_reason},
                {"disabled_at", k.disabled_at ? Json(*k.disabled_at) : Json(nullptr)},
                {"created_at", k.created_at}};
}

Json channel_json(const store::Channel& c) {
    Json config = c.config;
    // Reads fill config.api_key with the first sealed key for older callers: not for us.
    if (config.is_object()) config.erase("api_key");
    Json keys = Json::array();
    for (const auto& k : c.keys) keys.push_back(channel_key_json(k));
    return Json{{"id", c.id},
                {"name", c.name},
                {"type", c.type},
                {"base_url", c.base_url},
                {"models", c.models},
                {"model_map", c.model_map},
                {"config", config},
                {"enabled", c.enabled},
                {"priority", c.priority},
                {"weight", c.weight},
                {"proxy", redacted_proxy(c.proxy)},
                {"timeout_ms", c.timeout_ms},
                {"tags", c.tags},
                {"keys", keys},
                {"created_at", c.created_at},
                {"updated_at", c.updated_at}};
}

core::Result<store::Channel> channel_named(store::Database& db, const std::string& name) {
    auto channel = store::channels::find_by_name(db, name);
    if (!channel) return channel.take_error();
    if (!channel.value())
        return not_found("there is no channel named '" + name +
                         "': GET /admin/api/channels lists the names");
    return *channel.value();
}

const hub::SecretBox* need_secrets(const Context& ctx, core::Result<void>& problem) {
    if (!ctx.secrets)
        problem = Error{ErrorKind::unavailable,
                        "this server has no secret file, so upstream keys cannot be sealed: "
                        "start it with a data directory holding secret.key",
                        {}};
    return ctx.secrets;
}

//! The fields of a channel body that POST and PATCH share, applied to `changes`.
core::Result<void> read_channel_fields(const Json& body, store::ChannelChanges& changes) {
    auto type = string_field(body, "type");
    if (!type) return type.take_error();
    // "openai" is the short name operators use for any OpenAI-compatible upstream.
    if (type.value()) changes.type = *type.value() == "openai" ? "openai_compat" : *type.value();
    auto base_url = string_field(body, "base_url");
    if (!base_url) return base_url.take_error();
    changes.base_url = base_url.value();
    auto models = string_list_field(body, "models");
    if (!models) return models.take_error();
    if (models.value()) changes.models = Json(*models.value());
    if (auto it = body.find("model_map"); it != body.end() && !it->is_null()) {
        if (!it->is_object())
            return Error::invalid(
                "field 'model_map' must be an object of pattern -> upstream "
                "model, e.g. {\"gpt-4-turbo-*\": \"gpt-4\"}");
        for (const auto& [pattern, target] : it->items()) {
            if (!target.is_string())
                return Error::invalid("field 'model_map." + pattern +
                                      "' must be a string: the upstream model name");
            auto mapping = upstream::parse_model_mapping(pattern + "=" + target.get<std::string>());
            if (!mapping) return Error::invalid("field 'model_map': " + mapping.error().message);
        }
        changes.model_map = *it;
    }
    if (auto it = body.find("config"); it != body.end() && !it->is_null()) {
        if (!it->is_object())
            return Error::invalid("field 'config' must be a JSON object: the adapter's settings");
        if (it->contains("api_key"))
            return Error::invalid(
                "field 'config.api_key' is not accepted: upstream keys are "
                "sealed at rest, send them in 'keys' (POST /channels) or with "
                "POST /channels/{name}/keys");
        changes.config = *it;
    }
    auto enabled = bool_field(body, "enabled");
    if (!enabled) return enabled.take_error();
    changes.enabled = enabled.value();
    auto priority = integer_field(body, "priority", -1'000'000, 1'000'000);
    if (!priority) return priority.take_error();
    if (priority.value()) changes.priority = static_cast<int>(*priority.value());
    auto weight = integer_field(body, "weight", 1, 1'000'000);
    if (!weight) return weight.take_error();
    if (weight.value()) changes.weight = static_cast<int>(*weight.value());
    auto proxy = string_field(body, "proxy");
    if (!proxy) return proxy.take_error();
    changes.proxy = proxy.value();
    auto timeout = integer_field(body, "timeout_ms", 0, 3'600'000);
    if (!timeout) return timeout.take_error();
    if (timeout.value()) changes.timeout_ms = static_cast<int>(*timeout.value());
    auto tags = string_list_field(body, "tags");
    if (!tags) return tags.take_error();
    changes.tags = tags.value();
    return {};
}

//! Refuses now what the server could only leave out later: no model to serve, an unknown
//! adapter type or a config its schema rejects (the same check as `tianshu channel add`).
core::Result<void> check_channel(const Context& ctx, const store::Channel& c,
                                 const std::optional<std::string>& first_key) {
    if (c.models.empty() && c.model_map.empty())
        return Error::invalid("channel '" + c.name +
                              "' needs 'models' or a 'model_map' entry, or no request can "
                              "reach it");
    if (!ctx.options.plugins)
        return Error{ErrorKind::unavailable,
                     "this server has no plugin catalog to check the channel's 'type' and "
                     "'config' against: use `tianshu channel add`, or start the admin API from "
                     "`tianshu serve`",
                     {}};
    Json config = c.config.is_object() ? c.config : Json::object();
    config.erase("api_key");
    upstream::ChannelSpec probe{c.name, c.type, {}, {}, config, true};
    if (!c.base_url.empty()) probe.config["base_url"] = c.base_url;
    if (first_key) probe.config["api_key"] = *first_key;
    std::vector<Error> problems;
    (void)upstream::ChannelRouter::build({probe}, ctx.options.plugins, &problems);
    if (!problems.empty()) return Error::invalid(problems.front().message);
    return {};
}

Outcome create_channel(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(
            body.value(), {"name", "type", "base_url", "models", "model_map", "config", "enabled",
                           "priority", "weight", "proxy", "timeout_ms", "tags", "keys"});
        !ok)
        return ok.take_error();
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    if (auto type = required_string(body.value(), "type"); !type) return type.take_error();
    store::ChannelChanges fields;
    if (auto ok = read_channel_fields(body.value(), fields); !ok) return ok.take_error();
    store::Channel c;
    c.name = name.value();
    store::channels::apply(fields, c);
    auto keys = string_list_field(body.value(), "keys");
    if (!keys) return keys.take_error();
    std::vector<std::string> plain = keys.value().value_or(std::vector<std::string>{});
    for (std::size_t i = 0; i < plain.size(); ++i)
        if (plain[i].empty())
            return Error::invalid("field 'keys[" + std::to_string(i) +
                                  "]' is empty: send the upstream API key");
    if (auto ok = check_channel(
            ctx, c, plain.empty() ? std::nullopt : std::optional<std::string>(plain[0]));
        !ok)
        return ok.take_error();
    if (!plain.empty()) {
        core::Result<void> problem;
        const hub::SecretBox* box = need_secrets(ctx, problem);
        if (!box) return problem.take_error();
        for (const auto& k : plain) {
            store::ChannelKey sealed;
            sealed.sealed_key = box->seal(k, c.name);
            c.keys.push_back(sealed);
        }
    }
    auto made = store::channels::create(ctx.db, c);
    if (!made) return made.take_error();
    return Reply{201, channel_json(made.value())};
}

//! Renaming a channel re-seals its keys for the new name (they are bound to it): the
//! plaintext of each key, opened under the old name, in id order.
core::Result<std::vector<std::string>> open_keys(const Context& ctx, const store::Channel& c) {
    std::vector<std::string> plain;
    if (c.keys.empty()) return plain;
    core::Result<void> problem;
    const hub::SecretBox* box = need_secrets(ctx, problem);
    if (!box) return problem.take_error();
    for (const auto& k : c.keys) {
        auto opened = box->open(k.sealed_key, c.name);
        if (!opened) return opened.take_error();
        plain.push_back(std::move(opened).value());
    }
    return plain;
}

Outcome update_channel(Context& ctx, const std::string& name) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(
            body.value(), {"name", "type", "base_url", "models", "model_map", "config", "enabled",
                           "priority", "weight", "proxy", "timeout_ms", "tags"});
        !ok)
        return ok.take_error();
    auto existing = channel_named(ctx.db, name);
    if (!existing) return existing.take_error();
    store::ChannelChanges changes;
    auto new_name = string_field(body.value(), "name");
    if (!new_name) return new_name.take_error();
    if (new_name.value() && new_name.value()->empty())
        return Error::invalid("field 'name' is empty: send the channel's new name");
    if (new_name.value() && *new_name.value() != name) changes.name = new_name.value();
    if (auto ok = read_channel_fields(body.value(), changes); !ok) return ok.take_error();
    const bool renamed = changes.name.has_value();
    // Only what decides whether the channel can serve is checked again: toggling 'enabled'
    // or changing 'tags' needs no plugin catalog.
    const bool recheck =
        changes.type || changes.base_url || changes.config || changes.models || changes.model_map;
    std::vector<std::string> plain;
    if (renamed || (recheck && ctx.secrets)) {
        auto opened = open_keys(ctx, existing.value());
        if (!opened) return opened.take_error();
        plain = std::move(opened).value();
    }
    store::Channel merged = existing.value();
    store::channels::apply(changes, merged);
    if (recheck) {
        auto first = plain.empty() ? std::nullopt : std::optional<std::string>(plain[0]);
        if (auto ok = check_channel(ctx, merged, first); !ok) return ok.take_error();
    }
    auto updated = store::channels::update(ctx.db, name, changes);
    if (!updated) return updated.take_error();
    if (renamed) {
        // Seal each key for the new name, then drop the old row: a failure part way leaves
        // every key present under at least one usable sealing.
        for (std::size_t i = 0; i < plain.size(); ++i) {
            const store::ChannelKey& old = existing.value().keys[i];
            auto added = store::channels::add_key(ctx.db, merged.name,
                                                  ctx.secrets->seal(plain[i], merged.name));
            if (!added) return added.take_error();
            if (!old.enabled) {
                auto off =
                    store::channels::set_key_enabled(ctx.db, added->id, false, old.disabled_reason);
                if (!off) return off.take_error();
            }
            auto removed = store::channels::remove_key(ctx.db, old.id);
            if (!removed) return removed.take_error();
        }
    }
    auto fresh = channel_named(ctx.db, merged.name);
    if (!fresh) return fresh.take_error();
    return Reply{200, channel_json(fresh.value())};
}

Outcome add_channel_key(Context& ctx, const std::string& name) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"key"}); !ok) return ok.take_error();
    auto key = required_string(body.value(), "key");
    if (!key) return key.take_error();
    core::Result<void> problem;
    const hub::SecretBox* box = need_secrets(ctx, problem);
    if (!box) return problem.take_error();
    auto channel = channel_named(ctx.db, name);
    if (!channel) return channel.take_error();
    auto added = store::channels::add_key(ctx.db, name, box->seal(key.value(), name));
    if (!added) return added.take_error();
    return Reply{201, channel_key_json(added.value())};
}

Outcome remove_channel_key(Context& ctx, const std::string& name, const std::string& id_text) {
    auto channel = channel_named(ctx.db, name);
    if (!channel) return channel.take_error();
    long long id = -1;
    try {
        id = std::stoll(id_text);
    } catch (const std::exception&) {
    }
    bool found = false;
    for (const auto& k : channel->keys) found = found || k.id == id;
    if (!found)
        return not_found("channel '" + name + "' has no upstream key with id '" + id_text +
                         "': GET /admin/api/channels/" + name + " lists its key ids");
    auto removed = store::channels::remove_key(ctx.db, id);
    if (!removed) return removed.take_error();
    return Reply{204, nullptr};
}

std::optional<Outcome> route_channels(Context& ctx) {
    const auto& s = ctx.segments;
    const std::string& m = ctx.call.method;
    if (s.size() == 1) {
        if (m == "GET") {
            return list_reply(
                ctx.call, [&] { return store::channels::list(ctx.db); }, true,
                [](const store::Channel& c) { return std::to_string(c.id); }, channel_json);
        }
        if (m == "POST") return create_channel(ctx);
        return Outcome(method_not_allowed(ctx.call, "GET or POST"));
    }
    const std::string& name = s[1];
    if (s.size() == 2) {
        if (m == "GET") {
            auto c = channel_named(ctx.db, name);
            if (!c) return Outcome(c.take_error());
            return Outcome(Reply{200, channel_json(c.value())});
        }
        if (m == "PATCH") return update_channel(ctx, name);
        if (m == "DELETE") {
            auto removed = store::channels::remove(ctx.db, name);
            if (!removed) return Outcome(removed.take_error());
            return Outcome(Reply{204, nullptr});
        }
        return Outcome(method_not_allowed(ctx.call, "GET, PATCH or DELETE"));
    }
    if (s.size() == 3 && (s[2] == "enable" || s[2] == "disable")) {
        if (m != "POST") return Outcome(method_not_allowed(ctx.call, "POST"));
        auto done = store::channels::set_enabled(ctx.db, name, s[2] == "enable");
        if (!done) return Outcome(done.take_error());
        auto c = channel_named(ctx.db, name);
        if (!c) return Outcome(c.take_error());
        return Outcome(Reply{200, channel_json(c.value())});
    }
    if (s.size() == 3 && s[2] == "keys") {
        if (m != "POST") return Outcome(method_not_allowed(ctx.call, "POST"));
        return add_channel_key(ctx, name);
    }
    if (s.size() == 4 && s[2] == "keys") {
        if (m != "DELETE") return Outcome(method_not_allowed(ctx.call, "DELETE"));
        return remove_channel_key(ctx, name, s[3]);
    }
    return std::nullopt;
}

// ---- tiers ---------------------------------------------------------------------------------

Json tier_json(const store::Tier& t) {
    // A ratio has six decimals like money: 1.000000 is the list price.
    return Json{{"name", t.name},
                {"price_ratio", hub::format_money(t.price_ratio_ppm)},
                {"description", t.description},
                {"created_at", t.created_at}};
}

core::Result<std::optional<long long>> ratio_field(const Json& body) {
    auto it = body.find("price_ratio");
    if (it == body.end() || it->is_null()) return std::optional<long long>();
    if (!it->is_string())
        return Error::invalid(
            "field 'price_ratio' must be a decimal string such as \"0.8\" "
            "(20% off) or \"1\" (list price)");
    auto ppm =
        hub::parse_money(it->get<std::string>(), hub::MoneySign::non_negative, "price_ratio");
    if (!ppm) return ppm.take_error();
    return std::optional<long long>(ppm.value());
}

core::Result<store::Tier> tier_named(store::Database& db, const std::string& name) {
    auto tier = store::tiers::find(db, name);
    if (!tier) return tier.take_error();
    if (!tier.value())
        return not_found("there is no tier named '" + name +
                         "': GET /admin/api/tiers lists the names");
    return *tier.value();
}

std::optional<Outcome> route_tiers(Context& ctx) {
    const auto& s = ctx.segments;
    const std::string& m = ctx.call.method;
    if (s.size() == 1) {
        if (m == "GET") {
            return list_reply(
                ctx.call, [&] { return store::tiers::list(ctx.db); }, false,
                [](const store::Tier& t) { return t.name; }, tier_json);
        }
        if (m != "POST") return Outcome(method_not_allowed(ctx.call, "GET or POST"));
        auto body = object_body(ctx.call);
        if (!body) return Outcome(body.take_error());
        if (auto ok = only_fields(body.value(), {"name", "price_ratio", "description"}); !ok)
            return Outcome(ok.take_error());
        store::Tier tier;
        auto name = required_string(body.value(), "name");
        if (!name) return Outcome(name.take_error());
        tier.name = name.value();
        auto ratio = ratio_field(body.value());
        if (!ratio) return Outcome(ratio.take_error());
        tier.price_ratio_ppm = ratio.value().value_or(store::ppm_one);
        auto description = string_field(body.value(), "description");
        if (!description) return Outcome(description.take_error());
        tier.description = description.value().value_or("");
        auto made = store::tiers::create(ctx.db, tier);
        if (!made) return Outcome(made.take_error());
        return Outcome(Reply{201, tier_json(made.value())});
    }
    if (s.size() != 2) return std::nullopt;
    if (m == "GET") {
        auto tier = tier_named(ctx.db, s[1]);
        if (!tier) return Outcome(tier.take_error());
        return Outcome(Reply{200, tier_json(tier.value())});
    }
    if (m == "PATCH") {
        auto body = object_body(ctx.call);
        if (!body) return Outcome(body.take_error());
        if (auto ok = only_fields(body.value(), {"price_ratio"}); !ok)
            return Outcome(ok.take_error());
        auto ratio = ratio_field(body.value());
        if (!ratio) return Outcome(ratio.take_error());
        if (!ratio.value())
            return Outcome(
                Error::invalid("field 'price_ratio' is required: send the new ratio "
                               "as a decimal string, e.g. \"0.8\""));
        auto done = store::tiers::set_ratio(ctx.db, s[1], *ratio.value());
        if (!done) return Outcome(done.take_error());
        auto tier = tier_named(ctx.db, s[1]);
        if (!tier) return Outcome(tier.take_error());
        return Outcome(Reply{200, tier_json(tier.value())});
    }
    if (m == "DELETE") {
        auto removed = store::tiers::remove(ctx.db, s[1]);
        if (!removed) return Outcome(removed.take_error());
        return Outcome(Reply{204, nullptr});
    }
    return Outcome(method_not_allowed(ctx.call, "GET, PATCH or DELETE"));
}

// ---- prices --------------------------------------------------------------------------------

const std::vector<std::string_view> kPriceFields = {"input_per_m",      "output_per_m",
                                                    "cache_read_per_m", "cache_write_per_m",
                                                    "reasoning_per_m",  "per_call"};

Json price_json(const store::Price& p) {
    return Json{{"model", p.model},
                {"input_per_m", money(p.input_per_m)},
                {"output_per_m", money(p.output_per_m)},
                {"cache_read_per_m", money(p.cache_read_per_m)},
                {"cache_write_per_m", money(p.cache_write_per_m)},
                {"reasoning_per_m", money(p.reasoning_per_m)},
                {"per_call", money(p.per_call)},
                {"updated_at", p.updated_at}};
}

Outcome put_price(Context& ctx, const std::string& model) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), kPriceFields); !ok) return ok.take_error();
    store::Price price;
    price.model = model;
    long long* slots[] = {&price.input_per_m,       &price.output_per_m,    &price.cache_read_per_m,
                          &price.cache_write_per_m, &price.reasoning_per_m, &price.per_call};
    std::size_t i = 0;
    // PUT replaces the whole price: a field left out is free (0).
    for (std::string_view field : kPriceFields) {
        auto amount = money_field(body.value(), field);
        if (!amount) return amount.take_error();
        *slots[i++] = amount.value().value_or(0);
    }
    auto saved = store::prices::upsert(ctx.db, price);
    if (!saved) return saved.take_error();
    return Reply{200, price_json(saved.value())};
}

std::optional<Outcome> route_prices(Context& ctx) {
    const std::string& m = ctx.call.method;
    if (ctx.segments.size() == 1) {
        if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET"));
        return list_reply(
            ctx.call, [&] { return store::prices::list(ctx.db); }, false,
            [](const store::Price& p) { return p.model; }, price_json);
    }
    const std::string model = rest_of_path(ctx, 1);
    if (m == "PUT") return put_price(ctx, model);
    if (m == "DELETE") {
        auto removed = store::prices::remove(ctx.db, model);
        if (!removed) return Outcome(removed.take_error());
        return Outcome(Reply{204, nullptr});
    }
    if (m != "GET") return Outcome(method_not_allowed(ctx.call, "GET, PUT or DELETE"));
    auto list = store::prices::list(ctx.db);
    if (!list) return Outcome(list.take_error());
    for (const auto& p : list.value())
        if (p.model == model) return Outcome(Reply{200, price_json(p)});
    return Outcome(not_found("model '" + model +
                             "' has no price: set one with PUT "
                             "/admin/api/prices/" +
                             model));
}

}  // namespace

std::optional<Outcome> route_catalog(Context& ctx) {
    const std::string& first = ctx.segments.front();
    if (first == "channels") return route_channels(ctx);
    if (first == "tiers") return route_tiers(ctx);
    if (first == "prices") return route_prices(ctx);
    if (first == "chains" || first == "plugins") return route_chains(ctx);
    return std::nullopt;
}

}  // namespace tianshu::server::admin
