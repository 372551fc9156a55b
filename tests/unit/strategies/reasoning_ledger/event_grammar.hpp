#pragma once
// A small checker of the Anthropic streaming grammar, and the normal form the golden tests
// compare: each content block with its deltas merged, so that any two chunkings of the same
// answer compare equal exactly when they mean the same.
#include <string>
#include <vector>

namespace reasoning_ledger::testing {

//! Empty when `events` follow the grammar: message_start first; content blocks started at
//! indices 0, 1, 2… in order, each delta'd (with its own kind of delta) and stopped before
//! the next starts; one message_delta after the last block; message_stop last. Otherwise the
//! first violation.
std::string grammar_violation(const std::vector<std::string>& events);

//! One block: its type and its merged content (text, thinking or the tool's id, name and
//! joined partial JSON).
struct Block {
    std::string type;
    std::string content;
    bool operator==(const Block&) const = default;
};
std::vector<Block> blocks_of(const std::vector<std::string>& events);

}  // namespace reasoning_ledger::testing
