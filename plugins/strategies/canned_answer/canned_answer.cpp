// canned_answer: answers directly, without calling a model, when the last user message
// contains a configured phrase — the smallest example of a policy or cache strategy.
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <tianshu/plugin.hpp>

namespace {

constexpr const char* kSchema = R"({
  "$schema": "http://json-schema.org/draft-07/schema#",
  "type": "object",
  "properties": {
    "match": {"type": "string", "minLength": 1, "description": "substring of the last user message"},
    "answer": {"type": "string", "description": "the text answered instead of calling the model"}
  },
  "required": ["match", "answer"],
  "additionalProperties": false
})";

class CannedAnswer {
  public:
    CannedAnswer(const tianshu::sdk::Host&, std::string_view config_json) {
        auto config = nlohmann::json::parse(config_json);
        match_ = config.at("match").get<std::string>();
        answer_ = config.at("answer").get<std::string>();
        if (match_.empty()) throw std::invalid_argument("canned_answer: 'match' must not be empty");
    }

    tianshu::sdk::Outcome on_request(tianshu::sdk::Request& request) {
        if (request.last_user_text().find(match_) == std::string::npos)
            return tianshu::sdk::Outcome::proceed;
        return request.answer(answer_) ? tianshu::sdk::Outcome::answered
                                       : tianshu::sdk::Outcome::proceed;
    }

  private:
    std::string match_;
    std::string answer_;
};

}  // namespace

TIANSHU_PLUGIN(CannedAnswer, "canned_answer", "1.0.0", TS_KIND_STRATEGY, kSchema,
               "Answers with a fixed text when the last user message contains a phrase.")
