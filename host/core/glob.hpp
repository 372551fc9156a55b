#pragma once
#include <string_view>

namespace tianshu::core {

//! Shell-style pattern match used for model names: '*' any run, '?' one character.
bool glob_match(std::string_view pattern, std::string_view text);

//! How specific a pattern is (count of literal characters), to prefer "claude-opus-*" over "*".
int glob_specificity(std::string_view pattern);

}  // namespace tianshu::core
