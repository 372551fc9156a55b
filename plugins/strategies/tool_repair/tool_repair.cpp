// tool_repair: tool calls that survive cheap models. Request side: orphaned tool_use blocks get
// a placeholder result so strict providers accept the history. Response side: tool calls the
// model wrote as text become real tool_use blocks, their arguments repaired and validated
// (see README.md). The logic lives in the host-free library beside this file; this file only
// wires it to the plugin ABI (1.4 stream rewriting, probed).
#include <atomic>
#include <deque>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

#include "history_repair.hpp"
#include "stream_rewriter.hpp"
#include "text_tools.hpp"

namespace {

using nlohmann::json;
using tianshu::sdk::detail::str;
using tianshu::sdk::detail::take;
namespace tr = tianshu::tool_repair;

constexpr const char* kSchema = R"schema({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "envelopes": {
      "type": "array",
      "description": "the text formats of tool calls to recognise (default: all)",
      "items": {"enum": ["hermes", "qwen3_coder", "glm", "deepseek", "kimi", "minimax", "fenced_json"]},
      "uniqueItems": true
    },
    "max_call_bytes": {
      "type": "integer", "minimum": 256, "maximum": 4194304,
      "description": "the most a text call's body may hold before it is given up as text (default 65536)"
    },
    "reask": {
      "type": "boolean",
      "description": "ask the model once to correct arguments that could not be repaired (default false)"
    },
    "repair_history": {
      "type": "boolean",
      "description": "give orphaned tool_use blocks a placeholder tool_result (default true)"
    },
    "text_tools": {
      "type": "boolean",
      "description": "for a model whose capabilities say tool_calls: text, describe the tools in the prompt and read the calls back from the text (default true)"
    },
    "placeholder_result": {
      "type": "string", "minLength": 1,
      "description": "the text of a placeholder tool_result"
    }
  },
  "additionalProperties": false
})schema";

constexpr const char* kDefaultPlaceholder =
    "[tool_repair] No result was recorded for this tool call; it may not have run.";

//! The tools the pre side took out of a request for a text-tools model, kept for the post side
//! of the same request (another instance of this plugin, in the same library): keyed by request
//! id, taken once, and bounded so requests that never stream cannot make it grow.
class ToolHandOff {
  public:
    static ToolHandOff& shared() {
        static ToolHandOff instance;
        return instance;
    }
    void put(const std::string& request_id, std::string tools) {
        std::lock_guard lock(mu_);
        if (tools_.emplace(request_id, std::move(tools)).second) order_.push_back(request_id);
        while (order_.size() > kMax) {
            tools_.erase(order_.front());
            order_.pop_front();
        }
    }
    std::optional<std::string> take(const std::string& request_id) {
        std::lock_guard lock(mu_);
        auto it = tools_.find(request_id);
        if (it == tools_.end()) return std::nullopt;
        std::string tools = std::move(it->second);
        tools_.erase(it);
        return tools;
    }

  private:
    static constexpr size_t kMax = 4096;
    std::mutex mu_;
    std::unordered_map<std::string, std::string> tools_;
    std::deque<std::string> order_;  // oldest first; may name ids already taken
};

//! The plugin instance: configuration plus the rewriter of each answer in flight.
class ToolRepair {
  public:
    static constexpr uint32_t flags = TS_FLAG_ADVISORY;

    ToolRepair(const tianshu::sdk::Host& host, std::string_view config_json) : api_(host.api()) {
        json config = json::parse(config_json.empty() ? std::string_view("{}") : config_json);
        if (config.contains("envelopes")) {
            options_.recognizer.envelopes.clear();
            for (const auto& name : config["envelopes"]) {
                tr::Envelope e;
                if (!name.is_string() || !tr::envelope_from_name(name.get<std::string>(), e))
                    throw std::runtime_error("tool_repair: unknown envelope " + name.dump() +
                                             " in \"envelopes\"; use hermes, qwen3_coder, glm, "
                                             "deepseek, kimi, minimax or fenced_json");
                options_.recognizer.envelopes.push_back(e);
            }
        }
        options_.recognizer.max_call_bytes = config.value("max_call_bytes", 65536);
        options_.reask = config.value("reask", false);
        repair_history_ = config.value("repair_history", true);
        placeholder_ = config.value("placeholder_result", std::string(kDefaultPlaceholder));
        text_tools_ = config.value("text_tools", true);
        rewrites_stream_ = TS_HOST_HAS(api_, event_json) && TS_HOST_HAS(api_, event_set_json) &&
                           TS_HOST_HAS(api_, event_drop) && TS_HOST_HAS(api_, stream_emit);
        notes_ = TS_HOST_HAS(api_, decision_note);
    }

    // -- tianshu strategy hooks --

    void on_request(tianshu::sdk::Request& request) {
        if (repair_history_) repair_history(request);
        if (text_tools_ && calls_tools_as_text(request)) describe_tools_as_text(request);
    }

    void on_stream_event(tianshu::sdk::Request& request, tianshu::sdk::Event& event) {
        if (!rewrites_stream_) {
            if (!warned_.exchange(true))
                request.log(TS_LOG_WARN,
                            "tool_repair: this host has no stream rewriting (plugin ABI 1.4 "
                            "event_json/event_drop/stream_emit): text tool calls pass through "
                            "unchanged");
            return;
        }
        const int type = static_cast<int>(event.type());
        ts_request* handle = request.handle();
        tr::StreamRewriter* rewriter = nullptr;
        if (type == TS_EVENT_MESSAGE_START) {
            rewriter = start_stream(request);
        } else {
            std::lock_guard lock(mu_);
            auto it = streams_.find(handle);
            if (it != streams_.end()) rewriter = it->second.get();
        }
        if (!rewriter) return;  // no tools declared: nothing can be promoted

        ts_event* e = event.handle();
        auto event_json = [&] {
            ts_buf out{nullptr, 0};
            if (api_->event_json(e, &out) != TS_OK)
                throw std::runtime_error("tool_repair: the host could not give the event's JSON");
            return take(api_, out);
        };
        std::string_view text =
            type == TS_EVENT_CONTENT_BLOCK_DELTA ? event.text() : std::string_view();
        tr::Rewrite r = rewriter->on_event(type, text, event_json);
        for (const std::string& inserted : r.before)
            if (api_->stream_emit(handle, str(inserted)) != TS_OK)
                throw std::runtime_error("tool_repair: the host refused an event it emitted");
        switch (r.current) {
            case tr::Rewrite::Current::pass:
                break;
            case tr::Rewrite::Current::drop:
                api_->event_drop(e);
                break;
            case tr::Rewrite::Current::set_text:
                if (!event.set_text(r.replacement))
                    throw std::runtime_error("tool_repair: the host refused a delta's new text");
                break;
            case tr::Rewrite::Current::replace:
                if (api_->event_set_json(e, str(r.replacement)) != TS_OK)
                    throw std::runtime_error("tool_repair: the host refused a rewritten event");
                break;
        }
        if (type == TS_EVENT_MESSAGE_STOP || type == TS_EVENT_ERROR) forget(handle);
    }

    void on_response_end(tianshu::sdk::Request& request, const tianshu::sdk::Response&) {
        forget(request.handle());  // a stream cut short never saw message_stop
    }

  private:
    void repair_history(tianshu::sdk::Request& request) {
        std::optional<std::string> text = request.get_json("/messages");
        if (!text) return;
        json messages = json::parse(*text, nullptr, false);
        size_t added = tr::add_missing_tool_results(messages, placeholder_);
        if (added == 0) return;
        if (!request.set_json("/messages", messages.dump())) {
            request.log(TS_LOG_WARN,
                        "tool_repair: the host refused the history with placeholder "
                        "tool results; the request goes on unchanged");
            return;
        }
        note(
            request.handle(), "tool_result_placeholder",
            std::to_string(added) + " tool_use block(s) without a result got a placeholder result");
    }

    //! True when the host's capability table says the target model has no native tool calls.
    bool calls_tools_as_text(const tianshu::sdk::Request& request) const {
        if (!TS_HOST_HAS(api_, model_capabilities)) return false;
        ts_buf out{nullptr, 0};
        if (api_->model_capabilities(request.handle(), str(""), &out) != TS_OK) {
            if (out.ptr) api_->free(out.ptr);
            return false;
        }
        json caps = json::parse(take(api_, out), nullptr, false);
        return caps.is_object() && caps.value("tool_calls", "") == "text";
    }

    //! The tools go into the system prompt, the history's tool blocks become text, and the
    //! request carries no tools; the post side gets them back through ToolHandOff.
    void describe_tools_as_text(tianshu::sdk::Request& request) {
        std::optional<std::string_view> id = request.attribute("request_id");
        std::optional<std::string> tools_text = request.get_json("/tools");
        if (!id || id->empty() || !tools_text) return;
        json tools = json::parse(*tools_text, nullptr, false);
        if (!tools.is_array() || tools.empty()) return;
        std::string system = request.system_text();
        std::string prompt = tr::tools_prompt(tools);
        if (!request.set_system_text(system.empty() ? prompt : system + "\n\n" + prompt)) return;
        if (std::optional<std::string> text = request.get_json("/messages")) {
            json messages = json::parse(*text, nullptr, false);
            if (tr::history_as_text(messages) > 0) request.set_json("/messages", messages.dump());
        }
        request.set_json("/tools", "[]");
        ToolHandOff::shared().put(std::string(*id), tools.dump());
        note(request.handle(), "tools_as_text",
             std::to_string(tools.size()) +
                 " tool(s) described in the prompt for a model without native tool calls");
    }

    tr::StreamRewriter* start_stream(tianshu::sdk::Request& request) {
        std::optional<std::string> tools_json = request.get_json("/tools");
        tr::ToolCatalog tools;
        if (tools_json)
            tools = tr::ToolCatalog::from_request_tools(json::parse(*tools_json, nullptr, false));
        if (tools.empty()) {  // a text-tools model: the pre side kept them
            std::optional<std::string_view> id = request.attribute("request_id");
            if (id && !id->empty())
                if (std::optional<std::string> kept = ToolHandOff::shared().take(std::string(*id)))
                    tools = tr::ToolCatalog::from_request_tools(json::parse(*kept, nullptr, false));
        }
        ts_request* handle = request.handle();
        if (tools.empty()) {
            forget(handle);
            return nullptr;
        }
        tr::RewriterOptions options = options_;
        // Ids unique per answer: the request id (or the handle) plus a counter.
        std::string id = std::string(request.attribute("request_id").value_or(""));
        std::string tag;
        for (char c : id)
            if (std::isalnum(static_cast<unsigned char>(c))) tag += c;
        if (tag.empty()) tag = std::to_string(reinterpret_cast<uintptr_t>(handle));
        options.id_prefix = "toolu_tr" + tag.substr(0, 24) + "_";

        const ts_host_api* api = api_;
        tr::ReaskFn reask =
            [api, handle](const tr::MalformedCallInfo& call) -> std::optional<std::string> {
            // ABI 1.4 allows call_model in on_stream_event; a host that refuses it here
            // (TS_ERR_WRONG_PHASE, older hosts) leaves the text note as the answer.
            ts_buf out{nullptr, 0};
            std::string prompt = tr::reask_prompt(call);
            ts_status s = api->call_model(handle, api->request_model(handle), str(prompt), &out);
            if (s != TS_OK) {
                if (out.ptr) api->free(out.ptr);
                return std::nullopt;
            }
            return take(api, out);
        };
        tr::NoteFn notes = [this, handle](std::string_view kind, const std::string& reason) {
            note(handle, kind, reason);
        };
        auto rewriter = std::make_unique<tr::StreamRewriter>(std::move(tools), std::move(options),
                                                             std::move(reask), std::move(notes));
        tr::StreamRewriter* raw = rewriter.get();
        std::lock_guard lock(mu_);
        streams_[handle] = std::move(rewriter);
        return raw;
    }

    void forget(ts_request* handle) {
        std::lock_guard lock(mu_);
        streams_.erase(handle);
    }

    void note(ts_request* handle, std::string_view kind, const std::string& reason) {
        if (notes_) api_->decision_note(handle, str(kind), str(reason));
    }

    const ts_host_api* api_;
    tr::RewriterOptions options_;
    bool repair_history_ = true;
    bool text_tools_ = true;
    std::string placeholder_;
    bool rewrites_stream_ = false;
    bool notes_ = false;
    std::atomic<bool> warned_{false};
    std::mutex mu_;
    std::unordered_map<ts_request*, std::unique_ptr<tr::StreamRewriter>> streams_;
};

}  // namespace

TIANSHU_PLUGIN(ToolRepair, "tool_repair", "1.0.0", TS_KIND_STRATEGY, kSchema,
               "Turns tool calls written as text into tool_use blocks, repairs their arguments, "
               "and gives orphaned tool_use blocks a result.")
