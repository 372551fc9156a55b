// reasoning_ledger: remembers each tool turn's reasoning in session state and puts it back into
// later requests for providers that require it (DeepSeek and Kimi thinking modes), keeps
// another model's thinking from reaching a provider that checks signatures, and turns a leading
// <think>…</think> in an answer's text into a thinking block. See README.md.
//
// Built through the public SDK only. Every ABI 1.4 function is probed (TS_HOST_HAS): without
// session state the ledger still satisfies providers with the placeholder; without stream
// rewriting it neither records nor splits think tags; without model_capabilities only the
// config's "thinking" table says which models want reasoning back.
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

#include "ledger.hpp"
#include "think_tags.hpp"

namespace {

using namespace reasoning_ledger;
namespace sdk = tianshu::sdk;
using sdk::detail::str;

constexpr const char* kSchema = R"json({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "thinking": {
      "type": "object",
      "description": "per model (\"deepseek-*\" matches by prefix): how it wants reasoning back; overrides the capability table's \"thinking\"",
      "additionalProperties": {"enum": ["reasoning_content", "anthropic", "none"]}
    },
    "placeholder": {"type": "string", "minLength": 1, "description": "reasoning sent for a tool turn whose own is not in the ledger"},
    "foreign_reasoning": {"enum": ["convert", "drop"], "description": "another model's reasoning: sent as text (convert) or replaced by the placeholder (drop)"},
    "ttl_seconds": {"type": "integer", "minimum": 0, "description": "how long a turn's reasoning is kept (0 = the host's default)"},
    "max_reasoning_bytes": {"type": "integer", "minimum": 1, "description": "a turn's reasoning is cut to this many bytes before it is stored"},
    "think_tags": {"type": "boolean", "description": "turn a leading <think>…</think> in an answer's text into a thinking block"},
    "max_hold_bytes": {"type": "integer", "minimum": 10, "maximum": 4096, "description": "text held while the start of an answer could still be an opening tag"}
  },
  "additionalProperties": false
})json";

struct Config {
    Json thinking = Json::object();
    MendOptions mend;
    uint32_t ttl_seconds = 7 * 24 * 3600;
    size_t max_reasoning_bytes = 65536;
    bool think_tags = true;
    size_t max_hold_bytes = 64;
};

Config parse_config(std::string_view text) {
    Config c;
    Json j = Json::parse(text.empty() ? std::string_view("{}") : text);
    if (j.contains("thinking")) c.thinking = j["thinking"];
    c.mend.placeholder = j.value("placeholder", c.mend.placeholder);
    c.mend.drop_foreign = j.value("foreign_reasoning", std::string("convert")) == "drop";
    c.ttl_seconds = j.value("ttl_seconds", c.ttl_seconds);
    c.max_reasoning_bytes = j.value("max_reasoning_bytes", c.max_reasoning_bytes);
    c.think_tags = j.value("think_tags", c.think_tags);
    c.max_hold_bytes = j.value("max_hold_bytes", c.max_hold_bytes);
    return c;
}

//! Which ABI 1.4 functions this host offers, probed once.
struct HostFeatures {
    bool session = false;
    bool capabilities = false;
    bool rewrite = false;
    bool notes = false;
    explicit HostFeatures(const ts_host_api* h)
        : session(TS_HOST_HAS(h, session_get) && TS_HOST_HAS(h, session_put)),
          capabilities(TS_HOST_HAS(h, model_capabilities)),
          rewrite(TS_HOST_HAS(h, event_json) && TS_HOST_HAS(h, event_set_json) &&
                  TS_HOST_HAS(h, event_drop) && TS_HOST_HAS(h, event_hold) &&
                  TS_HOST_HAS(h, held_count) && TS_HOST_HAS(h, held_event_json) &&
                  TS_HOST_HAS(h, held_release) && TS_HOST_HAS(h, held_discard) &&
                  TS_HOST_HAS(h, stream_emit)),
          notes(TS_HOST_HAS(h, decision_note)) {}
};

//! One answer in flight.
struct AnswerState {
    ThinkTagSplitter splitter;
    TurnRecorder recorder;
    bool split = false;
    bool record = false;
    std::string model;
};

class ReasoningLedger {
  public:
    //! Advisory: a failure lets the request go on without the ledger (ABI 1.4).
    static constexpr uint32_t flags = TS_FLAG_ADVISORY;

    ReasoningLedger(const sdk::Host& host, std::string_view config_json)
        : api_(host.api()), has_(host.api()), config_(parse_config(config_json)) {
        if (!has_.session)
            host.log(TS_LOG_WARN,
                     "reasoning_ledger: this host has no session state (plugin ABI 1.4): tool "
                     "turns get the placeholder reasoning, nothing is remembered");
        if (!has_.rewrite)
            host.log(TS_LOG_WARN,
                     "reasoning_ledger: this host cannot rewrite streams (plugin ABI 1.4): "
                     "answers are not recorded and <think> tags stay text");
    }

    // -- strategy hooks --

    void on_request(sdk::Request& request) {
        const std::string target(request.model());
        const ThinkingProtocol protocol = protocol_of(request.handle(), target);
        if (protocol != ThinkingProtocol::reasoning_content &&
            protocol != ThinkingProtocol::anthropic)
            return;
        std::optional<std::string> messages_text = request.get_json("/messages");
        if (!messages_text) return;
        const Json messages = Json::parse(*messages_text, nullptr, false);
        Lookup lookup;
        if (has_.session)
            lookup = [&](const std::string& key) { return recall(request.handle(), key); };
        MendResult r = mend_history(messages, protocol, target, lookup, config_.mend);
        for (auto& [index, content] : r.changed) {
            const std::string pointer = "/messages/" + std::to_string(index) + "/content";
            if (!request.set_json(pointer, content.dump()))
                throw std::runtime_error("reasoning_ledger: the host refused the mended " +
                                         pointer);
        }
        if (r.disable_thinking) request.set_json("/thinking", R"({"type":"disabled"})");
        note(request.handle(), "ledger_restored", r.restored, "reasoning put back from the ledger");
        note(request.handle(), "ledger_placeholder", r.placeholders,
             "tool turns without recorded reasoning got the placeholder");
        note(request.handle(), "ledger_converted", r.converted,
             "another model's reasoning sent as text");
        note(request.handle(), "ledger_dropped", r.dropped,
             "thinking this model did not write was removed");
    }

    void on_stream_event(sdk::Request& request, sdk::Event& event) {
        const int type = static_cast<int>(event.type());
        AnswerState* state = answer_of(request, type);
        if (!state) return;
        if (state->split && state->splitter.wants(type)) {
            const std::string json = event_json(event.handle());
            apply(request, event, type, *state, state->splitter.on_event(json), json);
            return;
        }
        observe_current(*state, event, type);
        if (type == TS_EVENT_MESSAGE_STOP) remember(request, *state);
    }

    void on_response_end(sdk::Request& request, const sdk::Response&) {
        std::lock_guard<std::mutex> lock(mutex_);
        answers_.erase(request.handle());
    }

  private:
    ThinkingProtocol protocol_of(const ts_request* request, std::string_view model) const {
        if (auto p = protocol_for_model(config_.thinking, model)) return *p;
        if (!has_.capabilities) return ThinkingProtocol::unknown;
        ts_buf out{nullptr, 0};
        if (api_->model_capabilities(request, str(model), &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return ThinkingProtocol::unknown;
        }
        const Json caps = Json::parse(sdk::detail::take(api_, out), nullptr, false);
        if (!caps.is_object() || !caps.contains("thinking") || !caps["thinking"].is_string())
            return ThinkingProtocol::unknown;
        return protocol_from_string(caps["thinking"].get<std::string>());
    }

    std::optional<TurnRecord> recall(const ts_request* request, const std::string& key) const {
        ts_buf out{nullptr, 0};
        if (api_->session_get(request, str(key), &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return std::nullopt;
        }
        return TurnRecord::from_json(sdk::detail::take(api_, out));
    }

    void note(ts_request* request, std::string_view kind, int count, std::string_view what) {
        if (count == 0 || !has_.notes) return;
        const std::string reason = std::to_string(count) + " " + std::string(what);
        api_->decision_note(request, str(kind), str(reason));
    }

    //! The answer's state, made at message_start; nullptr when this host cannot follow streams.
    AnswerState* answer_of(sdk::Request& request, int type) {
        if (!has_.rewrite) return nullptr;
        if (type == TS_EVENT_MESSAGE_START) {
            std::string model(request.model());
            // reasoning_content models: the reasoning, to send back. anthropic models: only who
            // answered, so that a later request to another model drops their signed thinking.
            const ThinkingProtocol p = protocol_of(request.handle(), model);
            const bool record = has_.session && (p == ThinkingProtocol::reasoning_content ||
                                                 p == ThinkingProtocol::anthropic);
            const size_t keep =
                p == ThinkingProtocol::reasoning_content ? config_.max_reasoning_bytes : 0;
            std::lock_guard<std::mutex> lock(mutex_);
            AnswerState& s = answers_[request.handle()];
            s = AnswerState{ThinkTagSplitter(config_.max_hold_bytes), TurnRecorder(keep),
                            config_.think_tags, record, std::move(model)};
            return &s;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = answers_.find(request.handle());
        return it == answers_.end() ? nullptr : &it->second;
    }

    std::string event_json(const ts_event* event) const {
        ts_buf out{nullptr, 0};
        if (api_->event_json(event, &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return {};
        }
        return sdk::detail::take(api_, out);
    }

    void observe_json(AnswerState& s, const std::string& json) {
        if (s.record) s.recorder.observe(event_type_of(json), json);
    }

    void observe_current(AnswerState& s, sdk::Event& event, int type) {
        if (!s.record) return;
        s.recorder.observe(type, s.recorder.needs_json(type) ? event_json(event.handle()) : "");
    }

    void observe_held(sdk::Request& request, AnswerState& s) {
        if (!s.record) return;
        const uint32_t n = api_->held_count(request.handle());
        for (uint32_t i = 0; i < n; ++i) {
            ts_buf out{nullptr, 0};
            if (api_->held_event_json(request.handle(), i, &out) == TS_OK)
                observe_json(s, sdk::detail::take(api_, out));
            else if (out.ptr)
                api_->free(out.ptr);
        }
    }

    //! Carries out the splitter's decision with the host's stream-rewriting functions.
    void apply(sdk::Request& request, sdk::Event& event, int type, AnswerState& s,
               const StreamStep& step, const std::string& current) {
        ts_request* r = request.handle();
        switch (step.kind) {
            case StreamStep::Kind::pass:
                if (s.record) s.recorder.observe(type, current);
                break;
            case StreamStep::Kind::hold:
                if (api_->event_hold(event.handle()) == TS_OK) return;
                // At the host's cap: stop splitting, everything goes on as it came.
                s.splitter.abandon();
                [[fallthrough]];
            case StreamStep::Kind::release:
                observe_held(request, s);
                api_->held_release(r);
                if (s.record) s.recorder.observe(type, current);
                break;
            case StreamStep::Kind::replace: {
                const bool held = api_->held_count(r) > 0;
                if (held) api_->held_discard(r);
                if (!held && step.emit.size() == 1 &&
                    api_->event_set_json(event.handle(), str(step.emit[0])) == TS_OK) {
                    observe_json(s, step.emit[0]);
                    break;
                }
                for (const std::string& e : step.emit) {
                    if (api_->stream_emit(r, str(e)) != TS_OK)
                        throw std::runtime_error("reasoning_ledger: the host refused an event");
                    observe_json(s, e);
                }
                api_->event_drop(event.handle());
                break;
            }
        }
        if (type == TS_EVENT_MESSAGE_STOP) remember(request, s);
    }

    void remember(sdk::Request& request, AnswerState& s) {
        if (!s.record) return;
        auto rec = s.recorder.finish(s.model);
        s.record = false;
        if (!rec) return;
        const std::string value = rec->second.to_json();
        const ts_status st =
            api_->session_put(request.handle(), str(rec->first), str(value), config_.ttl_seconds);
        if (st != TS_OK)
            request.log(TS_LOG_WARN,
                        st == TS_ERR_LIMIT
                            ? "reasoning_ledger: session state is full; this turn's reasoning "
                              "is not kept (later requests get the placeholder)"
                            : "reasoning_ledger: session state unreachable; this turn's "
                              "reasoning is not kept");
    }

    const ts_host_api* api_;
    HostFeatures has_;
    Config config_;
    std::mutex mutex_;
    std::unordered_map<const ts_request*, AnswerState> answers_;
};

}  // namespace

TIANSHU_PLUGIN(ReasoningLedger, "reasoning_ledger", "1.0.0", TS_KIND_STRATEGY, kSchema,
               "Keeps each tool turn's reasoning and sends it back to providers that require "
               "it; turns a leading <think> in the answer into a thinking block.")
