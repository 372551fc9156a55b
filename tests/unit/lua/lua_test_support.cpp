#include "lua_test_support.hpp"

#include <fstream>
#include <sstream>

namespace tianshu::test {

namespace {
std::mutex g_mutex;
std::vector<std::string> g_lines;
void sink(std::string_view line) {
    std::lock_guard lock(g_mutex);
    g_lines.emplace_back(line);
}
}  // namespace

std::string fixture(const std::string& name) {
    return std::string(TIANSHU_SOURCE_DIR) + "/tests/unit/lua/scripts/" + name;
}
std::string shipped_script(const std::string& sub) {
    return std::string(TIANSHU_SOURCE_DIR) + "/scripts/" + sub;
}

plugin::RequestContext make_context(const std::string& user_text, const std::string& model) {
    plugin::RequestContext ctx;
    ctx.request.model = model;
    ctx.request.max_tokens = 1024;
    core::Message m;
    m.role = core::Role::user;
    m.content.push_back(core::ContentBlock::make_text(user_text));
    ctx.request.messages.push_back(std::move(m));
    ctx.request_id = "req_1";
    ctx.requested_model = model;
    ctx.client_protocol = "anthropic";
    return ctx;
}

plugin::LuaScript read_script(const std::string& path, plugin::LuaLimits limits) {
    plugin::LuaScript s;
    s.path = path;
    s.chunkname = "@" + path;
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    s.source = text.str();
    s.content_hash = std::hash<std::string>{}(s.source);
    s.limits = limits;
    return s;
}

core::Result<std::string> run_hook(const plugin::LuaScript& script, plugin::LuaHook hook,
                                   plugin::RequestContext& ctx, const core::Json& config) {
    plugin::LuaCall call{&script, hook, &ctx, &config, nullptr};
    return plugin::LuaVm::for_this_fiber().call(call);
}

CapturedLog::CapturedLog() {
    std::lock_guard lock(g_mutex);
    g_lines.clear();
    core::set_log_sink(sink);
}
CapturedLog::~CapturedLog() {
    core::set_log_sink(nullptr);
}

std::vector<std::string> CapturedLog::lines() const {
    std::lock_guard lock(g_mutex);
    return g_lines;
}

std::vector<std::string> CapturedLog::lines_with(const std::string& needle) const {
    std::vector<std::string> out;
    for (auto& l : lines())
        if (l.find(needle) != std::string::npos) out.push_back(l);
    return out;
}

}  // namespace tianshu::test
