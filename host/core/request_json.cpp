// Placeholder: the protocol owner replaces this with the strict canonical codec.
#include "core/request_json.hpp"
namespace tianshu::core {
Result<Request> request_from_json(const Json&) { return Error::internal_error("request_from_json: not built yet"); }
Json to_json(const Request&) { return Json::object(); }
Json to_json(const ContentBlock&) { return Json::object(); }
Json to_json(const Response&) { return Json::object(); }
Json to_json(const Usage&) { return Json::object(); }
}  // namespace tianshu::core
