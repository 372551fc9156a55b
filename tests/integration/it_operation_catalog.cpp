// The map from front ends to business operations: every admin route (server/admin_routes.cpp)
// and every CLI subcommand (app/cli_table.cpp) names exactly one operation of
// service::operations(), every operation is reached from at least one front end, and every
// route docs/admin-api.md documents for those groups is in the route table (the table is what
// dispatches, so a route or subcommand left out of it is unreachable and fails here or in its
// own test). And the CLI's manners: `--help` on every command and subcommand prints its usage
// with exit 0; bad input prints the usage with exit 2.

#include "app/cli_table.hpp"
#include "app/commands.hpp"
#include "server/admin_routes.hpp"
#include "service/catalog.hpp"

#include <catch2/catch.hpp>

#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

using namespace tianshu;

namespace {

struct Run {
    int exit_code = 0;
    std::string out, err;
};

//! `tianshu args...` in this process, stdout and stderr captured.
Run run(const std::vector<std::string>& args) {
    std::ostringstream out, err;
    auto* old_out = std::cout.rdbuf(out.rdbuf());
    auto* old_err = std::cerr.rdbuf(err.rdbuf());
    Run r;
    r.exit_code = app::run_command(args);
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

//! "/users/{name}/keys" -> "/users/{}/keys"; "/prices/{model...}" -> "/prices/{}".
std::string shape(std::string pattern) {
    pattern = std::regex_replace(pattern, std::regex(R"(\{[^}]*\})"), "{}");
    auto q = pattern.find('?');
    return q == std::string::npos ? pattern : pattern.substr(0, q);
}

}  // namespace

TEST_CASE("every admin route names one service operation", "[catalog]") {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& r : server::admin::routes()) {
        INFO(r.method << " " << r.pattern << " -> " << r.operation);
        CHECK(service::is_operation(r.operation));
        CHECK(seen.insert({std::string(r.method), std::string(r.pattern)}).second);
    }
    CHECK(seen.size() >= 40);
}

TEST_CASE("every CLI subcommand names one service operation", "[catalog]") {
    std::set<std::pair<std::string, std::string>> seen;
    for (const auto& s : app::subcommands()) {
        INFO(s.command << " " << s.sub << " -> " << s.operation);
        CHECK(service::is_operation(s.operation));
        CHECK(seen.insert({std::string(s.command), std::string(s.sub)}).second);
    }
}

TEST_CASE("every service operation is reached from a front end, and names are unique",
          "[catalog]") {
    std::set<std::string> used, names;
    for (const auto& r : server::admin::routes()) used.insert(std::string(r.operation));
    for (const auto& s : app::subcommands()) used.insert(std::string(s.operation));
    for (const auto& op : service::operations()) {
        INFO(op.name);
        CHECK(names.insert(std::string(op.name)).second);
        CHECK(used.count(std::string(op.name)) == 1);
        CHECK_FALSE(op.summary.empty());
    }
}

TEST_CASE("every route docs/admin-api.md documents for these groups is in the route table",
          "[catalog]") {
    std::ifstream doc(std::string(TIANSHU_SOURCE_DIR) + "/docs/admin-api.md");
    REQUIRE(doc.good());
    std::set<std::string> table;
    for (const auto& r : server::admin::routes())
        table.insert(std::string(r.method) + " " + shape(std::string(r.pattern)));
    const std::set<std::string> groups = {
        "channels", "tiers",     "prices",   "users",      "keys",       "redemption-codes",
        "redeem",   "logs",      "logs.csv", "stats",      "me",         "chains",
        "plugins",  "dashboard", "health",   "playground", "invitations"};
    // "| GET | `/channels` |" rows and "### GET /logs" headings.
    const std::regex row(R"(^\|\s*(GET|POST|PATCH|PUT|DELETE)\s*\|\s*`([^`]+)`)");
    const std::regex heading(R"(^#+\s*(GET|POST|PATCH|PUT|DELETE)\s+(/\S+))");
    std::string line;
    int documented = 0;
    while (std::getline(doc, line)) {
        std::smatch m;
        if (!std::regex_search(line, m, row) && !std::regex_search(line, m, heading)) continue;
        std::string path = m[2];
        std::string first = path.substr(1, path.find('/', 1) - 1);
        if (!groups.count(first)) continue;
        if (first == "me" && path.find('/', 1) == std::string::npos) continue;  // GET /me: sessions
        ++documented;
        INFO(line);
        CHECK(table.count(std::string(m[1]) + " " + shape(path)) == 1);
    }
    CHECK(documented >= 30);
}

TEST_CASE(
    "--help on every command and subcommand: the usage, exit 0; bad input: the usage, "
    "exit 2",
    "[catalog][cli]") {
    std::set<std::string> commands;
    for (const auto& s : app::subcommands()) {
        commands.insert(std::string(s.command));
        std::vector<std::string> args{std::string(s.command)};
        if (!s.sub.empty()) args.push_back(std::string(s.sub));
        for (const char* help : {"--help", "-h"}) {
            auto with_help = args;
            with_help.push_back(help);
            Run r = run(with_help);
            INFO("tianshu " << s.command << " " << s.sub << " " << help << "\nstdout: " << r.out
                            << "\nstderr: " << r.err);
            CHECK(r.exit_code == 0);
            CHECK_THAT(r.out, Catch::StartsWith("usage: ") &&
                                  Catch::Contains("tianshu " + std::string(s.command)));
            CHECK(r.err.empty());
        }
        auto bad = args;
        bad.push_back("--no-such-option");
        Run r = run(bad);
        INFO("tianshu " << s.command << " " << s.sub << " --no-such-option\nstdout: " << r.out
                        << "\nstderr: " << r.err);
        CHECK(r.exit_code == 2);
        CHECK_THAT(r.err, Catch::Contains("--no-such-option") && Catch::Contains("usage: ") &&
                              Catch::Contains("tianshu " + std::string(s.command)));
        CHECK(r.out.empty());
    }
    for (const auto& c : commands) {
        Run r = run({c, "--help"});
        INFO("tianshu " << c << " --help\nstdout: " << r.out << "\nstderr: " << r.err);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::Contains("tianshu " + c));
        Run unknown = run({c, "frobnicate"});
        INFO("tianshu " << c << " frobnicate\nstderr: " << unknown.err);
        CHECK(unknown.exit_code == 2);
        CHECK_THAT(unknown.err, Catch::Contains("usage: "));
    }
    for (const char* front : {"serve", "version", "plugins"}) {
        Run r = run({front, "--help"});
        INFO("tianshu " << front << " --help\nstdout: " << r.out << "\nstderr: " << r.err);
        CHECK(r.exit_code == 0);
        CHECK_THAT(r.out, Catch::Contains("tianshu " + std::string(front)));
    }
}
