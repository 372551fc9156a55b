#include "pipeline/capability_table.hpp"

#include <stdexcept>

#include "core/glob.hpp"

namespace tianshu::pipeline {

using core::Error;
using core::Json;
using core::ModelCapabilities;

namespace {
#include "capabilities_schema_text.inc"
;
#include "builtin_capabilities_text.inc"
;
constexpr std::string_view kFix = "see docs/capabilities.md for the format";

bool is_pattern(std::string_view s) {
    return s.find_first_of("*?") != std::string_view::npos;
}
}  // namespace

const JsonSchema& capabilities_schema() {
    static const std::shared_ptr<const JsonSchema> schema = [] {
        auto compiled = JsonSchema::compile_text(kCapabilitiesSchemaText);
        if (!compiled)
            throw std::logic_error("embedded capabilities schema does not compile: " +
                                   compiled.error().message);
        return compiled.value();
    }();
    return *schema;
}

core::Result<CapabilityTable> CapabilityTable::parse(std::string_view text,
                                                     std::string_view origin) {
    const std::string where(origin);
    Json body = Json::parse(text, nullptr, false);
    if (body.is_discarded())
        return Error::invalid(where + ": not JSON: write one object {\"models\": {...}}; " +
                              std::string(kFix));
    auto problems = capabilities_schema().validate(body);
    if (!problems.empty()) {
        std::string message = where + ": not a capability table (" + std::string(kFix) + "):";
        for (const auto& p : problems) message += "\n  " + p.to_string();
        return Error::invalid(message);
    }
    CapabilityTable table;
    for (const auto& [pattern, fields] : body["models"].items()) {
        ModelCapabilities caps;
        for (const auto& [key, value] : fields.items()) {
            // The schema admitted only known fields; this reads them with the one reader.
            auto read = core::read_capability_field(caps, key, value,
                                                    where + ": /models/" + pattern + "/" + key);
            if (!read) return read.take_error();
        }
        table.entries_.emplace_back(pattern, std::move(caps));
    }
    return table;
}

const CapabilityTable& CapabilityTable::builtin() {
    static const CapabilityTable table = [] {
        auto parsed = parse(kBuiltinCapabilitiesText, "built-in capability table");
        if (!parsed) throw std::logic_error(parsed.error().message);
        return std::move(parsed).value();
    }();
    return table;
}

void CapabilityTable::merge(const CapabilityTable& over) {
    for (const auto& entry : over.entries_) {
        const auto& [pattern, caps] = entry;
        // Compare through `entry`: clang before 16 cannot capture a structured binding.
        auto it = std::find_if(entries_.begin(), entries_.end(),
                               [&](const auto& e) { return e.first == entry.first; });
        if (it == entries_.end())
            entries_.emplace_back(pattern, caps);
        else
            it->second.overlay(caps);
    }
}

const ModelCapabilities* CapabilityTable::find(std::string_view model) const {
    const ModelCapabilities* best = nullptr;
    int best_rank = -1;
    for (const auto& [pattern, caps] : entries_) {
        if (!is_pattern(pattern)) {
            if (pattern == model) return &caps;
            continue;
        }
        if (!core::glob_match(pattern, model)) continue;
        const int rank = core::glob_specificity(pattern);
        if (rank > best_rank) {
            best = &caps;
            best_rank = rank;
        }
    }
    return best;
}

core::Result<ModelCapabilities> channel_capabilities(const Json& options,
                                                     std::string_view channel) {
    ModelCapabilities caps;
    if (!options.is_object()) return caps;
    for (const auto& [key, value] : options.items()) {
        if (!core::is_capability_field(key)) continue;
        auto read = core::read_capability_field(
            caps, key, value, "channel '" + std::string(channel) + "' option " + key);
        if (!read) return read.take_error();
    }
    // The older spelling of thinking: "reasoning_content" (one setting drives the ledger,
    // which reads the capability, and the OpenAI encoder, which sends what the ledger mends).
    if (auto it = options.find("reasoning_on_tool_turns"); it != options.end()) {
        const std::string where =
            "channel '" + std::string(channel) + "' option reasoning_on_tool_turns";
        if (!it->is_boolean())
            return Error::invalid(where +
                                  ": write true or false (or, preferred, \"thinking\": "
                                  "\"reasoning_content\")");
        if (it->get<bool>()) {
            if (caps.thinking && *caps.thinking != "reasoning_content")
                return Error::invalid(where + " is true but option thinking is \"" +
                                      *caps.thinking +
                                      "\": reasoning_on_tool_turns is the older spelling of "
                                      "thinking \"reasoning_content\"; keep one of them");
            caps.thinking = "reasoning_content";
        }
    }
    return caps;
}

std::optional<ModelCapabilities> ModelCapabilityBook::lookup(std::string_view upstream_model,
                                                             std::string_view requested_model,
                                                             std::string_view channel) const {
    ModelCapabilities out;
    const ModelCapabilities* row = table_ ? table_->find(upstream_model) : nullptr;
    if (!row && table_ && requested_model != upstream_model) row = table_->find(requested_model);
    if (row) out = *row;
    if (!channel.empty()) {
        if (auto it = preset_by_channel_.find(channel); it != preset_by_channel_.end()) {
            const ModelCapabilities* preset = it->second->find(upstream_model);
            if (!preset && requested_model != upstream_model)
                preset = it->second->find(requested_model);
            if (preset) out.overlay(*preset);
        }
        if (auto it = by_channel_.find(channel); it != by_channel_.end()) out.overlay(it->second);
    }
    if (out.empty()) return std::nullopt;
    return out;
}

std::optional<ModelCapabilities> ModelCapabilityBook::capabilities(
    const plugin::RequestContext& ctx, std::string_view model) const {
    // While a model generates, the request names the channel's own model on ctx.channel.
    if (model.empty() && !ctx.channel.empty())
        return lookup(ctx.request.model, ctx.request.model, ctx.channel);
    const std::string name(model.empty() ? std::string_view(ctx.request.model) : model);
    if (models_) {
        if (auto target = models_->resolve(name); target)
            return lookup(target->upstream_model, name, target->channel);
    }
    return lookup(name, name, {});
}

std::optional<bool> ModelCapabilityBook::serving(const plugin::RequestContext& ctx,
                                                 std::string_view model) const {
    if (!models_) return std::nullopt;
    return models_->serving(
        std::string(model.empty() ? std::string_view(ctx.request.model) : model));
}

}  // namespace tianshu::pipeline
