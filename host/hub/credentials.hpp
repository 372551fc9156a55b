#pragma once
// Secrets users hold: login passwords (stored as slow salted hashes) and API keys (stored
// as SHA-256, shown once). Everything random comes from OpenSSL's CSPRNG.

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace tianshu::hub {

//! PBKDF2-HMAC-SHA256 iterations for new password hashes (OWASP 2023 guidance).
inline constexpr int password_iterations = 600000;

//! Hashes a password with PBKDF2-HMAC-SHA256 and a random 16-byte salt, as
//! "pbkdf2-sha256$<iterations>$<salt base64>$<hash base64>". Throws std::runtime_error only
//! when the system's random source fails.
std::string hash_password(std::string_view plain, int iterations = password_iterations);

//! True when `plain` matches a hash_password() string; compares in constant time. A malformed
//! or unknown encoding is simply false.
bool verify_password(std::string_view plain, std::string_view encoded);

//! A hash_password()-shaped string with a random salt and a random hash, which no password
//! matches: verifying against it costs what verifying a real hash of `iterations` costs, so an
//! unknown name can be checked as slowly as a known one.
std::string decoy_password_hash(int iterations = password_iterations);

//! A new API key: "sk-ts-" followed by 48 base62 characters (~285 bits of entropy).
std::string generate_api_key();

//! The SHA-256 of a key, as bytes (the in-memory key table looks keys up by it).
using ApiKeyDigest = std::array<unsigned char, 32>;
ApiKeyDigest api_key_digest(std::string_view key);
//! The digest a stored hash names; nullopt when `hex` is not 64 hex digits.
std::optional<ApiKeyDigest> api_key_digest_from_hex(std::string_view hex);

//! The lowercase hex SHA-256 of a key: what the store keeps and looks keys up by.
std::string api_key_hash(std::string_view key);

//! The first 10 characters of a key ("sk-ts-" + 4), shown to tell keys apart.
std::string api_key_prefix(std::string_view key);

//! A 24-character base62 password for the bootstrap admin.
std::string random_password();

}  // namespace tianshu::hub
