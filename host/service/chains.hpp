#pragma once
// Chain operations, once for the CLI (`tianshu chain ...`) and the admin API (/chains...):
// save (validated), list, read a version, list versions, roll back, validate, and the dry run
// that shows what each stage of a chain does to a sample request without calling an upstream.
// Every save appends a version and bumps the configuration revision, so running gateways pick
// it up at their next poll.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "pipeline/json_schema.hpp"
#include "plugin/plugin_factory.hpp"
#include "service/env.hpp"
#include "store/chains.hpp"

namespace tianshu::service::chains {

//! A saved version: which chain, which number.
struct SavedChain {
    std::string id;
    int version = 0;
};

//! The newest version of every chain, by id.
core::Result<std::vector<store::ChainVersion>> list(const Env& env);
//! The newest version of `id` (no `version`) or that version; not_found names what exists.
core::Result<store::ChainVersion> get(const Env& env, std::string_view id,
                                      std::optional<int> version = std::nullopt);
//! Every version of `id`, oldest first; not_found when the chain was never saved.
core::Result<std::vector<store::ChainVersion>> versions(const Env& env, std::string_view id);

//! Every problem with a chain document (schema, plugins, plugin configs), each with its JSON
//! path. Empty: the chain would be accepted. Refused (unavailable) when env has no plugins.
core::Result<std::vector<pipeline::SchemaProblem>> validate(const Env& env,
                                                            const core::Json& chain);
//! Validates and saves `chain` as its id's next version; nothing is saved when it is invalid
//! (the error lists every problem, one per line).
core::Result<SavedChain> save(const Env& env, const core::Json& chain);
//! save() of a document's text (a file, a request body).
core::Result<SavedChain> save_text(const Env& env, std::string_view text);
//! Saves version `version` of `id` again as the newest version (N+1): history is never
//! rewritten. Refused when that version no longer validates against the loaded plugins.
core::Result<SavedChain> rollback(const Env& env, std::string_view id, int version);

//! A version as the API and `--json` show it: {id, version, created_at, chain}.
core::Json version_json(const store::ChainVersion& c);

// ---- dry run -------------------------------------------------------------------------------

//! One change a stage made, as a JSON-pointer path into the request (pre stages) or the answer
//! (post stages): op "add" (after), "remove" (before) or "replace" (both).
struct Change {
    std::string op;
    std::string path;
    std::optional<core::Json> before;
    std::optional<core::Json> after;
};

//! What one stage did in a dry run.
struct StageReport {
    std::string name;   //!< the plugin
    std::string kind;   //!< "pre" | "post"
    std::string where;  //!< "/pre/0": the stage in the chain
    //! "ran", "answered" (it answered the request: later pre stages and the model are skipped),
    //! "failed" (its error is in `error`; a hard failure ends the run), "skipped".
    std::string outcome = "ran";
    bool changed = false;
    std::vector<Change> diff;
    long long elapsed_us = 0;
    std::optional<std::string> error;
    //! call_model calls the stage tried (none reaches a model in a dry run), by model name.
    std::vector<std::string> side_calls;
    //! Decisions the stage noted (decision_note), as "kind: reason".
    std::vector<std::string> notes;
};

struct DryRunReport {
    std::vector<StageReport> stages;
    core::Json final_request;
    //! The answer after the post stages: the canned answer (or a pre stage's own answer)
    //! passed through them. Null when the run ended at a failing pre stage.
    core::Json final_answer;
    std::optional<std::string> route_model;  //!< a route decision, when a stage made one
};

//! The answer the post stages see in a dry run when no pre stage answered (no model is run).
inline constexpr std::string_view kCannedAnswer =
    "This is the dry run's canned answer: no model was called.";

//! Runs `chain`'s pre stages over `request` (an Anthropic Messages body) one by one, under each
//! stage's policy, then its post stages over a canned answer, reporting per stage what changed
//! and how long it took. No upstream is called: call_model fails with an error saying so, and
//! session state lives in a throwaway store under a throwaway user, so nothing of a real user
//! is read or changed. `tier` defaults to the chain's first tier (else "default"). It needs
//! no store, only the loaded plugins.
core::Result<DryRunReport> dry_run(const pipeline::PluginLookup& plugins, const core::Json& chain,
                                   const core::Json& request,
                                   std::optional<std::string> tier = std::nullopt);
core::Json to_json(const DryRunReport& report);

//! The changes from `before` to `after` as JSON-pointer paths (objects by key, arrays by
//! index); empty when they are equal.
std::vector<Change> json_diff(const core::Json& before, const core::Json& after);

// ---- plugins -------------------------------------------------------------------------------

//! One loaded plugin as GET /plugins shows it: name, kind, version, description, origin ("so" |
//! "lua"), config_schema (parsed JSON Schema, or null when any object is accepted), advisory.
core::Json plugin_json(const plugin::PluginInfo& info);

}  // namespace tianshu::service::chains
