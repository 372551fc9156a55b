#pragma once
// The admin panel's built files (admin/ → `npm run build` → a folder of index.html and hashed
// assets), read once at start and served from memory at /admin: no Node at run time, no file
// system access per request, and no path can reach outside the folder (only the files read at
// start exist). Hashed assets are cached for a year; index.html is revalidated (ETag), so a
// new build reaches browsers at their next load.

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/error.hpp"
#include "server/gateway.hpp"

namespace tianshu::server {

//! The Content-Security-Policy of every panel response: nothing from another origin, no inline
//! script.
inline constexpr std::string_view kPanelCsp =
    "default-src 'self'; script-src 'self'; img-src 'self' data:; style-src 'self' "
    "'unsafe-inline'; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; form-action 'self'; object-src 'none'";

//! What a panel request carries that the answer depends on.
struct PanelRequest {
    std::string_view method;  //!< "GET" or "HEAD" (others: 405)
    std::string_view path;    //!< "/admin", "/admin/", "/admin/assets/index-3f2a.js", "/admin/logs"
    std::string_view if_none_match;
    std::string_view accept_encoding;
};

class PanelAssets {
  public:
    //! Reads every file under `dir`. The error names the folder and what to run when it holds no
    //! built panel (no index.html).
    static core::Result<std::shared_ptr<const PanelAssets>> load(const std::filesystem::path& dir);

    //! Answers one request under /admin (never /admin/api): a file, index.html for the panel's
    //! own routes (history-mode URLs such as /admin/logs), 304 when the ETag matches, 404 for a
    //! missing file with an extension.
    void serve(const PanelRequest& request, ResponseWriter& out) const;

    //! The answer when no panel is loaded: 503 naming the folder that was tried and the fix.
    static void serve_unavailable(const PanelRequest& request, std::string_view why,
                                  ResponseWriter& out);

    std::size_t file_count() const { return files_.size(); }
    std::size_t total_bytes() const { return total_bytes_; }

    //! The MIME type for a file name, by extension (text types carry charset=utf-8).
    static std::string_view content_type_for(std::string_view name);

  private:
    struct Asset {
        std::string body;
        std::string gzipped;  //!< empty: not worth compressing
        std::string content_type;
        std::string etag;
        bool immutable = false;  //!< under assets/: the name changes when the content does
    };
    void send_asset(const Asset& asset, const PanelRequest& request, ResponseWriter& out) const;

    std::unordered_map<std::string, Asset> files_;  //!< by path relative to the folder
    std::size_t total_bytes_ = 0;
};

}  // namespace tianshu::server
