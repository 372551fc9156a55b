// The catalog: loading a directory of good and bad files, duplicates, lookups.
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "plugin/catalog.hpp"
#include "plugin_test_support.hpp"

using namespace tianshu;
using namespace tianshu::plugin;
using namespace tianshu::plugin::testing;
using Catch::Matchers::Contains;
namespace fs = std::filesystem;

namespace {
//! A fresh temporary directory, removed at scope exit.
struct TempDir {
    fs::path path;
    TempDir() {
        path = fs::temp_directory_path() / ("tianshu-catalog-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(counter()++));
        fs::remove_all(path);
        fs::create_directories(path);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
    static int& counter() {
        static int n = 0;
        return n;
    }
};
}  // namespace

TEST_CASE("load_directory loads the good plugins and reports each bad file by path", "[catalog]") {
    TempDir dir;
    for (auto name : {"system_prompt", "canned_answer"})
        fs::copy_file(builtin_plugin(name), dir.path / (std::string(name) + ".so"));
    for (auto name : {"echo_model", "abi_major2", "not_a_plugin", "missing_generate"})
        fs::copy_file(test_plugin(name), dir.path / (std::string(name) + ".so"));
    std::ofstream(dir.path / "garbage.so") << "this is not an ELF file";
    std::ofstream(dir.path / "README.txt") << "ignored: not a .so";

    PluginCatalog catalog;
    auto errors = catalog.load_directory(dir.path);
    REQUIRE(errors.size() == 4);
    std::string all;
    for (const auto& e : errors) all += e.message + "\n";
    INFO(all);
    CHECK_THAT(errors[0].message, Contains((dir.path / "abi_major2.so").string()));
    CHECK_THAT(errors[0].message, Contains("ABI 2.0"));
    CHECK_THAT(errors[1].message, Contains((dir.path / "garbage.so").string()));
    CHECK_THAT(errors[2].message, Contains((dir.path / "missing_generate.so").string()));
    CHECK_THAT(errors[3].message, Contains("not_a_plugin.so is not a Tianshu plugin"));

    auto list = catalog.list();
    REQUIRE(list.size() == 3);
    CHECK(list[0].name == "canned_answer");
    CHECK(list[1].name == "echo_model");
    CHECK(list[2].name == "system_prompt");
    CHECK(list[1].kind == PluginKind::model);
    CHECK(list[2].path == (dir.path / "system_prompt.so").string());
    CHECK_FALSE(list[2].config_schema.empty());

    REQUIRE(catalog.find("echo_model") != nullptr);
    CHECK(catalog.find("echo_model")->info().kind == PluginKind::model);
    CHECK(catalog.find("abi_major2") == nullptr);
    CHECK(catalog.find("nope") == nullptr);
}

TEST_CASE("two plugins with one name: the second is refused, naming both paths", "[catalog]") {
    TempDir dir;
    fs::copy_file(builtin_plugin("system_prompt"), dir.path / "a_system_prompt.so");
    fs::copy_file(builtin_plugin("system_prompt"), dir.path / "b_system_prompt.so");
    PluginCatalog catalog;
    auto errors = catalog.load_directory(dir.path);
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("two plugins are named 'system_prompt'"));
    CHECK_THAT(errors[0].message, Contains((dir.path / "a_system_prompt.so").string()));
    CHECK_THAT(errors[0].message, Contains((dir.path / "b_system_prompt.so").string()));
    CHECK(catalog.size() == 1);
}

TEST_CASE("a missing directory is one error", "[catalog]") {
    PluginCatalog catalog;
    auto errors = catalog.load_directory("/nonexistent/plugins");
    REQUIRE(errors.size() == 1);
    CHECK_THAT(errors[0].message, Contains("/nonexistent/plugins"));
}

TEST_CASE("the built plugin directory loads cleanly", "[catalog]") {
    PluginCatalog catalog;
    auto errors = catalog.load_directory(TIANSHU_PLUGIN_DIR);
    std::string all;
    for (const auto& e : errors) all += e.message + "\n";
    INFO(all);
    CHECK(errors.empty());
    CHECK(catalog.find("system_prompt") != nullptr);
    CHECK(catalog.find("canned_answer") != nullptr);
}
