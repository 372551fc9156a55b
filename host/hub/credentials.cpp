// SHA256_Init/Update/Final for the per-request key hash: deprecated, not removed, in OpenSSL 3.
#define OPENSSL_SUPPRESS_DEPRECATED
#include "hub/credentials.hpp"

#include "hub/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <charconv>
#include <stdexcept>
#include <vector>

namespace tianshu::hub {
namespace {

constexpr std::string_view scheme = "pbkdf2-sha256";
constexpr std::string_view key_head = "sk-ts-";
constexpr std::string_view base62 =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
constexpr int max_verify_iterations = 10'000'000;  // refuse encodings that would stall a worker

std::vector<unsigned char> random_bytes(std::size_t n) {
    std::vector<unsigned char> out(n);
    if (RAND_bytes(out.data(), static_cast<int>(n)) != 1)
        throw std::runtime_error("the system random source failed (RAND_bytes)");
    return out;
}

// Uniform base62 by rejection: bytes >= 248 (4 * 62) are dropped so no character is favoured.
std::string random_base62(std::size_t length) {
    std::string out;
    out.reserve(length);
    while (out.size() < length) {
        for (unsigned char b : random_bytes(length * 2)) {
            if (b >= 248) continue;
            out += base62[b % 62];
            if (out.size() == length) break;
        }
    }
    return out;
}

bool pbkdf2(std::string_view plain, const std::vector<unsigned char>& salt, int iterations,
            std::vector<unsigned char>& out) {
    return PKCS5_PBKDF2_HMAC(plain.data(), static_cast<int>(plain.size()), salt.data(),
                             static_cast<int>(salt.size()), iterations, EVP_sha256(),
                             static_cast<int>(out.size()), out.data()) == 1;
}

}  // namespace

std::string hash_password(std::string_view plain, int iterations) {
    if (iterations < 1) throw std::invalid_argument("PBKDF2 iterations must be at least 1");
    auto salt = random_bytes(16);
    std::vector<unsigned char> hash(32);
    if (!pbkdf2(plain, salt, iterations, hash))
        throw std::runtime_error("PKCS5_PBKDF2_HMAC failed");
    return std::string(scheme) + "$" + std::to_string(iterations) + "$" + base64_encode(salt) +
           "$" + base64_encode(hash);
}

bool verify_password(std::string_view plain, std::string_view encoded) {
    // scheme$iterations$salt$hash
    std::string_view parts[4];
    for (int i = 0; i < 3; ++i) {
        auto dollar = encoded.find('$');
        if (dollar == std::string_view::npos) return false;
        parts[i] = encoded.substr(0, dollar);
        encoded.remove_prefix(dollar + 1);
    }
    parts[3] = encoded;
    if (parts[0] != scheme) return false;
    int iterations = 0;
    auto [end, ec] =
        std::from_chars(parts[1].data(), parts[1].data() + parts[1].size(), iterations);
    if (ec != std::errc{} || end != parts[1].data() + parts[1].size() || iterations < 1 ||
        iterations > max_verify_iterations)
        return false;
    std::vector<unsigned char> salt, expected;
    if (!base64_decode(parts[2], salt) || !base64_decode(parts[3], expected) || salt.empty() ||
        expected.empty())
        return false;
    std::vector<unsigned char> actual(expected.size());
    if (!pbkdf2(plain, salt, iterations, actual)) return false;
    return CRYPTO_memcmp(actual.data(), expected.data(), expected.size()) == 0;
}

std::string decoy_password_hash(int iterations) {
    if (iterations < 1) throw std::invalid_argument("PBKDF2 iterations must be at least 1");
    return std::string(scheme) + "$" + std::to_string(iterations) + "$" +
           base64_encode(random_bytes(16)) + "$" + base64_encode(random_bytes(32));
}

std::string generate_api_key() {
    return std::string(key_head) + random_base62(48);
}

ApiKeyDigest api_key_digest(std::string_view key) {
    // Every request hashes its key. In OpenSSL 3 both EVP_Digest and the one-shot SHA256() fetch
    // the algorithm from the provider tables per call (locks, a strdup, an allocated context:
    // ~17k instructions for one 51-byte key); the SHA256_* functions hash directly (~1k).
    // (Deprecated in OpenSSL 3, not removed; see the top of the file.)
    static_assert(sizeof(ApiKeyDigest) == SHA256_DIGEST_LENGTH);
    ApiKeyDigest digest;
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    SHA256_Update(&ctx, key.data(), key.size());
    SHA256_Final(digest.data(), &ctx);
    return digest;
}

std::optional<ApiKeyDigest> api_key_digest_from_hex(std::string_view hex) {
    if (hex.size() != 2 * sizeof(ApiKeyDigest)) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    ApiKeyDigest out;
    for (size_t i = 0; i < out.size(); ++i) {
        const int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out[i] = static_cast<unsigned char>(hi << 4 | lo);
    }
    return out;
}

std::string api_key_hash(std::string_view key) {
    const ApiKeyDigest digest = api_key_digest(key);
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    out.reserve(2 * digest.size());
    for (unsigned char b : digest) {
        out += hex[b >> 4];
        out += hex[b & 0xf];
    }
    return out;
}

std::string api_key_prefix(std::string_view key) {
    return std::string(key.substr(0, 10));
}

std::string random_password() {
    return random_base62(24);
}

}  // namespace tianshu::hub
