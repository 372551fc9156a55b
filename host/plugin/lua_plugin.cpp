#include "plugin/lua_plugin.hpp"

#include <algorithm>
#include <fstream>
#include <functional>
#include <sstream>

#include "plugin/request_access.hpp"

namespace tianshu::plugin {

namespace fs = std::filesystem;

namespace {
core::Error script_error(const std::string& path, std::string message) {
    return core::Error{core::ErrorKind::script_failure, std::move(message), path};
}

bool valid_name(const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char ch) {
        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    });
}
}  // namespace

// -- LuaPluginFactory ------------------------------------------------------------------------

LuaPluginFactory::LuaPluginFactory(PluginInfo info, std::shared_ptr<const LuaScript> script,
                                   LuaScriptShape shape)
    : info_(std::move(info)), script_(std::move(script)), shape_(std::move(shape)) {}

core::Result<std::shared_ptr<Strategy>> LuaPluginFactory::create_strategy(
    const core::Json& config) {
    if (info_.kind != PluginKind::strategy)
        return core::Error::invalid("'" + info_.name + "' (" + info_.path +
                                    ") is a model script, not a strategy");
    return std::shared_ptr<Strategy>(
        std::make_shared<LuaStrategy>(info_.name, script_, shape_, config));
}

core::Result<std::shared_ptr<Model>> LuaPluginFactory::create_model(const core::Json& config) {
    if (info_.kind != PluginKind::model)
        return core::Error::invalid("'" + info_.name + "' (" + info_.path +
                                    ") is a strategy script, not a model");
    return std::shared_ptr<Model>(std::make_shared<LuaModel>(info_.name, script_, config));
}

// -- LuaStrategy -----------------------------------------------------------------------------

LuaStrategy::LuaStrategy(std::string name, std::shared_ptr<const LuaScript> script,
                         LuaScriptShape shape, core::Json config)
    : name_(std::move(name)),
      script_(std::move(script)),
      shape_(std::move(shape)),
      config_(std::move(config)) {}

core::Result<HookOutcome> LuaStrategy::on_request(RequestContext& ctx) {
    if (!shape_.has_on_request) return HookOutcome::proceed;
    const bool had_answer = ctx.answer.has_value();
    LuaCall call{script_.get(), LuaHook::on_request, &ctx, &config_, nullptr, &name_};
    auto r = LuaVm::for_this_fiber().call(call);
    if (!r) return r.take_error();
    const std::string& returned = r.value();
    if (returned == "answered") {
        if (!ctx.answer)
            return script_error(
                script_->path,
                "script '" + script_->path +
                    "' returned \"answered\" from on_request without calling tianshu.answer");
        return HookOutcome::answered;
    }
    if (!returned.empty() && returned != "continue")
        return script_error(script_->path,
                            "script '" + script_->path + "' returned \"" + returned +
                                "\" from on_request; return \"answered\", \"continue\" or nothing");
    return ctx.answer && !had_answer ? HookOutcome::answered : HookOutcome::proceed;
}

core::Result<void> LuaStrategy::on_stream_event(RequestContext& ctx, core::StreamEvent& event) {
    if (!shape_.has_on_stream_event) return {};
    LuaCall call{script_.get(), LuaHook::on_stream_event, &ctx, &config_, &event, &name_};
    auto r = LuaVm::for_this_fiber().call(call);
    if (!r) return r.take_error();
    return {};
}

core::Result<void> LuaStrategy::on_response_end(RequestContext& ctx) {
    if (!shape_.has_on_response_end) return {};
    LuaCall call{script_.get(), LuaHook::on_response_end, &ctx, &config_, nullptr, &name_};
    auto r = LuaVm::for_this_fiber().call(call);
    if (!r) return r.take_error();
    return {};
}

// -- LuaModel --------------------------------------------------------------------------------

LuaModel::LuaModel(std::string name, std::shared_ptr<const LuaScript> script, core::Json config)
    : name_(std::move(name)), script_(std::move(script)), config_(std::move(config)) {}

core::Result<void> LuaModel::generate(RequestContext& ctx) {
    LuaCall call{script_.get(), LuaHook::generate, &ctx, &config_, nullptr, &name_};
    auto r = LuaVm::for_this_fiber().call(call);
    if (!r) return r.take_error();
    if (!ctx.finished && ctx.emit) {
        auto f = ModelOutput(ctx).finish(core::StopReason::end_turn, nullptr);
        if (!f) return f.take_error();
    }
    return {};
}

// -- loading ---------------------------------------------------------------------------------

core::Result<std::shared_ptr<LuaPluginFactory>> load_lua_script(const fs::path& file,
                                                                std::optional<PluginKind> kind,
                                                                const LuaLimits& limits) {
    auto script = std::make_shared<LuaScript>();
    script->path = file.string();
    script->chunkname = "@" + script->path;
    script->limits = limits;
    {
        std::ifstream in(file, std::ios::binary);
        if (!in) return script_error(script->path, "cannot read script '" + script->path + "'");
        std::ostringstream text;
        text << in.rdbuf();
        script->source = std::move(text).str();
    }
    if (script->source.rfind(LUA_SIGNATURE, 0) == 0)
        return script_error(script->path,
                            "script '" + script->path +
                                "' is precompiled Lua bytecode; only Lua source text is loaded");
    script->content_hash = std::hash<std::string>{}(script->source);

    LuaVm scratch;
    auto shape = scratch.inspect(*script);
    if (!shape) return shape.take_error();
    LuaScriptShape s = std::move(shape).value();

    PluginInfo info;
    info.name = s.name.empty() ? file.stem().string() : s.name;
    info.version = s.version.empty() ? "0.0.0" : s.version;
    info.kind = kind.value_or(s.has_generate ? PluginKind::model : PluginKind::strategy);
    info.abi_version = "lua";
    info.path = script->path;
    info.description = s.description;
    info.config_schema = s.config_schema;
    if (!valid_name(info.name))
        return script_error(script->path,
                            "script '" + script->path + "' is named '" + info.name +
                                "'; names are [a-z0-9_]+ (set plugin.name or rename the file)");
    if (!info.config_schema.empty()) {
        auto parsed = core::Json::parse(info.config_schema, nullptr, false);
        if (parsed.is_discarded() || !parsed.is_object())
            return script_error(script->path, "script '" + script->path +
                                                  "': plugin.config_schema is not a JSON object");
    }
    if (info.kind == PluginKind::model && !s.has_generate)
        return script_error(script->path,
                            "model script '" + script->path + "' does not define generate(req)");
    if (info.kind == PluginKind::strategy && !s.has_on_request && !s.has_on_stream_event &&
        !s.has_on_response_end)
        return script_error(script->path,
                            "strategy script '" + script->path +
                                "' defines none of on_request, on_stream_event, on_response_end");
    return std::make_shared<LuaPluginFactory>(std::move(info), std::move(script), std::move(s));
}

core::Result<LuaScriptCatalog> load_lua_scripts(const fs::path& dir, const LuaLimits& limits) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
        return core::Error{
            core::ErrorKind::not_found, "script folder '" + dir.string() + "' does not exist", {}};
    LuaScriptCatalog catalog;
    const std::pair<const char*, PluginKind> folders[] = {{"models", PluginKind::model},
                                                          {"strategies", PluginKind::strategy}};
    for (auto [folder, kind] : folders) {
        fs::path sub = dir / folder;
        if (!fs::is_directory(sub, ec)) continue;
        std::vector<fs::path> files;
        for (const auto& entry : fs::directory_iterator(sub, ec))
            if (entry.is_regular_file() && entry.path().extension() == ".lua")
                files.push_back(entry.path());
        std::sort(files.begin(), files.end());
        for (const auto& file : files) {
            auto f = load_lua_script(file, kind, limits);
            if (f)
                catalog.factories.push_back(std::move(f).value());
            else
                catalog.errors.push_back(f.take_error());
        }
    }
    return catalog;
}

}  // namespace tianshu::plugin
