#include "pipeline/stage_failures.hpp"

#include "core/log.hpp"

namespace tianshu::pipeline {

core::Error stage_overran(const StagePolicy& policy) {
    return core::Error{core::ErrorKind::timeout,
                       "stage " + policy.where + " (plugin '" + policy.plugin +
                           "') overran its deadline of " +
                           std::to_string(policy.deadline ? policy.deadline->count() : 0) +
                           " ms: raise the stage's deadline_ms or make it faster",
                       policy.plugin};
}

void report_stage_failure(const plugin::RequestContext& ctx, const StagePolicy& policy,
                          const core::Error& error, StageFailureCounter* counter) {
    const std::string_view outcome = policy.soft() ? "continued" : "failed";
    core::log(core::LogLevel::warn,
              policy.soft() ? "stage failed; the request goes on without it" : "stage failed",
              {{"chain", ctx.chain_id},
               {"stage", policy.where},
               {"plugin", policy.plugin},
               {"outcome", std::string(outcome)},
               {"request_id", ctx.request_id},
               {"error", error.message}});
    if (counter) counter->count_stage_failure(ctx.chain_id, policy.plugin, outcome);
}

}  // namespace tianshu::pipeline
