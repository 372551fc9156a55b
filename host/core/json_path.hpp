#pragma once
// Reporting problems in a decoded JSON body: each with its path ("messages[2].content[0].type")
// and what to change. Shared by every strict decoder (core/request_json, protocol codecs).

#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"

namespace tianshu::core {

//! A JSON path built on the stack while descending a document; rendered only when a problem
//! is reported, so the happy path builds no strings. A path points at its parent: chain
//! `a.field("x").at(1)` only inside one full expression, never to initialise a variable.
struct JsonPath {
    const JsonPath* parent = nullptr;
    std::string_view key;  //!< member name; empty for an array index
    size_t index = 0;

    JsonPath field(std::string_view k) const { return JsonPath{this, k, 0}; }
    JsonPath at(size_t i) const { return JsonPath{this, {}, i}; }

    void render(std::string& out) const {
        if (parent == nullptr) return;  // the root renders as nothing
        parent->render(out);
        if (!key.empty()) {
            if (!out.empty()) out += '.';
            out += key;
        } else {
            out += '[';
            out += std::to_string(index);
            out += ']';
        }
    }
    std::string str() const {
        std::string s;
        render(s);
        return s;
    }
};

//! Collects every problem of one body (up to a cap); the body is refused when there is one.
class ProblemList {
  public:
    static constexpr size_t kMax = 20;

    void add(const JsonPath& path, std::string_view what) {
        if (list_.size() >= kMax) {
            truncated_ = true;
            return;
        }
        std::string line;
        path.render(line);
        if (line.empty()) line = "request body";
        line += ": ";
        line += what;
        list_.push_back(std::move(line));
    }
    bool empty() const { return list_.empty(); }
    //! One invalid_request error listing every problem, separated by "; ".
    Error to_error() const {
        std::string msg;
        for (const auto& l : list_) {
            if (!msg.empty()) msg += "; ";
            msg += l;
        }
        if (truncated_) msg += "; (more problems not shown)";
        return Error::invalid(std::move(msg));
    }

  private:
    std::vector<std::string> list_;
    bool truncated_ = false;
};

//! "a string", "an array"… for messages such as "must be an object (got a string)".
inline std::string_view json_type_name(const Json& j) {
    switch (j.type()) {
        case Json::value_t::null:
            return "null";
        case Json::value_t::object:
            return "an object";
        case Json::value_t::array:
            return "an array";
        case Json::value_t::string:
            return "a string";
        case Json::value_t::boolean:
            return "a boolean";
        case Json::value_t::number_integer:
        case Json::value_t::number_unsigned:
            return "an integer";
        case Json::value_t::number_float:
            return "a number";
        default:
            return "an unsupported value";
    }
}

inline std::string must_be(std::string_view what, const Json& got) {
    std::string s = "must be ";
    s += what;
    s += " (got ";
    s += json_type_name(got);
    s += ')';
    return s;
}

//! The string value of `j`, moved out when `j` is mutable (decoders own their parsed body).
template <class J>
std::string take_string(J& j) {
    if constexpr (std::is_const_v<J>) {
        return j.template get_ref<const std::string&>();
    } else {
        return std::move(j.template get_ref<std::string&>());
    }
}

//! Reads a string field into `out`, or reports "must be a string" at `path`.
template <class J>
bool read_string(J& j, const JsonPath& path, std::string& out, ProblemList& p) {
    if (!j.is_string()) {
        p.add(path, must_be("a string", j));
        return false;
    }
    out = take_string(j);
    return true;
}

//! A JSON integer > 0 (floats such as 5.0 are refused, as the APIs do).
inline bool json_positive_integer(const Json& j, int64_t& out) {
    if (j.is_number_unsigned()) {
        auto v = j.get<uint64_t>();
        if (v == 0 || v > static_cast<uint64_t>(INT64_MAX)) return false;
        out = static_cast<int64_t>(v);
        return true;
    }
    if (j.is_number_integer()) {
        auto v = j.get<int64_t>();
        if (v <= 0) return false;
        out = v;
        return true;
    }
    return false;
}

}  // namespace tianshu::core
