#pragma once
// The CLI's table of subcommands and the business operation (service::operations()) each one
// runs. Dispatchers look a subcommand up here before running it, so a subcommand missing from
// the table is unknown, and tests/unit/service/operation_catalog_test.cpp checks every entry
// names one operation. `serve`, `version` and `plugins` run no business operation; `chain`
// keeps its own dispatcher.

#include <string_view>
#include <vector>

namespace tianshu::app {

struct Subcommand {
    std::string_view command;    //!< "user"
    std::string_view sub;        //!< "add"; empty for a command without subcommands
    std::string_view operation;  //!< "users.create"
};

const std::vector<Subcommand>& subcommands();
//! The entry of `command sub`, or nullptr when the table has none.
const Subcommand* find_subcommand(std::string_view command, std::string_view sub);

}  // namespace tianshu::app
