#include "app/command_support.hpp"

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
    return fail(e, kBadInput);
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

}  // namespace tianshu::app
