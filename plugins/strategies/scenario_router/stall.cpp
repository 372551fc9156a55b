#include "stall.hpp"

#include <map>

namespace tianshu::scenario_router {

namespace {
struct Call {
    std::string id;
    std::string signature;  //!< name + canonical input: "the same call"
    std::string name;
    bool failed = false;
};
}  // namespace

std::optional<Stall> find_stall(const nlohmann::json& request, const StallRule& rule,
                                const std::set<std::string>& consumed) {
    auto messages = request.find("messages");
    if (messages == request.end() || !messages->is_array() || rule.window <= 0 ||
        rule.failures <= 0)
        return std::nullopt;
    std::vector<Call> calls;
    std::map<std::string, size_t> by_id;
    for (const auto& m : *messages) {
        if (!m.is_object()) continue;
        auto content = m.find("content");
        if (content == m.end() || !content->is_array()) continue;
        std::string role = m.value("role", "");
        for (const auto& block : *content) {
            if (!block.is_object()) continue;
            std::string type = block.value("type", "");
            if (role == "assistant" && type == "tool_use") {
                Call c;
                c.id = block.value("id", "");
                c.name = block.value("name", "");
                auto input = block.find("input");
                c.signature = c.name + '\n' + (input == block.end() ? "" : input->dump());
                by_id[c.id] = calls.size();
                calls.push_back(std::move(c));
            } else if (role == "user" && type == "tool_result" && block.value("is_error", false)) {
                auto it = by_id.find(block.value("tool_use_id", ""));
                if (it != by_id.end()) calls[it->second].failed = true;
            }
        }
    }
    size_t from = calls.size() > static_cast<size_t>(rule.window)
                      ? calls.size() - static_cast<size_t>(rule.window)
                      : 0;
    std::map<std::string, Stall> failing;
    for (size_t i = from; i < calls.size(); ++i) {
        const Call& c = calls[i];
        if (!c.failed || consumed.count(c.id)) continue;
        Stall& s = failing[c.signature];
        s.tool = c.name;
        s.failed_ids.push_back(c.id);
        if (static_cast<int>(s.failed_ids.size()) >= rule.failures) return s;
    }
    return std::nullopt;
}

}  // namespace tianshu::scenario_router
