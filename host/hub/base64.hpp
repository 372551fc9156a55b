#pragma once
// Standard base64 with padding, over OpenSSL's EVP block coder, for hub's stored secrets.

#include <string>
#include <string_view>
#include <vector>

namespace tianshu::hub {

std::string base64_encode(const unsigned char* data, std::size_t size);
inline std::string base64_encode(const std::vector<unsigned char>& bytes) {
    return base64_encode(bytes.data(), bytes.size());
}
//! Strict: the alphabet only, '=' only as the last one or two characters, a length that is a
//! multiple of 4 (EVP_DecodeBlock alone skips surrounding whitespace). False on anything else.
bool base64_decode(std::string_view text, std::vector<unsigned char>& out);

}  // namespace tianshu::hub
