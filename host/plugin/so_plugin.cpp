#include "plugin/so_plugin.hpp"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>

#include <boost/dll/shared_library.hpp>

#include "core/fiber.hpp"
#include "core/log.hpp"
#include "plugin/host_api.hpp"
#include "plugin/request_access.hpp"

namespace tianshu::plugin {

using core::Error;
using core::ErrorKind;

struct SoLibrary {
    boost::dll::shared_library library;
    //! A full-size, zero-initialised copy: fields past the plugin's struct_size read as zero.
    ts_plugin_descriptor descriptor{};
    PluginInfo info;
};

namespace {

std::string abi_string(unsigned major, unsigned minor) {
    return std::to_string(major) + "." + std::to_string(minor);
}

Error load_error(std::string message, const std::string& source) {
    return Error{ErrorKind::plugin_failure, std::move(message), source};
}

bool valid_name(std::string_view name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

//! Reads a descriptor string only when the plugin's descriptor reaches that field.
const char* field_string(const ts_plugin_descriptor* d, size_t offset) {
    if (d->struct_size < offset + sizeof(const char*)) return nullptr;
    const char* s = nullptr;
    std::memcpy(&s, reinterpret_cast<const char*>(d) + offset, sizeof s);
    return s;
}

}  // namespace

core::Result<std::shared_ptr<SoPluginFactory>> SoPluginFactory::load(
    const std::filesystem::path& path) {
    const std::string where = path.string();
    auto lib = std::make_shared<SoLibrary>();

    boost::dll::fs::error_code ec;
    lib->library.load(boost::dll::fs::path(where), ec,
                      boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    if (ec || !lib->library.is_loaded()) {
        const char* why = dlerror();
        return load_error(
            "cannot load plugin library " + where + ": " + (why ? std::string(why) : ec.message()),
            where);
    }
    if (!lib->library.has(TS_PLUGIN_ENTRY_SYMBOL)) {
        return load_error(path.filename().string() +
                              " is not a Tianshu plugin: it does not export " +
                              TS_PLUGIN_ENTRY_SYMBOL + " (" + where + ")",
                          where);
    }
    auto& entry =
        lib->library.get<const ts_plugin_descriptor*(uint16_t, uint16_t)>(TS_PLUGIN_ENTRY_SYMBOL);
    const ts_plugin_descriptor* d = entry(TS_ABI_MAJOR, TS_ABI_MINOR);
    const std::string host_abi = abi_string(TS_ABI_MAJOR, TS_ABI_MINOR);
    if (!d) {
        return load_error("plugin library " + where + " declined this host (ABI " + host_abi +
                              "): tianshu_plugin_entry returned no descriptor",
                          where);
    }

    // The header {struct_size, abi_major, abi_minor, name} is what every major keeps, so the
    // refusal can name the plugin.
    const char* name_ptr = field_string(d, offsetof(ts_plugin_descriptor, name));
    const std::string name = name_ptr ? name_ptr : "";
    const std::string who = "plugin '" + name + "' (" + where + ")";
    if (d->abi_major != TS_ABI_MAJOR) {
        return load_error(who + " was built for plugin ABI " +
                              abi_string(d->abi_major, d->abi_minor) +
                              " but this host speaks ABI " + host_abi + ": rebuild it against a " +
                              std::to_string(TS_ABI_MAJOR) + ".x SDK",
                          where);
    }
    if (d->struct_size < TS_DESCRIPTOR_SIZE_1_0) {
        return load_error(
            "plugin library " + where + " has a descriptor of " + std::to_string(d->struct_size) +
                " bytes, smaller than the ABI 1.0 descriptor (" +
                std::to_string(TS_DESCRIPTOR_SIZE_1_0) +
                " bytes): it was not built with tianshu/abi.h; rebuild it against the SDK",
            where);
    }
    std::memcpy(&lib->descriptor, d,
                std::min<size_t>(d->struct_size, sizeof(ts_plugin_descriptor)));
    const ts_plugin_descriptor& desc = lib->descriptor;

    if (name.empty())
        return load_error(
            "plugin library " + where + " does not declare a name (descriptor.name is empty)",
            where);
    if (!valid_name(name))
        return load_error(who + " has an invalid name: use lowercase letters, digits and '_' only",
                          where);
    if (!desc.version || !*desc.version)
        return load_error(who + " does not declare a version (descriptor.version is empty)", where);
    if (desc.kind != TS_KIND_STRATEGY && desc.kind != TS_KIND_MODEL) {
        return load_error(who + " declares kind " + std::to_string(desc.kind) +
                              ", which this host does not know (1 = strategy, 2 = model)",
                          where);
    }
    auto missing = [&](const char* hook, const char* why) {
        return load_error(who + " does not provide the required hook '" + hook + "' (" + why + ")",
                          where);
    };
    if (!desc.create) return missing("create", "required for every plugin");
    if (!desc.destroy) return missing("destroy", "required for every plugin");
    if (desc.kind == TS_KIND_MODEL && !desc.generate)
        return missing("generate", "required for kind model");

    PluginInfo& info = lib->info;
    info.name = name;
    info.version = desc.version;
    info.kind = desc.kind == TS_KIND_MODEL ? PluginKind::model : PluginKind::strategy;
    info.abi_version = abi_string(desc.abi_major, desc.abi_minor);
    info.path = where;
    info.description = desc.description ? desc.description : "";
    info.config_schema = desc.config_schema ? desc.config_schema : "";
    info.advisory = (desc.flags & TS_FLAG_ADVISORY) != 0;
    return std::make_shared<SoPluginFactory>(std::move(lib));
}

SoPluginFactory::SoPluginFactory(std::shared_ptr<const SoLibrary> library)
    : library_(std::move(library)) {}

const PluginInfo& SoPluginFactory::info() const {
    return library_->info;
}

const ts_plugin_descriptor& SoPluginFactory::descriptor() const {
    return library_->descriptor;
}

// -- instances --------------------------------------------------------------------------

//! What create() returned, plus the library that must outlive it.
class SoInstance {
  public:
    SoInstance(std::shared_ptr<const SoLibrary> library, ts_instance* handle)
        : library_(std::move(library)), handle_(handle) {
        if (library_->descriptor.flags & TS_FLAG_SINGLE_THREADED)
            serial_ = std::make_unique<std::mutex>();
        // A hook may be parked and moved to another thread only if the plugin said so; never
        // while it holds the instance's lock.
        may_suspend_ = (library_->descriptor.flags & TS_FLAG_MAY_SUSPEND) && !serial_;
    }
    ~SoInstance() {
        HookScope scope(name(), HookPhase::none);
        library_->descriptor.destroy(handle_);
    }
    SoInstance(const SoInstance&) = delete;
    SoInstance& operator=(const SoInstance&) = delete;

    const std::string& name() const { return library_->info.name; }
    const ts_plugin_descriptor& hooks() const { return library_->descriptor; }

    //! Runs one hook under the plugin's thread rule and the thread's HookScope, turning
    //! TS_HOOK_FAIL or a result the hook may not return into a plugin_failure Error.
    template <class Call>
    core::Result<ts_hook_result> run(const char* hook, HookPhase phase, bool may_answer,
                                     Call&& call) {
        ts_error err;
        err.message[0] = '\0';
        int result;  // an int: a C plugin may return any value
        {
            HookScope scope(name(), phase);
            if (serial_) {
                core::NoSuspend pinned;
                std::lock_guard lock(*serial_);
                result = static_cast<int>(call(handle_, &err));
            } else if (!may_suspend_) {
                core::NoSuspend pinned;
                result = static_cast<int>(call(handle_, &err));
            } else {
                result = static_cast<int>(call(handle_, &err));
            }
        }
        switch (result) {
            case TS_HOOK_CONTINUE:
                return TS_HOOK_CONTINUE;
            case TS_HOOK_ANSWERED:
                if (may_answer) return TS_HOOK_ANSWERED;
                return failure(hook, "returned TS_HOOK_ANSWERED, which only on_request may return");
            case TS_HOOK_FAIL: {
                err.message[sizeof err.message - 1] =
                    '\0';  // never trust the plugin to terminate it
                return failure(hook, err.message[0] ? err.message : "(no message)");
            }
        }
        return failure(hook,
                       "returned " + std::to_string(result) + ", which is not a ts_hook_result");
    }

  private:
    Error failure(const char* hook, const std::string& message) const {
        return Error{ErrorKind::plugin_failure,
                     "plugin '" + name() + "' failed in " + hook + ": " + message, name()};
    }

    std::shared_ptr<const SoLibrary> library_;
    ts_instance* handle_;
    std::unique_ptr<std::mutex> serial_;
    bool may_suspend_ = false;
};

namespace {
core::Result<std::shared_ptr<SoInstance>> make_instance(const std::shared_ptr<const SoLibrary>& lib,
                                                        const core::Json& config) {
    const std::string text = config.is_null() ? std::string("{}") : config.dump();
    ts_error err;
    err.message[0] = '\0';
    ts_instance* handle = nullptr;
    {
        HookScope scope(lib->info.name, HookPhase::create);
        handle = lib->descriptor.create(host_api(), ts_str{text.data(), text.size()}, &err);
    }
    if (!handle) {
        err.message[sizeof err.message - 1] = '\0';
        return Error{ErrorKind::plugin_failure,
                     "plugin '" + lib->info.name + "' refused its config: " +
                         (err.message[0] ? std::string(err.message) : std::string("(no message)")),
                     lib->info.name};
    }
    return std::make_shared<SoInstance>(lib, handle);
}
}  // namespace

core::Result<std::shared_ptr<Strategy>> SoPluginFactory::create_strategy(const core::Json& config) {
    if (info().kind != PluginKind::strategy) {
        return Error{
            ErrorKind::invalid_request,
            "plugin '" + info().name + "' is a model, not a strategy: use it as a chain's model",
            info().name};
    }
    auto instance = make_instance(library_, config);
    if (!instance) return instance.take_error();
    return std::shared_ptr<Strategy>(std::make_shared<SoStrategy>(std::move(instance).value()));
}

core::Result<std::shared_ptr<Model>> SoPluginFactory::create_model(const core::Json& config) {
    if (info().kind != PluginKind::model) {
        return Error{ErrorKind::invalid_request,
                     "plugin '" + info().name +
                         "' is a strategy, not a model: list it under a chain's strategies",
                     info().name};
    }
    auto instance = make_instance(library_, config);
    if (!instance) return instance.take_error();
    return std::shared_ptr<Model>(std::make_shared<SoModel>(std::move(instance).value()));
}

// -- SoStrategy ---------------------------------------------------------------------------

SoStrategy::SoStrategy(std::shared_ptr<SoInstance> instance) : instance_(std::move(instance)) {}

const std::string& SoStrategy::name() const {
    return instance_->name();
}

core::Result<HookOutcome> SoStrategy::on_request(RequestContext& ctx) {
    auto hook = instance_->hooks().on_request;
    if (!hook) return HookOutcome::proceed;
    auto r =
        instance_->run("on_request", HookPhase::on_request, true,
                       [&](ts_instance* i, ts_error* e) { return hook(i, to_handle(ctx), e); });
    if (!r) return r.take_error();
    if (r.value() == TS_HOOK_ANSWERED) {
        if (!ctx.answer) {
            return Error{ErrorKind::plugin_failure,
                         "plugin '" + name() +
                             "' failed in on_request: returned TS_HOOK_ANSWERED without calling "
                             "request_answer_text",
                         name()};
        }
        return HookOutcome::answered;
    }
    return HookOutcome::proceed;
}

core::Result<void> SoStrategy::on_stream_event(RequestContext& ctx, core::StreamEvent& event) {
    auto hook = instance_->hooks().on_stream_event;
    if (!hook) return {};
    EventHandle handle{&event, ctx.stream_stage};
    auto r = instance_->run(
        "on_stream_event", HookPhase::on_stream_event, false,
        [&](ts_instance* i, ts_error* e) { return hook(i, to_handle(ctx), to_handle(handle), e); });
    if (!r) return r.take_error();
    return {};
}

bool SoStrategy::wants_stream_events() const {
    return instance_->hooks().on_stream_event != nullptr;
}

core::Result<void> SoStrategy::on_response_end(RequestContext& ctx) {
    auto hook = instance_->hooks().on_response_end;
    if (!hook) return {};
    auto r =
        instance_->run("on_response_end", HookPhase::on_response_end, false,
                       [&](ts_instance* i, ts_error* e) { return hook(i, to_handle(ctx), e); });
    if (!r) return r.take_error();
    return {};
}

// -- SoModel ------------------------------------------------------------------------------

SoModel::SoModel(std::shared_ptr<SoInstance> instance) : instance_(std::move(instance)) {}

const std::string& SoModel::name() const {
    return instance_->name();
}

core::Result<void> SoModel::generate(RequestContext& ctx) {
    auto hook = instance_->hooks().generate;
    auto r =
        instance_->run("generate", HookPhase::generate, false,
                       [&](ts_instance* i, ts_error* e) { return hook(i, to_handle(ctx), e); });
    // An adapter that fails because its upstream call failed reports the upstream's error
    // (429, 5xx, timeout), not a plugin failure.
    if (!r && ctx.upstream_error) return *ctx.upstream_error;
    if (!r) return r.take_error();
    // A model that returns without finish() ends with end_turn (abi.h, finish).
    if (ctx.emit && !ctx.finished) {
        auto done = ModelOutput(ctx).finish(core::StopReason::end_turn, nullptr);
        if (!done) return done.take_error();
    }
    return {};
}

}  // namespace tianshu::plugin
