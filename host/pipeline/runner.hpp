#pragma once
// Runs one request through one chain: pre strategies, the model, post strategies on each
// event and at the end. The caller takes the chain from one snapshot, so a request runs
// wholly under one version of it.

#include <memory>
#include <optional>
#include <string>

#include "core/error.hpp"
#include "pipeline/chain.hpp"
#include "pipeline/stage_failures.hpp"
#include "plugin/stage.hpp"

namespace tianshu::pipeline {

//! The model that will answer, as chosen by the channels' model maps.
struct ResolvedModel {
    std::shared_ptr<plugin::Model> model;
    std::string upstream_model;  //!< the name the model should be asked for
    std::string channel;         //!< for logs
};

//! Maps a model name to the model instance that serves it (upstream/ implements it).
class ModelResolver {
  public:
    virtual ~ModelResolver() = default;
    virtual core::Result<ResolvedModel> resolve(const std::string& model) const = 0;
    //! Every model name a client can ask for by name (for /v1/models).
    virtual std::vector<std::string> model_names() const { return {}; }
    //! Whether some channel serving `model` could be called now; nullopt when none serves it
    //! (or this resolver cannot tell).
    virtual std::optional<bool> serving(const std::string& /*model*/) const { return std::nullopt; }
};

//! What a run did, for the log line and metrics.
struct RunSummary {
    std::string channel;
    std::string upstream_model;
    bool answered_by_strategy = false;
};

//! One block's part of a traced run (the admin playground): which block, of which kind, and the
//! wall time it took. Pre blocks: their on_request. The model: from the call until its last
//! event left the chain (delivery to the client included, the post blocks' stream hooks not).
//! Post blocks: their stream hooks summed over every event, plus on_response_end.
struct BlockTiming {
    std::string name;   //!< the plugin, or for the model the channel that answered
    std::string kind;   //!< "pre", "model" or "post"
    std::string where;  //!< "/pre/0", "/post/1"; for the model the upstream model name
    double ms = 0;
    bool answered = false;  //!< a pre block answered the request itself (no model was called)
    bool failed = false;    //!< the block failed (a post block: also when it was bypassed)
};
using BlockTrace = std::vector<BlockTiming>;

//! One request's run. Cheap to construct; used by one thread.
class PipelineRunner final : public plugin::ModelCaller {
  public:
    //! `failures` (may be null) counts the stage failures the chains' policies handled.
    explicit PipelineRunner(const ModelResolver& resolver, StageFailureCounter* failures = nullptr)
        : resolver_(resolver), failures_(failures) {}

    //! Events reach `client` in order, after post strategies saw them. On error: when no
    //! event has reached the client yet (ctx.client_started is false) nothing was sent and
    //! the caller answers with an HTTP error; otherwise the runner already sent an `error`
    //! event and the caller only ends the stream.
    core::Result<RunSummary> run(plugin::RequestContext& ctx, const Chain& chain,
                                 const plugin::EventSink& client);

    // ModelCaller
    core::Result<std::string> call(plugin::RequestContext& parent, const std::string& model,
                                   const std::string& prompt) override;

    //! pre()[i]'s on_request under its policy: a soft failure undoes the stage and proceeds.
    //! run() calls it for each pre stage; the dry run (service/chains) calls it stage by stage.
    core::Result<plugin::HookOutcome> run_pre_stage(plugin::RequestContext& ctx, const Chain& chain,
                                                    size_t i);

    //! Records every block's time into `trace` during run() (null: nothing is timed, the
    //! default; only the playground asks).
    void trace_blocks(BlockTrace* trace) { trace_ = trace; }

  private:
    core::Result<void> generate(plugin::RequestContext& ctx, const ResolvedModel& target);
    const ModelResolver& resolver_;
    StageFailureCounter* failures_ = nullptr;
    BlockTrace* trace_ = nullptr;
};

}  // namespace tianshu::pipeline
