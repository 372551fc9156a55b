// The admin panel as the browser meets it, through the real binary on loopback: /admin serves a
// built panel (here a small stand-in folder, so the test does not depend on npm) with the right
// content types, caching, ETags, gzip, CSP and history-mode fallback; the login answers with the
// panel's cookies and the cookie then works on the API over HTTP, with the CSRF header checked;
// without a built panel /admin says what to run. The first start prints the panel's URL next to
// the admin password.
#include <Poco/InflatingStream.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "harness.hpp"

using namespace tianshu::it;
using Catch::Contains;

namespace {

void write(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

//! A folder shaped like `vite build` output.
fs::path fake_panel(const fs::path& dir) {
    write(
        dir / "index.html",
        "<!doctype html><html><head><script type=\"module\" src=\"/admin/assets/index-3f2a9c.js\">"
        "</script></head><body><div id=\"app\"></div></body></html>");
    std::string script = "console.log('tianshu panel');\n";
    for (int i = 0; i < 200; ++i) script += "export const line" + std::to_string(i) + " = 1;\n";
    write(dir / "assets/index-3f2a9c.js", script);
    write(dir / "assets/index-77aa01.css", "body{background:#F5F5F7}");
    write(dir / "assets/inter-latin-400.woff2", std::string("wOF2\0\1\2", 7));
    write(dir / "assets/index-3f2a9c.js.map", "{}");
    write(dir / "favicon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>");
    return dir;
}

std::string gunzip(const std::string& packed) {
    std::istringstream in(packed);
    Poco::InflatingInputStream inflate(in, Poco::InflatingStreamBuf::STREAM_GZIP);
    std::ostringstream out;
    out << inflate.rdbuf();
    return out.str();
}

ServeOptions options_with_panel(const TempDir& tmp, const std::string& panel_dir) {
    ServeOptions o;
    o.data_dir = tmp / "data";
    o.plugins_dir = make_plugins_dir(tmp / "plugins", {});
    o.scripts_dir = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    o.extra_args = {"--panel-dir", panel_dir};
    return o;
}

void check_security_headers(const HttpResponse& r) {
    const std::string csp = r.headers.count("content-security-policy")
                                ? r.headers.at("content-security-policy")
                                : std::string();
    CHECK_THAT(csp, Contains("default-src 'self'"));
    CHECK_THAT(csp, Contains("script-src 'self'"));
    CHECK_THAT(csp, Contains("frame-ancestors 'none'"));
    CHECK(csp.find("unsafe-eval") == std::string::npos);
    CHECK(r.headers.at("x-content-type-options") == "nosniff");
    CHECK(r.headers.at("x-frame-options") == "DENY");
}

}  // namespace

TEST_CASE("/admin serves the built panel: types, caching, ETag, gzip, CSP, history fallback") {
    TempDir tmp;
    fs::path panel = fake_panel(tmp / "panel");
    GatewayProcess gw(options_with_panel(tmp, panel.string()));
    // The first start prints where the panel is, next to the admin password.
    CHECK_THAT(gw.banner(),
               Contains("Admin panel: http://127.0.0.1:" + std::to_string(gw.port()) + "/admin\n"));
    CHECK_THAT(gw.banner(),
               Contains("(panel: http://127.0.0.1:" + std::to_string(gw.port()) + "/admin)"));
    REQUIRE(gw.admin_password().has_value());

    for (const char* path : {"/admin", "/admin/", "/admin/logs", "/admin/pipelines/vip"}) {
        INFO(path);
        auto r = http_request(gw.port(), "GET", path);
        REQUIRE(r.status == 200);
        CHECK(r.headers.at("content-type") == "text/html; charset=utf-8");
        CHECK(r.headers.at("cache-control") == "no-cache");  // revalidated: a new build shows
        CHECK_THAT(r.body, Contains("<div id=\"app\">"));
        check_security_headers(r);
    }

    auto js = http_request(gw.port(), "GET", "/admin/assets/index-3f2a9c.js");
    REQUIRE(js.status == 200);
    CHECK(js.headers.at("content-type") == "text/javascript; charset=utf-8");
    CHECK(js.headers.at("cache-control") == "public, max-age=31536000, immutable");
    CHECK_THAT(js.body, Contains("tianshu panel"));
    check_security_headers(js);
    const std::string etag = js.headers.at("etag");
    auto again =
        http_request(gw.port(), "GET", "/admin/assets/index-3f2a9c.js", {{"If-None-Match", etag}});
    CHECK(again.status == 304);
    CHECK(again.body.empty());

    auto packed = http_request(gw.port(), "GET", "/admin/assets/index-3f2a9c.js",
                               {{"Accept-Encoding", "gzip, deflate, br"}});
    REQUIRE(packed.status == 200);
    CHECK(packed.headers.at("content-encoding") == "gzip");
    CHECK(packed.headers.at("vary") == "Accept-Encoding");
    CHECK(packed.body.size() < js.body.size());
    CHECK(gunzip(packed.body) == js.body);

    CHECK(http_request(gw.port(), "GET", "/admin/assets/index-77aa01.css")
              .headers.at("content-type") == "text/css; charset=utf-8");
    CHECK(http_request(gw.port(), "GET", "/admin/assets/inter-latin-400.woff2")
              .headers.at("content-type") == "font/woff2");
    CHECK(http_request(gw.port(), "GET", "/admin/favicon.svg").headers.at("content-type") ==
          "image/svg+xml");

    // Missing files are 404s, not the page; source maps and paths outside the folder do not
    // exist; the panel answers GET and HEAD only.
    CHECK(http_request(gw.port(), "GET", "/admin/assets/nope-1234.js").status == 404);
    CHECK(http_request(gw.port(), "GET", "/admin/missing.png").status == 404);
    CHECK(http_request(gw.port(), "GET", "/admin/assets/index-3f2a9c.js.map").status == 404);
    CHECK(http_request(gw.port(), "GET", "/admin/../secret.key").status != 200);
    CHECK(http_request(gw.port(), "GET", "/admin/%2e%2e/data/tianshu.db").status == 404);
    auto post = http_request(gw.port(), "POST", "/admin/logs", {}, "x");
    CHECK(post.status == 405);
    CHECK(post.headers.at("allow") == "GET, HEAD");

    // The API keeps its own routes under /admin/api.
    auto api = http_request(gw.port(), "GET", "/admin/api/me");
    CHECK(api.status == 401);
    CHECK(api.headers.at("content-type") == "application/json");
}

TEST_CASE("the panel's login over HTTP: cookies, then the cookie with a CSRF header") {
    TempDir tmp;
    GatewayProcess gw(options_with_panel(tmp, fake_panel(tmp / "panel").string()));
    REQUIRE(gw.admin_password().has_value());
    auto login =
        http_request(gw.port(), "POST", "/admin/api/login", {{"Content-Type", "application/json"}},
                     Json{{"name", "admin"}, {"password", *gw.admin_password()}}.dump());
    REQUIRE(login.status == 201);
    const std::string token = login.json()["token"];
    const std::string csrf = login.json()["csrf_token"];
    // The harness keeps the last Set-Cookie of a name; the token cookie is HttpOnly either way.
    const Headers cookie{{"Cookie", "tianshu_session=" + token + "; tianshu_csrf=" + csrf}};
    auto me = http_request(gw.port(), "GET", "/admin/api/me", cookie);
    REQUIRE(me.status == 200);
    CHECK(me.json()["name"] == "admin");
    CHECK(me.json()["csrf_token"] == csrf);

    Headers change = cookie;
    change["Content-Type"] = "application/json";
    const std::string tier = Json{{"name", "gold"}, {"price_ratio", "0.8"}}.dump();
    auto refused = http_request(gw.port(), "POST", "/admin/api/tiers", change, tier);
    CHECK(refused.status == 403);
    CHECK_THAT(refused.body, Contains("X-CSRF-Token"));
    change["X-CSRF-Token"] = csrf;
    auto made = http_request(gw.port(), "POST", "/admin/api/tiers", change, tier);
    CHECK(made.status == 201);
    auto out = http_request(gw.port(), "POST", "/admin/api/logout", change);
    CHECK(out.status == 204);
    CHECK(http_request(gw.port(), "GET", "/admin/api/me", cookie).status == 401);
}

TEST_CASE("without a built panel, /admin says what to run and the API still serves") {
    TempDir tmp;
    GatewayProcess gw(options_with_panel(tmp, (tmp / "not-built").string()));
    CHECK_THAT(gw.banner(), Contains("(not built: run `bash tools/build-panel.sh`)"));
    auto r = http_request(gw.port(), "GET", "/admin/");
    CHECK(r.status == 503);
    CHECK_THAT(r.body, Contains("index.html is missing"));
    CHECK_THAT(r.body, Contains("tools/build-panel.sh"));
    CHECK(http_request(gw.port(), "GET", "/admin/api/me").status == 401);
    auto logged = gw.wait_for_log(
        [](const Json& j) { return j.value("msg", "") == "admin panel not served"; });
    CHECK(logged.has_value());
}
