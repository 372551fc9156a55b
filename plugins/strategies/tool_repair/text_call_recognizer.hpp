// The streaming recogniser of tool calls that a model wrote as text. Fed text deltas of any
// chunking, it passes ordinary text on at once and holds back only while it matches a marker
// prefix, or the body of a call whose marker it has recognised. What it returns depends only on
// the concatenated text, never on where the chunks were split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

namespace tianshu::tool_repair {

//! The text formats of tool calls the recogniser knows.
enum class Envelope : uint8_t {
    hermes,       //!< <tool_call>{"name":…,"arguments":{…}}</tool_call> (Hermes, Qwen2.5/3)
    qwen3_coder,  //!< <tool_call><function=N><parameter=K>V</parameter></function></tool_call>
    glm,          //!< <tool_call>N<arg_key>K</arg_key><arg_value>V</arg_value></tool_call>
    deepseek,  //!< <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>…<｜tool▁calls▁end｜> (V3, V3.1)
    kimi,         //!< <|tool_calls_section_begin|><|tool_call_begin|>functions.N:0…
    minimax,      //!< <minimax:tool_call><invoke name="N"><parameter name="K">V</parameter>…
    fenced_json,  //!< ```json {"name": N, "arguments": {…}} ``` with N a declared tool
};
const char* envelope_name(Envelope e);
//! Parses a configured envelope name; false when unknown.
bool envelope_from_name(std::string_view name, Envelope& out);

//! The tools a request declared: name -> input_schema. Only these names are ever promoted.
class ToolCatalog {
  public:
    ToolCatalog() = default;
    //! From the request's "tools" array (Anthropic shape); entries without a name are skipped.
    static ToolCatalog from_request_tools(const nlohmann::json& tools);
    void add(std::string name, nlohmann::json input_schema);
    bool empty() const { return schemas_.empty(); }
    bool declares(std::string_view name) const;
    //! True when some declared name starts with `prefix`.
    bool has_name_with_prefix(std::string_view prefix) const;
    //! The input_schema of a declared tool (an empty object when it had none).
    const nlohmann::json& schema(std::string_view name) const;
    size_t longest_name() const { return longest_; }

  private:
    std::unordered_map<std::string, nlohmann::json> schemas_;
    size_t longest_ = 0;
};

//! What the recogniser produces, in order.
struct Piece {
    enum class Kind : uint8_t {
        text,       //!< ordinary text, to pass on as it is
        call,       //!< a tool call with repaired, schema-valid arguments
        malformed,  //!< a call to a declared tool whose arguments could not be repaired
    };
    Kind kind = Kind::text;
    std::string text;                  //!< text
    std::string name;                  //!< call, malformed
    nlohmann::json arguments;          //!< call: an object valid against the tool's schema
    std::vector<std::string> repairs;  //!< call: the repairs applied (empty when none)
    std::string error;                 //!< malformed: what is wrong, naming the field
    std::string raw_arguments;         //!< malformed: the arguments as the model wrote them
    Envelope envelope = Envelope::hermes;
};

struct RecognizerOptions {
    //! The envelopes to look for (all by default).
    std::vector<Envelope> envelopes = {
        Envelope::hermes, Envelope::qwen3_coder, Envelope::glm,        Envelope::deepseek,
        Envelope::kimi,   Envelope::minimax,     Envelope::fenced_json};
    //! The most a recognised call's body may hold; a longer one is given up and passed on as
    //! text, so what the recogniser holds is always bounded.
    size_t max_call_bytes = 64 * 1024;
};

//! One per text block of an answer. Not thread-safe; cheap to construct.
class TextCallRecognizer {
  public:
    TextCallRecognizer(const ToolCatalog& tools, const RecognizerOptions& options);

    //! Feeds the next piece of text; appends what can be decided to `out`.
    void feed(std::string_view chunk, std::vector<Piece>& out);
    //! The text has ended: decides what is still held (an unterminated call is parsed as if
    //! terminated, else passed on as text).
    void finish(std::vector<Piece>& out);
    //! Bytes held back right now.
    size_t held_bytes() const { return held_.size(); }
    //! The longest marker prefix that can be held outside a call, for these tools.
    size_t longest_marker() const;

  private:
    struct Context {  // where in markdown the text stands, advanced byte by byte
        bool line_start = true;
        int lead_ticks = 0;  // backticks leading the line so far; -1 once other text came
        bool in_fence = false;
        bool in_inline = false;
        void advance(char c);
    };
    enum class Match : uint8_t { none, more, full };
    struct MarkerMatch {
        Match match = Match::none;
        int kind = 0;            // index into the marker table, or -1 for the fenced pattern
        size_t body_offset = 0;  // where the body starts in the held text
    };

    MarkerMatch match_at(std::string_view s) const;
    Match match_fence(std::string_view s, size_t& body_offset) const;
    void scan(std::vector<Piece>& out, bool at_end);
    void emit_text(std::string_view text, std::vector<Piece>& out);
    void resolve(std::string_view raw, std::string_view body, std::vector<Piece>& out);
    bool enabled(Envelope e) const;

    const ToolCatalog& tools_;
    RecognizerOptions options_;
    uint32_t enabled_mask_ = 0;
    Context ctx_;
    std::string held_;
    bool in_call_ = false;
    int call_kind_ = 0;
    size_t body_offset_ = 0;
    size_t searched_ = 0;  // where the search for the end marker resumes
};

}  // namespace tianshu::tool_repair
