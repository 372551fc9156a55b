#include "plugin_test_support.hpp"

#include "plugin/host_api.hpp"

#include <mutex>

#include <catch2/catch.hpp>

#include "core/log.hpp"

namespace tianshu::plugin::testing {

std::string test_plugin(const std::string& name) {
    return std::string(TIANSHU_TEST_PLUGIN_DIR) + "/" + name + ".so";
}
std::string builtin_plugin(const std::string& name) {
    return std::string(TIANSHU_PLUGIN_DIR) + "/" + name + ".so";
}

std::shared_ptr<SoPluginFactory> load(const std::string& path) {
    auto factory = SoPluginFactory::load(path);
    INFO((factory ? std::string() : factory.error().message));
    REQUIRE(factory.ok());
    return factory.value();
}

std::shared_ptr<Strategy> strategy(const std::string& path, const core::Json& config) {
    auto made = load(path)->create_strategy(config);
    INFO((made ? std::string() : made.error().message));
    REQUIRE(made.ok());
    return made.value();
}

std::shared_ptr<Model> model(const std::string& path, const core::Json& config) {
    auto made = load(path)->create_model(config);
    INFO((made ? std::string() : made.error().message));
    REQUIRE(made.ok());
    return made.value();
}

RequestContext make_context(const std::string& user_text) {
    RequestContext ctx;
    ctx.request.model = "claude-sonnet";
    ctx.request.max_tokens = 256;
    ctx.request.set_system_text("be nice");
    core::Message m;
    m.role = core::Role::user;
    m.content.push_back(core::ContentBlock::make_text(user_text));
    ctx.request.messages.push_back(std::move(m));
    ctx.request_id = "req-1";
    ctx.requested_model = "claude-sonnet";
    ctx.tier = "gold";
    ctx.chain_id = "chain-a";
    ctx.client_protocol = "anthropic";
    return ctx;
}

namespace {
std::mutex g_lines_mutex;
std::vector<std::string> g_lines;
void capture(std::string_view line) {
    std::lock_guard lock(g_lines_mutex);
    g_lines.emplace_back(line);
}
}  // namespace

LogCapture::LogCapture() {
    std::lock_guard lock(g_lines_mutex);
    g_lines.clear();
    core::set_log_sink(&capture);
}
LogCapture::~LogCapture() {
    core::set_log_sink(nullptr);
}
std::vector<std::string> LogCapture::lines() const {
    std::lock_guard lock(g_lines_mutex);
    return g_lines;
}

ts_str s(std::string_view v) {
    return ts_str{v.data(), v.size()};
}

std::string take(ts_buf b) {
    std::string out(b.ptr ? std::string(b.ptr, b.len) : std::string());
    host_api()->free(b.ptr);
    return out;
}

}  // namespace tianshu::plugin::testing
