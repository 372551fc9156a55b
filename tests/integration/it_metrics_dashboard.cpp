// The Grafana dashboard in docs/grafana/tianshu.json queries only metrics the gateway exports:
// every metric name in its PromQL (panel targets and template variables) is declared by a
// running gateway's /metrics, and has samples, after a few requests through a channel of two
// keys (one the upstream refuses, so a retry is counted) and one refused by its key's limits.
// The one family declared without samples until its feature exists is named below.
#include <catch2/catch.hpp>

#include <regex>
#include <set>

#include "fake_upstream_process.hpp"
#include "harness.hpp"

using namespace tianshu::it;

namespace {

//! Families /metrics declares (HELP/TYPE) but has no samples for yet: provider balances are not
//! read by any feature so far.
const std::set<std::string> kDeclaredOnly = {"tianshu_channel_balance"};

//! Every PromQL text of the dashboard: panel targets' `expr` and query variables' queries.
void collect_queries(const Json& node, std::vector<std::string>& out) {
    if (node.is_object()) {
        for (const auto& [k, v] : node.items()) {
            if ((k == "expr" || k == "definition") && v.is_string()) out.push_back(v);
            if (k == "query" && v.is_object() && v.contains("query") && v["query"].is_string())
                out.push_back(v["query"]);
            collect_queries(v, out);
        }
    } else if (node.is_array()) {
        for (const auto& v : node) collect_queries(v, out);
    }
}

//! The metric names a PromQL expression selects: identifiers outside label matchers, ranges,
//! strings and grouping clauses that are not functions, keywords or numbers.
std::set<std::string> metric_names(std::string e) {
    static const std::set<std::string> keywords = {"and", "or", "unless", "bool", "offset"};
    e = std::regex_replace(e, std::regex(R"("(\\.|[^"\\])*")"), " ");
    e = std::regex_replace(e, std::regex(R"(\{[^}]*\})"), " ");
    e = std::regex_replace(e, std::regex(R"(\[[^\]]*\])"), " ");
    e = std::regex_replace(
        e, std::regex(R"(\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\))"), " ");
    e = std::regex_replace(e, std::regex(R"((^|[^A-Za-z0-9_:])[0-9][0-9.]*([eE][+-]?[0-9]+)?)"),
                           "$1 ");
    std::set<std::string> names;
    const std::regex ident(R"(([A-Za-z_:][A-Za-z0-9_:]*)(\s*\()?)");
    for (auto it = std::sregex_iterator(e.begin(), e.end(), ident); it != std::sregex_iterator();
         ++it) {
        const std::string name = (*it)[1];
        if ((*it)[2].matched || keywords.count(name) || name.starts_with("$")) continue;
        names.insert(name);
    }
    return names;
}

}  // namespace

TEST_CASE("PromQL metric names are extracted, functions and labels left out", "[dashboard]") {
    CHECK(
        metric_names(
            R"(histogram_quantile(0.99, sum by (le, channel) (rate(a_bucket{channel=~"$c",x="y{z}"}[$__rate_interval]))))") ==
        std::set<std::string>{"a_bucket"});
    CHECK(metric_names("sum by (k) (increase(b_total[1h])) / 1e6 + on (x) c") ==
          std::set<std::string>{"b_total", "c"});
    CHECK(metric_names("label_values(d_total{channel=~\"$channel\"}, model)") ==
          std::set<std::string>{"d_total", "model"});
}

TEST_CASE("every metric the Grafana dashboard queries is exported by a running gateway",
          "[integration][dashboard]") {
    const Json dashboard = Json::parse(read_file(source_dir() / "docs/grafana/tianshu.json"));
    std::vector<std::string> queries;
    collect_queries(dashboard, queries);
    REQUIRE(queries.size() >= 20);
    std::set<std::string> queried;
    for (const auto& q : queries) {
        auto names = metric_names(q);
        // label_values(metric, label): the second argument is a label, not a metric.
        if (q.starts_with("label_values(")) {
            const auto comma = q.rfind(',');
            const std::string label =
                std::regex_replace(q.substr(comma + 1), std::regex(R"(^\s+|\s*\)\s*$)"), "");
            names.erase(label);
        }
        queried.insert(names.begin(), names.end());
    }
    INFO("queried: " << Json(queried).dump());
    REQUIRE(queried.size() >= 20);

    TempDir tmp("dashboard");
    const fs::path data = tmp / "data";
    fs::create_directories(data);
    const fs::path plugins = make_plugins_dir(tmp / "plugins", {"openai_compat"});
    const fs::path scripts = make_scripts_dir(tmp / "scripts", {"models/demo.lua"});
    write_file(tmp / "scenario.json",
               Json{{"api_key", "sk-up"},
                    {"models", {"up-model"}},
                    {"key_errors",
                     {{"sk-revoked-0002", {{"status", 401}, {"message", "invalid api key"}}}}},
                    {"turns", {{{"text", "pong"}, {"times", 0}}}}}
                   .dump());
    FakeUpstream up(tmp / "scenario.json", tmp / "upstream.log");
    auto added = run_cli({"channel",       "add",
                          "--data",        data.string(),
                          "--name",        "duo",
                          "--type",        "openai_compat",
                          "--base-url",    up.base_url(),
                          "--key",         "sk-up",
                          "--key",         "sk-revoked-0002",
                          "--models",      "up-model",
                          "--map",         "claude-*=up-model",
                          "--plugins-dir", plugins.string(),
                          "--scripts-dir", scripts.string()});
    INFO(added.out << added.err);
    REQUIRE(added.exit_code == 0);
    // A key its limits refuse (a model it may not call): a refusal by reason.
    auto user = run_cli({"user", "add", "--data", data.string(), "--name", "ops"});
    INFO(user.out << user.err);
    REQUIRE(user.exit_code == 0);
    auto narrow = run_cli({"key", "create", "--data", data.string(), "--user", "ops", "--name",
                           "narrow", "--models", "nothing-*", "--json"});
    INFO(narrow.out << narrow.err);
    REQUIRE(narrow.exit_code == 0);
    const std::string narrow_key = Json::parse(narrow.out)["key"];

    ServeOptions o;
    o.data_dir = data;
    o.plugins_dir = plugins;
    o.scripts_dir = scripts;
    GatewayProcess gw(o);
    REQUIRE(gw.demo_key());
    for (int i = 0; i < 4; ++i) {
        auto r =
            post_json(gw.port(), "/v1/messages", anthropic_auth(*gw.demo_key()),
                      anthropic_body("claude-sonnet-4-5", "q" + std::to_string(i), i % 2 == 1));
        INFO(r.body);
        CHECK(r.status == 200);
    }
    auto refused = post_json(gw.port(), "/v1/messages", anthropic_auth(narrow_key),
                             anthropic_body("claude-sonnet-4-5", "not mine"));
    CHECK(refused.status == 403);

    auto metrics = http_request(gw.port(), "GET", "/metrics");
    REQUIRE(metrics.status == 200);
    const std::string text = metrics.body;
    INFO(text);
    std::map<std::string, std::string> types;  // family -> type
    const std::regex type_line(R"(# TYPE (\S+) (\S+))");
    for (auto it = std::sregex_iterator(text.begin(), text.end(), type_line);
         it != std::sregex_iterator(); ++it)
        types[(*it)[1]] = (*it)[2];
    for (const auto& name : queried) {
        INFO("metric " << name);
        std::string family = name;
        for (const char* suffix : {"_bucket", "_sum", "_count"}) {
            const std::string s = suffix;
            if (name.ends_with(s) && types.count(name.substr(0, name.size() - s.size())) &&
                types[name.substr(0, name.size() - s.size())] == "histogram")
                family = name.substr(0, name.size() - s.size());
        }
        CHECK(types.count(family) == 1);
        if (kDeclaredOnly.count(family)) continue;
        const bool sampled = text.find("\n" + name + "{") != std::string::npos ||
                             text.find("\n" + name + " ") != std::string::npos;
        CHECK(sampled);
    }
    // The refused key and the refused upstream key show up where the dashboard looks.
    CHECK(text.find(R"(tianshu_refusals_total{reason="model_not_allowed"} 1)") !=
          std::string::npos);
    CHECK(text.find(R"(tianshu_upstream_retries_total{channel="duo",model="up-model"} 1)") !=
          std::string::npos);
}
