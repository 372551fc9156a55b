#pragma once
// The `tianshu` subcommands. Each returns the process exit code: 0 done, 1 failed,
// 2 the input was wrong (usage, validation) and nothing was changed.

#include <string>
#include <vector>

namespace tianshu::app {

int run_command(const std::vector<std::string>& args);

}  // namespace tianshu::app
