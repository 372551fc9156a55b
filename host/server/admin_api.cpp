#include "server/admin_api.hpp"

#include <ctime>
#include <optional>
#include <stdexcept>

#include "core/fiber.hpp"
#include "core/log.hpp"
#include "hub/credentials.hpp"
#include "hub/ip_filter.hpp"
#include "hub/login_throttle.hpp"
#include "hub/money.hpp"
#include "hub/password_hasher.hpp"
#include "server/admin_support.hpp"
#include "store/admin_sessions.hpp"
#include "store/api_keys.hpp"
#include "store/users.hpp"

namespace tianshu::server {

using admin::Json;
using admin::send_admin_error;
using admin::send_json;
using core::Error;
using core::ErrorKind;

namespace {

constexpr std::string_view kApiKeyPrefix = "sk-ts-";
constexpr std::string_view kSessionPrefix = "tsa_";

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

//! Decodes %XX escapes (and '+' as a space in query strings).
core::Result<std::string> percent_decode(std::string_view text, bool plus_is_space,
                                         std::string_view what) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '+' && plus_is_space) {
            out += ' ';
        } else if (c == '%') {
            const bool complete = i + 2 < text.size();
            int hi = complete ? hex_value(text[i + 1]) : -1;
            int lo = complete ? hex_value(text[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return Error::invalid(std::string(what) + " '" + std::string(text) +
                                      "' has a malformed %-escape at position " +
                                      std::to_string(i) + ": write %XX with two hex digits");
            out += static_cast<char>(hi * 16 + lo);
            i += 2;
        } else {
            out += c;
        }
    }
    return out;
}

core::Result<std::vector<std::string>> split_path(std::string_view path) {
    std::vector<std::string> segments;
    std::size_t start = 0;
    while (start < path.size()) {
        std::size_t slash = path.find('/', start);
        std::string_view raw = path.substr(
            start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (!raw.empty()) {
            auto decoded = percent_decode(raw, false, "path segment");
            if (!decoded) return decoded.take_error();
            segments.push_back(std::move(decoded).value());
        }
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    return segments;
}

Error unauthenticated(std::string message) {
    return {ErrorKind::authentication, std::move(message), {}};
}

Error not_an_admin(const std::string& name, const std::string& role) {
    return admin::permission("user '" + name + "' has role '" + role +
                             "': only admin and root users may use the admin API; a root user "
                             "can change the role with PATCH /admin/api/users/" +
                             name);
}

core::Result<admin::Caller> caller_from_api_key(store::Database& db, const AdminCall& call) {
    auto owner = store::api_keys::find_by_hash(db, hub::api_key_hash(call.bearer_token));
    if (!owner) return owner.take_error();
    if (!owner.value())
        return unauthenticated(
            "the API key in 'Authorization: Bearer' is unknown or revoked: use a live key of an "
            "admin or root user, or log in with POST /admin/api/login");
    const store::KeyOwner& key = *owner.value();
    if (key.limits.expires_at && *key.limits.expires_at <= store::now_seconds())
        return unauthenticated("API key '" + key.key_name +
                               "' has expired: use another key or log in with POST "
                               "/admin/api/login");
    auto filter = hub::IpFilter::build(key.limits.ip_allow, key.limits.ip_deny);
    if (!filter || !filter->allows(call.client_ip))
        return admin::permission("API key '" + key.key_name + "' may not be used from " +
                                 call.client_ip + ": its IP allow/deny lists refuse it");
    if (!key.user_enabled)
        return admin::permission("user '" + key.user_name + "' is disabled: ask a root user " +
                                 "to enable the account");
    if (key.role != "admin" && key.role != "root") return not_an_admin(key.user_name, key.role);
    return admin::Caller{key.user_id, key.user_name, key.role, false};
}

core::Result<admin::Caller> caller_from_session(store::Database& db, const std::string& token,
                                                bool by_cookie) {
    const char* where = by_cookie ? "cookie 'tianshu_session'" : "'Authorization: Bearer'";
    auto session =
        store::admin_sessions::find_live(db, hub::api_key_hash(token), store::now_seconds());
    if (!session) return session.take_error();
    if (!session.value())
        return unauthenticated(std::string("the session token in ") + where +
                               " is unknown or has expired: log in again with POST "
                               "/admin/api/login");
    const store::AdminSession& s = *session.value();
    if (!s.user_enabled)
        return admin::permission("user '" + s.user_name + "' is disabled: ask a root user " +
                                 "to enable the account");
    // The role is read now, not at login: an admin demoted since then is refused at once (and
    // from then on reaches only the /me routes of a user).
    if (s.role != "admin" && s.role != "root" && s.role != "user")
        return not_an_admin(s.user_name, s.role);
    return admin::Caller{s.user_id, s.user_name, s.role, true, by_cookie};
}

core::Result<admin::Caller> authenticate(store::Database& db, const AdminCall& call) {
    if (call.bearer_token.empty() && !call.session_cookie.empty())
        return caller_from_session(db, call.session_cookie, true);
    if (call.bearer_token.empty())
        return unauthenticated(
            "missing credentials: send 'Authorization: Bearer <token>' with the token from POST "
            "/admin/api/login, or an API key of an admin or root user");
    if (call.bearer_token.starts_with(kApiKeyPrefix)) return caller_from_api_key(db, call);
    return caller_from_session(db, call.bearer_token, false);
}

//! The session token the caller used (Bearer or cookie).
const std::string& session_token_of(const AdminCall& call, const admin::Caller& caller) {
    return caller.by_cookie ? call.session_cookie : call.bearer_token;
}

//! A change made with the panel's cookie must carry the session's CSRF token: another site can
//! make the browser send the cookie, but it cannot read the token.
core::Result<void> check_csrf(const AdminCall& call, const admin::Caller& caller) {
    if (!caller.by_cookie || call.method == "GET" || call.method == "HEAD") return {};
    if (call.csrf_header.empty())
        return admin::permission(
            "this change came with the panel's session cookie but without the header "
            "'X-CSRF-Token': send the csrf_token from POST /admin/api/login or GET /admin/api/me");
    if (call.csrf_header != csrf_token_for(call.session_cookie))
        return admin::permission(
            "the header 'X-CSRF-Token' does not belong to this session: reload the panel (GET "
            "/admin/api/me gives the current token)");
    return {};
}

//! POSTs that compute an answer and write nothing (no audit line, no reload).
bool changes_nothing(const std::vector<std::string>& segments) {
    if (segments.size() == 2 && segments[0] == "channels" && segments[1] == "test")
        return true;  // POST /channels/test: probes only
    if (segments.size() == 3 && segments[0] == "channels" && segments[2] == "test")
        return true;  // POST /channels/{name}/test
    return segments.size() == 2 && segments[0] == "chains" &&
           (segments[1] == "dry-run" || segments[1] == "validate");
}

//! What a caller of role `user` may reach: their own /me routes and logout.
bool user_may_call(const std::vector<std::string>& segments) {
    if (segments.empty()) return false;
    return segments[0] == "me" || (segments.size() == 1 && segments[0] == "logout");
}

std::string cookie_attributes(const AdminCall& call) {
    return std::string("; Path=/admin; SameSite=Strict") +
           (call.secure_transport ? "; Secure" : "");
}

}  // namespace

std::string csrf_token_for(std::string_view session_token) {
    return hub::api_key_hash("tianshu-csrf:" + std::string(session_token)).substr(0, 40);
}

std::string cookie_value(std::string_view cookie_header, std::string_view name) {
    while (!cookie_header.empty()) {
        std::size_t semi = cookie_header.find(';');
        std::string_view pair = cookie_header.substr(0, semi);
        cookie_header =
            semi == std::string_view::npos ? std::string_view{} : cookie_header.substr(semi + 1);
        while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
        std::size_t eq = pair.find('=');
        if (eq != std::string_view::npos && pair.substr(0, eq) == name) {
            std::string_view value = pair.substr(eq + 1);
            while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
            return std::string(value);
        }
    }
    return {};
}

core::Result<AdminCall> make_admin_call(std::string_view method, std::string_view target,
                                        std::string_view authorization, std::string body,
                                        std::string client_ip, std::string_view cookie,
                                        std::string_view csrf, std::string_view forwarded_proto) {
    AdminCall call;
    call.session_cookie = cookie_value(cookie, kSessionCookie);
    call.csrf_header = std::string(csrf);
    call.secure_transport = forwarded_proto == "https";
    call.method = std::string(method);
    call.body = std::move(body);
    call.client_ip = std::move(client_ip);
    std::string_view path = target;
    std::string_view query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
        path = target.substr(0, q);
        query = target.substr(q + 1);
    }
    constexpr std::string_view kMount = "/admin/api";
    if (path.starts_with(kMount)) path.remove_prefix(kMount.size());
    call.path = path.empty() ? "/" : std::string(path);
    while (!query.empty()) {
        std::size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        std::size_t eq = pair.find('=');
        auto name = percent_decode(pair.substr(0, eq), true, "query parameter");
        if (!name) return name.take_error();
        auto value =
            percent_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1),
                           true, "query parameter '" + name.value() + "'");
        if (!value) return value.take_error();
        call.query[name.value()] = std::move(value).value();
    }
    constexpr std::string_view kBearer = "bearer ";
    if (authorization.size() > kBearer.size()) {
        std::string scheme(authorization.substr(0, kBearer.size()));
        for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (scheme == kBearer) {
            std::string_view token = authorization.substr(kBearer.size());
            while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
            while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
            call.bearer_token = std::string(token);
        }
    }
    return call;
}

AdminApi::AdminApi(store::Database& db, const hub::SecretBox* secrets,
                   std::function<void()> on_change, AdminApiOptions options)
    : db_(db), secrets_(secrets), on_change_(std::move(on_change)), options_(std::move(options)) {
    if (!options_.passwords || !options_.logins)
        throw std::invalid_argument(
            "AdminApi needs a PasswordHasher and a LoginThrottle (AdminApiOptions::passwords, "
            "::logins)");
}

namespace {

//! POST /login {"name","password"}: a new session token, shown once. The attempt is counted
//! against the client address and the account name before anything else (refused with 429 when
//! either has too many failures), the password is checked on the password pool (503 when its
//! queue is full) against the user's hash or, for an unknown name, a decoy of the same cost,
//! and a successful login is forgiven.
admin::Outcome login(store::Database& db, const AdminApiOptions& options, const AdminCall& call) {
    auto body = admin::object_body(call);
    if (!body) return body.take_error();
    if (auto ok = admin::only_fields(body.value(), {"name", "password"}); !ok)
        return ok.take_error();
    auto name = admin::required_string(body.value(), "name");
    if (!name) return name.take_error();
    auto password = admin::required_string(body.value(), "password");
    if (!password) return password.take_error();
    auto attempt =
        options.logins->begin(call.client_ip, name.value(), hub::LoginThrottle::Clock::now());
    if (!attempt) return attempt.take_error();
    core::Result<std::optional<store::User>> user = std::optional<store::User>{};
    {
        core::BlockingRegion database;
        user = store::users::find_by_name(db, name.value());
    }
    if (!user) {
        options.logins->forgive(attempt.value());  // not tried
        return user.take_error();
    }
    const bool known = user.value() && !user.value()->password_hash.empty();
    // Outside any BlockingRegion: the fiber parks while the pool checks, its carrier moves on.
    auto matches =
        options.passwords->verify(password.value(), known ? user.value()->password_hash : "");
    if (!matches) {
        options.logins->forgive(attempt.value());  // not tried: the pool was full
        return matches.take_error();
    }
    if (!known || !matches.value())
        return unauthenticated(
            "login failed: the name or the password is wrong (a user without a password "
            "cannot log in; a root user can set one)");
    options.logins->forgive(attempt.value());
    const store::User& u = *user.value();
    if (!u.enabled)
        return admin::permission("user '" + u.name +
                                 "' is disabled: ask a root user to enable the account");
    std::string token = std::string(kSessionPrefix) + hub::generate_api_key().substr(6);
    long long expires_at = store::now_seconds() + options.session_ttl.count();
    core::BlockingRegion database;
    auto session = store::admin_sessions::create(db, u.id, hub::api_key_hash(token), expires_at,
                                                 call.client_ip);
    if (!session) return session.take_error();
    // Expired sessions are pruned here, at the one place sessions are made, so the table
    // stays as small as the number of live sessions without a background job.
    (void)store::admin_sessions::prune_expired(db, store::now_seconds());
    return admin::Reply{201, Json{{"token", token},
                                  {"expires_at", expires_at},
                                  {"csrf_token", csrf_token_for(token)},
                                  {"user", admin::user_json(u)}}};
}

admin::Outcome session_routes(admin::Context& ctx, store::Database& db) {
    const auto& s = ctx.segments;
    const std::string& token = session_token_of(ctx.call, ctx.caller);
    if (s[0] == "me") {
        if (ctx.call.method != "GET") return admin::method_not_allowed(ctx.call, "GET");
        auto user = store::users::find_by_id(db, ctx.caller.user_id);
        if (!user) return user.take_error();
        Json me{{"id", ctx.caller.user_id},
                {"name", ctx.caller.name},
                {"role", ctx.caller.role},
                {"auth", ctx.caller.by_session ? "session" : "api_key"}};
        if (user.value()) {
            me["tier"] = user.value()->tier;
            me["balance"] = hub::format_money(user.value()->balance);
            me["invite_code"] =
                user.value()->invite_code ? Json(*user.value()->invite_code) : Json(nullptr);
        }
        if (ctx.caller.by_session) me["csrf_token"] = csrf_token_for(token);
        return admin::Reply{200, std::move(me)};
    }
    if (ctx.call.method != "POST") return admin::method_not_allowed(ctx.call, "POST");
    if (!ctx.caller.by_session)
        return Error::invalid(
            "logout ends a login session, but this call used an API key: revoke a key with "
            "DELETE /admin/api/keys/{id}");
    auto removed = store::admin_sessions::remove(db, hub::api_key_hash(token));
    if (!removed) return removed.take_error();
    return admin::Reply{204, nullptr};
}

}  // namespace

void AdminApi::handle(const AdminCall& call, ResponseWriter& out) const {
    try {
        auto segments = split_path(call.path);
        if (!segments) return send_admin_error(out, segments.error());
        const bool is_login = segments->size() == 1 && segments->front() == "login";
        if (is_login) {
            if (call.method != "POST") {
                auto reply = admin::method_not_allowed(call, "POST");
                return send_json(out, reply.status, reply.body);
            }
            auto done = login(db_, options_, call);
            if (!done) return send_admin_error(out, done.error());
            // The panel's session: the token in an HttpOnly cookie (script cannot read it), the
            // CSRF token in a readable one; both die with the session on the server.
            const std::string attributes = cookie_attributes(call);
            const long long max_age = options_.session_ttl.count();
            out.set_header("Set-Cookie", std::string(kSessionCookie) + "=" +
                                             done->body["token"].get<std::string>() + attributes +
                                             "; HttpOnly; Max-Age=" + std::to_string(max_age));
            out.set_header("Set-Cookie", std::string(kCsrfCookie) + "=" +
                                             done->body["csrf_token"].get<std::string>() +
                                             attributes + "; Max-Age=" + std::to_string(max_age));
            return send_json(out, done->status, done->body);
        }
        // Every other route works on the database (the playground leaves the region for its run).
        std::optional<core::BlockingRegion> database;
        database.emplace();
        auto caller = authenticate(db_, call);
        if (!caller) return send_admin_error(out, caller.error());
        if (auto csrf = check_csrf(call, caller.value()); !csrf)
            return send_admin_error(out, csrf.error());
        if (caller->role == "user" && !user_may_call(*segments))
            return send_admin_error(
                out, admin::permission("user '" + caller->name +
                                       "' has role 'user': a user's session reaches only its "
                                       "own /admin/api/me routes, not " +
                                       call.method + " " + call.path));
        admin::Context ctx{db_,  secrets_,       options_,
                           call, caller.value(), std::move(segments).value()};
        if (ctx.segments.empty())
            return send_admin_error(
                out, admin::not_found("GET /admin/api/ lists nothing: see docs/admin-api.md for "
                                      "the routes, e.g. GET /admin/api/channels"));
        if (ctx.segments.size() == 1 && ctx.segments[0] == "logs.csv") {
            if (call.method != "GET") {
                auto reply = admin::method_not_allowed(call, "GET");
                return send_json(out, reply.status, reply.body);
            }
            return admin::write_logs_csv(ctx, out);
        }
        if (ctx.segments.size() == 1 && ctx.segments[0] == "playground") {
            if (call.method != "POST") {
                auto reply = admin::method_not_allowed(call, "POST");
                return send_json(out, reply.status, reply.body);
            }
            auto run = admin::playground_call(ctx);
            if (!run) return send_admin_error(out, run.error());
            database.reset();
            return admin::run_playground(options_, run.value(), out);
        }
        std::optional<admin::Outcome> outcome;
        if (ctx.segments.size() == 1 && (ctx.segments[0] == "me" || ctx.segments[0] == "logout")) {
            outcome = session_routes(ctx, db_);
        }
        if (!outcome) outcome = admin::route_catalog(ctx);
        if (!outcome) outcome = admin::route_accounts(ctx);
        if (!outcome) outcome = admin::route_reports(ctx);
        if (!outcome) outcome = admin::route_dashboard(ctx);
        // The caller's own keys, ledger and redemption (any logged-in caller, acting on itself).
        if (!outcome && ctx.segments.size() > 1 && ctx.segments[0] == "me")
            outcome = admin::route_self(ctx);
        if (!outcome)
            return send_admin_error(
                out, admin::not_found("there is no admin route " + call.method + " " + call.path +
                                      ": see docs/admin-api.md"));
        if (!outcome->ok()) {
            if (outcome->error().kind == ErrorKind::internal)
                core::log(core::LogLevel::error, "admin api failure",
                          {{"method", call.method},
                           {"path", call.path},
                           {"error", outcome->error().message}});
            return send_admin_error(out, outcome->error());
        }
        const admin::Reply& reply = outcome->value();
        const bool logout = ctx.segments.size() == 1 && ctx.segments[0] == "logout";
        const bool changed =
            call.method != "GET" && reply.status < 400 && !logout && !changes_nothing(ctx.segments);
        if (logout && reply.status < 400 && ctx.caller.by_session) {
            const std::string attributes = cookie_attributes(call) + "; Max-Age=0";
            out.set_header("Set-Cookie",
                           std::string(kSessionCookie) + "=" + attributes + "; HttpOnly");
            out.set_header("Set-Cookie", std::string(kCsrfCookie) + "=" + attributes);
        }
        if (changed) {
            // One audit line per change: who did what (never the body: it may hold secrets).
            core::log(core::LogLevel::info, "admin change",
                      {{"user", ctx.caller.name},
                       {"method", call.method},
                       {"path", call.path},
                       {"status", reply.status}});
        }
        send_json(out, reply.status, reply.body);
        if (changed && on_change_) on_change_();
    } catch (const std::exception& e) {
        // Programming errors only (the request path returns errors as values): keep serving.
        core::log(core::LogLevel::error, "admin api exception",
                  {{"method", call.method}, {"path", call.path}, {"error", e.what()}});
        send_admin_error(
            out, Error::internal_error("the admin API failed on " + call.method + " " + call.path +
                                       ": see the server log for details"));
    }
}

}  // namespace tianshu::server
