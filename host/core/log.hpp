#pragma once
// Structured logs: one JSON object per line on stderr. Never pass secrets or prompt text.

#include <concepts>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::core {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

//! One field's value in a log line. Strings, integers, doubles and booleans are held as they
//! are and written straight into the line (a line is written per request; building a
//! nlohmann::json for each field cost more than the rest of the line). Anything else nlohmann
//! can represent (objects, arrays, `{{"k", v}}` lists) is held as nlohmann::json. Strings are
//! copied: a value never refers to the caller's memory.
class LogValue {
  public:
    enum class Kind { null, boolean, integer, unsigned_integer, floating, string, json };

    LogValue() noexcept = default;
    LogValue(std::nullptr_t) noexcept {}
    LogValue(const char* s) : kind_(s ? Kind::string : Kind::null), text_(s ? s : "") {}
    LogValue(std::string s) noexcept : kind_(Kind::string), text_(std::move(s)) {}
    LogValue(std::string_view s) : kind_(Kind::string), text_(s) {}
    LogValue(bool b) noexcept : kind_(Kind::boolean), boolean_(b) {}
    template <std::integral T>
    requires(!std::same_as<T, bool>) LogValue(T v)
    noexcept {
        if constexpr (std::is_signed_v<T>) {
            kind_ = Kind::integer;
            integer_ = v;
        } else {
            kind_ = Kind::unsigned_integer;
            unsigned_ = v;
        }
    }
    LogValue(double v) noexcept : kind_(Kind::floating), floating_(v) {}
    LogValue(nlohmann::json j)
        : kind_(Kind::json), json_(std::make_shared<const nlohmann::json>(std::move(j))) {}
    LogValue(nlohmann::json::initializer_list_t init)
        : kind_(Kind::json), json_(std::make_shared<const nlohmann::json>(init)) {}
    //! Any other type nlohmann::json is constructible from (enums, containers...).
    template <class T>
    requires(!std::is_arithmetic_v<std::remove_cvref_t<T>> &&
             !std::is_convertible_v<const std::remove_cvref_t<T>&, std::string_view> &&
             !std::same_as<std::remove_cvref_t<T>, nlohmann::json> &&
             !std::same_as<std::remove_cvref_t<T>, LogValue> &&
             !std::same_as<std::remove_cvref_t<T>, std::nullptr_t> &&
             std::is_constructible_v<nlohmann::json, T&&>) LogValue(T&& v)
        : kind_(Kind::json), json_(std::make_shared<const nlohmann::json>(std::forward<T>(v))) {}

    Kind kind() const { return kind_; }
    //! The string of Kind::string; empty for other kinds.
    const std::string& text() const { return text_; }
    //! Appends the value as JSON text, as nlohmann's compact dump writes it.
    void append_to(std::string& out) const;

  private:
    Kind kind_ = Kind::null;
    union {
        bool boolean_;
        int64_t integer_ = 0;
        uint64_t unsigned_;
        double floating_;
    };
    std::string text_;
    //! Shared, not copied, when the field list is copied (an initializer list is copied into
    //! the vector); empty but for Kind::json.
    std::shared_ptr<const nlohmann::json> json_;
};

using LogFields = std::vector<std::pair<std::string_view, LogValue>>;

//! Writes {"ts":..., "level":..., "msg":..., fields...} as one line, atomically. Keys come out
//! sorted, and of two fields with the same key the later one wins (as with a nlohmann object).
void log(LogLevel level, std::string_view message, const LogFields& fields = {});
//! The name of a LogLine field: a string literal of ASCII letters, digits and '_', checked
//! when it is compiled, so that the line writes it as it is, without escaping.
class LogKey {
  public:
    template <size_t N>
    consteval LogKey(const char (&name)[N]) : name_(name, N - 1) {
        for (char c : name_)
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_'))
                throw "a LogLine key is made of ASCII letters, digits and '_'";
        if (name_.size() > kMaxLength) throw "a LogLine key is at most 60 characters";
        for (std::string_view fixed : {"level", "msg", "ts"})
            if (fixed < name_) ++fixed_before_;
    }
    static constexpr size_t kMaxLength = 60;
    constexpr std::string_view name() const { return name_; }
    //! How many of the keys every line has (level, msg, ts) sort before this one.
    constexpr int fixed_before() const { return fixed_before_; }

  private:
    std::string_view name_;
    int fixed_before_ = 0;
};

//! One log line written field by field, for lines written on every request: no field list to
//! build, no sort. The text is exactly what log() writes for the same fields, provided the
//! fields come in log()'s order — bytewise by key, each key once (ts, level and msg are placed
//! among them by the writer). Nothing is built when `level` is below the threshold.
class LogLine {
  public:
    LogLine(LogLevel level, std::string_view message);
    LogLine(const LogLine&) = delete;
    LogLine& operator=(const LogLine&) = delete;

    bool active() const { return active_; }
    LogLine& field(LogKey key, std::string_view value);
    LogLine& field(LogKey key, const char* value) { return field(key, std::string_view(value)); }
    LogLine& field(LogKey key, const std::string& value) {
        return field(key, std::string_view(value));
    }
    LogLine& field(LogKey key, int64_t value);
    LogLine& field(LogKey key, int value) { return field(key, int64_t{value}); }
    LogLine& field(LogKey key, double value);
    LogLine& field(LogKey key, bool value);
    //! A JSON value (array or object) written as JSON, not as a string.
    LogLine& field(LogKey key, const nlohmann::json& value);
    //! Writes the line (to the sink or stderr, as log() does); once.
    void write();

  private:
    //! Writes the first `count` of level, msg and ts (their sorted order) not yet written.
    void write_fixed(int count);
    //! The fixed fields due before `key`, then the key.
    void key(LogKey key);

    bool active_ = false;
    bool written_ = false;
    int fixed_done_ = 0;  //!< of level, msg, ts (their sorted order): how many are written
    std::string_view level_;
    std::string_view message_;
    char ts_[40];
    size_t ts_length_ = 0;
    std::string text_;
};

void set_log_level(LogLevel minimum);
LogLevel log_level();
//! Tests capture lines instead of printing them; pass nullptr to restore stderr.
void set_log_sink(void (*sink)(std::string_view line));

}  // namespace tianshu::core
