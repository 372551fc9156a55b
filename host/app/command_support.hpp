#pragma once
// What every command shares: exit codes, error printing, opening the store, tables.

#include <memory>
#include <string>
#include <vector>

#include "app/cli_args.hpp"
#include "app/runtime_loader.hpp"
#include "store/database.hpp"

namespace tianshu::app {

//! Exit codes: done; failed; the input was wrong and nothing was changed.
constexpr int kOk = 0, kFailed = 1, kBadInput = 2;

int fail(const core::Error& e, int code = kFailed);
int input_error(const core::Error& e);

//! Opens (creating if needed) and migrates the store chosen by --db URL or --data DIR.
core::Result<std::unique_ptr<store::Database>> open_store(const ParsedArgs& a);

//! --plugins-dir / --scripts-dir, else $TIANSHU_PLUGINS_DIR / $TIANSHU_SCRIPTS_DIR, else the
//! build's.
PluginSources plugin_sources(const ParsedArgs& a);

//! A readable table on stdout: a header row and aligned columns.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

int cmd_user(const std::vector<std::string>& args);
int cmd_key(const std::vector<std::string>& args);
int cmd_channel(const std::vector<std::string>& args);

}  // namespace tianshu::app
