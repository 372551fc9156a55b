#pragma once
// In-process test doubles for PluginFactory, Strategy and Model, so pipeline tests need no .so.

#include <functional>
#include <map>

#include "plugin/plugin_factory.hpp"
#include "plugin/request_access.hpp"

namespace tianshu::testing {

using namespace tianshu;

struct FakeStrategy : plugin::Strategy {
    std::string name_;
    std::function<core::Result<plugin::HookOutcome>(plugin::RequestContext&)> pre;
    std::function<core::Result<void>(plugin::RequestContext&, core::StreamEvent&)> event;
    std::function<core::Result<void>(plugin::RequestContext&)> end;
    const std::string& name() const override { return name_; }
    core::Result<plugin::HookOutcome> on_request(plugin::RequestContext& c) override {
        return pre ? pre(c) : core::Result<plugin::HookOutcome>(plugin::HookOutcome::proceed);
    }
    core::Result<void> on_stream_event(plugin::RequestContext& c, core::StreamEvent& e) override {
        return event ? event(c, e) : core::Result<void>();
    }
    bool wants_stream_events() const override { return static_cast<bool>(event); }
    core::Result<void> on_response_end(plugin::RequestContext& c) override {
        return end ? end(c) : core::Result<void>();
    }
};

//! A model that answers "<prefix><last user text>" in words.
struct EchoModel : plugin::Model {
    std::string name_ = "echo";
    std::string prefix;
    const std::string& name() const override { return name_; }
    core::Result<void> generate(plugin::RequestContext& ctx) override {
        plugin::ModelOutput out(ctx);
        auto r = out.text(prefix + ctx.request.last_user_text());
        if (!r) return r.take_error();
        return {};
    }
};

struct FakeFactory : plugin::PluginFactory {
    plugin::PluginInfo info_;
    std::function<std::shared_ptr<plugin::Strategy>(const core::Json&)> make_strategy;
    std::function<std::shared_ptr<plugin::Model>(const core::Json&)> make_model;
    const plugin::PluginInfo& info() const override { return info_; }
    core::Result<std::shared_ptr<plugin::Strategy>> create_strategy(const core::Json& c) override {
        if (!make_strategy) return core::Error::invalid("not a strategy");
        return make_strategy(c);
    }
    core::Result<std::shared_ptr<plugin::Model>> create_model(const core::Json& c) override {
        if (!make_model) return core::Error::invalid("not a model");
        return make_model(c);
    }
};

//! A name -> factory table usable as a PluginLookup.
struct FakeCatalog {
    std::map<std::string, std::shared_ptr<FakeFactory>> factories;
    std::shared_ptr<FakeFactory>& add(const std::string& name, plugin::PluginKind kind,
                                      std::string schema = "") {
        auto f = std::make_shared<FakeFactory>();
        f->info_.name = name;
        f->info_.kind = kind;
        f->info_.config_schema = std::move(schema);
        return factories[name] = f;
    }
    auto lookup() const {
        return [this](const std::string& n) -> std::shared_ptr<plugin::PluginFactory> {
            auto it = factories.find(n);
            return it == factories.end() ? nullptr : it->second;
        };
    }
};

}  // namespace tianshu::testing
