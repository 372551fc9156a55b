#include "service/alerts.hpp"

namespace tianshu::service::alerts {

core::Result<store::Alert> raise(store::Database& db, const store::AlertRaise& alert) {
    if (alert.severity != "info" && alert.severity != "warning" && alert.severity != "critical")
        return core::Error::invalid("alert severity '" + alert.severity +
                                    "' must be info, warning or critical");
    if (alert.kind.empty()) return core::Error::invalid("alert kind is empty: name what happened");
    return store::alerts::raise(db, alert, store::now_seconds());
}

core::Result<std::vector<store::Alert>> list(const Env& env, const std::string& state, int limit) {
    if (state != "open" && state != "resolved" && state != "all")
        return core::Error::invalid("state '" + state + "' must be open, resolved or all");
    if (limit < 1 || limit > 1000)
        return core::Error::invalid("limit " + std::to_string(limit) +
                                    " must be from 1 to 1000: ask for fewer alerts");
    return store::alerts::list(env.db, state == "all" ? std::string() : state, limit);
}

core::Result<store::Alert> resolve(const Env& env, long long id) {
    if (id < 1)
        return core::Error::invalid("alert id " + std::to_string(id) +
                                    " must be a positive number: see `tianshu alerts list`");
    return store::alerts::resolve(env.db, id, store::now_seconds());
}

Json alert_json(const store::Alert& a) {
    auto opt = [](const std::optional<long long>& v) { return v ? Json(*v) : Json(nullptr); };
    return Json{{"id", a.id},
                {"created_at", a.created_at},
                {"last_seen_at", a.last_seen_at},
                {"count", a.count},
                {"kind", a.kind},
                {"severity", a.severity},
                {"subject", a.subject},
                {"message", a.message},
                {"state", a.state},
                {"dedup_key", a.dedup_key},
                {"resolved_at", opt(a.resolved_at)},
                {"delivered_at", opt(a.delivered_at)}};
}

}  // namespace tianshu::service::alerts
