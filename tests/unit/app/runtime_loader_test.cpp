#include <catch2/catch.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "app/bootstrap.hpp"
#include "app/cli_args.hpp"
#include "app/runtime_loader.hpp"
#include "store/chains.hpp"
#include "store/channels.hpp"
#include "store/migrations.hpp"
#include "store/users.hpp"

using namespace tianshu;
namespace fs = std::filesystem;

namespace {
fs::path temp_dir(const std::string& tag) {
    std::random_device rd;
    fs::path p = fs::temp_directory_path() / ("tianshu-app-" + tag + "-" + std::to_string(rd()));
    fs::create_directories(p);
    return p;
}

struct Fixture {
    fs::path dir = temp_dir("loader");
    std::unique_ptr<store::Database> db;
    plugin::PluginCatalog catalog;
    Fixture() {
        auto opened = store::Database::open("sqlite://" + (dir / "t.db").string());
        REQUIRE(opened.ok());
        db = std::move(opened).value();
        REQUIRE(store::migrate(*db).ok());
        auto problems = app::load_catalog(
            catalog, {TIANSHU_PLUGIN_DIR, fs::path(TIANSHU_SOURCE_DIR) / "scripts"});
        INFO((problems.empty() ? std::string() : problems.front().message));
        REQUIRE(problems.empty());
    }
    ~Fixture() { fs::remove_all(dir); }
    void write(const fs::path& p, const std::string& text) {
        fs::create_directories(p.parent_path());
        std::ofstream(p) << text;
    }
};
}  // namespace

TEST_CASE("first start from several instances at once: one creates the setup, the others find it") {
    for (int round = 0; round < 5; ++round) {
        Fixture f;
        constexpr int kInstances = 4;
        std::vector<std::unique_ptr<store::Database>> instances;
        for (int i = 0; i < kInstances; ++i) {
            auto opened = store::Database::open("sqlite://" + (f.dir / "t.db").string(), 1);
            REQUIRE(opened.ok());
            instances.push_back(std::move(opened).value());
        }
        std::vector<core::Result<std::optional<app::FirstStartSecrets>>> results(
            kInstances, core::Error::internal_error("not run"));
        std::atomic<int> ready{0};
        std::vector<std::thread> threads;
        for (int i = 0; i < kInstances; ++i)
            threads.emplace_back([&, i] {
                ++ready;
                while (ready < kInstances) std::this_thread::yield();
                results[i] = app::bootstrap_if_new(*instances[i]);
            });
        for (auto& th : threads) th.join();
        int creators = 0;
        std::string demo_key;
        for (auto& r : results) {
            INFO((r.ok() ? std::string() : r.error().message));
            REQUIRE(r.ok());
            if (r.value()) ++creators, demo_key = r.value()->demo_key;
        }
        CHECK(creators == 1);
        auto users = store::users::list(*f.db);
        REQUIRE(users.ok());
        CHECK(users.value().size() == 2);
        auto config = app::RuntimeLoader(*f.db, f.catalog).load();
        REQUIRE(config.ok());
        CHECK(config.value()->keys->find(demo_key) != nullptr);  // the one key shown is stored
    }
}

TEST_CASE("first start creates the demo setup once; a second start finds it") {
    Fixture f;
    auto first = app::bootstrap_if_new(*f.db);
    REQUIRE(first.ok());
    REQUIRE(first.value().has_value());
    CHECK(first.value()->demo_key.rfind("sk-ts-", 0) == 0);
    CHECK(first.value()->admin_password.size() >= 16);
    auto second = app::bootstrap_if_new(*f.db);
    REQUIRE(second.ok());
    CHECK_FALSE(second.value().has_value());

    app::RuntimeLoader loader(*f.db, f.catalog);
    auto config = loader.load();
    REQUIRE(config.ok());
    auto identity = config.value()->keys->find(first.value()->demo_key);
    REQUIRE(identity != nullptr);
    CHECK(identity->user == "demo");
    CHECK(config.value()->keys->find("sk-ts-not-a-key") == nullptr);
    REQUIRE(config.value()->chains->match("default", "claude-sonnet-4-5") != nullptr);
    auto model = config.value()->models->resolve("claude-sonnet-4-5");
    REQUIRE(model.ok());
    CHECK(model->channel == "demo");
    CHECK(model->upstream_model == "demo-model");
}

TEST_CASE("chains load from JSON files and from the store; the store wins on the same id") {
    Fixture f;
    REQUIRE(app::bootstrap_if_new(*f.db).ok());
    fs::path chains = f.dir / "chains";
    f.write(chains / "files.json",
            R"({"id":"from-file","tiers":["*"],"models":["file-*"],"routing":{"mode":"passthrough"},
                "pre":[{"plugin":"tag_request","config":{"note":"from a file"}}]})");
    f.write(
        chains / "demo.json",
        R"({"id":"demo","description":"file copy","tiers":["*"],"models":["*"],"routing":{"mode":"passthrough"}})");
    f.write(chains / "broken.json", R"({"id":"broken","tiers":"oops"})");
    f.write(chains / "notes.txt", "not a chain");

    app::RuntimeLoader loader(*f.db, f.catalog, chains);
    auto config = loader.load();
    REQUIRE(config.ok());
    const auto* from_file = config.value()->chains->match("default", "file-model");
    REQUIRE(from_file != nullptr);
    CHECK(from_file->spec().id == "from-file");
    CHECK(from_file->pre().size() == 1);
    const auto* demo = config.value()->chains->match("default", "anything");
    REQUIRE(demo != nullptr);
    CHECK(demo->spec().id == "demo");
    CHECK(demo->spec().description != "file copy");  // the store's version
    CHECK(demo->spec().version >= 1);
    CHECK(config.value()->chains->chains().size() == 2);  // broken.json left out, with a log line
}

TEST_CASE("a stored chain whose plugin went away is left out; the others still serve") {
    Fixture f;
    REQUIRE(app::bootstrap_if_new(*f.db).ok());
    REQUIRE(store::chains::save(
                *f.db, "gone",
                R"({"id":"gone","tiers":["*"],"models":["x-*"],"routing":{"mode":"passthrough"},
                                    "pre":[{"plugin":"uninstalled_plugin"}]})")
                .ok());
    store::Channel c;
    c.name = "ghost";
    c.type = "no_such_model";
    c.models = nlohmann::json::array({"ghost-model"});
    REQUIRE(store::channels::create(*f.db, c).ok());
    auto config = app::RuntimeLoader(*f.db, f.catalog).load();
    REQUIRE(config.ok());
    CHECK(config.value()->chains->match("default", "x-1")->spec().id == "demo");
    // The broken channel is left out: its model falls through to the demo channel's "*" map.
    auto ghost = config.value()->models->resolve("ghost-model");
    REQUIRE(ghost.ok());
    CHECK(ghost->channel == "demo");
    CHECK(config.value()->models->resolve("demo-model").ok());
}

TEST_CASE("command-line arguments: options, repeated options, flags and clear errors") {
    app::CommandSpec spec{"tianshu channel add --name N [--map P=M]... [--json]",
                          {"--name", "--map"},
                          {"--json"},
                          1,
                          1};
    auto ok = app::parse_args({"add", "--name", "up", "--map", "a=b", "--map=c=d", "--json"}, spec);
    REQUIRE(ok.ok());
    CHECK(ok->option("--name") == "up");
    CHECK(ok->all("--map") == std::vector<std::string>{"a=b", "c=d"});
    CHECK(ok->flag("--json"));

    auto unknown = app::parse_args({"add", "--nmae", "up"}, spec);
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().message.find("unknown option --nmae") != std::string::npos);
    CHECK(unknown.error().message.find("usage: tianshu channel add") != std::string::npos);
    auto missing_value = app::parse_args({"add", "--name"}, spec);
    REQUIRE_FALSE(missing_value.ok());
    CHECK(missing_value.error().message.find("--name needs a value") != std::string::npos);
    auto extra = app::parse_args({"add", "more"}, spec);
    REQUIRE_FALSE(extra.ok());
    CHECK(extra.error().message.find("unexpected argument 'more'") != std::string::npos);
    auto flag_value = app::parse_args({"add", "--json=yes"}, spec);
    CHECK_FALSE(flag_value.ok());
}
