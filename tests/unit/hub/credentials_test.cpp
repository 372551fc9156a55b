#include "hub/credentials.hpp"

#include <catch2/catch.hpp>

#include <cctype>
#include <set>
#include <string>

using namespace tianshu::hub;

TEST_CASE("a password hash verifies the right password and rejects a wrong one") {
    std::string encoded = hash_password("correct horse battery staple");
    CHECK(verify_password("correct horse battery staple", encoded));
    CHECK_FALSE(verify_password("correct horse battery stapl", encoded));
    CHECK_FALSE(verify_password("", encoded));
}

TEST_CASE("a password hash describes itself: scheme, iterations, salt and hash") {
    std::string encoded = hash_password("secret");
    REQUIRE(encoded.rfind("pbkdf2-sha256$", 0) == 0);
    auto first = encoded.find('$'), second = encoded.find('$', first + 1),
         third = encoded.find('$', second + 1);
    REQUIRE(third != std::string::npos);
    CHECK(std::stoi(encoded.substr(first + 1, second - first - 1)) >= 200000);
    CHECK(encoded.substr(second + 1, third - second - 1).size() == 24);  // 16 bytes of salt
    CHECK(encoded.substr(third + 1).size() == 44);                       // 32 bytes of hash
    CHECK(encoded.find('$', third + 1) == std::string::npos);
}

TEST_CASE("the same password hashes differently each time (random salt)") {
    std::string a = hash_password("same", 1000), b = hash_password("same", 1000);
    CHECK(a != b);
    CHECK(verify_password("same", a));
    CHECK(verify_password("same", b));
}

TEST_CASE("the iteration count is read from the encoding") {
    std::string encoded = hash_password("pw", 1234);
    CHECK(encoded.rfind("pbkdf2-sha256$1234$", 0) == 0);
    CHECK(verify_password("pw", encoded));
    std::string changed = encoded;
    changed.replace(14, 4, "1235");
    CHECK_FALSE(verify_password("pw", changed));
}

TEST_CASE("malformed password encodings are rejected, not crashed on") {
    for (const char* bad :
         {"", "plain", "pbkdf2-sha256$", "pbkdf2-sha256$abc$AAAA$AAAA", "pbkdf2-sha256$0$AAAA$AAAA",
          "md5$1000$AAAA$AAAA", "pbkdf2-sha256$1000$***$AAAA", "pbkdf2-sha256$1000$AAAA",
          "pbkdf2-sha256$99999999999$AAAA$AAAA"})
        CHECK_FALSE(verify_password("pw", bad));
}

TEST_CASE("API keys are sk-ts- plus 48 base62 characters, unique, with unique hashes") {
    std::set<std::string> keys, hashes, prefixes;
    for (int i = 0; i < 1000; ++i) {
        std::string key = generate_api_key();
        REQUIRE(key.size() == 54);
        REQUIRE(key.rfind("sk-ts-", 0) == 0);
        for (char c : key.substr(6)) REQUIRE(std::isalnum(static_cast<unsigned char>(c)));
        std::string hash = api_key_hash(key);
        REQUIRE(hash.size() == 64);
        REQUIRE(hash.find_first_not_of("0123456789abcdef") == std::string::npos);
        REQUIRE(api_key_hash(key) == hash);
        std::string prefix = api_key_prefix(key);
        REQUIRE(prefix == key.substr(0, 10));
        keys.insert(key);
        hashes.insert(hash);
        prefixes.insert(prefix);
    }
    CHECK(keys.size() == 1000);
    CHECK(hashes.size() == 1000);
    // The prefix carries 4 random base62 characters (62^4 ≈ 14.8M values): a display aid,
    // not an identifier. Among 1000 keys a collision or two is possible, many is not.
    CHECK(prefixes.size() >= 995);
}

TEST_CASE("the API key hash is SHA-256 in lowercase hex") {
    CHECK(api_key_hash("abc") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("random passwords are 24 base62 characters and differ") {
    std::string a = random_password(), b = random_password();
    CHECK(a.size() == 24);
    CHECK(a != b);
    for (char c : a) CHECK(std::isalnum(static_cast<unsigned char>(c)));
}

TEST_CASE("api key digests: bytes of the hash the store keeps, read back from its hex",
          "[hub][credentials]") {
    const std::string key = generate_api_key();
    const auto digest = api_key_digest(key);
    const std::string hex = api_key_hash(key);
    REQUIRE(hex.size() == 64);
    const auto parsed = api_key_digest_from_hex(hex);
    REQUIRE(parsed.has_value());
    CHECK(*parsed == digest);
    std::string upper = hex;
    for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(api_key_digest_from_hex(upper) == parsed);
    CHECK_FALSE(api_key_digest_from_hex(hex.substr(1)).has_value());
    CHECK_FALSE(api_key_digest_from_hex(hex.substr(0, 63) + "g").has_value());
    CHECK(api_key_digest("abc") != api_key_digest("abd"));
}
