#include <catch2/catch.hpp>

#include <mutex>
#include <random>
#include <thread>

#include "fake_models.hpp"
#include "upstream/failover_model.hpp"

using namespace tianshu;
using namespace tianshu::testing;
using core::ErrorKind;
using std::chrono::milliseconds;
using upstream::BreakerState;
using upstream::ChannelRoute;
using upstream::CircuitBreakers;
using upstream::FailoverModel;
using upstream::FailoverPolicy;
using upstream::FailoverReport;

namespace {

//! Hooks that record every wait instead of sleeping, with a seeded random source.
struct RecordingHooks {
    std::shared_ptr<std::vector<milliseconds>> waits =
        std::make_shared<std::vector<milliseconds>>();
    std::shared_ptr<std::mutex> mutex = std::make_shared<std::mutex>();
    struct Disabled {
        std::string channel, key_id, reason;
    };
    std::shared_ptr<std::vector<Disabled>> disabled = std::make_shared<std::vector<Disabled>>();

    upstream::FailoverHooks hooks(uint64_t seed = 1) const {
        upstream::FailoverHooks h;
        h.sleep = [waits = waits, mutex = mutex](milliseconds w) {
            std::lock_guard lock(*mutex);
            waits->push_back(w);
        };
        auto engine = std::make_shared<std::mt19937_64>(seed);
        h.random = [engine, mutex = mutex] {
            std::lock_guard lock(*mutex);
            return (*engine)();
        };
        h.on_key_disabled = [disabled = disabled, mutex = mutex](
                                const std::string& c, const std::string& k, const std::string& r) {
            std::lock_guard lock(*mutex);
            disabled->push_back({c, k, r});
        };
        return h;
    }
};

std::shared_ptr<ScriptedModel> scripted(const std::string& name, std::vector<Step> steps,
                                        CallJournal* journal = nullptr) {
    return std::make_shared<ScriptedModel>(name, std::move(steps), journal);
}

}  // namespace

TEST_CASE("failover tries candidates in priority order with full-jitter backoff",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    CallJournal journal;
    auto a = scripted("a", {fail(ErrorKind::upstream)}, &journal);
    auto b = scripted("b", {fail(ErrorKind::timeout)}, &journal);
    auto c = scripted("c", {}, &journal);
    RecordingHooks rec;
    FailoverModel model("claude-x",
                        {route("low", 0, 1, {c}, breakers, "low-model"),
                         route("high", 9, 1, {a}, breakers), route("mid", 4, 1, {b}, breakers)},
                        FailoverPolicy{}, rec.hooks());
    auto ctx = context_for("claude-x");
    FailoverReport report;
    auto r = model.run(ctx, report);
    REQUIRE(r.ok());
    CHECK(journal.calls == std::vector<std::string>{"a", "b", "c"});
    CHECK(report.attempts == 3);
    CHECK(report.retries == 2);
    CHECK(report.failovers == 2);  // high -> mid -> low: each retry moved channel
    CHECK(report.channel == "low");
    CHECK(ctx.channel == "low");
    CHECK(ctx.request.model == "low-model");
    CHECK(c->asked_models() == std::vector<std::string>{"low-model"});
    REQUIRE(rec.waits->size() == 2);
    CHECK((*rec.waits)[0] <= milliseconds(100));
    CHECK((*rec.waits)[1] <= milliseconds(200));
    CHECK(breakers.for_key("high", "k1")->consecutive_failures() == 1);
    CHECK(breakers.for_key("low", "k1")->consecutive_failures() == 0);
}

TEST_CASE("backoff waits stay within the exponential ceiling and the cap, and are jittered",
          "[upstream][failover]") {
    FailoverPolicy policy;
    policy.max_attempts = 6;
    policy.backoff_base = milliseconds(100);
    policy.backoff_cap = milliseconds(250);
    const std::vector<int64_t> ceilings{100, 200, 250, 250, 250};
    std::vector<int64_t> largest(ceilings.size(), 0);
    std::vector<int64_t> smallest(ceilings.size(), 1'000'000);
    for (uint64_t seed = 1; seed <= 100; ++seed) {
        CircuitBreakers breakers({1'000, milliseconds(30'000)});
        auto failing = scripted("down", {});
        failing->always(fail(ErrorKind::unavailable));
        RecordingHooks rec;
        FailoverModel model("m", {route("only", 0, 1, {failing}, breakers)}, policy,
                            rec.hooks(seed));
        auto ctx = context_for("m");
        auto r = model.generate(ctx);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::unavailable);
        REQUIRE(failing->calls() == 6);
        REQUIRE(rec.waits->size() == 5);
        for (size_t i = 0; i < ceilings.size(); ++i) {
            const int64_t w = (*rec.waits)[i].count();
            CHECK(w >= 0);
            CHECK(w <= ceilings[i]);
            largest[i] = std::max(largest[i], w);
            smallest[i] = std::min(smallest[i], w);
        }
    }
    for (size_t i = 0; i < ceilings.size(); ++i) {
        INFO("retry " << i + 1);
        CHECK(largest[i] > ceilings[i] * 3 / 4);  // full jitter covers the whole range
        CHECK(smallest[i] < ceilings[i] / 4);
    }
}

TEST_CASE("at most max_attempts calls, and the client gets the last upstream error",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    auto a = scripted("a", {fail(ErrorKind::overloaded)});
    auto b = scripted("b", {fail(ErrorKind::upstream)});
    auto c = scripted("c", {fail(ErrorKind::rate_limited)});
    auto d = scripted("d", {});
    RecordingHooks rec;
    FailoverModel model("m",
                        {route("a", 4, 1, {a}, breakers), route("b", 3, 1, {b}, breakers),
                         route("c", 2, 1, {c}, breakers), route("d", 1, 1, {d}, breakers)},
                        FailoverPolicy{}, rec.hooks());
    auto ctx = context_for("m");
    FailoverReport report;
    auto r = model.run(ctx, report);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::rate_limited);
    CHECK(a->calls() + b->calls() + c->calls() + d->calls() == 3);
    CHECK(d->calls() == 0);
    CHECK(report.attempts == 3);
    CHECK(report.channel == "c");
}

TEST_CASE("errors that are the request's own fault are not retried", "[upstream][failover]") {
    CircuitBreakers breakers;
    auto a = scripted("a", {fail(ErrorKind::invalid_request)});
    auto b = scripted("b", {});
    RecordingHooks rec;
    FailoverModel model("m", {route("a", 1, 1, {a}, breakers), route("b", 0, 1, {b}, breakers)},
                        FailoverPolicy{}, rec.hooks());
    auto ctx = context_for("m");
    auto r = model.generate(ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::invalid_request);
    CHECK(b->calls() == 0);
    CHECK(rec.waits->empty());
}

TEST_CASE("a small Retry-After is waited for, a long one skips the candidate",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    RecordingHooks rec;
    SECTION("the same key is called again no sooner than its Retry-After") {
        auto a = scripted("a", {fail(ErrorKind::rate_limited, 2)});
        FailoverModel model("m", {route("a", 0, 1, {a}, breakers)}, FailoverPolicy{}, rec.hooks());
        auto ctx = context_for("m");
        REQUIRE(model.generate(ctx).ok());
        CHECK(a->calls() == 2);
        REQUIRE(rec.waits->size() == 1);
        CHECK(rec.waits->front() >= milliseconds(2'000));
        CHECK(rec.waits->front() <= milliseconds(2'000));  // the backoff (<= 100 ms) is smaller
    }
    SECTION("a Retry-After above the cap is relayed to the client without waiting") {
        auto a = scripted("a", {fail(ErrorKind::rate_limited, 7)});
        FailoverModel model("m", {route("a", 0, 1, {a}, breakers)}, FailoverPolicy{}, rec.hooks());
        auto ctx = context_for("m");
        auto r = model.generate(ctx);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().kind == ErrorKind::rate_limited);
        CHECK(r.error().retry_after_seconds == 7);
        CHECK(a->calls() == 1);
        CHECK(rec.waits->empty());
    }
    SECTION("with a long Retry-After the next candidate is called at once") {
        auto a = scripted("a", {fail(ErrorKind::rate_limited, 60)});
        auto b = scripted("b", {});
        FailoverModel model("m", {route("a", 1, 1, {a}, breakers), route("b", 0, 1, {b}, breakers)},
                            FailoverPolicy{}, rec.hooks());
        auto ctx = context_for("m");
        REQUIRE(model.generate(ctx).ok());
        CHECK(b->calls() == 1);
        CHECK(rec.waits->empty());
    }
    SECTION("a Retry-After that would pass the request's deadline ends the request") {
        auto a = scripted("a", {fail(ErrorKind::rate_limited, 3)});
        FailoverModel model("m", {route("a", 0, 1, {a}, breakers)}, FailoverPolicy{}, rec.hooks());
        auto ctx = context_for("m");
        ctx.deadline = std::chrono::steady_clock::now() + milliseconds(500);
        auto r = model.generate(ctx);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().retry_after_seconds == 3);
        CHECK(a->calls() == 1);
        CHECK(rec.waits->empty());
    }
}

TEST_CASE("once an event reached the sink, errors pass through and nothing is retried",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    Step cut = fail(ErrorKind::upstream);
    cut.emit_first = true;
    auto a = scripted("a", {cut});
    auto b = scripted("b", {});
    int events = 0;
    RecordingHooks rec;
    FailoverModel model("m", {route("a", 1, 1, {a}, breakers), route("b", 0, 1, {b}, breakers)},
                        FailoverPolicy{}, rec.hooks());
    auto ctx = context_for("m");
    ctx.emit = [&](const core::StreamEvent&) {
        ++events;
        return true;
    };
    auto r = model.generate(ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::upstream);
    CHECK(ctx.started);
    CHECK(events > 0);
    CHECK(a->calls() == 1);
    CHECK(b->calls() == 0);
    CHECK(rec.waits->empty());
    CHECK(ctx.channel == "a");
}

TEST_CASE("a refused key is disabled once, skipped afterwards, and the next key answers",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    auto revoked = scripted("revoked", {});
    revoked->always(fail(ErrorKind::authentication));
    auto good = scripted("good", {});
    RecordingHooks rec;
    FailoverModel model("m", {route("pool", 0, 1, {revoked, good}, breakers)}, FailoverPolicy{},
                        rec.hooks());

    for (int i = 0; i < 4; ++i) {
        auto ctx = context_for("m");
        FailoverReport report;
        REQUIRE(model.run(ctx, report).ok());
        CHECK(report.key_id == "k2");
        CHECK(report.failovers == 0);  // another key of the same channel is no failover
    }
    CHECK(revoked->calls() == 1);  // the round-robin would have come back to it: it is skipped
    CHECK(good->calls() == 4);
    CHECK(rec.waits->empty());  // another key is tried at once
    REQUIRE(rec.disabled->size() == 1);
    CHECK(rec.disabled->front().channel == "pool");
    CHECK(rec.disabled->front().key_id == "k1");
    CHECK(rec.disabled->front().reason.find("scripted failure") != std::string::npos);
}

TEST_CASE("under concurrent requests a refused key is reported exactly once",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    auto revoked = scripted("revoked", {});
    revoked->always(fail(ErrorKind::permission));
    auto good = scripted("good", {});
    RecordingHooks rec;
    FailoverModel model("m", {route("pool", 0, 1, {revoked, good}, breakers)}, FailoverPolicy{},
                        rec.hooks());
    std::atomic<int> ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 50; ++i) {
                auto ctx = context_for("m");
                if (model.generate(ctx).ok()) ok.fetch_add(1);
            }
        });
    for (auto& t : threads) t.join();
    CHECK(ok.load() == 400);
    CHECK(rec.disabled->size() == 1);
    CHECK(revoked->calls() <= 8);  // only requests already past selection can still reach it
}

TEST_CASE("when every key is refused the client sees a failing upstream, not its own auth error",
          "[upstream][failover]") {
    CircuitBreakers breakers;
    auto a = scripted("a", {fail(ErrorKind::insufficient_quota)});
    auto b = scripted("b", {fail(ErrorKind::authentication)});
    RecordingHooks rec;
    FailoverModel model("m", {route("a", 1, 1, {a}, breakers), route("b", 0, 1, {b}, breakers)},
                        FailoverPolicy{}, rec.hooks());
    auto ctx = context_for("m");
    auto r = model.generate(ctx);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().kind == ErrorKind::upstream);
    CHECK(rec.disabled->size() == 2);

    // The next request finds nothing usable and says so, naming the model.
    auto again = context_for("m");
    auto none = model.generate(again);
    REQUIRE_FALSE(none.ok());
    CHECK(none.error().kind == ErrorKind::unavailable);
    CHECK(none.error().message.find("'m'") != std::string::npos);
    CHECK(none.error().retry_after_seconds >= 1);
    CHECK(a->calls() == 1);
    CHECK(b->calls() == 1);
}

TEST_CASE("refused keys are recognised even when the adapter reports a generic upstream kind",
          "[upstream][failover]") {
    using upstream::classify_failure;
    using upstream::FailureVerdict;
    auto err = [](ErrorKind k, std::string m) { return core::Error{k, std::move(m), {}}; };
    CHECK(classify_failure(err(ErrorKind::upstream,
                               "upstream channel 'x' answered HTTP 401: invalid api key")) ==
          FailureVerdict::key_refused);
    CHECK(classify_failure(err(ErrorKind::upstream,
                               "upstream channel 'x' answered HTTP 402: Insufficient Balance")) ==
          FailureVerdict::key_refused);
    CHECK(classify_failure(err(ErrorKind::rate_limited,
                               "upstream channel 'x' answered HTTP 429: quota (code "
                               "insufficient_quota)")) == FailureVerdict::key_refused);
    CHECK(classify_failure(err(ErrorKind::upstream, "upstream channel 'x' answered HTTP 502")) ==
          FailureVerdict::retry);
    CHECK(classify_failure(err(ErrorKind::timeout, "no first byte in 120 s")) ==
          FailureVerdict::retry);
    CHECK(classify_failure(err(ErrorKind::plugin_failure, "plugin threw")) ==
          FailureVerdict::final);
    CHECK(classify_failure(err(ErrorKind::invalid_request, "answered HTTP 400")) ==
          FailureVerdict::final);
}

TEST_CASE("failures open a key's breaker and later requests skip it until a probe succeeds",
          "[upstream][failover]") {
    FakeClock clock;
    CircuitBreakers breakers({5, milliseconds(30'000)}, clock.clock());
    auto flaky = scripted("flaky", {});
    flaky->always(fail(ErrorKind::upstream));
    auto backup = scripted("backup", {});
    RecordingHooks rec;
    FailoverPolicy policy;
    policy.max_attempts = 2;
    FailoverModel model(
        "m", {route("main", 1, 1, {flaky}, breakers), route("backup", 0, 1, {backup}, breakers)},
        policy, rec.hooks());
    for (int i = 0; i < 5; ++i) {
        auto ctx = context_for("m");
        REQUIRE(model.generate(ctx).ok());
    }
    CHECK(flaky->calls() == 5);
    CHECK(breakers.for_key("main", "k1")->state() == BreakerState::open);

    for (int i = 0; i < 3; ++i) {
        auto ctx = context_for("m");
        FailoverReport report;
        REQUIRE(model.run(ctx, report).ok());
        CHECK(report.attempts == 1);  // straight to the backup, no wasted call
        CHECK(report.channel == "backup");
    }
    CHECK(flaky->calls() == 5);

    clock.advance(milliseconds(30'000));
    flaky->always(Step{});  // recovered
    auto ctx = context_for("m");
    FailoverReport report;
    REQUIRE(model.run(ctx, report).ok());
    CHECK(report.channel == "main");
    CHECK(breakers.for_key("main", "k1")->state() == BreakerState::closed);
}

TEST_CASE("a provider's 429s are retried elsewhere but never open the breaker",
          "[upstream][failover]") {
    FakeClock clock;
    CircuitBreakers breakers({5, milliseconds(30'000)}, clock.clock());
    auto busy = scripted("busy", {});
    busy->always(fail(ErrorKind::rate_limited));
    auto backup = scripted("backup", {});
    RecordingHooks rec;
    FailoverPolicy policy;
    policy.max_attempts = 2;
    FailoverModel model(
        "m", {route("main", 1, 1, {busy}, breakers), route("backup", 0, 1, {backup}, breakers)},
        policy, rec.hooks());
    for (int i = 0; i < 8; ++i) {
        auto ctx = context_for("m");
        REQUIRE(model.generate(ctx).ok());  // answered by the backup each time
    }
    CHECK(busy->calls() == 8);  // still tried first: a busy upstream is not a broken one
    CHECK(breakers.for_key("main", "k1")->state() == BreakerState::closed);
}

TEST_CASE("retries of one request count once towards a key's breaker; cut streams not at all",
          "[upstream][failover]") {
    CircuitBreakers breakers({5, milliseconds(30'000)});
    auto down = scripted("down", {});
    down->always(fail(ErrorKind::upstream));
    RecordingHooks rec;
    FailoverModel model("m", {route("only", 0, 1, {down}, breakers)}, FailoverPolicy{},
                        rec.hooks());
    auto breaker = breakers.for_key("only", "k1");
    for (int i = 1; i <= 4; ++i) {
        auto ctx = context_for("m");
        REQUIRE_FALSE(model.generate(ctx).ok());
        CHECK(breaker->consecutive_failures() == i);
    }
    CHECK(down->calls() == 12);  // three attempts each
    CHECK(breaker->state() == BreakerState::closed);

    Step cut = fail(ErrorKind::upstream);
    cut.emit_first = true;
    down->always(cut);
    auto started = context_for("m");
    REQUIRE_FALSE(model.generate(started).ok());
    CHECK(breaker->consecutive_failures() == 4);

    down->always(fail(ErrorKind::timeout));
    auto fifth = context_for("m");
    REQUIRE_FALSE(model.generate(fifth).ok());
    CHECK(breaker->state() == BreakerState::open);
}
