#include "hub/base64.hpp"

#include <openssl/evp.h>

namespace tianshu::hub {

namespace {
bool is_base64_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}
}  // namespace

std::string base64_encode(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    int n =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

bool base64_decode(std::string_view text, std::vector<unsigned char>& out) {
    if (text.empty() || text.size() % 4 != 0) return false;
    std::size_t padding = 0;
    if (text.back() == '=') padding = text[text.size() - 2] == '=' ? 2 : 1;
    for (std::size_t i = 0; i < text.size() - padding; ++i)
        if (!is_base64_char(text[i])) return false;
    out.assign(text.size() / 4 * 3, 0);
    int n = EVP_DecodeBlock(out.data(), reinterpret_cast<const unsigned char*>(text.data()),
                            static_cast<int>(text.size()));
    if (n < 0 || static_cast<std::size_t>(n) < padding) return false;
    out.resize(static_cast<std::size_t>(n) - padding);
    return true;
}

}  // namespace tianshu::hub
