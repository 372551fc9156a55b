#include "server/panel_assets.hpp"

#include <Poco/DeflatingStream.h>

#include <array>
#include <fstream>
#include <sstream>

namespace tianshu::server {

namespace {

constexpr std::string_view kMount = "/admin";

bool ends_with(std::string_view text, std::string_view tail) {
    return text.size() >= tail.size() && text.substr(text.size() - tail.size()) == tail;
}

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream buffer;
    buffer << in.rdbuf();
    return std::move(buffer).str();
}

//! FNV-1a over the bytes: a strong ETag needs only to change when the content does.
std::string etag_of(std::string_view body) {
    std::uint64_t hash = 1469598103934665603ULL;
    for (unsigned char c : body) {
        hash ^= c;
        hash *= 1099511628211ULL;
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string tag = "\"";
    for (int shift = 60; shift >= 0; shift -= 4) tag += kHex[(hash >> shift) & 0xf];
    tag += '-' + std::to_string(body.size()) + "\"";
    return tag;
}

bool compressible(std::string_view content_type) {
    return content_type.starts_with("text/") || content_type.starts_with("application/json") ||
           content_type.starts_with("image/svg");
}

std::string gzip(std::string_view body) {
    std::ostringstream packed;
    Poco::DeflatingOutputStream deflate(packed, Poco::DeflatingStreamBuf::STREAM_GZIP, 9);
    deflate.write(body.data(), static_cast<std::streamsize>(body.size()));
    deflate.close();
    return std::move(packed).str();
}

bool accepts_gzip(std::string_view accept_encoding) {
    return accept_encoding.find("gzip") != std::string_view::npos;
}

core::Error unavailable(std::string message) {
    return {core::ErrorKind::unavailable, std::move(message), {}};
}

void security_headers(ResponseWriter& out) {
    out.set_header("Content-Security-Policy", kPanelCsp);
    out.set_header("X-Content-Type-Options", "nosniff");
    out.set_header("X-Frame-Options", "DENY");
    out.set_header("Referrer-Policy", "no-referrer");
}

}  // namespace

std::string_view PanelAssets::content_type_for(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 16> kTypes{{
        {".html", "text/html; charset=utf-8"},
        {".js", "text/javascript; charset=utf-8"},
        {".mjs", "text/javascript; charset=utf-8"},
        {".css", "text/css; charset=utf-8"},
        {".json", "application/json"},
        {".map", "application/json"},
        {".svg", "image/svg+xml"},
        {".png", "image/png"},
        {".jpg", "image/jpeg"},
        {".webp", "image/webp"},
        {".ico", "image/x-icon"},
        {".woff2", "font/woff2"},
        {".woff", "font/woff"},
        {".ttf", "font/ttf"},
        {".txt", "text/plain; charset=utf-8"},
        {".webmanifest", "application/manifest+json"},
    }};
    for (const auto& [extension, type] : kTypes)
        if (ends_with(name, extension)) return type;
    return "application/octet-stream";
}

core::Result<std::shared_ptr<const PanelAssets>> PanelAssets::load(
    const std::filesystem::path& dir) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(dir / "index.html", ec))
        return unavailable("the admin panel is not built: " + (dir / "index.html").string() +
                           " is missing. Build it with `bash tools/build-panel.sh` (the README's "
                           "first command does), or point `serve --panel-dir DIR` at a built "
                           "panel");
    auto assets = std::make_shared<PanelAssets>();
    for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
         !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (!it->is_regular_file(ec)) continue;
        std::string relative = std::filesystem::relative(it->path(), dir, ec).generic_string();
        if (ec || relative.empty() || ends_with(relative, ".map")) continue;  // no source maps
        Asset asset;
        asset.body = read_file(it->path());
        asset.content_type = std::string(content_type_for(relative));
        asset.etag = etag_of(asset.body);
        asset.immutable = relative.starts_with("assets/");
        if (asset.body.size() > 1024 && compressible(asset.content_type)) {
            std::string packed = gzip(asset.body);
            if (packed.size() < asset.body.size()) asset.gzipped = std::move(packed);
        }
        assets->total_bytes_ += asset.body.size();
        assets->files_.emplace(std::move(relative), std::move(asset));
    }
    if (ec)
        return unavailable("cannot read the admin panel's folder " + dir.string() + ": " +
                           ec.message());
    return std::shared_ptr<const PanelAssets>(std::move(assets));
}

void PanelAssets::send_asset(const Asset& asset, const PanelRequest& request,
                             ResponseWriter& out) const {
    security_headers(out);
    out.set_header("ETag", asset.etag);
    out.set_header("Cache-Control",
                   asset.immutable ? "public, max-age=31536000, immutable" : "no-cache");
    if (!asset.gzipped.empty()) out.set_header("Vary", "Accept-Encoding");
    if (!request.if_none_match.empty() &&
        request.if_none_match.find(asset.etag) != std::string_view::npos)
        return out.send(304, asset.content_type, "");
    const bool packed = !asset.gzipped.empty() && accepts_gzip(request.accept_encoding);
    if (packed) out.set_header("Content-Encoding", "gzip");
    const std::string& body = packed ? asset.gzipped : asset.body;
    out.send(200, asset.content_type, request.method == "HEAD" ? std::string_view{} : body);
}

void PanelAssets::serve(const PanelRequest& request, ResponseWriter& out) const {
    if (request.method != "GET" && request.method != "HEAD") {
        out.set_header("Allow", "GET, HEAD");
        return out.send(405, "text/plain; charset=utf-8",
                        "the admin panel answers GET and HEAD; its API is under /admin/api\n");
    }
    std::string_view relative = request.path.substr(kMount.size());
    while (!relative.empty() && relative.front() == '/') relative.remove_prefix(1);
    if (auto file = files_.find(std::string(relative)); !relative.empty() && file != files_.end())
        return send_asset(file->second, request, out);
    // A missing file (a name with an extension, or anything under assets/) is a 404;
    // any other path is one of the panel's own routes, answered by index.html.
    const std::string_view last = relative.substr(relative.rfind('/') + 1);
    if (relative.starts_with("assets/") || last.find('.') != std::string_view::npos) {
        security_headers(out);
        return out.send(404, "text/plain; charset=utf-8",
                        "no such file in the admin panel: " + std::string(request.path) + "\n");
    }
    send_asset(files_.at("index.html"), request, out);
}

void PanelAssets::serve_unavailable(const PanelRequest& request, std::string_view why,
                                    ResponseWriter& out) {
    security_headers(out);
    out.set_header("Cache-Control", "no-store");
    std::string body = "Tianshu admin panel unavailable at " + std::string(request.path) + ": " +
                       std::string(why) +
                       "\nThe admin REST API still answers under /admin/api (docs/admin-api.md).\n";
    out.send(503, "text/plain; charset=utf-8", body);
}

}  // namespace tianshu::server
