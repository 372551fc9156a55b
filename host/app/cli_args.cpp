#include "app/cli_args.hpp"

namespace tianshu::app {

std::optional<std::string> ParsedArgs::option(const std::string& name) const {
    auto it = options.find(name);
    if (it == options.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
}

std::vector<std::string> ParsedArgs::all(const std::string& name) const {
    auto it = options.find(name);
    return it == options.end() ? std::vector<std::string>{} : it->second;
}

std::string ParsedArgs::option_or(const std::string& name, std::string fallback) const {
    auto v = option(name);
    return v ? *v : std::move(fallback);
}

bool is_help_flag(const std::string& arg) {
    return arg == "--help" || arg == "-h";
}

core::Error help_request(const std::string& usage) {
    core::Error e = core::Error::invalid("usage: " + usage);
    e.source = kHelpSource;
    return e;
}

bool is_help_request(const core::Error& e) {
    return e.source == kHelpSource;
}

core::Result<ParsedArgs> parse_args(const std::vector<std::string>& args, const CommandSpec& spec) {
    ParsedArgs out;
    auto usage_error = [&](const std::string& what) {
        return core::Error::invalid(what + "\nusage: " + spec.usage);
    };
    for (size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (is_help_flag(a)) return help_request(spec.usage);
        if (a.rfind("--", 0) == 0 && a.size() > 2) {
            std::string name = a, value;
            bool inline_value = false;
            if (auto eq = a.find('='); eq != std::string::npos) {
                name = a.substr(0, eq);
                value = a.substr(eq + 1);
                inline_value = true;
            }
            if (spec.flags.count(name)) {
                if (inline_value) return usage_error("option " + name + " takes no value");
                out.flags.insert(name);
            } else if (spec.options.count(name)) {
                if (!inline_value) {
                    if (i + 1 >= args.size())
                        return usage_error("option " + name + " needs a value");
                    value = args[++i];
                }
                out.options[name].push_back(value);
            } else {
                return usage_error("unknown option " + name);
            }
        } else {
            out.positional.push_back(a);
        }
    }
    if (out.positional.size() < spec.min_positional)
        return usage_error(spec.min_positional - out.positional.size() == 1 ? "missing an argument"
                                                                            : "missing arguments");
    if (out.positional.size() > spec.max_positional)
        return usage_error("unexpected argument '" + out.positional[spec.max_positional] + "'");
    return out;
}

}  // namespace tianshu::app
