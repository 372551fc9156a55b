#include "service/chains.hpp"

#include <atomic>
#include <chrono>

#include "core/request_json.hpp"
#include "core/stream_event.hpp"
#include "hub/memory_session_store.hpp"
#include "pipeline/chain.hpp"
#include "pipeline/post_stream.hpp"
#include "pipeline/runner.hpp"

namespace tianshu::service::chains {

using core::Error;
using core::ErrorKind;
using core::Json;

namespace {

Error no_plugins() {
    return Error{ErrorKind::unavailable,
                 "no plugin catalog is loaded to check chains against: run the command with "
                 "--plugins-dir/--scripts-dir, or use the admin API of `tianshu serve`",
                 {}};
}

Error no_chain(std::string_view id) {
    return Error{ErrorKind::not_found,
                 "there is no chain '" + std::string(id) +
                     "': `tianshu chain list` or GET /admin/api/chains lists the ids",
                 {}};
}

//! The dry run's stand-in for the channels: it serves no model, so the model stage and
//! call_model fail with an error that says why instead of reaching an upstream.
class NoUpstream final : public pipeline::ModelResolver {
  public:
    core::Result<pipeline::ResolvedModel> resolve(const std::string& model) const override {
        return Error{ErrorKind::unavailable,
                     "dry run: no upstream is called, so model '" + model +
                         "' cannot answer (call_model fails in a dry run; the real request "
                         "would call it)",
                     {}};
    }
};

//! call_model in a dry run: recorded for the report and refused, never sent.
class RefusingModels final : public plugin::ModelCaller {
  public:
    core::Result<std::string> call(plugin::RequestContext&, const std::string& model,
                                   const std::string&) override {
        tried.push_back(model);
        return Error{
            ErrorKind::unavailable,
            "dry run: call_model('" + model + "') was not sent; no upstream is called in a dry run",
            {}};
    }
    std::vector<std::string> tried;
};

//! Moves what a stage tried and noted since `notes_before` into its report.
void collect(plugin::RequestContext& ctx, RefusingModels& models, size_t notes_before,
             StageReport& s) {
    s.side_calls = std::move(models.tried);
    models.tried.clear();
    for (size_t n = notes_before; n < ctx.decisions.size(); ++n)
        s.notes.push_back(ctx.decisions[n].kind + ": " + ctx.decisions[n].reason);
}

std::string pointer_token(const std::string& key) {
    std::string out;
    for (char c : key) {
        if (c == '~')
            out += "~0";
        else if (c == '/')
            out += "~1";
        else
            out += c;
    }
    return out;
}

void diff_into(const Json& a, const Json& b, const std::string& path, std::vector<Change>& out) {
    if (a == b) return;
    if (a.is_object() && b.is_object()) {
        for (const auto& [key, value] : a.items()) {
            std::string p = path + "/" + pointer_token(key);
            if (!b.contains(key))
                out.push_back({"remove", p, value, std::nullopt});
            else
                diff_into(value, b[key], p, out);
        }
        for (const auto& [key, value] : b.items())
            if (!a.contains(key))
                out.push_back({"add", path + "/" + pointer_token(key), std::nullopt, value});
        return;
    }
    if (a.is_array() && b.is_array()) {
        size_t common = std::min(a.size(), b.size());
        for (size_t i = 0; i < common; ++i)
            diff_into(a[i], b[i], path + "/" + std::to_string(i), out);
        for (size_t i = common; i < b.size(); ++i)
            out.push_back({"add", path + "/" + std::to_string(i), std::nullopt, b[i]});
        for (size_t i = a.size(); i > common; --i)
            out.push_back({"remove", path + "/" + std::to_string(i - 1), a[i - 1], std::nullopt});
        return;
    }
    out.push_back({"replace", path, a, b});
}

long long micros_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 start)
        .count();
}

//! A name nobody else has: the dry run's user and session, so its session state is its own.
std::string throwaway_name() {
    static std::atomic<unsigned long long> counter{0};
    auto now = std::chrono::steady_clock::now().time_since_epoch().count();
    return "dry-run-" + std::to_string(now) + "-" + std::to_string(++counter);
}

//! The canned answer the post stages see when no pre stage answered.
core::Response canned_answer(const core::Request& request) {
    core::Response r;
    r.id = "msg_dry_run";
    r.model = request.model;
    r.content.push_back(core::ContentBlock::make_text(std::string(kCannedAnswer)));
    r.stop_reason = core::StopReason::end_turn;
    return r;
}

//! Post stage `i` of `spec` over `answer`: its stream hook over the answer's events, then its
//! end-of-response hook. Changes ctx.response.
void run_post_stage(plugin::RequestContext& ctx, const pipeline::ChainSpec& spec, size_t i,
                    const core::Response& answer, const pipeline::PluginLookup& plugins,
                    StageReport& report) {
    // A chain of this one stage, so its stream hook runs exactly as in a request (PostStream).
    pipeline::ChainSpec one = spec;
    one.pre.clear();
    one.post = {spec.post[i]};
    auto built = pipeline::Chain::build(std::move(one), plugins);
    if (!built) {
        report.outcome = "failed";
        report.error = built.error().message;
        return;
    }
    const pipeline::Chain& chain = *built.value();
    ctx.response = answer;
    const auto& strategy = chain.post().front();
    bool bypassed = false;
    if (!chain.stream_hooks().empty()) {
        core::ResponseAssembler assembler;
        std::optional<Error> failure;
        pipeline::PostStream stream(ctx, chain, nullptr, [&](const core::StreamEvent& e) {
            if (auto r = assembler.add(e); !r) {
                failure = r.take_error();
                return false;
            }
            return true;
        });
        for (const auto& e : core::events_for(answer))
            if (!stream.push(e)) break;
        if (!stream.error() && !failure) stream.finish();
        if (stream.error()) failure = std::move(*stream.error());
        if (failure) {
            report.outcome = "failed";
            report.error = failure->message;
            return;
        }
        bypassed = stream.bypassed(strategy.get());
        ctx.response = assembler.response();
    }
    if (bypassed) return;
    if (auto r = strategy->on_response_end(ctx); !r) {
        report.outcome = "failed";
        report.error = r.error().message;
    }
}

}  // namespace

// ---- versions ------------------------------------------------------------------------------

core::Result<std::vector<store::ChainVersion>> list(const Env& env) {
    return store::chains::list_latest(env.db);
}

core::Result<store::ChainVersion> get(const Env& env, std::string_view id,
                                      std::optional<int> version) {
    if (!version) {
        auto latest = store::chains::latest(env.db, id);
        if (!latest) return latest.take_error();
        if (!latest.value()) return no_chain(id);
        return std::move(*latest.value());
    }
    auto all = versions(env, id);
    if (!all) return all.take_error();
    for (auto& c : all.value())
        if (c.version == *version) return std::move(c);
    return Error{ErrorKind::not_found,
                 "chain '" + std::string(id) + "' has no version " + std::to_string(*version) +
                     ": it has versions 1 to " + std::to_string(all.value().back().version),
                 {}};
}

core::Result<std::vector<store::ChainVersion>> versions(const Env& env, std::string_view id) {
    auto all = store::chains::versions(env.db, id);
    if (!all) return all.take_error();
    if (all.value().empty()) return no_chain(id);
    return all;
}

core::Result<std::vector<pipeline::SchemaProblem>> validate(const Env& env, const Json& chain) {
    if (!env.plugins) return no_plugins();
    return pipeline::validate_chain(chain, env.plugins);
}

core::Result<SavedChain> save(const Env& env, const Json& chain) {
    if (!env.plugins) return no_plugins();
    auto spec = pipeline::parse_chain(chain, env.plugins);
    if (!spec) return Error::invalid("chain refused, nothing was saved: " + spec.error().message);
    auto version = store::chains::save(env.db, spec->id, spec->body.dump(2));
    if (!version) return version.take_error();
    return SavedChain{spec->id, version.value()};
}

core::Result<SavedChain> save_text(const Env& env, std::string_view text) {
    if (!env.plugins) return no_plugins();
    auto spec = pipeline::parse_chain_text(text, env.plugins);
    if (!spec) return Error::invalid("chain refused, nothing was saved: " + spec.error().message);
    auto version = store::chains::save(env.db, spec->id, spec->body.dump(2));
    if (!version) return version.take_error();
    return SavedChain{spec->id, version.value()};
}

core::Result<SavedChain> rollback(const Env& env, std::string_view id, int version) {
    auto old = get(env, id, version);
    if (!old) return old.take_error();
    if (!env.plugins) return no_plugins();
    auto spec = pipeline::parse_chain_text(old->body, env.plugins);
    if (!spec)
        return Error::invalid("version " + std::to_string(version) + " of chain '" +
                              std::string(id) +
                              "' no longer validates against the loaded plugins, nothing was "
                              "saved: " +
                              spec.error().message);
    // The stored text as it was, so the new version equals the old one byte for byte. The
    // save bumps the configuration revision: gateways pick it up at their next poll.
    auto saved = store::chains::save(env.db, id, old->body);
    if (!saved) return saved.take_error();
    return SavedChain{std::string(id), saved.value()};
}

Json version_json(const store::ChainVersion& c) {
    Json body = Json::parse(c.body, nullptr, false);
    return Json{{"id", c.chain_id},
                {"version", c.version},
                {"created_at", c.created_at},
                {"chain", body.is_discarded() ? Json(c.body) : body}};
}

// ---- dry run -------------------------------------------------------------------------------

std::vector<Change> json_diff(const Json& before, const Json& after) {
    std::vector<Change> out;
    diff_into(before, after, "", out);
    return out;
}

core::Result<DryRunReport> dry_run(const pipeline::PluginLookup& plugins, const Json& chain,
                                   const Json& request, std::optional<std::string> tier) {
    if (!plugins) return no_plugins();
    auto spec = pipeline::parse_chain(chain, plugins);
    if (!spec) return Error::invalid("chain: " + spec.error().message);
    if (!request.is_object())
        return Error::invalid(
            "request: expected an Anthropic Messages body (a JSON object with "
            "model, max_tokens and messages)");
    auto decoded = core::request_from_json(request);
    if (!decoded) return Error::invalid("request: " + decoded.error().message);
    auto built = pipeline::Chain::build(spec.value(), plugins);
    if (!built) return Error::invalid("chain: " + built.error().message);
    const pipeline::Chain& c = *built.value();

    // Isolation: a session store of its own, under a user and session nobody else has.
    hub::MemorySessionStore sessions(core::SessionLimits{}, std::size_t{16} << 20);
    const std::string identity = throwaway_name();
    NoUpstream no_upstream;
    pipeline::PipelineRunner runner(no_upstream);
    plugin::RequestContext ctx;
    ctx.request = std::move(decoded).value();
    ctx.request_id = identity;
    ctx.requested_model = ctx.request.model;
    ctx.tier = tier ? *tier
                    : (spec->tiers.empty() || spec->tiers.front() == "*" ? "default"
                                                                         : spec->tiers.front());
    ctx.chain_id = spec->id;
    ctx.client_protocol = "anthropic";
    ctx.session_id = identity;
    ctx.session_source = "derived";
    ctx.user = identity;
    ctx.sessions = &sessions;
    RefusingModels models;
    ctx.models = &models;    // call_model is recorded and refused
    ctx.upstream = nullptr;  // and an adapter, if one ran, has nothing to call

    DryRunReport report;
    bool stopped = false;
    bool answered = false;
    for (size_t i = 0; i < c.pre().size(); ++i) {
        StageReport s;
        s.name = spec->pre[i].plugin;
        s.kind = "pre";
        s.where = "/pre/" + std::to_string(i);
        if (stopped || answered) {
            s.outcome = "skipped";
            report.stages.push_back(std::move(s));
            continue;
        }
        Json before = core::to_json(ctx.request);
        auto start = std::chrono::steady_clock::now();
        const size_t notes_before = ctx.decisions.size();
        auto outcome = runner.run_pre_stage(ctx, c, i);
        s.elapsed_us = micros_since(start);
        collect(ctx, models, notes_before, s);
        s.diff = json_diff(before, core::to_json(ctx.request));
        s.changed = !s.diff.empty();
        if (!outcome) {
            s.outcome = "failed";
            s.error = outcome.error().message;
            stopped = true;
        } else if (outcome.value() == plugin::HookOutcome::answered) {
            s.outcome = "answered";
            answered = true;
        }
        report.stages.push_back(std::move(s));
    }
    report.final_request = core::to_json(ctx.request);
    if (ctx.route) report.route_model = ctx.route->model;
    if (stopped) {
        for (size_t i = 0; i < spec->post.size(); ++i) {
            StageReport s;
            s.name = spec->post[i].plugin;
            s.kind = "post";
            s.where = "/post/" + std::to_string(i);
            s.outcome = "skipped";
            report.stages.push_back(std::move(s));
        }
        return report;
    }

    core::Response answer = answered && ctx.answer ? *ctx.answer : canned_answer(ctx.request);
    for (size_t i = 0; i < spec->post.size(); ++i) {
        StageReport s;
        s.name = spec->post[i].plugin;
        s.kind = "post";
        s.where = "/post/" + std::to_string(i);
        Json before = core::to_json(answer);
        auto start = std::chrono::steady_clock::now();
        const size_t notes_before = ctx.decisions.size();
        run_post_stage(ctx, spec.value(), i, answer, plugins, s);
        s.elapsed_us = micros_since(start);
        collect(ctx, models, notes_before, s);
        if (s.outcome != "failed") {
            s.diff = json_diff(before, core::to_json(ctx.response));
            s.changed = !s.diff.empty();
            answer = ctx.response;
        }
        report.stages.push_back(std::move(s));
    }
    report.final_answer = core::to_json(answer);
    return report;
}

Json to_json(const DryRunReport& report) {
    Json stages = Json::array();
    for (const auto& s : report.stages) {
        Json diff = Json::array();
        for (const auto& d : s.diff) {
            Json change{{"op", d.op}, {"path", d.path}};
            if (d.before) change["before"] = *d.before;
            if (d.after) change["after"] = *d.after;
            diff.push_back(std::move(change));
        }
        Json stage{{"name", s.name},
                   {"kind", s.kind},
                   {"where", s.where},
                   {"outcome", s.outcome},
                   {"changed", s.changed},
                   {"diff", std::move(diff)},
                   {"elapsed_us", s.elapsed_us}};
        if (s.error) stage["error"] = *s.error;
        if (!s.side_calls.empty()) stage["side_calls_refused"] = s.side_calls;
        if (!s.notes.empty()) stage["notes"] = s.notes;
        stages.push_back(std::move(stage));
    }
    Json out{{"stages", std::move(stages)},
             {"final_request", report.final_request},
             {"final_answer", report.final_answer}};
    if (report.route_model) out["route_model"] = *report.route_model;
    return out;
}

// ---- plugins -------------------------------------------------------------------------------

Json plugin_json(const plugin::PluginInfo& info) {
    Json schema = nullptr;
    if (!info.config_schema.empty()) {
        schema = Json::parse(info.config_schema, nullptr, false);
        if (schema.is_discarded()) schema = Json(info.config_schema);
    }
    const bool model = info.kind == plugin::PluginKind::model;
    return Json{{"name", info.name},
                {"kind", std::string(plugin::to_string(info.kind))},
                {"stages", model ? Json::array({"model"}) : Json::array({"pre", "post"})},
                {"version", info.version},
                {"description", info.description},
                {"origin", info.abi_version == "lua" ? "lua" : "so"},
                {"abi", info.abi_version},
                {"advisory", info.advisory},
                {"config_schema", schema}};
}

}  // namespace tianshu::service::chains
