#include "core/error.hpp"

namespace tianshu::core {

int http_status(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid_request:
            return 400;
        case ErrorKind::authentication:
            return 401;
        case ErrorKind::permission:
            return 403;
        case ErrorKind::not_found:
            return 404;
        case ErrorKind::request_too_large:
            return 413;
        case ErrorKind::rate_limited:
            return 429;
        case ErrorKind::insufficient_quota:
            return 402;
        case ErrorKind::plugin_failure:
            return 500;
        case ErrorKind::script_failure:
            return 500;
        case ErrorKind::internal:
            return 500;
        case ErrorKind::upstream:
            return 502;
        case ErrorKind::unavailable:
            return 503;
        case ErrorKind::timeout:
            return 504;
        case ErrorKind::overloaded:
            return 529;
        case ErrorKind::client_closed:
            return 499;
    }
    return 500;
}

std::string_view to_string(ErrorKind kind) {
    switch (kind) {
        case ErrorKind::invalid_request:
            return "invalid_request";
        case ErrorKind::authentication:
            return "authentication";
        case ErrorKind::permission:
            return "permission";
        case ErrorKind::not_found:
            return "not_found";
        case ErrorKind::request_too_large:
            return "request_too_large";
        case ErrorKind::rate_limited:
            return "rate_limited";
        case ErrorKind::insufficient_quota:
            return "insufficient_quota";
        case ErrorKind::plugin_failure:
            return "plugin_failure";
        case ErrorKind::script_failure:
            return "script_failure";
        case ErrorKind::internal:
            return "internal";
        case ErrorKind::upstream:
            return "upstream";
        case ErrorKind::unavailable:
            return "unavailable";
        case ErrorKind::timeout:
            return "timeout";
        case ErrorKind::overloaded:
            return "overloaded";
        case ErrorKind::client_closed:
            return "client_closed";
    }
    return "internal";
}

}  // namespace tianshu::core
