#pragma once
// Encryption at rest for upstream API keys: AES-256-GCM with a key held in the server's
// secret file (data/secret.key by default). A sealed value is bound to a context string
// (the channel name), so it cannot be copied to another channel's row and still decrypt.

#include "core/error.hpp"

#include <array>
#include <filesystem>
#include <string>
#include <string_view>

namespace tianshu::hub {

//! Seals and opens upstream API keys with the server's 32-byte secret key.
//! Thread rule: a SecretBox is immutable after open_or_create(); seal() and open() may be
//! called from any number of threads at once. The key never leaves the object: there is no
//! accessor and no stream operator, and no error message contains it.
class SecretBox {
  public:
    //! Reads the base64 key (one line) from `secret_file`, or, when the file does not exist,
    //! creates it with 32 fresh random bytes, mode 0600, and fsyncs it and its directory.
    //! Errors (kind internal; start-up should print the message and stop) name the file and
    //! the fix: a file readable or writable by group/others, not a regular file, not base64,
    //! not 32 bytes, or an I/O failure.
    //! Several processes may call it at once on one missing file: one creates it (whole, by
    //! link(2)), the others read that key.
    static core::Result<SecretBox> open_or_create(const std::filesystem::path& secret_file);

    //! The key given as text (44 base64 characters for 32 bytes, a trailing newline allowed),
    //! e.g. from an environment variable; `origin` names it in messages (never the key itself).
    //! Errors name `origin` and the fix.
    static core::Result<SecretBox> from_base64(std::string_view text,
                                               const std::filesystem::path& origin);

    SecretBox(const SecretBox&) = default;
    SecretBox& operator=(const SecretBox&) = default;
    ~SecretBox();

    //! Encrypts `plaintext` as "v1:" + base64(12-byte random nonce || ciphertext || 16-byte
    //! tag), with `context` as associated data. Every call uses a fresh nonce, so sealing the
    //! same value twice gives different strings. Throws std::runtime_error only when the
    //! system random source or OpenSSL itself fails (nothing a caller can fix).
    std::string seal(std::string_view plaintext, std::string_view context) const;

    //! Decrypts a seal() string made with the same secret file and the same `context`.
    //! Errors (kind internal) say which channel and why: the tag does not verify (another
    //! secret file, another context, or altered bytes), an unknown version prefix, not base64,
    //! or too short to hold a nonce and tag. Never returns partially decrypted data.
    core::Result<std::string> open(std::string_view sealed, std::string_view context) const;

    //! True when `value` looks like a sealed value of any version ("v<digits>:<base64>"), so a
    //! stored key is never mistaken for plaintext; open() then says whether the version is
    //! supported. False for anything else, e.g. a legacy plaintext key awaiting sealing.
    static bool is_sealed(std::string_view value);

    //! The file (or environment variable) the key came from, for messages.
    const std::filesystem::path& secret_file() const { return secret_file_; }

  private:
    static constexpr std::size_t key_size = 32;

    SecretBox(const std::array<unsigned char, key_size>& key, std::filesystem::path secret_file);

    std::array<unsigned char, key_size> key_{};
    std::filesystem::path secret_file_;
};

}  // namespace tianshu::hub
