#pragma once
// JSON Schema validation (valijson over nlohmann) that reports every problem with its path.

#include <memory>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/request.hpp"

namespace tianshu::pipeline {

//! One thing wrong with a document: where (a JSON pointer like /pre/0/config/prepend) and why.
struct SchemaProblem {
    std::string path;
    std::string reason;
    std::string to_string() const { return (path.empty() ? "/" : path) + ": " + reason; }
};

//! A compiled JSON Schema (draft 7). Immutable and safe to use from many threads.
class JsonSchema {
  public:
    static core::Result<std::shared_ptr<const JsonSchema>> compile(const core::Json& schema);
    static core::Result<std::shared_ptr<const JsonSchema>> compile_text(
        std::string_view schema_text);
    ~JsonSchema();

    //! Every problem found; empty when the document is valid. `base` prefixes each path.
    std::vector<SchemaProblem> validate(const core::Json& document,
                                        const std::string& base = "") const;

  private:
    struct Impl;
    explicit JsonSchema(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace tianshu::pipeline
