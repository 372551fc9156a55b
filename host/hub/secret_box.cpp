#include "hub/secret_box.hpp"

#include "hub/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tianshu::hub {
namespace {

constexpr std::string_view version_prefix = "v1:";
constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;
constexpr std::size_t max_secret_file_size = 4096;   // a key line is 45 bytes; refuse big files
constexpr std::size_t max_input_size = INT_MAX / 2;  // OpenSSL takes int lengths

using Bytes = std::vector<unsigned char>;
using Path = std::filesystem::path;

struct CipherCtxFree {
    void operator()(EVP_CIPHER_CTX* ctx) const { EVP_CIPHER_CTX_free(ctx); }
};
using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, CipherCtxFree>;

//! Closes a file descriptor on every path out of a function.
class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }
    //! Closes now and reports the result (close can surface a deferred write error).
    bool close() {
        int fd = fd_;
        fd_ = -1;
        return ::close(fd) == 0;
    }

  private:
    int fd_;
};

std::string errno_text(int err) {
    return std::strerror(err);
}

std::string octal_mode(mode_t mode) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(mode & 07777));
    return buf;
}

// What to do about a secret file whose contents are unusable. Deleting it is only safe when
// nothing was sealed with it, so the message says so.
std::string bad_contents_fix(const Path& file) {
    return "restore the original " + file.string() +
           " from backup; or, if no upstream keys were stored with it, delete it and a new key "
           "is generated at start-up (stored upstream keys must then be entered again)";
}

core::Error file_error(std::string message) {
    return core::Error::internal_error(std::move(message));
}

// Writes all of `data`, retrying short writes and EINTR. Returns 0 or an errno value.
int write_all(int fd, std::string_view data) {
    while (!data.empty()) {
        ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return 0;
}

// The directory entry of a new file is only durable once the directory itself is fsynced.
int fsync_directory(const Path& dir) {
    int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    int err = ::fsync(fd) == 0 ? 0 : errno;
    ::close(fd);
    return err;
}

// One line of base64 (a trailing newline, CRLF or blanks allowed) holding 32 bytes. `what`
// names where it came from ("secret file F"), `fix` what to do when it is unusable.
core::Result<std::array<unsigned char, 32>> parse_key(const std::string& what,
                                                      std::string_view text,
                                                      const std::string& fix) {
    std::string_view line = text;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' ' ||
                             line.back() == '\t'))
        line.remove_suffix(1);

    core::Result<std::array<unsigned char, 32>> result = file_error(what + " is empty: " + fix);
    Bytes decoded;
    if (line.empty()) {
        // result already says so
    } else if (!base64_decode(line, decoded)) {
        result = file_error(what +
                            " does not hold a base64 key (expected one line of 44 base64 "
                            "characters): " +
                            fix);
    } else if (decoded.size() != 32) {
        result =
            file_error(what + " holds a " + std::to_string(decoded.size()) +
                       "-byte key, but the key must be 32 bytes (44 base64 characters): " + fix);
    } else {
        std::array<unsigned char, 32> key{};
        std::memcpy(key.data(), decoded.data(), key.size());
        result = key;
        OPENSSL_cleanse(key.data(), key.size());
    }
    if (!decoded.empty()) OPENSSL_cleanse(decoded.data(), decoded.size());
    return result;
}

core::Result<std::array<unsigned char, 32>> read_key(int raw_fd, const Path& file) {
    Fd fd(raw_fd);
    const std::string name = file.string();
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0)
        return file_error("cannot stat secret file " + name + ": " + errno_text(errno));
    if (!S_ISREG(st.st_mode))
        return file_error("secret file " + name +
                          " is not a regular file: point the server at the file holding its "
                          "key, or remove it so a new key is generated");
    // Checked on the open descriptor, so the file cannot be swapped between check and read.
    if (st.st_mode & (S_IRGRP | S_IROTH))
        return file_error("secret file " + name + " is readable by others (mode " +
                          octal_mode(st.st_mode) + "): chmod 600 " + name);
    if (st.st_mode & (S_IWGRP | S_IWOTH | S_IXGRP | S_IXOTH))
        return file_error("secret file " + name + " is writable by others (mode " +
                          octal_mode(st.st_mode) + "): chmod 600 " + name);

    std::string text;
    char buf[512];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR) continue;
            return file_error("cannot read secret file " + name + ": " + errno_text(errno));
        }
        if (n == 0) break;
        text.append(buf, static_cast<std::size_t>(n));
        if (text.size() > max_secret_file_size)
            return file_error("secret file " + name +
                              " is too large to be a key (expected one line of 44 base64 "
                              "characters): " +
                              bad_contents_fix(file));
    }
    OPENSSL_cleanse(buf, sizeof buf);

    auto result = parse_key("secret file " + name, text, bad_contents_fix(file));
    OPENSSL_cleanse(text.data(), text.size());
    return result;
}

// Creates `file` with a new random key. Returns the key, or an error; `lost_race` is set when
// another process created the file first (the caller then reads that one). The key is written
// to a temporary file of this process and linked into place whole: gateways sharing a data
// folder and starting together never read a file another one has created but not yet written.
core::Result<std::array<unsigned char, 32>> create_key(const Path& file, bool& lost_race) {
    const std::string name = file.string();
    lost_race = false;
    static std::atomic<unsigned> attempts{0};
    const Path temp =
        file.string() + ".new-" + std::to_string(::getpid()) + "-" + std::to_string(attempts++);
    // O_EXCL: never overwrite a key; 0600 from the first instant, so there is no window in
    // which the file exists with looser permissions.
    ::unlink(temp.c_str());  // left by a process of this pid that died before linking it
    int raw = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (raw < 0) {
        int err = errno;
        std::string fix = err == ENOENT
                              ? "create the directory " + file.parent_path().string() +
                                    " or set the secret file path to an existing directory"
                              : "check that the server may write to " + file.parent_path().string();
        return file_error("cannot create secret file " + name + ": " + errno_text(err) + ": " +
                          fix);
    }
    Fd fd(raw);

    std::array<unsigned char, 32> key{};
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) {
        ::unlink(temp.c_str());
        return file_error("cannot create secret file " + name +
                          ": the system random source failed (RAND_bytes)");
    }
    std::string line = base64_encode(key.data(), key.size()) + "\n";

    int err = 0;
    std::string step;
    // A restrictive umask could have removed the owner's bits; 0600 exactly is what we check.
    if (::fchmod(fd.get(), 0600) != 0) err = errno, step = "chmod";
    if (!err && (err = write_all(fd.get(), line)) != 0) step = "write";
    if (!err && ::fsync(fd.get()) != 0) err = errno, step = "fsync";
    if (!err && !fd.close()) err = errno, step = "close";
    if (!err && ::link(temp.c_str(), file.c_str()) != 0) {
        err = errno, step = "link";
        if (err == EEXIST) {
            ::unlink(temp.c_str());
            OPENSSL_cleanse(line.data(), line.size());
            OPENSSL_cleanse(key.data(), key.size());
            lost_race = true;
            return file_error("secret file " + name + " appeared while being created");
        }
    }
    ::unlink(temp.c_str());
    if (!err && (err = fsync_directory(file.parent_path())) != 0) step = "fsync the directory of";
    OPENSSL_cleanse(line.data(), line.size());
    if (err) {
        // A half-written key file would be refused on every later start; remove it.
        if (step != "link") ::unlink(file.c_str());
        OPENSSL_cleanse(key.data(), key.size());
        return file_error("cannot " + step + " secret file " + name + ": " + errno_text(err) +
                          ": check free space and permissions in " + file.parent_path().string());
    }
    core::Result<std::array<unsigned char, 32>> result = key;
    OPENSSL_cleanse(key.data(), key.size());
    return result;
}

core::Error open_error(std::string_view context, std::string_view why) {
    return core::Error::internal_error("cannot decrypt the stored upstream key for channel '" +
                                       std::string(context) + "': " + std::string(why));
}

}  // namespace

SecretBox::SecretBox(const std::array<unsigned char, key_size>& key, Path secret_file)
    : key_(key), secret_file_(std::move(secret_file)) {}

SecretBox::~SecretBox() {
    OPENSSL_cleanse(key_.data(), key_.size());
}

core::Result<SecretBox> SecretBox::open_or_create(const Path& secret_file) {
    // Two attempts: if another process creates the file between our failed open and our
    // O_EXCL create, we read the key it wrote.
    for (int attempt = 0; attempt < 2; ++attempt) {
        int fd = ::open(secret_file.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            auto key = read_key(fd, secret_file);
            if (!key.ok()) return key.take_error();
            SecretBox box(key.value(), secret_file);
            OPENSSL_cleanse(key.value().data(), key.value().size());
            return box;
        }
        if (errno != ENOENT)
            return file_error("cannot open secret file " + secret_file.string() + ": " +
                              errno_text(errno) + ": check that the server may read it");
        bool lost_race = false;
        auto key = create_key(secret_file, lost_race);
        if (lost_race) continue;
        if (!key.ok()) return key.take_error();
        SecretBox box(key.value(), secret_file);
        OPENSSL_cleanse(key.value().data(), key.value().size());
        return box;
    }
    return file_error("secret file " + secret_file.string() +
                      " keeps appearing and disappearing: check what else writes to it");
}

core::Result<SecretBox> SecretBox::from_base64(std::string_view text, const Path& origin) {
    auto key = parse_key(origin.string(), text,
                         "set it to 44 base64 characters, e.g. the contents of an existing "
                         "secret.key (`openssl rand -base64 32` makes a new one)");
    if (!key.ok()) return key.take_error();
    SecretBox box(key.value(), origin);
    OPENSSL_cleanse(key.value().data(), key.value().size());
    return box;
}

std::string SecretBox::seal(std::string_view plaintext, std::string_view context) const {
    if (plaintext.size() > max_input_size || context.size() > max_input_size)
        throw std::length_error("SecretBox::seal: input too large");

    Bytes out(nonce_size + plaintext.size() + tag_size);
    unsigned char* nonce = out.data();
    unsigned char* cipher = nonce + nonce_size;
    unsigned char* tag = cipher + plaintext.size();
    if (RAND_bytes(nonce, static_cast<int>(nonce_size)) != 1)
        throw std::runtime_error("the system random source failed (RAND_bytes)");

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok = ctx &&
              EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size),
                                  nullptr) == 1 &&
              EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), nonce) == 1;
    if (ok && !context.empty())
        ok = EVP_EncryptUpdate(ctx.get(), nullptr, &len,
                               reinterpret_cast<const unsigned char*>(context.data()),
                               static_cast<int>(context.size())) == 1;
    if (ok && !plaintext.empty())
        ok = EVP_EncryptUpdate(ctx.get(), cipher, &len,
                               reinterpret_cast<const unsigned char*>(plaintext.data()),
                               static_cast<int>(plaintext.size())) == 1;
    // GCM is a stream mode: Final writes nothing, but it must run before the tag is read.
    ok = ok && EVP_EncryptFinal_ex(ctx.get(), cipher + plaintext.size(), &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_size), tag) == 1;
    if (!ok) throw std::runtime_error("AES-256-GCM encryption failed inside OpenSSL");
    return std::string(version_prefix) + base64_encode(out.data(), out.size());
}

core::Result<std::string> SecretBox::open(std::string_view sealed, std::string_view context) const {
    if (!is_sealed(sealed))
        return open_error(context,
                          "the value is not in the sealed format (v1:...): enter the channel's "
                          "upstream key again");
    if (sealed.substr(0, version_prefix.size()) != version_prefix) {
        std::string_view version = sealed.substr(0, sealed.find(':'));
        return open_error(context, "it was sealed in format " + std::string(version) +
                                       ", which this Tianshu does not know (only " +
                                       std::string(version_prefix.substr(0, 2)) +
                                       "): run the Tianshu version that stored it, or enter "
                                       "the channel's upstream key again");
    }
    std::string_view body = sealed.substr(version_prefix.size());
    Bytes raw;
    if (body.size() > max_input_size || !base64_decode(body, raw))
        return open_error(context,
                          "the value is corrupt (not valid base64): enter the channel's "
                          "upstream key again");
    if (raw.size() < nonce_size + tag_size)
        return open_error(context, "the value is truncated (" + std::to_string(raw.size()) +
                                       " bytes, at least " + std::to_string(nonce_size + tag_size) +
                                       " expected): enter the channel's upstream key again");

    const std::size_t cipher_size = raw.size() - nonce_size - tag_size;
    unsigned char* nonce = raw.data();
    unsigned char* cipher = nonce + nonce_size;
    unsigned char* tag = cipher + cipher_size;
    std::string plain(cipher_size, '\0');
    auto* plain_bytes = reinterpret_cast<unsigned char*>(plain.data());

    CipherCtx ctx(EVP_CIPHER_CTX_new());
    int len = 0;
    bool ok = ctx &&
              EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
              EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_size),
                                  nullptr) == 1 &&
              EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key_.data(), nonce) == 1;
    if (!ok) return core::Error::internal_error("AES-256-GCM set-up failed inside OpenSSL");
    if (!context.empty())
        ok = EVP_DecryptUpdate(ctx.get(), nullptr, &len,
                               reinterpret_cast<const unsigned char*>(context.data()),
                               static_cast<int>(context.size())) == 1;
    if (ok && cipher_size > 0)
        ok = EVP_DecryptUpdate(ctx.get(), plain_bytes, &len, cipher,
                               static_cast<int>(cipher_size)) == 1;
    ok = ok &&
         EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_size), tag) ==
             1 &&
         EVP_DecryptFinal_ex(ctx.get(), plain_bytes + cipher_size, &len) == 1;
    if (!ok) {
        // Unauthenticated plaintext must not outlive this function.
        OPENSSL_cleanse(plain.data(), plain.size());
        const std::string file = secret_file_.string();
        return open_error(context, "the secret key " + file +
                                       " does not match the one it was sealed with (was " + file +
                                       " replaced? does another gateway seal with its own key?), "
                                       "or the value was copied from another channel or altered: "
                                       "start with --secret-key-file (or TIANSHU_SECRET_KEY) "
                                       "holding the key the other gateways use, restore the "
                                       "original secret file, or enter the channel's upstream "
                                       "key again");
    }
    return plain;
}

bool SecretBox::is_sealed(std::string_view value) {
    if (value.size() < 3 || value[0] != 'v') return false;
    std::size_t i = 1;
    while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
    if (i == 1 || i >= value.size() || value[i] != ':') return false;
    std::string_view body = value.substr(i + 1);
    // Lenient on purpose: a corrupted sealed value must still count as sealed, so it is
    // refused by open() instead of being taken for a plaintext key.
    if (body.empty()) return false;
    for (char c : body) {
        const bool alphabet = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                              (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=';
        if (!alphabet) return false;
    }
    return true;
}

}  // namespace tianshu::hub
