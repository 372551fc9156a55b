#include "service/logs.hpp"

#include "hub/money.hpp"

namespace tianshu::service::logs {

using Json = nlohmann::json;

Json log_json(const store::RequestLog& r, const std::string& user_name) {
    Json j{{"id", r.id},
           {"request_id", r.request_id},
           {"created_at_ms", r.created_at_ms},
           {"user", user_name},
           {"user_id", r.user_id},
           {"key_id", r.key_id ? Json(*r.key_id) : Json(nullptr)},
           {"channel", r.channel},
           {"requested_model", r.requested_model},
           {"upstream_model", r.upstream_model},
           {"input_tokens", r.input_tokens},
           {"output_tokens", r.output_tokens},
           {"cache_read_tokens", r.cache_read_tokens},
           {"cache_write_tokens", r.cache_write_tokens},
           {"reasoning_tokens", r.reasoning_tokens},
           {"cost", hub::format_money(r.cost)},
           {"cost_micros", r.cost},
           {"latency_ms", r.latency_ms},
           {"ttft_ms", r.ttft_ms},
           {"status", r.status},
           {"error_kind", r.error_kind},
           {"client_ip", r.client_ip},
           {"retries", r.retries},
           {"stream", r.stream}};
    j.update(store::request_logs::decision_fields(r));
    return j;
}

Json totals_json(const store::UsageTotals& t) {
    return Json{{"requests", t.requests},
                {"spend", hub::format_money(t.spend)},
                {"spend_micros", t.spend},
                {"active_users", t.active_users},
                {"input_tokens", t.input_tokens},
                {"output_tokens", t.output_tokens},
                {"cache_read_tokens", t.cache_read_tokens},
                {"cache_write_tokens", t.cache_write_tokens},
                {"reasoning_tokens", t.reasoning_tokens}};
}

}  // namespace tianshu::service::logs
