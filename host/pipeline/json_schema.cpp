#include "pipeline/json_schema.hpp"

#include <set>

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace tianshu::pipeline {

struct JsonSchema::Impl {
    valijson::Schema schema;
};

JsonSchema::JsonSchema(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
JsonSchema::~JsonSchema() = default;

core::Result<std::shared_ptr<const JsonSchema>> JsonSchema::compile(const core::Json& schema_doc) {
    auto impl = std::make_unique<Impl>();
    try {
        valijson::SchemaParser parser;
        valijson::adapters::NlohmannJsonAdapter adapter(schema_doc);
        parser.populateSchema(adapter, impl->schema);
    } catch (const std::exception& e) {
        return core::Error::invalid(std::string("the JSON Schema itself is invalid: ") + e.what());
    }
    return std::shared_ptr<const JsonSchema>(new JsonSchema(std::move(impl)));
}

core::Result<std::shared_ptr<const JsonSchema>> JsonSchema::compile_text(std::string_view text) {
    auto doc = core::Json::parse(text, nullptr, false);
    if (doc.is_discarded()) return core::Error::invalid("the JSON Schema is not valid JSON");
    return compile(doc);
}

namespace {
// valijson's context looks like ["<root>", "[pre]", "[0]", "[plugin]"]; we print /pre/0/plugin.
std::string pointer_from_context(const std::vector<std::string>& context, const std::string& base) {
    std::string out = base;
    for (const auto& part : context) {
        if (part == "<root>") continue;
        std::string p = part;
        if (p.size() >= 2 && p.front() == '[' && p.back() == ']') p = p.substr(1, p.size() - 2);
        if (p.size() >= 2 && p.front() == '"' && p.back() == '"') p = p.substr(1, p.size() - 2);
        out += '/';
        out += p;
    }
    return out;
}
}  // namespace

std::vector<SchemaProblem> JsonSchema::validate(const core::Json& document,
                                                const std::string& base) const {
    valijson::Validator validator;
    valijson::ValidationResults results;
    valijson::adapters::NlohmannJsonAdapter target(document);
    std::vector<SchemaProblem> problems;
    if (validator.validate(impl_->schema, target, &results)) return problems;
    // valijson reports one line per failing constraint and again for each enclosing
    // constraint ("Failed to validate item #0 in array"); keep the most specific lines.
    std::vector<SchemaProblem> all;
    valijson::ValidationResults::Error error;
    while (results.popError(error))
        all.push_back({pointer_from_context(error.context, base), error.description});
    std::set<std::string> seen;
    for (const auto& p : all) {
        bool has_deeper = false;
        for (const auto& q : all)
            if (q.path.size() > p.path.size() && q.path.compare(0, p.path.size(), p.path) == 0 &&
                q.path[p.path.size()] == '/')
                has_deeper = true;
        if (has_deeper && (p.reason.rfind("Failed to validate", 0) == 0)) continue;
        if (seen.insert(p.to_string()).second) problems.push_back(p);
    }
    if (problems.empty() && !all.empty()) problems.push_back(all.front());
    return problems;
}

}  // namespace tianshu::pipeline
