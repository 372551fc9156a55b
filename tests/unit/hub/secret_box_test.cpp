#include "hub/secret_box.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <set>
#include <stdexcept>
#include <string>

#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace tianshu::hub;
namespace fs = std::filesystem;

namespace {

//! A fresh directory under the system temp dir, removed with everything in it.
class ScratchDir {
  public:
    ScratchDir() {
        std::string pattern = (fs::temp_directory_path() / "tianshu-secret-box-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
        path_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

  private:
    fs::path path_;
};

SecretBox make_box(const fs::path& file) {
    auto box = SecretBox::open_or_create(file);
    if (!box.ok()) FAIL(box.error().message);
    return std::move(box).value();
}

void write_file(const fs::path& file, const std::string& text, mode_t mode) {
    std::ofstream(file) << text;
    REQUIRE(::chmod(file.c_str(), mode) == 0);
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

mode_t file_mode(const fs::path& file) {
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    return st.st_mode & 07777;
}

// Replaces one base64 character of the sealed body at `pos` (counted from the end when
// negative) with a different one, i.e. flips bits in the nonce, ciphertext or tag.
std::string tamper(std::string sealed, long pos) {
    std::size_t i =
        pos >= 0 ? static_cast<std::size_t>(pos) : sealed.size() - static_cast<std::size_t>(-pos);
    sealed[i] = sealed[i] == 'A' ? 'B' : 'A';
    return sealed;
}

const std::string upstream_key = "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789";

}  // namespace

TEST_CASE("a sealed upstream key opens back to the same key") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    std::string sealed = box.seal(upstream_key, "openai-main");
    CHECK(sealed.rfind("v1:", 0) == 0);
    // 12-byte nonce + 44-byte key + 16-byte tag = 72 bytes = 96 base64 characters.
    CHECK(sealed.size() == 3 + 96);
    auto opened = box.open(sealed, "openai-main");
    REQUIRE(opened.ok());
    CHECK(opened.value() == upstream_key);
}

TEST_CASE("an empty plaintext and an empty context round trip") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    auto opened = box.open(box.seal("", "ch"), "ch");
    REQUIRE(opened.ok());
    CHECK(opened.value().empty());
    auto no_context = box.open(box.seal(upstream_key, ""), "");
    REQUIRE(no_context.ok());
    CHECK(no_context.value() == upstream_key);
}

TEST_CASE("sealing the same key twice gives different strings (random nonce)") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    std::set<std::string> seen;
    for (int i = 0; i < 50; ++i) seen.insert(box.seal(upstream_key, "ch"));
    CHECK(seen.size() == 50);
    for (const auto& sealed : seen) CHECK(box.open(sealed, "ch").value() == upstream_key);
}

TEST_CASE("a sealed value never contains the plaintext") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    std::string sealed = box.seal(upstream_key, "ch");
    CHECK(sealed.find(upstream_key) == std::string::npos);
    CHECK(sealed.find("sk-proj") == std::string::npos);
    CHECK(sealed.find("abcdefgh") == std::string::npos);
}

TEST_CASE("a value sealed for one channel does not open for another") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    std::string sealed = box.seal(upstream_key, "openai-main");
    auto moved = box.open(sealed, "openai-backup");
    REQUIRE_FALSE(moved.ok());
    const std::string& msg = moved.error().message;
    CHECK(msg.find("cannot decrypt the stored upstream key for channel 'openai-backup'") == 0);
    CHECK(msg.find("does not match the one it was sealed with") != std::string::npos);
    CHECK(msg.find(upstream_key) == std::string::npos);
}

TEST_CASE("a tampered nonce, ciphertext or tag is refused") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    std::string sealed = box.seal(upstream_key, "ch");
    // Body layout: 16 base64 chars of nonce, then ciphertext, then ~22 chars of tag + '='.
    CHECK_FALSE(box.open(tamper(sealed, 3 + 2), "ch").ok());   // nonce
    CHECK_FALSE(box.open(tamper(sealed, 3 + 30), "ch").ok());  // ciphertext
    CHECK_FALSE(box.open(tamper(sealed, -5), "ch").ok());      // tag
    // Dropping the tag's last bytes (still valid base64) is refused too.
    CHECK_FALSE(box.open(sealed.substr(0, sealed.size() - 4), "ch").ok());
    CHECK(box.open(sealed, "ch").ok());
}

TEST_CASE("a value sealed with another secret file does not open") {
    ScratchDir dir;
    SecretBox a = make_box(dir.path() / "a.key");
    SecretBox b = make_box(dir.path() / "b.key");
    auto opened = b.open(a.seal(upstream_key, "ch"), "ch");
    REQUIRE_FALSE(opened.ok());
    const std::string& msg = opened.error().message;
    CHECK(msg.find("channel 'ch'") != std::string::npos);
    CHECK(msg.find("was " + (dir.path() / "b.key").string() + " replaced?") != std::string::npos);
}

TEST_CASE("truncated, corrupt and unknown-version values are refused with a reason") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    std::string sealed = box.seal(upstream_key, "ch");

    auto truncated = box.open("v1:AAAAAAAAAAAAAAAAAAAA", "ch");  // 15 bytes
    REQUIRE_FALSE(truncated.ok());
    CHECK(truncated.error().message.find("truncated") != std::string::npos);

    auto corrupt = box.open(sealed.substr(0, sealed.size() - 1), "ch");  // length not 4n
    REQUIRE_FALSE(corrupt.ok());
    CHECK(corrupt.error().message.find("not valid base64") != std::string::npos);

    auto future = box.open("v2:" + sealed.substr(3), "ch");
    REQUIRE_FALSE(future.ok());
    CHECK(future.error().message.find("format v2") != std::string::npos);

    auto plain = box.open(upstream_key, "ch");
    REQUIRE_FALSE(plain.ok());
    CHECK(plain.error().message.find("not in the sealed format") != std::string::npos);
    CHECK(plain.error().message.find(upstream_key) == std::string::npos);
}

TEST_CASE("is_sealed tells sealed values from plaintext keys") {
    ScratchDir dir;
    SecretBox box = make_box(dir.path() / "secret.key");
    CHECK(SecretBox::is_sealed(box.seal(upstream_key, "ch")));
    CHECK(SecretBox::is_sealed("v2:AAAA"));  // a future version is still not plaintext
    CHECK_FALSE(SecretBox::is_sealed(upstream_key));
    CHECK_FALSE(SecretBox::is_sealed(""));
    CHECK_FALSE(SecretBox::is_sealed("v1:"));
    CHECK_FALSE(SecretBox::is_sealed("v:AAAA"));
    CHECK_FALSE(SecretBox::is_sealed("v1:sk-abc"));
}

TEST_CASE("a missing secret file is created with mode 0600 and reused on the next start") {
    ScratchDir dir;
    fs::path file = dir.path() / "secret.key";
    REQUIRE_FALSE(fs::exists(file));
    SecretBox first = make_box(file);
    REQUIRE(fs::exists(file));
    CHECK(file_mode(file) == 0600);
    std::string contents = read_file(file);
    CHECK(contents.size() == 45);  // 44 base64 characters and a newline
    CHECK(contents.back() == '\n');

    std::string sealed = first.seal(upstream_key, "ch");
    SecretBox second = make_box(file);
    CHECK(read_file(file) == contents);
    auto opened = second.open(sealed, "ch");
    REQUIRE(opened.ok());
    CHECK(opened.value() == upstream_key);
}

TEST_CASE("a secret file in a missing directory is an error that names the directory") {
    ScratchDir dir;
    auto box = SecretBox::open_or_create(dir.path() / "nope" / "secret.key");
    REQUIRE_FALSE(box.ok());
    CHECK(box.error().message.find("create the directory " + (dir.path() / "nope").string()) !=
          std::string::npos);
}

TEST_CASE("a secret file readable by group or others is refused with the chmod to run") {
    ScratchDir dir;
    fs::path file = dir.path() / "secret.key";
    std::string key_line = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    write_file(file, key_line + "\n", 0644);
    auto box = SecretBox::open_or_create(file);
    REQUIRE_FALSE(box.ok());
    CHECK(box.error().message == "secret file " + file.string() +
                                     " is readable by others (mode 0644): chmod 600 " +
                                     file.string());

    REQUIRE(::chmod(file.c_str(), 0640) == 0);
    box = SecretBox::open_or_create(file);
    REQUIRE_FALSE(box.ok());
    CHECK(box.error().message.find("mode 0640") != std::string::npos);

    REQUIRE(::chmod(file.c_str(), 0620) == 0);
    box = SecretBox::open_or_create(file);
    REQUIRE_FALSE(box.ok());
    CHECK(box.error().message.find("writable by others (mode 0620)") != std::string::npos);

    // Read-only for the owner is fine.
    REQUIRE(::chmod(file.c_str(), 0400) == 0);
    CHECK(SecretBox::open_or_create(file).ok());
}

TEST_CASE("a secret file that does not hold a 32-byte base64 key is refused") {
    ScratchDir dir;
    fs::path file = dir.path() / "secret.key";
    // 16 bytes of key material: the message must not echo it back.
    std::string short_key = "ZGVhZGJlZWZkZWFkYmVlZg==";
    struct Case {
        std::string contents;
        std::string expect;
    };
    for (const Case& c : {Case{"this is not base64!\n", "does not hold a base64 key"},
                          Case{"AAAA AAAA\n", "does not hold a base64 key"}, Case{"", "is empty"},
                          Case{"\n", "is empty"}, Case{short_key + "\n", "holds a 16-byte key"}}) {
        write_file(file, c.contents, 0600);
        auto box = SecretBox::open_or_create(file);
        REQUIRE_FALSE(box.ok());
        const std::string& msg = box.error().message;
        INFO(msg);
        CHECK(msg.find(c.expect) != std::string::npos);
        CHECK(msg.find(file.string()) != std::string::npos);
        CHECK(msg.find("restore the original") != std::string::npos);
        CHECK(msg.find(short_key) == std::string::npos);
        // A bad file is reported, never silently replaced.
        CHECK(read_file(file) == c.contents);
    }
}

TEST_CASE("a hand-written key with CRLF line ending is accepted") {
    ScratchDir dir;
    fs::path file = dir.path() / "secret.key";
    write_file(file, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n", 0600);
    SecretBox box = make_box(file);
    CHECK(box.open(box.seal("x", "ch"), "ch").value() == "x");
}

TEST_CASE("processes creating one missing secret file at once all read the one key written") {
    // Forked processes, as gateways sharing a data folder start: each seals a value with the key
    // it got; every value must open with the key left on disk. Before keys were linked into place
    // whole, a reader could find the file created and still empty.
    for (int round = 0; round < 20; ++round) {
        ScratchDir dir;
        const fs::path file = dir.path() / "secret.key";
        constexpr int kProcesses = 6;
        std::vector<pid_t> children;
        for (int i = 0; i < kProcesses; ++i) {
            const pid_t pid = ::fork();
            REQUIRE(pid >= 0);
            if (pid == 0) {
                auto box = SecretBox::open_or_create(file);
                if (!box.ok()) ::_exit(3);
                std::ofstream(dir.path() / ("sealed-" + std::to_string(i)))
                    << box.value().seal(upstream_key, "ch");
                ::_exit(0);
            }
            children.push_back(pid);
        }
        for (pid_t pid : children) {
            int status = 0;
            REQUIRE(::waitpid(pid, &status, 0) == pid);
            CHECK(WIFEXITED(status));
            CHECK(WEXITSTATUS(status) == 0);
        }
        SecretBox on_disk = make_box(file);
        for (int i = 0; i < kProcesses; ++i) {
            auto opened =
                on_disk.open(read_file(dir.path() / ("sealed-" + std::to_string(i))), "ch");
            CHECK(opened.ok());
        }
        // Nothing but the key is left behind.
        int entries = 0;
        for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
        CHECK(entries == 1 + kProcesses);
    }
}

TEST_CASE("a key given as text (an environment variable) is the same key as the file's") {
    ScratchDir dir;
    const fs::path file = dir.path() / "secret.key";
    SecretBox from_file = make_box(file);
    auto from_text = SecretBox::from_base64(read_file(file), "TIANSHU_SECRET_KEY");
    REQUIRE(from_text.ok());
    CHECK(from_text.value().open(from_file.seal(upstream_key, "ch"), "ch").value() == upstream_key);

    auto short_key = SecretBox::from_base64("AAAA", "TIANSHU_SECRET_KEY");
    REQUIRE_FALSE(short_key.ok());
    CHECK(short_key.error().message.find("TIANSHU_SECRET_KEY holds a 3-byte key") == 0);
    auto not_base64 = SecretBox::from_base64("not a key!", "TIANSHU_SECRET_KEY");
    REQUIRE_FALSE(not_base64.ok());
    CHECK(not_base64.error().message.find("TIANSHU_SECRET_KEY does not hold a base64 key") == 0);
    CHECK(SecretBox::from_base64("", "TIANSHU_SECRET_KEY").error().message.find("is empty") !=
          std::string::npos);
}
