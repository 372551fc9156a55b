#pragma once
// The one error type of the request path, and the small Result<T> that carries it.
// Exceptions are for start-up and for programming errors caught at the plugin boundary;
// everything a request can run into travels as a value.

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tianshu::core {

//! What went wrong, from the client's point of view. Each kind fixes the HTTP status and
//! the error type the client sees in its own protocol (see protocol/error_body).
enum class ErrorKind {
    invalid_request,  //!< 400: the client sent something we cannot accept; message names the field
    authentication,   //!< 401: missing or unknown API key; the client must send a valid key
    permission,       //!< 403: the key exists but may not do this
    not_found,        //!< 404: no such route, model or resource
    request_too_large,  //!< 413: the body exceeds the configured limit
    rate_limited,       //!< 429: retry later
    //! 402: the key's quota or the user's balance cannot cover the call; retrying will not help
    //! until someone tops up or raises the quota. Anthropic documents 402 `billing_error`; OpenAI
    //! sends 429 `insufficient_quota`, but SDKs retry every 429 automatically, so both protocols
    //! get 402 (OpenAI clients still see code "insufficient_quota").
    insufficient_quota,
    plugin_failure,  //!< 500: a .so plugin failed or threw inside a hook; the host keeps serving
    script_failure,  //!< 500: a Lua script failed or exceeded its budget; the host keeps serving
    internal,        //!< 500: a bug in the host; logged with detail, the client gets a summary
    upstream,        //!< 502: the model behind the channel failed
    unavailable,     //!< 503: the server is shutting down or has no channel for the model
    timeout,         //!< 504: the model did not answer in time
    overloaded,      //!< 529: every candidate is saturated; retry with backoff
    //! 499 (nginx's "client closed request"): the client went away before its answer was
    //! complete. Never sent (nobody is listening); it names the request log's row, which is
    //! still charged for what the upstream produced.
    client_closed,
};

//! An error that can reach a client. `message` is written for the person who must act on it:
//! it names the field or component and says what to change.
struct Error {
    ErrorKind kind = ErrorKind::internal;
    std::string message;
    //! Which plugin or script produced it, when one did (for the operator's log line).
    std::string source;
    //! When > 0, the client is told to retry after this many seconds (Retry-After), e.g. an
    //! upstream's own 429 relayed.
    int retry_after_seconds = 0;

    static Error invalid(std::string message) {
        return {ErrorKind::invalid_request, std::move(message), {}};
    }
    static Error internal_error(std::string message) {
        return {ErrorKind::internal, std::move(message), {}};
    }
};

int http_status(ErrorKind kind);
std::string_view to_string(ErrorKind kind);

//! Either a value or an Error. Deliberately small: check `ok()`, then take `value()` or `error()`.
template <class T>
class [[nodiscard]] Result {
  public:
    Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}
    Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}

    bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & {
        assert(ok());
        return std::get<0>(state_);
    }
    const T& value() const& {
        assert(ok());
        return std::get<0>(state_);
    }
    T&& value() && {
        assert(ok());
        return std::get<0>(std::move(state_));
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

    const Error& error() const {
        assert(!ok());
        return std::get<1>(state_);
    }
    Error&& take_error() {
        assert(!ok());
        return std::get<1>(std::move(state_));
    }

  private:
    std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
  public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const {
        assert(failed_);
        return error_;
    }
    Error&& take_error() {
        assert(failed_);
        return std::move(error_);
    }

  private:
    Error error_;
    bool failed_ = false;
};

}  // namespace tianshu::core
