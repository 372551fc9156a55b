// Admin routes for what serves requests and what it costs: channels and their upstream keys,
// tiers, model prices, chains. Each route reads its input, calls its service operation
// (host/service) and formats the answer; the rules live in the service.
#include <algorithm>

#include "hub/money.hpp"
#include "pipeline/chain.hpp"
#include "server/admin_routes.hpp"
#include "server/admin_support.hpp"
#include "service/billing.hpp"
#include "service/channel_probe.hpp"
#include "service/channel_upstream.hpp"
#include "service/channels.hpp"
#include "store/chains.hpp"
#include "upstream/channel_router.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

namespace {

// ---- channels ------------------------------------------------------------------------------

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

Outcome create_channel(Context& ctx) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"name", "type", "base_url", "models", "model_map",
                                             "config", "enabled", "priority", "weight", "proxy",
                                             "timeout_ms", "tags", "keys", "provider"});
        !ok)
        return ok.take_error();
    auto name = required_string(body.value(), "name");
    if (!name) return name.take_error();
    auto provider = string_field(body.value(), "provider");
    if (!provider) return provider.take_error();
    const bool from_preset = provider.value() && !provider.value()->empty();
    if (!from_preset)
        if (auto type = required_string(body.value(), "type"); !type)
            return Error::invalid(type.error().message +
                                  " (or send 'provider' to take it from a provider preset)");
    store::ChannelChanges fields;
    if (auto ok = read_channel_fields(body.value(), fields); !ok) return ok.take_error();
    store::Channel c;
    c.name = name.value();
    store::channels::apply(fields, c);
    if (from_preset)
        if (auto ok =
                service::channels::apply_preset(ctx.options.presets.get(), *provider.value(), c);
            !ok)
            return ok.take_error();
    auto keys = string_list_field(body.value(), "keys");
    if (!keys) return keys.take_error();
    std::vector<std::string> plain = keys.value().value_or(std::vector<std::string>{});
    for (std::size_t i = 0; i < plain.size(); ++i)
        if (plain[i].empty())
            return Error::invalid("field 'keys[" + std::to_string(i) +
                                  "]' is empty: send the upstream API key");
    auto made = service::channels::create(service_env(ctx), c, plain);
    if (!made) return made.take_error();
    return Reply{201, service::channels::channel_json(made.value())};
}

Outcome update_channel(Context& ctx, const std::string& name) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(
            body.value(), {"name", "type", "base_url", "models", "model_map", "config", "enabled",
                           "priority", "weight", "proxy", "timeout_ms", "tags"});
        !ok)
        return ok.take_error();
    service::channels::Edit edit;
    auto new_name = string_field(body.value(), "name");
    if (!new_name) return new_name.take_error();
    if (new_name.value() && new_name.value()->empty())
        return Error::invalid("field 'name' is empty: send the channel's new name");
    if (new_name.value() && *new_name.value() != name) edit.changes.name = new_name.value();
    if (auto ok = read_channel_fields(body.value(), edit.changes); !ok) return ok.take_error();
    const service::Env env = service_env(ctx);
    if (!service::channels::has_any(edit)) {
        // An empty PATCH changes nothing and answers the channel as it is.
        auto c = service::channels::named(ctx.db, name);
        if (!c) return c.take_error();
        return Reply{200, service::channels::channel_json(c.value())};
    }
    auto updated = service::channels::edit(env, name, edit);
    if (!updated) return updated.take_error();
    return Reply{200, service::channels::channel_json(updated.value())};
}

Outcome add_channel_key(Context& ctx, const std::string& name) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    if (auto ok = only_fields(body.value(), {"key"}); !ok) return ok.take_error();
    auto key = required_string(body.value(), "key");
    if (!key) return key.take_error();
    auto added = service::channels::add_key(service_env(ctx), name, key.value());
    if (!added) return added.take_error();
    return Reply{201, service::channels::channel_key_json(added.value())};
}

//! A path segment that must be a whole number (an id); the error names what it should be.
core::Result<long long> id_segment(const std::string& text, const std::string& what) {
    try {
        std::size_t used = 0;
        long long id = std::stoll(text, &used);
        if (used == text.size() && id > 0) return id;
    } catch (const std::exception&) {
    }
    return not_found("'" + text + "' is not " + what + " id: ids are whole numbers");
}

//! channels.test: POST /channels/test {"channels"?: [names]} (empty body: every channel) and
//! POST /channels/{name}/test. Answers {"results": [...], "ok": n, "failed": n}; a result
//! never holds a key.
Outcome test_channels(Context& ctx) {
    service::channels::TestOptions options;
    if (ctx.segments.size() == 3) {
        options.names = {ctx.segments[1]};
    } else if (!ctx.call.body.empty()) {
        auto body = object_body(ctx.call);
        if (!body) return body.take_error();
        if (auto ok = only_fields(body.value(), {"channels"}); !ok) return ok.take_error();
        auto names = string_list_field(body.value(), "channels");
        if (!names) return names.take_error();
        if (names.value()) options.names = *names.value();
    }
    auto results = service::channels::test(service_env(ctx), options);
    if (!results) return results.take_error();
    Json rows = Json::array();
    long long ok = 0;
    for (const auto& r : results.value()) {
        ok += r.ok ? 1 : 0;
        rows.push_back(service::channels::probe_result_json(r));
    }
    const long long failed = static_cast<long long>(results->size()) - ok;
    return Reply{200, Json{{"results", rows}, {"ok", ok}, {"failed", failed}}};
}

Outcome channel_route(Context& ctx, std::string_view op) {
    const auto& s = ctx.segments;
    const service::Env env = service_env(ctx);
    using service::channels::channel_json;
    if (op == "channels.list")
        return list_reply(
            ctx.call, [&] { return service::channels::list(env); }, true,
            [](const store::Channel& c) { return std::to_string(c.id); }, channel_json);
    if (op == "channels.create") return create_channel(ctx);
    if (op == "channels.test") return test_channels(ctx);
    const std::string& name = s[1];
    if (op == "channels.models" || op == "channels.sync_models") {
        auto r = op == "channels.models" ? service::channels::models_of(env, name)
                                         : service::channels::sync_models(env, name);
        if (!r) return r.take_error();
        return Reply{200, service::channels::models_report_json(r.value())};
    }
    if (op == "channels.balance") {
        auto r = service::channels::balance_of(env, name);
        if (!r) return r.take_error();
        return Reply{200, service::channels::balance_report_json(r.value())};
    }
    if (op == "channels.get") {
        auto c = service::channels::named(ctx.db, name);
        if (!c) return c.take_error();
        return Reply{200, channel_json(c.value())};
    }
    if (op == "channels.edit") return update_channel(ctx, name);
    if (op == "channels.remove") {
        auto removed = service::channels::remove(env, name);
        if (!removed) return removed.take_error();
        return Reply{204, nullptr};
    }
    if (op == "channels.set_enabled") {
        auto c = service::channels::set_enabled(env, name, s[2] == "enable");
        if (!c) return c.take_error();
        return Reply{200, channel_json(c.value())};
    }
    if (op == "channels.add_key") return add_channel_key(ctx, name);
    // channels.remove_key
    auto id = id_segment(s[3], "an upstream key");
    if (!id) return id.take_error();
    auto removed = service::channels::remove_key(env, name, id.value());
    if (!removed) return removed.take_error();
    return Reply{204, nullptr};
}

// ---- tiers ---------------------------------------------------------------------------------

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

Outcome tier_route(Context& ctx, std::string_view op) {
    const service::Env env = service_env(ctx);
    using service::tiers::tier_json;
    if (op == "tiers.list")
        return list_reply(
            ctx.call, [&] { return service::tiers::list(env); }, false,
            [](const store::Tier& t) { return t.name; }, tier_json);
    if (op == "tiers.create") {
        auto body = object_body(ctx.call);
        if (!body) return body.take_error();
        if (auto ok = only_fields(body.value(), {"name", "price_ratio", "description"}); !ok)
            return ok.take_error();
        store::Tier tier;
        auto name = required_string(body.value(), "name");
        if (!name) return name.take_error();
        tier.name = name.value();
        auto ratio = ratio_field(body.value());
        if (!ratio) return ratio.take_error();
        tier.price_ratio_ppm = ratio.value().value_or(store::ppm_one);
        auto description = string_field(body.value(), "description");
        if (!description) return description.take_error();
        tier.description = description.value().value_or("");
        auto made = service::tiers::create(env, tier);
        if (!made) return made.take_error();
        return Reply{201, tier_json(made.value())};
    }
    const std::string& name = ctx.segments[1];
    if (op == "tiers.get") {
        auto tier = service::tiers::named(ctx.db, name);
        if (!tier) return tier.take_error();
        return Reply{200, tier_json(tier.value())};
    }
    if (op == "tiers.set_ratio") {
        auto body = object_body(ctx.call);
        if (!body) return body.take_error();
        if (auto ok = only_fields(body.value(), {"price_ratio"}); !ok) return ok.take_error();
        auto ratio = ratio_field(body.value());
        if (!ratio) return ratio.take_error();
        if (!ratio.value())
            return Error::invalid(
                "field 'price_ratio' is required: send the new ratio "
                "as a decimal string, e.g. \"0.8\"");
        auto tier = service::tiers::set_ratio(env, name, *ratio.value());
        if (!tier) return tier.take_error();
        return Reply{200, tier_json(tier.value())};
    }
    // tiers.remove
    auto removed = service::tiers::remove(env, name);
    if (!removed) return removed.take_error();
    return Reply{204, nullptr};
}

// ---- prices --------------------------------------------------------------------------------

Outcome put_price(Context& ctx, const std::string& model) {
    auto body = object_body(ctx.call);
    if (!body) return body.take_error();
    const std::vector<std::string_view> fields = {"input_per_m",      "output_per_m",
                                                  "cache_read_per_m", "cache_write_per_m",
                                                  "reasoning_per_m",  "per_call"};
    if (auto ok = only_fields(body.value(), fields); !ok) return ok.take_error();
    service::prices::Change change;
    std::optional<long long>* slots[] = {&change.input_per_m,      &change.output_per_m,
                                         &change.cache_read_per_m, &change.cache_write_per_m,
                                         &change.reasoning_per_m,  &change.per_call};
    std::size_t i = 0;
    for (std::string_view field : fields) {
        auto amount = money_field(body.value(), field);
        if (!amount) return amount.take_error();
        *slots[i++] = amount.value();
    }
    // PUT replaces the whole price: a field left out is free (0).
    auto saved = service::prices::set(service_env(ctx), model, change, true);
    if (!saved) return saved.take_error();
    return Reply{200, service::prices::price_json(saved.value())};
}

Outcome price_route(Context& ctx, std::string_view op) {
    const service::Env env = service_env(ctx);
    using service::prices::price_json;
    if (op == "prices.list")
        return list_reply(
            ctx.call, [&] { return service::prices::list(env); }, false,
            [](const store::Price& p) { return p.model; }, price_json);
    const std::string model = rest_of_path(ctx, 1);
    if (op == "prices.set") return put_price(ctx, model);
    if (op == "prices.remove") {
        auto removed = service::prices::remove(env, model);
        if (!removed) return removed.take_error();
        return Reply{204, nullptr};
    }
    auto list = service::prices::list(env);
    if (!list) return list.take_error();
    for (const auto& p : list.value())
        if (p.model == model) return Reply{200, price_json(p)};
    return not_found("model '" + model + "' has no price: set one with PUT /admin/api/prices/" +
                     model);
}

}  // namespace

std::optional<Outcome> route_catalog(Context& ctx) {
    const std::string& first = ctx.segments.front();
    if (first == "chains" || first == "plugins") return route_chains(ctx);
    if (first != "channels" && first != "tiers" && first != "prices" && first != "providers")
        return std::nullopt;
    const Route* route = nullptr;
    if (auto refused = unrouted(ctx, route)) return refused;
    if (!route) return std::nullopt;
    if (first == "channels") return channel_route(ctx, route->operation);
    if (first == "providers")
        return Reply{
            200, Json{{"providers", service::channels::presets_json(ctx.options.presets.get())}}};
    if (first == "tiers") return tier_route(ctx, route->operation);
    return price_route(ctx, route->operation);
}

}  // namespace tianshu::server::admin
