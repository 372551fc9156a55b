#pragma once
// What every command shares: exit codes, error printing, opening the store, tables.

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli_args.hpp"
#include "app/runtime_loader.hpp"
#include "hub/secret_box.hpp"
#include "service/env.hpp"
#include "store/database.hpp"
#include "store/users.hpp"

namespace tianshu::app {

//! Exit codes: done; failed; the input was wrong and nothing was changed.
constexpr int kOk = 0, kFailed = 1, kBadInput = 2;

int fail(const core::Error& e, int code = kFailed);
//! Bad input (exit 2, the error on stderr); a help request (see parse_args) prints the usage on
//! stdout and is exit 0.
int input_error(const core::Error& e);

//! Opens (creating if needed) and migrates the store chosen by --db URL or --data DIR.
core::Result<std::unique_ptr<store::Database>> open_store(const ParsedArgs& a);

//! The key that seals upstream keys, from the first of: --secret-key-file PATH;
//! $TIANSHU_SECRET_KEY (the key itself, 44 base64 characters); $TIANSHU_SECRET_KEY_FILE;
//! DIR/secret.key (--data). A file is created with a new key when missing. Gateways that share
//! a database must share this key: each opens what the others sealed.
core::Result<hub::SecretBox> open_secret_key(const ParsedArgs& a);
//! The option every command that seals or opens upstream keys takes.
inline constexpr const char* kSecretKeyFileOption = "--secret-key-file";

//! --plugins-dir / --scripts-dir, else $TIANSHU_PLUGINS_DIR / $TIANSHU_SCRIPTS_DIR, else the
//! build's.
PluginSources plugin_sources(const ParsedArgs& a);

//! The service Env of a command: the operator on the host, who acts as root.
service::Env service_env(store::Database& db, const hub::SecretBox* secrets = nullptr,
                         pipeline::PluginLookup plugins = {});
//! `e` with "<flag> '<value>': " in front (kind kept), so the operator sees what to fix.
core::Error about(const std::string& flag, const std::string& value, const core::Error& e);

//! A readable table on stdout: a header row and aligned columns.
void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows);

//! `extra` plus --data and --db: the options of every command that opens the store.
std::set<std::string> store_options(std::set<std::string> extra);

//! For an error the store returned: exit 2 when it says the input was wrong (invalid_request,
//! not_found: nothing was changed), else exit 1.
int store_error(const core::Error& e);

//! The user named by `flag`'s value; an unknown name is a not_found error naming the flag and
//! saying how to list or add users.
core::Result<store::User> require_user_named(store::Database& db, const std::string& flag,
                                             const std::string& name);

//! Parses `flag`'s value as a whole number from `min` to `max`; the error names both.
core::Result<long long> parse_count(const std::string& flag, const std::string& text, long long min,
                                    long long max);

//! The value of a required option, or an error naming it with the usage.
core::Result<std::string> required_option(const ParsedArgs& a, const std::string& flag,
                                          const std::string& usage);

//! Seconds since the epoch as "2026-01-31T12:00:00Z" (UTC); empty for nullopt.
std::string format_time(std::optional<long long> seconds);

//! The first argument that is neither an option nor an option's value: a command's subcommand
//! ("" when none). `flags` are the options that take no value.
std::string first_positional(const std::vector<std::string>& args,
                             const std::set<std::string>& flags);

//! A JSON document on stdout, indented, one trailing newline.
void print_json(const nlohmann::json& document);

//! "a,b,,c" -> {"a","b","c"}: a flag's comma-separated list, empty items dropped.
std::vector<std::string> split_list(const std::string& s);

//! `tianshu chain ...` (chain_commands.cpp).
int cmd_chain(const std::vector<std::string>& args);
int cmd_user(const std::vector<std::string>& args);
int cmd_key(const std::vector<std::string>& args);
int cmd_channel(const std::vector<std::string>& args);
int cmd_health_check(const std::vector<std::string>& args);
int cmd_logs(const std::vector<std::string>& args);
int cmd_stats(const std::vector<std::string>& args);
int cmd_status(const std::vector<std::string>& args);
//! `tianshu alerts ...` (alert_commands.cpp).
int cmd_alerts(const std::vector<std::string>& args);

}  // namespace tianshu::app
