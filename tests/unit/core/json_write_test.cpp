// core/json_write: the text must be what nlohmann's compact dump (error_handler_t::replace)
// writes for the same value, byte for byte: the request log and the usage journal were written
// through nlohmann before, and their readers must see no difference.

#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <random>

#include <nlohmann/json.hpp>

#include "core/json_write.hpp"

using tianshu::core::append_json_number;
using tianshu::core::append_json_quoted;
using Json = nlohmann::json;

namespace {

std::string as_json_string(std::string_view s) {
    std::string out;
    append_json_quoted(out, s);
    return out;
}

std::string nlohmann_quoted(const std::string& s) {
    return Json(s).dump(-1, ' ', false, Json::error_handler_t::replace);
}

template <class T>
std::string number(T v) {
    std::string out;
    append_json_number(out, v);
    return out;
}

}  // namespace

TEST_CASE("append_json_quoted escapes as nlohmann does") {
    CHECK(as_json_string("") == "\"\"");
    CHECK(as_json_string("plain text") == "\"plain text\"");
    CHECK(as_json_string("say \"hi\" \\ bye") == R"("say \"hi\" \\ bye")");
    CHECK(as_json_string("a\nb\rc\td\be\ff") == R"("a\nb\rc\td\be\ff")");
    CHECK(as_json_string(std::string("nul\0x", 5)) == R"("nul\u0000x")");
    CHECK(as_json_string("\x01\x1f\x7f") == "\"\\u0001\\u001f\x7f\"");  // DEL is not escaped
    CHECK(as_json_string("/") == "\"/\"");
    CHECK(as_json_string("héllo, 世界, 😀") == "\"héllo, 世界, 😀\"");
}

TEST_CASE("append_json_quoted replaces invalid UTF-8 where nlohmann does") {
    const std::vector<std::string> cases = {
        "\xff",                  // never a lead byte
        "a\x80z",                // a lone continuation byte
        "\xC3",                  // cut by the end
        "\xE2\x82",              // cut by the end after two bytes: one replacement
        "\xE2\x82z",             // cut by an ASCII byte, which is kept
        "\xE2\x82\xE2\x82\xAC",  // a cut sequence, then a whole one
        "\xE0\x80\x80",          // overlong
        "\xED\xA0\x80",          // a surrogate
        "\xF4\x90\x80\x80",      // beyond U+10FFFF
        "\xC0\xAF",              // overlong slash
        "\xF0\x9F\x98",          // a 4-byte sequence cut
    };
    for (const auto& s : cases) {
        INFO("bytes of " << nlohmann_quoted(s));
        CHECK(as_json_string(s) == nlohmann_quoted(s));
    }
}

TEST_CASE("append_json_quoted agrees with nlohmann on random bytes") {
    std::mt19937 rng(20261122);
    const unsigned char interesting[] = {0x00, 0x08, 0x0a, 0x1f, ' ',  '"',  '\\', 'a',
                                         0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2, 0xdf,
                                         0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff};
    for (int i = 0; i < 20000; ++i) {
        std::string s;
        const size_t length = rng() % 10;
        for (size_t k = 0; k < length; ++k)
            s += static_cast<char>(rng() % 3 == 0 ? rng() % 256
                                                  : interesting[rng() % sizeof interesting]);
        const std::string mine = as_json_string(s);
        const std::string theirs = nlohmann_quoted(s);
        if (mine != theirs) FAIL("differs for " << theirs << ": " << mine);
    }
}

TEST_CASE("append_json_quoted agrees with nlohmann on long mostly-plain strings") {
    // Runs of plain bytes are scanned 16 at a time: special bytes at every offset of a block,
    // at block ends, and long plain runs between them.
    std::mt19937 rng(20261201);
    const unsigned char specials[] = {0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xe4, 0xf0, 0xff};
    for (int i = 0; i < 4000; ++i) {
        std::string s(16 + rng() % 80, 'x');
        for (size_t k = 0; k < s.size(); ++k) s[k] = static_cast<char>('a' + rng() % 26);
        const int marks = static_cast<int>(rng() % 4);
        for (int m = 0; m < marks; ++m)
            s[rng() % s.size()] = static_cast<char>(specials[rng() % sizeof specials]);
        if (i % 7 == 0) s += "\xe4\xb8\xad\xe6\x96\x87";  // valid UTF-8 at the end
        const std::string mine = as_json_string(s);
        const std::string theirs = nlohmann_quoted(s);
        if (mine != theirs) FAIL("differs for " << theirs << ": " << mine);
    }
}

TEST_CASE("append_json_quoted: short strings, with a special byte at each position") {
    // Strings up to 32 bytes take a shortcut when every byte is plain; each length around that
    // bound, plain and with one byte needing care at every offset, must come out the same.
    const unsigned char specials[] = {0x00, 0x1f, '"', '\\', 0x7f, 0x80, 0xc3, 0xff};
    for (size_t length = 0; length <= 34; ++length) {
        std::string plain(length, 'k');
        CHECK(as_json_string(plain) == nlohmann_quoted(plain));
        for (size_t at = 0; at < length; ++at)
            for (unsigned char special : specials) {
                std::string s = plain;
                s[at] = static_cast<char>(special);
                const std::string mine = as_json_string(s);
                const std::string theirs = nlohmann_quoted(s);
                if (mine != theirs) FAIL("differs for " << theirs << ": " << mine);
            }
    }
}

TEST_CASE("append_json_number writes numbers as nlohmann does") {
    CHECK(number(int64_t{0}) == "0");
    CHECK(number(int64_t{-42}) == "-42");
    CHECK(number(std::numeric_limits<int64_t>::min()) == "-9223372036854775808");
    CHECK(number(std::numeric_limits<uint64_t>::max()) == "18446744073709551615");
    CHECK(number(1.5) == "1.5");
    CHECK(number(2.0) == "2.0");  // a double stays a double when read back
    CHECK(number(-0.0) == "-0.0");
    CHECK(number(0.1) == "0.1");
    CHECK(number(1e21) == "1e+21");
    CHECK(number(1e-7) == "1e-07");
    CHECK(number(std::nan("")) == "null");
    CHECK(number(std::numeric_limits<double>::infinity()) == "null");
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        const double v = static_cast<double>(static_cast<int64_t>(rng() % 10'000'000)) /
                         static_cast<double>(1 + rng() % 1000);
        if (number(v) != Json(v).dump())
            FAIL("differs for " << Json(v).dump() << ": " << number(v));
    }
}
