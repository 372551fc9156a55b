#pragma once
// Command-line arguments: `tianshu <command> [subcommand] [positional...] [--option value]
// [--flag]`. Every command declares its options, so a typo is an error that names the option and
// the command's usage instead of being silently ignored.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace tianshu::app {

struct CommandSpec {
    std::string usage;  //!< shown on errors, e.g. "tianshu chain import FILE [--data DIR] [--json]"
    std::set<std::string> options;  //!< take a value: "--data"
    std::set<std::string> flags;    //!< no value: "--json"
    size_t min_positional = 0;
    size_t max_positional = 0;
};

struct ParsedArgs {
    std::vector<std::string> positional;
    std::map<std::string, std::vector<std::string>> options;  //!< every value, in order
    std::set<std::string> flags;

    bool flag(const std::string& name) const { return flags.count(name) > 0; }
    //! The last value given for `name`.
    std::optional<std::string> option(const std::string& name) const;
    //! Every value given for a repeatable option such as --map.
    std::vector<std::string> all(const std::string& name) const;
    std::string option_or(const std::string& name, std::string fallback) const;
};

//! Parses argv[first..] against `spec`. Errors name the offending argument and show the usage.
//! `--help` or `-h` anywhere is not an error of the input but a request for the usage: the
//! Error returned is a help_request (is_help_request), which input_error prints on stdout
//! with exit code 0.
core::Result<ParsedArgs> parse_args(const std::vector<std::string>& args, const CommandSpec& spec);

//! The Error::source that marks a help request.
inline constexpr const char* kHelpSource = "cli:--help";
bool is_help_flag(const std::string& arg);
//! "usage: <usage>", marked as a help request.
core::Error help_request(const std::string& usage);
bool is_help_request(const core::Error& e);

}  // namespace tianshu::app
