// The explicit <tianshu-model>NAME</tianshu-model> tag: an agent (or a user) names its model in a
// system block or in the first user message. The router honours it and removes it before the
// request is forwarded, so no upstream ever sees it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::scenario_router {

//! One text that must be rewritten to remove the tag: the RFC 6901 pointer of a JSON string in
//! the request and its new value.
struct TextEdit {
    std::string pointer;
    std::string text;
};

//! The tag found in a request.
struct AgentTag {
    std::string model;            //!< the first tag's NAME
    bool in_system = false;       //!< found in a system block (an agent's definition)
    std::vector<TextEdit> edits;  //!< what removes every tag from the request
};

//! The NAME of the first tag in `text` (trimmed), if any.
std::optional<std::string> find_tag(std::string_view text);

//! `text` with every well-formed tag removed (and the line break that followed it).
std::string strip_tags(std::string_view text);

//! Looks in every system block and the first message when it is the user's.
std::optional<AgentTag> find_agent_tag(const nlohmann::json& request);

}  // namespace tianshu::scenario_router
