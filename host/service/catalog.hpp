#pragma once
// The names of the business operations. Each front end maps every route and subcommand to one
// of these names (server/admin_routes.cpp, app/cli_table.cpp), and
// tests/unit/service/operation_catalog_test.cpp checks that the maps and this list agree: a
// route or subcommand without an operation is a failing test, not a second copy of a rule.

#include <string_view>
#include <vector>

namespace tianshu::service {

struct Operation {
    std::string_view name;     //!< "<domain>.<verb>", e.g. "keys.create"
    std::string_view summary;  //!< what it does, one line
};

//! Every operation, grouped by domain.
const std::vector<Operation>& operations();
//! Whether `name` is one of operations().
bool is_operation(std::string_view name);

}  // namespace tianshu::service
