#include "server/admin_support.hpp"
#include "service/users.hpp"

#include <charconv>
#include <cstdio>
#include <ctime>
#include <limits>

#include "hub/money.hpp"

namespace tianshu::server::admin {

using core::Error;
using core::ErrorKind;

std::string rest_of_path(const Context& ctx, std::size_t from) {
    std::string out;
    for (std::size_t i = from; i < ctx.segments.size(); ++i)
        out += (i == from ? "" : "/") + ctx.segments[i];
    return out;
}

Error not_found(std::string message) {
    return {ErrorKind::not_found, std::move(message), {}};
}

Error permission(std::string message) {
    return {ErrorKind::permission, std::move(message), {}};
}

Reply method_not_allowed(const AdminCall& call, std::string_view allowed) {
    return Reply{405, Json{{"error",
                            {{"type", "method_not_allowed"},
                             {"message", call.method + " is not accepted on " + call.path +
                                             ": use " + std::string(allowed)}}}}};
}

// ---- JSON bodies ---------------------------------------------------------------------------

namespace {
std::string json_type(const Json& v) {
    return v.is_string()    ? "a string"
           : v.is_boolean() ? "a boolean"
           : v.is_number()  ? "a number"
           : v.is_array()   ? "an array"
           : v.is_object()  ? "an object"
                            : "null";
}

Error wrong_type(std::string_view field, const Json& v, std::string_view wanted) {
    return Error::invalid("field '" + std::string(field) + "' is " + json_type(v) + ": send " +
                          std::string(wanted));
}
}  // namespace

core::Result<Json> object_body(const AdminCall& call) {
    if (call.body.empty())
        return Error::invalid(
            "the request body is empty: send a JSON object with "
            "'Content-Type: application/json'");
    Json body = Json::parse(call.body, nullptr, false);
    if (body.is_discarded())
        return Error::invalid(
            "the request body is not valid JSON: send a JSON object, e.g. "
            "{\"name\": \"...\"}");
    if (!body.is_object())
        return Error::invalid("the request body is " + json_type(body) +
                              ": send a JSON object, e.g. {\"name\": \"...\"}");
    return body;
}

core::Result<void> only_fields(const Json& body, const std::vector<std::string_view>& allowed) {
    for (const auto& [key, value] : body.items()) {
        bool known = false;
        for (std::string_view a : allowed) known = known || key == a;
        if (known) continue;
        std::string list;
        for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        return Error::invalid("unknown field '" + key + "': this route accepts " + list);
    }
    return {};
}

core::Result<std::optional<std::string>> string_field(const Json& body, std::string_view field) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return std::optional<std::string>();
    if (!it->is_string()) return wrong_type(field, *it, "a string");
    return std::optional<std::string>(it->get<std::string>());
}

core::Result<std::string> required_string(const Json& body, std::string_view field) {
    auto value = string_field(body, field);
    if (!value) return value.take_error();
    if (!value.value() || value.value()->empty())
        return Error::invalid("field '" + std::string(field) +
                              "' is required: send it as a non-empty string");
    return *value.value();
}

core::Result<std::optional<long long>> integer_field(const Json& body, std::string_view field,
                                                     long long min, long long max) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return std::optional<long long>();
    if (!it->is_number_integer()) return wrong_type(field, *it, "a whole number");
    const bool too_big = it->is_number_unsigned() &&
                         it->get<unsigned long long>() >
                             static_cast<unsigned long long>(std::numeric_limits<long long>::max());
    long long v = too_big ? 0 : it->get<long long>();
    if (too_big || v < min || v > max)
        return Error::invalid("field '" + std::string(field) + "' is " + it->dump() +
                              ": send a whole number from " + std::to_string(min) + " to " +
                              std::to_string(max));
    return std::optional<long long>(v);
}

core::Result<std::optional<bool>> bool_field(const Json& body, std::string_view field) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return std::optional<bool>();
    if (!it->is_boolean()) return wrong_type(field, *it, "true or false");
    return std::optional<bool>(it->get<bool>());
}

core::Result<std::optional<long long>> money_field(const Json& body, std::string_view field) {
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return std::optional<long long>();
    // Money never passes through floating point: 0.1 as a JSON number is already inexact.
    if (!it->is_string())
        return wrong_type(field, *it, "a decimal string such as \"12.5\" (not a JSON number)");
    auto micros = hub::parse_money(it->get<std::string>(), hub::MoneySign::non_negative, field);
    if (!micros) return micros.take_error();
    return std::optional<long long>(micros.value());
}

core::Result<std::optional<std::vector<std::string>>> string_list_field(const Json& body,
                                                                        std::string_view field) {
    using List = std::optional<std::vector<std::string>>;
    auto it = body.find(field);
    if (it == body.end() || it->is_null()) return List();
    if (!it->is_array()) return wrong_type(field, *it, "an array of strings");
    std::vector<std::string> out;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const Json& item = (*it)[i];
        if (!item.is_string())
            return Error::invalid("field '" + std::string(field) + "[" + std::to_string(i) +
                                  "]' is " + json_type(item) + ": send strings only");
        out.push_back(item.get<std::string>());
    }
    return List(std::move(out));
}

bool is_null_field(const Json& body, std::string_view field) {
    auto it = body.find(field);
    return it != body.end() && it->is_null();
}

// ---- query parameters ----------------------------------------------------------------------

std::optional<std::string> query_param(const AdminCall& call, const std::string& name) {
    auto it = call.query.find(name);
    if (it == call.query.end() || it->second.empty()) return std::nullopt;
    return it->second;
}

core::Result<std::optional<long long>> query_integer(const AdminCall& call,
                                                     const std::string& name) {
    auto text = query_param(call, name);
    if (!text) return std::optional<long long>();
    long long v = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), v);
    if (ec != std::errc() || end != text->data() + text->size())
        return Error::invalid("query parameter '" + name + "' is '" + *text +
                              "': send a whole number");
    return std::optional<long long>(v);
}

core::Result<std::optional<long long>> query_time_ms(const AdminCall& call,
                                                     const std::string& name) {
    auto text = query_param(call, name);
    if (!text) return std::optional<long long>();
    long long seconds = 0;
    auto [end, ec] = std::from_chars(text->data(), text->data() + text->size(), seconds);
    if (ec == std::errc() && end == text->data() + text->size() && seconds >= 0)
        return std::optional<long long>(seconds * 1000);
    std::tm tm{};
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    char tail = 0;
    int read = std::sscanf(text->c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &year, &month, &day, &hour,
                           &minute, &second, &tail);
    const bool date_only =
        text->size() == 10 && std::sscanf(text->c_str(), "%4d-%2d-%2d", &year, &month, &day) == 3;
    if (!date_only && !(read == 7 && tail == 'Z' && text->size() == 20))
        return Error::invalid("query parameter '" + name + "' is '" + *text +
                              "': send Unix seconds (1735689600), a UTC time "
                              "(2025-01-01T00:00:00Z) or a date (2025-01-01)");
    if (date_only) hour = minute = second = 0;
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60)
        return Error::invalid("query parameter '" + name + "' is '" + *text +
                              "': the date or time is out of range");
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return std::optional<long long>(static_cast<long long>(timegm(&tm)) * 1000);
}

core::Result<PageRequest> page_request(const AdminCall& call) {
    PageRequest page;
    auto limit = query_integer(call, "limit");
    if (!limit) return limit.take_error();
    if (limit.value()) {
        if (*limit.value() < 1 || *limit.value() > 1000)
            return Error::invalid("query parameter 'limit' is " + std::to_string(*limit.value()) +
                                  ": send 1 to 1000 (default 100)");
        page.limit = static_cast<int>(*limit.value());
    }
    page.cursor = query_param(call, "cursor");
    return page;
}

Json page_json(Json items, const std::optional<std::string>& next_cursor) {
    return Json{{"data", std::move(items)},
                {"next_cursor", next_cursor ? Json(*next_cursor) : Json(nullptr)}};
}

// ---- money and users -----------------------------------------------------------------------

Json money(long long micros) {
    return hub::format_money(micros);
}

Json optional_money(const std::optional<long long>& micros) {
    return micros ? money(*micros) : Json(nullptr);
}

Json user_json(const store::User& user) {
    return service::users::user_json(user);
}

core::Result<store::User> user_named(store::Database& db, const std::string& name) {
    auto user = store::users::find_by_name(db, name);
    if (!user) return user.take_error();
    if (!user.value())
        return not_found("there is no user named '" + name +
                         "': GET /admin/api/users lists the names");
    return *user.value();
}

core::Result<void> may_change(const Caller& caller, const store::User& target) {
    return service::users::may_change(service::Actor{caller.user_id, caller.name, caller.role},
                                      target);
}

// ---- answers ---------------------------------------------------------------------------------

std::string dump(const Json& body) {
    // Store text (names, notes) is not guaranteed UTF-8: replace bad bytes, never throw.
    return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void send_json(ResponseWriter& out, int status, const Json& body) {
    // Answers name users, keys and balances: no cache keeps them.
    out.set_header("Cache-Control", "no-store");
    if (status == 204) {
        out.send(204, "application/json", "");
        return;
    }
    out.send(status, "application/json", dump(body));
}

void send_admin_error(ResponseWriter& out, const Error& error) {
    if (error.retry_after_seconds > 0)
        out.set_header("retry-after", std::to_string(error.retry_after_seconds));
    send_json(out, core::http_status(error.kind),
              Json{{"error", {{"type", core::to_string(error.kind)}, {"message", error.message}}}});
}

}  // namespace tianshu::server::admin
