// scenario_router_classify CONFIG DIR: classifies every captured request in DIR (fixture format,
// see fixture_store.hpp) with the router config in CONFIG, each as a fresh request without
// session state, and prints {"<name>": {"scenario", "why", "model", "rank"}} as JSON. Used by
// tests/e2e/scenario_capture.test.mjs to compare a fresh capture against expected.json.
#include <cstdio>
#include <exception>

#include "fixture_store.hpp"
#include "router.hpp"

int main(int argc, char** argv) {
    namespace sr = tianshu::scenario_router;
    if (argc != 3) {
        std::fprintf(stderr, "usage: scenario_router_classify CONFIG.json FIXTURE_DIR\n");
        return 2;
    }
    try {
        sr::RouterConfig config = sr::parse_config(sr::testing::read_text(argv[1]));
        nlohmann::json out = nlohmann::json::object();
        for (const auto& [name, f] : sr::testing::load_fixtures(argv[2])) {
            sr::RouteResult r =
                sr::route(config, f.body, f.headers, std::nullopt, nullptr, nullptr);
            nlohmann::json j{{"scenario", sr::to_string(r.classification.scenario)},
                             {"why", r.classification.why}};
            if (r.decision) {
                j["model"] = r.decision->model;
                j["rank"] = r.decision->rank;
            }
            out[name] = j;
        }
        std::printf("%s\n", out.dump(1).c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "scenario_router_classify: %s\n", e.what());
        return 1;
    }
    return 0;
}
