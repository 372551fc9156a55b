#pragma once
// The admin REST API (/admin/api/...), independent of the HTTP library like the Gateway: it
// gets an AdminCall and writes JSON (or CSV) to a ResponseWriter. Callers are admins and
// roots, authenticated by a session token from POST /login (as a Bearer token, or as the
// panel's HttpOnly cookie with a CSRF header on changes) or by one of their API keys. Users of
// role `user` may log in too; their session reaches only their own /me routes.
// Routes and shapes are documented in docs/admin-api.md.

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "pipeline/chain.hpp"
#include "pipeline/provider_presets.hpp"
#include "server/gateway.hpp"

namespace tianshu::store {
class Database;
}
namespace tianshu::hub {
class SecretBox;
class PasswordHasher;
class LoginThrottle;
}  // namespace tianshu::hub

namespace tianshu::server {

//! One call to the admin API, as received.
struct AdminCall {
    std::string method;                        //!< "GET", "POST", "PATCH", "PUT", "DELETE"
    std::string path;                          //!< after /admin/api, e.g. "/channels/deepseek"
    std::map<std::string, std::string> query;  //!< decoded query parameters (last one wins)
    std::string body;
    std::string bearer_token;  //!< from Authorization: Bearer; a session token or sk-ts- key
    std::string client_ip;
    //! The panel's session: the `tianshu_session` cookie (used when no Bearer token is sent).
    std::string session_cookie;
    //! The X-CSRF-Token header: a cookie-authenticated change must carry the session's token.
    std::string csrf_header;
    //! The client reached us over TLS (X-Forwarded-Proto: https): cookies get `Secure`.
    bool secure_transport = false;
};

//! The panel's cookie and header names.
inline constexpr std::string_view kSessionCookie = "tianshu_session";
inline constexpr std::string_view kCsrfCookie = "tianshu_csrf";

//! The CSRF token of a login session: derived from the session token (a keyed hash), so it needs
//! no storage and dies with the session.
std::string csrf_token_for(std::string_view session_token);

//! The value of cookie `name` in a Cookie header ("a=1; b=2"); empty when absent.
std::string cookie_value(std::string_view cookie_header, std::string_view name);

//! Builds an AdminCall from what the HTTP layer read: `target` is the request URI
//! ("/admin/api/logs?user=alice"), `authorization` the Authorization header (may be empty).
//! Percent-escapes in the query are decoded; the path is kept as sent (the router decodes
//! each segment). An error names the malformed part of the target.
//! `cookie` is the Cookie header, `csrf` the X-CSRF-Token header and `forwarded_proto` the
//! X-Forwarded-Proto header (all may be empty).
core::Result<AdminCall> make_admin_call(std::string_view method, std::string_view target,
                                        std::string_view authorization, std::string body,
                                        std::string client_ip, std::string_view cookie = {},
                                        std::string_view csrf = {},
                                        std::string_view forwarded_proto = {});

//! What the admin API needs beyond the store.
struct AdminApiOptions {
    //! The loaded plugins: POST /chains validates chains against them and channel writes check
    //! the adapter type and config. Without it, both are refused (503) rather than unchecked.
    pipeline::PluginLookup plugins;
    //! The provider presets: GET /providers lists them and POST /channels takes "provider".
    std::shared_ptr<const pipeline::PresetCatalog> presets;
    //! Every loaded plugin, for GET /plugins; unset, GET /plugins answers 503.
    std::function<std::vector<plugin::PluginInfo>()> plugin_infos;
    //! How long a login session works.
    std::chrono::seconds session_ttl = std::chrono::hours(12);
    //! The inviter's share of each top-up, in ppm (passed to store::ledger::topup).
    long long invite_rebate_ppm = 0;
    //! Hashes and checks passwords off the carriers (login, users created with a password).
    //! Required: AdminApi refuses to start without it.
    const hub::PasswordHasher* passwords = nullptr;
    //! Failed logins per client address and per account name. Required.
    hub::LoginThrottle* logins = nullptr;
    //! Requests this gateway is answering now (the dashboard's live figure); empty: unknown.
    std::function<long long()> in_flight;
    //! Runs a playground call through the gateway (Gateway::playground); unset, POST
    //! /playground answers 503.
    std::function<PlaygroundTrace(const PlaygroundCall&, ResponseWriter&)> playground;
};

//! Serves the admin API. Thread-safe: it keeps no state between calls beyond the store and the
//! login limits. Database work runs in a core::BlockingRegion; password checks run on the
//! options' PasswordHasher, where the calling fiber parks without holding a carrier.
class AdminApi {
  public:
    //! `secrets` seals upstream keys (null: adding keys is refused); `on_change` is called
    //! after every successful change (the server may reload without waiting for its poll).
    //! Throws std::invalid_argument when options.passwords or options.logins is null.
    AdminApi(store::Database& db, const hub::SecretBox* secrets, std::function<void()> on_change,
             AdminApiOptions options = {});

    //! Answers one call: JSON for every route, CSV for GET /logs.csv (streamed), errors as
    //! {"error":{"type","message"}} with the status of their kind.
    void handle(const AdminCall& call, ResponseWriter& out) const;

  private:
    store::Database& db_;
    const hub::SecretBox* secrets_;
    std::function<void()> on_change_;
    AdminApiOptions options_;
};

}  // namespace tianshu::server
