#include "protocol/image_url.hpp"

namespace tianshu::protocol {

using core::Json;

namespace {
std::string member_string(const Json& j, const char* key) {
    if (!j.is_object()) return {};
    auto it = j.find(key);
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}
}  // namespace

Json image_source_of_url(std::string url) {
    constexpr std::string_view kData = "data:";
    constexpr std::string_view kBase64 = ";base64,";
    if (url.compare(0, kData.size(), kData) == 0) {
        const size_t marker = url.find(kBase64);
        if (marker != std::string::npos) {
            return Json{{"type", "base64"},
                        {"media_type", url.substr(kData.size(), marker - kData.size())},
                        {"data", url.substr(marker + kBase64.size())}};
        }
    }
    return Json{{"type", "url"}, {"url", std::move(url)}};
}

core::Result<std::string> image_url_of(const core::ContentBlock& b, const std::string& where,
                                       std::string_view upstream) {
    const std::string type = member_string(b.source, "type");
    if (type == "base64")
        return "data:" + member_string(b.source, "media_type") + ";base64," +
               member_string(b.source, "data");
    if (type == "url") return member_string(b.source, "url");
    return core::Error::invalid(where + ".source: an image of source type '" + type +
                                "' cannot be sent to " + std::string(upstream) +
                                "; send it as base64 or as a URL");
}

}  // namespace tianshu::protocol
