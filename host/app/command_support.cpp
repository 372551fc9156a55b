#include "app/command_support.hpp"

#include <charconv>
#include <ctime>
#include <filesystem>
#include <iostream>

#include "store/migrations.hpp"

#ifndef TIANSHU_DEFAULT_PLUGINS_DIR
#define TIANSHU_DEFAULT_PLUGINS_DIR ""
#endif
#ifndef TIANSHU_DEFAULT_SCRIPTS_DIR
#define TIANSHU_DEFAULT_SCRIPTS_DIR ""
#endif

namespace tianshu::app {

namespace fs = std::filesystem;
using core::Error;

namespace {
std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

}  // namespace

PluginSources plugin_sources(const ParsedArgs& a) {
    return {
        a.option_or("--plugins-dir", env_or("TIANSHU_PLUGINS_DIR", TIANSHU_DEFAULT_PLUGINS_DIR)),
        a.option_or("--scripts-dir", env_or("TIANSHU_SCRIPTS_DIR", TIANSHU_DEFAULT_SCRIPTS_DIR))};
}

int fail(const Error& e, int code) {
    std::cerr << "error: " << e.message << "\n";
    return code;
}

int input_error(const Error& e) {
    if (is_help_request(e)) {
        std::cout << e.message << "\n";
        return kOk;
    }
    return fail(e, kBadInput);
}

core::Result<hub::SecretBox> open_secret_key(const ParsedArgs& a) {
    if (auto file = a.option(kSecretKeyFileOption)) {
        if (file->empty())
            return Error::invalid(std::string(kSecretKeyFileOption) +
                                  " is empty: pass the path of the secret key file");
        return hub::SecretBox::open_or_create(*file);
    }
    const char* text = std::getenv("TIANSHU_SECRET_KEY");
    const char* file = std::getenv("TIANSHU_SECRET_KEY_FILE");
    if (text && *text && file && *file)
        return Error::invalid(
            "both TIANSHU_SECRET_KEY and TIANSHU_SECRET_KEY_FILE are set: unset one of them");
    if (text && *text) return hub::SecretBox::from_base64(text, "TIANSHU_SECRET_KEY");
    if (file && *file) return hub::SecretBox::open_or_create(file);
    return hub::SecretBox::open_or_create(fs::path(a.option_or("--data", "data")) / "secret.key");
}

//! Opens (creating if needed) and migrates the store chosen by --db or --data.
core::Result<std::unique_ptr<store::Database>> open_store(const ParsedArgs& a) {
    std::string url;
    if (auto db = a.option("--db")) {
        url = *db;
    } else {
        fs::path data = a.option_or("--data", "data");
        std::error_code ec;
        fs::create_directories(data, ec);
        if (ec)
            return Error::invalid("cannot create data directory '" + data.string() +
                                  "': " + ec.message() + " (choose another with --data DIR)");
        url = "sqlite://" + fs::absolute(data / "tianshu.db").string();
    }
    auto db = store::Database::open(url);
    if (!db) return db.take_error();
    if (auto m = store::migrate(*db.value()); !m) return m.take_error();
    return db;
}

void print_table(const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
    std::vector<size_t> width(header.size());
    for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
    for (const auto& r : rows)
        for (size_t i = 0; i < r.size() && i < width.size(); ++i)
            width[i] = std::max(width[i], r[i].size());
    auto line = [&](const std::vector<std::string>& cells) {
        for (size_t i = 0; i < cells.size(); ++i) {
            std::cout << cells[i];
            if (i + 1 < cells.size()) std::cout << std::string(width[i] - cells[i].size() + 2, ' ');
        }
        std::cout << "\n";
    };
    line(header);
    for (const auto& r : rows) line(r);
}

std::set<std::string> store_options(std::set<std::string> extra) {
    extra.insert({"--data", "--db"});
    return extra;
}

int store_error(const Error& e) {
    return e.kind == core::ErrorKind::invalid_request || e.kind == core::ErrorKind::not_found
               ? input_error(e)
               : fail(e);
}

core::Result<store::User> require_user_named(store::Database& db, const std::string& flag,
                                             const std::string& name) {
    auto user = store::users::find_by_name(db, name);
    if (!user) return user.take_error();
    if (!user.value())
        return Error{core::ErrorKind::not_found,
                     flag + " '" + name +
                         "' is not a user: list them with `tianshu user list` or add one with "
                         "`tianshu user add --name " +
                         name + "`",
                     {}};
    return std::move(*user.value());
}

core::Result<long long> parse_count(const std::string& flag, const std::string& text, long long min,
                                    long long max) {
    long long value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < min ||
        value > max)
        return Error::invalid(flag + " '" + text + "' must be a whole number from " +
                              std::to_string(min) + " to " + std::to_string(max));
    return value;
}

core::Result<std::string> required_option(const ParsedArgs& a, const std::string& flag,
                                          const std::string& usage) {
    auto v = a.option(flag);
    if (!v || v->empty()) return Error::invalid(flag + " is required\nusage: " + usage);
    return *v;
}

std::string format_time(std::optional<long long> seconds) {
    if (!seconds) return "";
    std::time_t t = static_cast<std::time_t>(*seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::string first_positional(const std::vector<std::string>& args,
                             const std::set<std::string>& flags) {
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i].rfind("--", 0) != 0) return args[i];
        if (!flags.count(args[i]) && args[i].find('=') == std::string::npos) ++i;
    }
    return {};
}

void print_json(const nlohmann::json& document) {
    std::cout << document.dump(2) << "\n";
}

std::vector<std::string> split_list(const std::string& s) {
    std::vector<std::string> out;
    size_t start = 0;
    while (start <= s.size()) {
        size_t comma = s.find(',', start);
        std::string item =
            s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        if (!item.empty()) out.push_back(item);
        if (comma == std::string::npos) break;
        start = comma + 1;
    }
    return out;
}

service::Env service_env(store::Database& db, const hub::SecretBox* secrets,
                         pipeline::PluginLookup plugins) {
    return service::Env{db, secrets, std::move(plugins), nullptr, service::Actor{}, 0};
}

core::Error about(const std::string& flag, const std::string& value, const core::Error& e) {
    return core::Error{e.kind, flag + " '" + value + "': " + e.message, {}};
}

}  // namespace tianshu::app
