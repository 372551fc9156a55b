#include "upstream/http_client.hpp"

#include <map>
#include <mutex>

#include "core/fiber.hpp"
#include "upstream/http1_response_parser.hpp"
#include "upstream/plain_http_client.hpp"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>

#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/URI.h>
#include <optional>

namespace tianshu::upstream {

using core::Error;
using core::ErrorKind;

namespace {
constexpr size_t kMaxIdlePerOrigin = 64;

Poco::Timespan span(std::chrono::milliseconds ms) {
    return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms.count()) * 1000);
}
}  // namespace

std::string HttpResponseHead::header(std::string_view name) const {
    for (const auto& [k, v] : headers)
        if (iequals(k, name)) return v;
    return {};
}

struct HttpClientPool::Impl {
    //! http:// and https:// without a proxy: the lean HTTP/1.1 client (fibers park in it).
    PlainHttpClient plain;
    //! Proxied requests (http, and https through a CONNECT tunnel): Poco's sessions.
    mutable std::mutex mutex;
    std::map<std::string, std::vector<std::unique_ptr<Poco::Net::HTTPClientSession>>> idle;
    Poco::Net::Context::Ptr tls;
    std::map<std::string, Poco::Net::Context::Ptr> ca_contexts;  //!< by options.ca_file

    Impl() {
        // Verify upstream certificates against the system's CA store.
        tls = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "",
                                     Poco::Net::Context::VERIFY_RELAXED, 9, true);
    }

    //! The context verifying against `ca_file` alone (empty: the system CA store).
    core::Result<Poco::Net::Context::Ptr> context_for(const std::string& ca_file) {
        if (ca_file.empty()) return tls;
        std::lock_guard lock(mutex);
        if (auto it = ca_contexts.find(ca_file); it != ca_contexts.end()) return it->second;
        try {
            Poco::Net::Context::Ptr ctx =
                new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", ca_file,
                                       Poco::Net::Context::VERIFY_RELAXED, 9, false);
            ca_contexts.emplace(ca_file, ctx);
            return ctx;
        } catch (const Poco::Exception& e) {
            return Error{ErrorKind::upstream,
                         "options.ca_file '" + ca_file +
                             "' holds no CA certificate the gateway can read (" + e.displayText() +
                             "): give a PEM file of CA certificates readable by the gateway",
                         {}};
        }
    }

    std::unique_ptr<Poco::Net::HTTPClientSession> acquire(const Poco::URI& uri,
                                                          const std::string& origin,
                                                          const Poco::URI* proxy,
                                                          const Poco::Net::Context::Ptr& context) {
        {
            std::lock_guard lock(mutex);
            auto it = idle.find(origin);
            if (it != idle.end() && !it->second.empty()) {
                auto s = std::move(it->second.back());
                it->second.pop_back();
                return s;
            }
        }
        std::unique_ptr<Poco::Net::HTTPClientSession> s;
        if (uri.getScheme() == "https")
            s = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(),
                                                                context);
        else
            s = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
        if (proxy) {
            // Plain http goes to the proxy with absolute URLs; https through a CONNECT tunnel.
            s->setProxy(proxy->getHost(), proxy->getPort());
            const std::string& info = proxy->getUserInfo();
            if (!info.empty()) {
                const auto colon = info.find(':');
                s->setProxyCredentials(info.substr(0, colon),
                                       colon == std::string::npos ? "" : info.substr(colon + 1));
            }
        }
        s->setKeepAlive(true);
        return s;
    }

    void release(const std::string& origin, std::unique_ptr<Poco::Net::HTTPClientSession> s) {
        std::lock_guard lock(mutex);
        auto& list = idle[origin];
        if (list.size() < kMaxIdlePerOrigin) list.push_back(std::move(s));
    }
};

HttpClientPool& HttpClientPool::shared() {
    static HttpClientPool pool;
    return pool;
}

HttpClientPool::HttpClientPool() : impl_(std::make_unique<Impl>()) {}
HttpClientPool::~HttpClientPool() = default;

size_t HttpClientPool::idle_sessions() const {
    std::lock_guard lock(impl_->mutex);
    size_t n = impl_->plain.idle_connections();
    for (const auto& [origin, list] : impl_->idle) n += list.size();
    return n;
}

core::Result<HttpResponseHead> HttpClientPool::send(const HttpRequestSpec& spec,
                                                    const BodySink& on_body) {
    if (spec.proxy.empty()) {
        if (auto plain = parse_plain_http_url(spec.url))
            return impl_->plain.send(*plain, spec, on_body);
        if (auto secure = parse_https_url(spec.url, spec.ca_file))
            return impl_->plain.send(*secure, spec, on_body);
    }
    Poco::URI uri;
    try {
        uri = Poco::URI(spec.url);
    } catch (const Poco::Exception& e) {
        return Error::invalid("upstream URL '" + spec.url + "' is malformed: " + e.displayText());
    }
    if (uri.getScheme() != "http" && uri.getScheme() != "https")
        return Error::invalid("upstream URL '" + spec.url +
                              "' must start with http:// or https://");
    std::optional<Poco::URI> proxy;
    if (!spec.proxy.empty()) {
        try {
            proxy.emplace(spec.proxy);
        } catch (const Poco::Exception&) {
        }
        if (!proxy || proxy->getScheme() != "http" || proxy->getHost().empty())
            return Error::invalid("channel proxy '" + spec.proxy +
                                  "' must be http://[user:password@]host:port");
    }
    // Sessions through a proxy are pooled apart from direct ones.
    const std::string origin =
        uri.getScheme() + "://" + uri.getHost() + ":" + std::to_string(uri.getPort()) +
        (proxy ? " via " + proxy->getHost() + ":" + std::to_string(proxy->getPort()) : "") +
        (spec.ca_file.empty() || uri.getScheme() != "https" ? "" : " ca=" + spec.ca_file);
    std::string target = uri.getPathAndQuery();
    if (target.empty()) target = "/";
    if (!proxy) {
        // A URL of an unusual shape: Poco has normalised it for the lean client.
        const bool tls = uri.getScheme() == "https";
        PlainHttpUrl direct{uri.getHost(), uri.getPort(), target,
                            tls ? https_origin(uri.getHost(), uri.getPort(), spec.ca_file)
                                : uri.getHost() + ":" + std::to_string(uri.getPort()),
                            tls};
        return impl_->plain.send(direct, spec, on_body);
    }

    // Poco's sessions (proxies, https through a CONNECT tunnel among them) block the thread
    // for the whole exchange: the fiber scheduler keeps another carrier free meanwhile.
    core::BlockingRegion blocks;
    // A pooled session may have been closed by the server while idle: retry once on a fresh
    // one, but only when nothing of the response has been seen.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto tls = impl_->context_for(spec.ca_file);
        if (!tls) return tls.take_error();
        auto session = impl_->acquire(uri, origin, proxy ? &*proxy : nullptr, tls.value());
        const bool reused = session->connected();
        HttpResponseHead head;
        bool delivered = false;
        try {
            session->setTimeout(span(spec.connect_timeout), span(spec.first_byte_timeout),
                                span(spec.first_byte_timeout));
            Poco::Net::HTTPRequest request(spec.method, target, Poco::Net::HTTPMessage::HTTP_1_1);
            request.setKeepAlive(true);
            for (const auto& [k, v] : spec.headers) request.set(k, v);
            request.setContentLength(static_cast<std::streamsize>(spec.body.size()));
            std::ostream& out = session->sendRequest(request);
            out.write(spec.body.data(), static_cast<std::streamsize>(spec.body.size()));
            Poco::Net::HTTPResponse response;
            std::istream& in = session->receiveResponse(response);
            head.status = static_cast<int>(response.getStatus());
            for (const auto& [k, v] : response) head.headers.emplace_back(k, v);
            session->socket().setReceiveTimeout(span(spec.idle_timeout));
            char buf[16384];
            bool stopped = false;
            std::streamsize received = 0;
            while (true) {
                // Block for at least one byte, then take whatever else is already buffered, so
                // SSE frames reach the client as soon as they arrive.
                in.read(buf, 1);
                std::streamsize n = in.gcount();
                if (n <= 0) break;
                n += in.readsome(buf + 1, sizeof buf - 1);
                received += n;
                delivered = true;
                if (!on_body(head, std::string_view(buf, static_cast<size_t>(n)))) {
                    stopped = true;
                    break;
                }
            }
            // Poco ends a fixed-length body cut short at EOF without a word: count.
            if (!stopped && response.hasContentLength() && received < response.getContentLength64())
                head.cut = true;
            if (!stopped && !head.cut && in.eof() && response.getKeepAlive())
                impl_->release(origin, std::move(session));
            return head;
        } catch (const Poco::TimeoutException&) {
            return Error{ErrorKind::timeout,
                         std::string("the upstream at ") + origin +
                             (delivered ? " stopped sending mid-answer" : " did not answer") +
                             " in time",
                         {}};
        } catch (const Poco::Exception& e) {
            if (reused && head.status == 0 && attempt == 0) continue;
            return Error{ErrorKind::upstream,
                         "cannot reach the upstream at " + origin + ": " + e.displayText() +
                             (head.status ? " (mid-answer)" : " (check the channel's base URL)"),
                         {}};
        }
    }
    return Error{ErrorKind::upstream, "cannot reach the upstream at " + origin, {}};
}

}  // namespace tianshu::upstream
