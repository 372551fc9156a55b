#include "pipeline/chain.hpp"

#include <algorithm>

#include "core/glob.hpp"

namespace tianshu::pipeline {

using core::Error;
using core::Json;

namespace {
constexpr std::string_view kChainSchemaText =
#include "chain_schema_text.inc"
    ;

void check_stages(const Json& body, const char* list, const PluginLookup& plugins,
                  std::vector<SchemaProblem>& problems) {
    if (!body.contains(list) || !body[list].is_array()) return;
    const auto& stages = body[list];
    for (size_t i = 0; i < stages.size(); ++i) {
        const auto& stage = stages[i];
        if (!stage.is_object() || !stage.contains("plugin") || !stage["plugin"].is_string())
            continue;
        const std::string base = std::string("/") + list + "/" + std::to_string(i);
        const std::string name = stage["plugin"].get<std::string>();
        auto factory = plugins(name);
        if (!factory) {
            problems.push_back(
                {base + "/plugin", "unknown plugin '" + name +
                                       "': load it into the plugins or scripts directory, or "
                                       "use one listed by `tianshu plugins list`"});
            continue;
        }
        const auto& info = factory->info();
        if (info.kind != plugin::PluginKind::strategy) {
            problems.push_back(
                {base + "/plugin", "plugin '" + name + "' is a " +
                                       std::string(plugin::to_string(info.kind)) +
                                       ", not a strategy: models are chosen by routing and "
                                       "channels, not listed as stages"});
            continue;
        }
        Json config = stage.contains("config") ? stage["config"] : Json::object();
        if (!info.config_schema.empty()) {
            auto schema = JsonSchema::compile_text(info.config_schema);
            if (!schema) {
                problems.push_back(SchemaProblem{
                    base + "/plugin",
                    "plugin '" + name + "' declares a config schema that is not valid (" +
                        schema.error().message + "): report this to the plugin's author"});
                continue;
            }
            for (auto& p : schema.value()->validate(config, base + "/config")) {
                p.reason += " (config of plugin '" + name + "')";
                problems.push_back(std::move(p));
            }
        }
    }
}

std::vector<std::string> string_list(const Json& body, const char* key) {
    std::vector<std::string> out;
    if (body.contains(key))
        for (const auto& v : body[key]) out.push_back(v.get<std::string>());
    return out;
}

std::vector<StageSpec> stage_list(const Json& body, const char* key) {
    std::vector<StageSpec> out;
    if (!body.contains(key)) return out;
    for (const auto& s : body[key]) {
        StageSpec spec;
        spec.plugin = s["plugin"].get<std::string>();
        if (s.contains("config")) spec.config = s["config"];
        if (s.contains("on_error"))
            spec.on_error = s["on_error"] == "continue" ? OnError::continue_ : OnError::fail;
        if (s.contains("deadline_ms"))
            spec.deadline = std::chrono::milliseconds(s["deadline_ms"].get<int64_t>());
        out.push_back(std::move(spec));
    }
    return out;
}
}  // namespace

const JsonSchema& chain_schema() {
    static const std::shared_ptr<const JsonSchema> schema = [] {
        auto compiled = JsonSchema::compile_text(kChainSchemaText);
        if (!compiled)
            throw std::logic_error("embedded chain schema does not compile: " +
                                   compiled.error().message);
        return compiled.value();
    }();
    return *schema;
}

std::vector<SchemaProblem> validate_chain(const Json& body, const PluginLookup& plugins) {
    auto problems = chain_schema().validate(body);
    if (body.is_object()) {
        check_stages(body, "pre", plugins, problems);
        check_stages(body, "post", plugins, problems);
        if (body.contains("routing") && body["routing"].is_object() &&
            body["routing"].value("mode", "") == "managed" && !body["routing"].contains("model") &&
            !(body.contains("pre") && body["pre"].is_array() && !body["pre"].empty()))
            problems.push_back({"/routing/model",
                                "managed routing needs a default model (routing.model) or a pre "
                                "strategy that picks one"});
    }
    return problems;
}

core::Result<ChainSpec> parse_chain(const Json& body, const PluginLookup& plugins) {
    auto problems = validate_chain(body, plugins);
    if (!problems.empty()) {
        std::string message = "chain is invalid (" + std::to_string(problems.size()) + " problem" +
                              (problems.size() == 1 ? "" : "s") + "):";
        for (const auto& p : problems) message += "\n  " + p.to_string();
        return Error::invalid(message);
    }
    ChainSpec spec;
    spec.id = body["id"].get<std::string>();
    spec.description = body.value("description", "");
    spec.priority = body.value("priority", int64_t{0});
    spec.tiers = string_list(body, "tiers");
    spec.models = string_list(body, "models");
    spec.mode =
        body["routing"]["mode"] == "managed" ? RoutingMode::managed : RoutingMode::passthrough;
    spec.routing_model = body["routing"].value("model", "");
    spec.pre = stage_list(body, "pre");
    spec.post = stage_list(body, "post");
    spec.body = body;
    return spec;
}

core::Result<ChainSpec> parse_chain_text(std::string_view text, const PluginLookup& plugins) {
    Json body = Json::parse(text, nullptr, false);
    if (body.is_discarded()) {
        // Re-parse with exceptions to get the position of the syntax error.
        try {
            auto ignored = Json::parse(text);
            (void)ignored;
        } catch (const Json::parse_error& e) {
            return Error::invalid(std::string("chain is not valid JSON: ") + e.what());
        }
        return Error::invalid("chain is not valid JSON");
    }
    return parse_chain(body, plugins);
}

core::Result<std::shared_ptr<const Chain>> Chain::build(ChainSpec spec,
                                                        const PluginLookup& plugins) {
    auto chain = std::make_shared<Chain>();
    auto make = [&](const std::vector<StageSpec>& stages, const char* list,
                    std::vector<std::shared_ptr<plugin::Strategy>>& out,
                    std::vector<StagePolicy>& policies) -> core::Result<void> {
        for (size_t i = 0; i < stages.size(); ++i) {
            auto factory = plugins(stages[i].plugin);
            if (!factory)
                return Error::invalid("/" + std::string(list) + "/" + std::to_string(i) +
                                      "/plugin: unknown plugin '" + stages[i].plugin + "'");
            auto made = factory->create_strategy(stages[i].config);
            if (!made) {
                auto e = made.take_error();
                e.message = "chain '" + spec.id + "' /" + list + "/" + std::to_string(i) +
                            ": plugin '" + stages[i].plugin + "' refused its config: " + e.message;
                return e;
            }
            out.push_back(std::move(made).value());
            StagePolicy policy;
            policy.plugin = stages[i].plugin;
            policy.where = "/" + std::string(list) + "/" + std::to_string(i);
            // An advisory plugin's failure is soft unless the stage says otherwise.
            policy.on_error = stages[i].on_error.value_or(
                factory->info().advisory ? OnError::continue_ : OnError::fail);
            policy.deadline = stages[i].deadline;
            policies.push_back(std::move(policy));
        }
        return {};
    };
    if (auto r = make(spec.pre, "pre", chain->pre_, chain->pre_policies_); !r)
        return r.take_error();
    if (auto r = make(spec.post, "post", chain->post_, chain->post_policies_); !r)
        return r.take_error();
    for (size_t i = 0; i < chain->post_.size(); ++i)
        if (chain->post_[i]->wants_stream_events()) {
            chain->stream_hooks_.push_back(chain->post_[i]);
            chain->stream_policies_.push_back(chain->post_policies_[i]);
        }
    chain->spec_ = std::move(spec);
    return std::shared_ptr<const Chain>(std::move(chain));
}

bool Chain::serves_tier(const std::string& tier) const {
    return std::any_of(spec_.tiers.begin(), spec_.tiers.end(),
                       [&](const std::string& t) { return t == "*" || t == tier; });
}

int Chain::model_match(const std::string& model) const {
    int best = -1;
    for (const auto& p : spec_.models)
        if (core::glob_match(p, model)) best = std::max(best, core::glob_specificity(p));
    return best;
}

ChainSet::ChainSet(std::vector<std::shared_ptr<const Chain>> chains) : chains_(std::move(chains)) {}

const Chain* ChainSet::match(const std::string& tier, const std::string& model) const {
    const Chain* best = nullptr;
    int best_specificity = -1;
    for (const auto& c : chains_) {
        if (!c->serves_tier(tier)) continue;
        int s = c->model_match(model);
        if (s < 0) continue;
        // An exact tier beats "*" at equal priority.
        int tier_bonus =
            std::find(c->spec().tiers.begin(), c->spec().tiers.end(), tier) != c->spec().tiers.end()
                ? 1
                : 0;
        int score = s * 2 + tier_bonus;
        if (!best || c->spec().priority > best->spec().priority ||
            (c->spec().priority == best->spec().priority &&
             (score > best_specificity ||
              (score == best_specificity && c->spec().id < best->spec().id)))) {
            best = c.get();
            best_specificity = score;
        }
    }
    return best;
}

}  // namespace tianshu::pipeline
