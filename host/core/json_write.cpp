#include "core/json_write.hpp"

#include <charconv>
#include <cmath>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <nlohmann/json.hpp>

namespace tianshu::core {

namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

//! Bytes copied as they are: printable ASCII but `"` and `\`, and DEL.
constexpr bool plain(unsigned char c) {
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

constexpr auto kPlain = [] {
    struct Table {
        bool byte[256] = {};
    } t;
    for (int c = 0; c < 256; ++c) t.byte[c] = plain(static_cast<unsigned char>(c));
    return t;
}();

//! Strings up to this length are tried on the short path first.
constexpr size_t kShort = 32;

bool in(unsigned char c, unsigned char lo, unsigned char hi) {
    return c >= lo && c <= hi;
}

//! How many bytes from p[i] on are plain: 16 at a time with SSE2 (a 25 KB system prompt is
//! mostly one run), then byte by byte.
size_t plain_run_end(const unsigned char* p, size_t i, size_t n) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    const __m128i space = _mm_set1_epi8(0x20);
    for (; i + 16 <= n; i += 16) {
        const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
        // Signed: below 0x20 is a control byte, or 0x80..0xFF (UTF-8, checked slowly).
        const __m128i special =
            _mm_or_si128(_mm_cmplt_epi8(v, space),
                         _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
        if (const int mask = _mm_movemask_epi8(special))
            return i + static_cast<size_t>(__builtin_ctz(static_cast<unsigned>(mask)));
    }
#endif
    while (i < n && kPlain.byte[p[i]]) ++i;
    return i;
}

}  // namespace

// nlohmann decodes UTF-8 with a DFA; on a byte that cannot continue the sequence it writes one
// U+FFFD for the bytes consumed so far and reads that byte again as a new start (unless it was
// the first byte of the sequence, which is consumed). A sequence cut by the end of the string
// gives one U+FFFD. The same is done here by looking ahead from each lead byte.
void append_json_quoted(std::string& out, std::string_view s) {
    // Short plain strings (keys, ids, names: most calls) are copied in one append; the general
    // loop below costs ~150 instructions even for a five-letter key.
    if (s.size() <= kShort) {
        char buf[kShort + 2];
        bool all_plain = true;
        for (size_t i = 0; i < s.size(); ++i) {
            const auto c = static_cast<unsigned char>(s[i]);
            all_plain &= kPlain.byte[c];
            buf[i + 1] = static_cast<char>(c);
        }
        if (all_plain) {
            buf[0] = '"';
            buf[s.size() + 1] = '"';
            out.append(buf, s.size() + 2);
            return;
        }
    }
    out.reserve(out.size() + s.size() + 2);
    out += '"';
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const size_t n = s.size();
    size_t i = 0;
    while (i < n) {
        const size_t run = plain_run_end(p, i, n);
        out.append(s.data() + i, run - i);
        i = run;
        if (i == n) break;
        const unsigned char c = p[i];
        if (c < 0x80) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                case '\b':
                    out += "\\b";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\f':
                    out += "\\f";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                default: {
                    const char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
                    out.append(esc, sizeof esc);
                }
            }
            ++i;
            continue;
        }
        // A lead byte: how many bytes the sequence has and the range of the second one.
        size_t length = 0;
        unsigned char lo = 0x80, hi = 0xBF;
        if (in(c, 0xC2, 0xDF)) {
            length = 2;
        } else if (in(c, 0xE0, 0xEF)) {
            length = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;  // no surrogates
        } else if (in(c, 0xF0, 0xF4)) {
            length = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else {  // a continuation byte, C0, C1 or F5..FF: never a start
            out += kReplacement;
            ++i;
            continue;
        }
        size_t k = 1;
        for (; k < length && i + k < n; ++k) {
            const unsigned char b = p[i + k];
            if (k == 1 ? !in(b, lo, hi) : !in(b, 0x80, 0xBF)) break;
        }
        if (k == length) {
            out.append(s.data() + i, length);
        } else {
            out += kReplacement;  // then read p[i + k] again, as a start
        }
        i += k;
    }
    out += '"';
}

void append_json_number(std::string& out, int64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_json_number(std::string& out, uint64_t v) {
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

void append_json_number(std::string& out, double v) {
    if (!std::isfinite(v)) {
        out += "null";
        return;
    }
    // nlohmann's own serializer calls this (Grisu2, with its exponent and ".0" rules); a
    // 64-byte buffer, as the serializer's.
    char buf[64];
    char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

}  // namespace tianshu::core
