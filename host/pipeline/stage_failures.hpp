#pragma once
// What the runner does when a chain's stage fails: the stage's policy (on_error, deadline_ms)
// decides; every failure is logged with the stage's name and counted.

#include <string_view>

#include "core/error.hpp"
#include "pipeline/chain.hpp"
#include "plugin/stage.hpp"

namespace tianshu::pipeline {

//! Counts stage failures (server::Metrics: tianshu_stage_failures_total{chain,stage,outcome}).
class StageFailureCounter {
  public:
    virtual ~StageFailureCounter() = default;
    //! `outcome`: "continued" (the request went on without the stage) or "failed" (the client
    //! got an error).
    virtual void count_stage_failure(std::string_view chain, std::string_view stage,
                                     std::string_view outcome) = 0;
};

//! The error of a stage whose hook returned after its deadline.
core::Error stage_overran(const StagePolicy& policy);

//! One log line naming the stage, and the count. `soft`: the request goes on without it.
void report_stage_failure(const plugin::RequestContext& ctx, const StagePolicy& policy,
                          const core::Error& error, StageFailureCounter* counter);

}  // namespace tianshu::pipeline
