// Provider presets: the file format (errors name the file, the field and the fix), the name
// rule, loading a directory (a bad file is skipped and reported, a duplicate refused), every
// preset the repository ships parses, and the capability precedence of a channel added from a
// preset (channel options > preset table > global table).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "pipeline/capability_table.hpp"
#include "pipeline/provider_presets.hpp"

using namespace tianshu;
using namespace tianshu::pipeline;
using Catch::Contains;

namespace {
const char* kGood = R"({
  "provider": "acme", "display_name": "Acme", "adapter": "openai_compat",
  "base_url": "https://api.acme.test/v1", "options": {"include_usage": false},
  "models": {"acme-large": {"max_output_tokens": 8192, "thinking": "reasoning_content"},
             "acme-*": {"context_window": 32768}}
})";

std::string problem(const std::string& text, const std::string& file = "acme.preset.json") {
    auto p = PresetCatalog::parse(text, file);
    REQUIRE_FALSE(p.ok());
    return p.error().message;
}

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() /
               ("presets-test-" + std::to_string(::getpid()) + "-" +
                std::to_string(reinterpret_cast<uintptr_t>(this)));
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
    void write(const std::string& name, const std::string& text) const {
        std::ofstream(path / name) << text;
    }
};
}  // namespace

TEST_CASE("a preset file is read whole: adapter, URL, options, known models, table", "[presets]") {
    auto p = PresetCatalog::parse(kGood, "/x/acme.preset.json");
    INFO((p ? std::string() : p.error().message));
    REQUIRE(p.ok());
    CHECK(p->name == "acme");
    CHECK(p->adapter == "openai_compat");
    CHECK(p->base_url == "https://api.acme.test/v1");
    CHECK(p->options == core::Json{{"include_usage", false}});
    // Known models are the exact names; patterns only describe.
    CHECK(p->models == std::vector<std::string>{"acme-large"});
    CHECK(p->key_required);
    REQUIRE(p->capabilities->find("acme-large"));
    CHECK(p->capabilities->find("acme-large")->max_output_tokens == 8192);
    CHECK(p->capabilities->find("acme-small")->context_window == 32768);
    CHECK(p->to_json()["capabilities"]["acme-large"]["max_output_tokens"] == 8192);
}

TEST_CASE("preset errors name the file, the field and the fix", "[presets]") {
    CHECK_THAT(problem("{nope"), Contains("acme.preset.json: not a JSON object"));
    CHECK_THAT(problem(R"({"provider":"acme"})"), Contains("adapter"));
    CHECK_THAT(
        problem(
            R"({"provider":"acme","display_name":"A","adapter":"x","base_url":"ftp://a","models":{}})"),
        Contains("/base_url"));
    CHECK_THAT(
        problem(
            R"({"provider":"acme","display_name":"A","adapter":"x","base_url":"https://a","models":{"m":{"vision":"yes"}}})"),
        Contains("/models/m/vision"));
    CHECK_THAT(
        problem(
            R"({"provider":"acme","display_name":"A","adapter":"x","base_url":"https://a","models":{},"colour":1})"),
        Contains("colour"));
    CHECK_THAT(
        problem(
            R"({"provider":"acme","display_name":"A","adapter":"x","base_url":"https://a","models":{},"options":{"api_key":"k"}})"),
        Contains("a preset never holds a key"));
    // The file is named after the provider, so `--provider NAME` finds NAME.preset.json.
    CHECK_THAT(problem(kGood, "/x/other.preset.json"), Contains("must be named acme.preset.json"));
}

TEST_CASE("a directory loads every preset; a bad or duplicate file is reported, not fatal",
          "[presets]") {
    TempDir dir;
    dir.write("acme.preset.json", kGood);
    dir.write("broken.preset.json", "{");
    dir.write("notes.json", "{}");  // not a preset file: ignored
    PresetCatalog catalog;
    auto problems = catalog.load_directory(dir.path);
    REQUIRE(problems.size() == 1);
    CHECK_THAT(problems[0].message, Contains("broken.preset.json"));
    CHECK(catalog.size() == 1);
    CHECK(catalog.find("acme"));
    CHECK_FALSE(catalog.find("broken"));
    CHECK(catalog.names() == "acme");
    auto again = PresetCatalog::parse(kGood, dir.path / "acme.preset.json");
    REQUIRE(again.ok());
    auto dup = catalog.add(std::move(again).value());
    REQUIRE_FALSE(dup.ok());
    CHECK_THAT(dup.error().message, Contains("defined twice"));
}

TEST_CASE("every preset the repository ships parses", "[presets]") {
    PresetCatalog catalog;
    auto problems = catalog.load_directory(TIANSHU_PRESETS_DIR);
    for (const auto& p : problems) UNSCOPED_INFO(p.message);
    CHECK(problems.empty());
    for (const char* name : {"deepseek", "qwen", "moonshot", "zhipu", "minimax", "doubao",
                             "qianfan", "hunyuan", "siliconflow", "openrouter", "ollama",
                             "lmstudio", "openai", "anthropic", "gemini", "xai"}) {
        INFO(name);
        const auto* p = catalog.find(name);
        REQUIRE(p);
        CHECK_FALSE(p->base_url.empty());
        CHECK_FALSE(p->adapter.empty());
    }
}

TEST_CASE("a channel's preset table lies between the global table and its options",
          "[presets][capabilities]") {
    auto global = CapabilityTable::parse(
        R"({"models":{"acme-large":{"context_window":1000,"vision":true}}})", "global");
    REQUIRE(global.ok());
    auto preset = PresetCatalog::parse(kGood, "acme.preset.json");
    REQUIRE(preset.ok());
    core::ModelCapabilities override_caps;
    override_caps.max_output_tokens = 4096;
    ModelCapabilityBook book(
        std::make_shared<CapabilityTable>(global.value()), {{"overridden", override_caps}}, nullptr,
        {{"acme", preset->capabilities}, {"overridden", preset->capabilities}});
    auto from_preset = book.lookup("acme-large", "claude-x", "acme");
    REQUIRE(from_preset);
    CHECK(from_preset->max_output_tokens == 8192);  // the preset's
    CHECK(from_preset->context_window == 1000);     // the global table's, unset in preset
    CHECK(from_preset->vision == true);
    CHECK(from_preset->thinking == "reasoning_content");
    CHECK(book.lookup("acme-large", "claude-x", "overridden")->max_output_tokens == 4096);
    // Another channel serving the same model does not see the preset.
    CHECK_FALSE(book.lookup("acme-large", "claude-x", "other")->max_output_tokens);
}
