#pragma once
// The post stages' part of one request's stream (ABI 1.4 stream rewriting): each event from the
// model passes the stream hooks in order; a stage may change it, drop it, hold it, release what
// it holds and insert events, which pass the later stages, in order, before the current event.
// What leaves the chain is checked against the event grammar. A stage that fails under
// on_error "continue" gives back what it holds and is bypassed for the rest of the request.
//
// Passing through costs one hook call per stage and a few compares: nothing is copied or
// buffered unless a stage asks for it.

#include <functional>
#include <optional>
#include <vector>

#include "core/event_grammar.hpp"
#include "pipeline/chain.hpp"
#include "pipeline/stage_failures.hpp"
#include "plugin/stage.hpp"

namespace tianshu::pipeline {

class PostStream {
  public:
    //! Where events that leave the chain go (the assembler and the client); false = stop.
    using Deliver = std::function<bool(const core::StreamEvent&)>;

    PostStream(plugin::RequestContext& ctx, const Chain& chain, StageFailureCounter* failures,
               Deliver deliver);

    //! One event from the model. False when the stream must stop: error() says why, or (no
    //! error) the client has gone.
    bool push(const core::StreamEvent& event);
    //! After the model finished: the stream must have ended grammatically.
    void finish();

    std::optional<core::Error>& error() { return error_; }
    //! The stage failed softly and is left out for the rest of the request (on_response_end
    //! too).
    bool bypassed(const plugin::Strategy* strategy) const;
    //! From now on, adds the time each stream hook takes to `ms[i]` (one entry per
    //! chain.stream_hooks(); resized here). Null: nothing is timed.
    void time_stages(std::vector<double>* ms);

  private:
    bool run_from(size_t stage, core::StreamEvent& event, int author);
    //! A stage's hook failed or overran: true = go on without it (the event restored).
    bool stage_failed(size_t stage, core::StreamEvent& event, core::Error error);
    bool leave(const core::StreamEvent& event, int author);

    plugin::RequestContext& ctx_;
    const Chain& chain_;
    StageFailureCounter* failures_;
    Deliver deliver_;
    std::vector<plugin::StageStream> stages_;
    std::vector<char> bypassed_;
    core::EventGrammar grammar_;
    int last_rewriter_ = -1;  //!< the last stage that did more than pass an event on
    bool stopped_ = false;    //!< the client went away
    std::optional<core::Error> error_;
    std::vector<double>* stage_ms_ = nullptr;
};

}  // namespace tianshu::pipeline
