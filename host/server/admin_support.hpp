#pragma once
// Inside the admin API: the pieces every group of routes shares (the authenticated caller,
// reading JSON bodies and query parameters field by field, pages, role rules). Not a public
// header: only host/server/admin_*.cpp include it.

#include <algorithm>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"
#include "server/admin_api.hpp"
#include "store/users.hpp"

namespace tianshu::server::admin {

using core::Json;

//! Who is calling, once authenticated.
struct Caller {
    long long user_id = 0;
    std::string name;
    std::string role;  //!< "admin" or "root"; "user" only by a login session (own /me routes)
    bool by_session = false;
    bool by_cookie = false;  //!< the session came as the panel's cookie (changes need CSRF)
};

//! A JSON answer; a null body with status 204 sends no content.
struct Reply {
    int status = 200;
    Json body;
};

using Outcome = core::Result<Reply>;

//! Everything a route handler may use.
struct Context {
    store::Database& db;
    const hub::SecretBox* secrets;
    const AdminApiOptions& options;
    const AdminCall& call;
    const Caller& caller;
    std::vector<std::string> segments;  //!< the decoded path segments after /admin/api
};

//! The path after the route's fixed segments, joined again with '/' (model names such as
//! "meta/llama-3" keep their slash).
std::string rest_of_path(const Context& ctx, std::size_t from);

// ---- errors --------------------------------------------------------------------------------

core::Error not_found(std::string message);
core::Error permission(std::string message);

// ---- answers -------------------------------------------------------------------------------

//! The JSON text of an answer; bytes that are not UTF-8 (store text is not guaranteed to be) are
//! replaced, never thrown on.
std::string dump(const Json& body);
//! Sends `body` as JSON with `Cache-Control: no-store` (answers name users, keys and balances);
//! 204 sends no body.
void send_json(ResponseWriter& out, int status, const Json& body);
//! Sends an error in the admin API's shape {"error":{"type","message"}} with its status (and
//! retry-after when the error has one).
void send_admin_error(ResponseWriter& out, const core::Error& error);

// ---- JSON bodies ---------------------------------------------------------------------------

//! The body as a JSON object; the error says what was wrong and where.
core::Result<Json> object_body(const AdminCall& call);
//! Refuses a body field not in `allowed`, naming it and listing the accepted ones (typos
//! would otherwise be ignored silently).
core::Result<void> only_fields(const Json& body, const std::vector<std::string_view>& allowed);

core::Result<std::optional<std::string>> string_field(const Json& body, std::string_view field);
core::Result<std::string> required_string(const Json& body, std::string_view field);
core::Result<std::optional<long long>> integer_field(const Json& body, std::string_view field,
                                                     long long min, long long max);
core::Result<std::optional<bool>> bool_field(const Json& body, std::string_view field);
//! A decimal money string ("12.5") as micros; a JSON number is refused (floating point).
core::Result<std::optional<long long>> money_field(const Json& body, std::string_view field);
core::Result<std::optional<std::vector<std::string>>> string_list_field(const Json& body,
                                                                        std::string_view field);
//! Present and JSON null: "clear this value".
bool is_null_field(const Json& body, std::string_view field);

// ---- query parameters ----------------------------------------------------------------------

std::optional<std::string> query_param(const AdminCall& call, const std::string& name);
core::Result<std::optional<long long>> query_integer(const AdminCall& call,
                                                     const std::string& name);
//! A time as Unix seconds ("1735689600") or UTC ISO 8601 ("2025-01-01T00:00:00Z"), returned
//! in Unix milliseconds.
core::Result<std::optional<long long>> query_time_ms(const AdminCall& call,
                                                     const std::string& name);

//! `limit` (1..1000, default 100) and the opaque `cursor` of a list route.
struct PageRequest {
    int limit = 100;
    std::optional<std::string> cursor;
};
core::Result<PageRequest> page_request(const AdminCall& call);
//! {"data": items, "next_cursor": cursor or null}.
Json page_json(Json items, const std::optional<std::string>& next_cursor);

//! One page of `rows` sorted by `key` ascending: those with key > cursor, at most `limit`.
//! Cursors are ids (compared as numbers) when `numeric`, otherwise names.
template <class Row, class KeyOf, class ToJson>
core::Result<Json> page_of(const std::vector<Row>& rows, const PageRequest& page, bool numeric,
                           KeyOf key_of, ToJson to_json) {
    std::optional<long long> after_id;
    if (numeric && page.cursor) {
        try {
            after_id = std::stoll(*page.cursor);
        } catch (const std::exception&) {
            return core::Error::invalid("cursor '" + *page.cursor +
                                        "' is not a cursor of this list: pass the next_cursor "
                                        "of the previous page, or omit it for the first page");
        }
    }
    Json items = Json::array();
    std::optional<std::string> next;
    std::string last_key;
    for (const Row& row : rows) {
        std::string key = key_of(row);
        if (numeric && after_id && std::stoll(key) <= *after_id) continue;
        if (!numeric && page.cursor && key <= *page.cursor) continue;
        if (static_cast<int>(items.size()) == page.limit) {
            next = last_key;  // only when another row follows: the last page has no cursor
            break;
        }
        items.push_back(to_json(row));
        last_key = std::move(key);
    }
    return page_json(std::move(items), next);
}

//! GET on a list route: the page the call asks for (checked first), of the rows `load` reads;
//! named lists (`numeric` false) are ordered by their key, numeric ones come in id order.
template <class Load, class KeyOf, class ToJson>
Outcome list_reply(const AdminCall& call, Load load, bool numeric, KeyOf key_of, ToJson to_json) {
    auto page = page_request(call);
    if (!page) return page.take_error();
    auto rows = load();
    if (!rows) return rows.take_error();
    if (!numeric)
        std::sort(rows->begin(), rows->end(),
                  [&](const auto& a, const auto& b) { return key_of(a) < key_of(b); });
    auto json = page_of(rows.value(), page.value(), numeric, key_of, to_json);
    if (!json) return json.take_error();
    return Reply{200, std::move(json).value()};
}

// ---- money and users -----------------------------------------------------------------------

Json money(long long micros);
Json optional_money(const std::optional<long long>& micros);
Json user_json(const store::User& user);
//! The user named `name`, or a not_found error saying how to find names.
core::Result<store::User> user_named(store::Database& db, const std::string& name);
//! A 405 answer naming the methods `path` accepts.
Reply method_not_allowed(const AdminCall& call, std::string_view allowed);
//! Whether the caller may change `target`: an admin may not change a root user.
core::Result<void> may_change(const Caller& caller, const store::User& target);

// ---- route groups (one .cpp each) ----------------------------------------------------------

//! /channels..., /tiers..., /prices..., /chains: what serves requests and what it costs.
std::optional<Outcome> route_catalog(Context& ctx);
//! /plugins, /chains...: the building blocks, chains, their versions, validate, dry run.
std::optional<Outcome> route_chains(Context& ctx);
//! /users..., /keys/{id}, /redemption-codes, /redeem, /invitations...: accounts and their
//! money.
std::optional<Outcome> route_accounts(Context& ctx);
//! GET /logs, GET /stats (GET /logs.csv writes its own answer: see write_logs_csv).
std::optional<Outcome> route_reports(Context& ctx);
//! GET /dashboard, GET /health, GET /me/usage: usage from the hour and day rollups.
std::optional<Outcome> route_dashboard(Context& ctx);
//! /me/keys..., /me/ledger, /me/redeem: any logged-in caller's own keys and money (404 for
//! another /me/... path).
Outcome route_self(Context& ctx);
//! Streams GET /logs.csv to `out`.
void write_logs_csv(Context& ctx, ResponseWriter& out);
//! POST /playground, first half (database work): the checked body as the gateway's call, acting
//! as the caller; 503 when options.playground is unset.
core::Result<PlaygroundCall> playground_call(Context& ctx);
//! POST /playground, second half (outside the database region: the model call parks on its
//! I/O): runs `call` through options.playground and writes the answer with its trace.
void run_playground(const AdminApiOptions& options, const PlaygroundCall& call,
                    ResponseWriter& out);

}  // namespace tianshu::server::admin
